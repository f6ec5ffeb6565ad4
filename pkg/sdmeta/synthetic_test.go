package sdmeta

import (
	"context"
	"encoding/binary"
	"strings"
	"testing"
)

const a1111Text = "masterpiece, <lora:detail:0.6>, a cat\non a mat\nNegative prompt: blurry,\nlowres\nSteps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 18446744073709551615, Size: 832x1216, Model hash: abc123, Model: sdxl_base, Denoising strength: 0.4, Hires upscale: 1.5, ADetailer model: face_yolov8n.pt, Lora hashes: \"detail: 1a2b3c, other: 4d5e\", ControlNet 0: \"Module: canny, Model: control_canny [d14c016b], Weight: 1\", Version: f2.0.1v1.10.1-previous-313-g8a042934"

func TestContainers(t *testing.T) {
	ctx := context.Background()
	utf16 := func(bo binary.ByteOrder, nul bool) []byte {
		return append([]byte("UNICODE\x00"), utf16Bytes(a1111Text, bo, nul)...)
	}
	exifWith := func(bo binary.ByteOrder, uc []byte) []byte {
		return buildTIFF(bo, []tiffTag{{0x010F, 2, []byte("Canon\x00")}}, []tiffTag{{0x9286, 7, uc}})
	}
	cases := []struct {
		name string
		data []byte
		ext  string
	}{
		{"png tEXt", buildPNG(64, 64, [][]byte{tEXt("parameters", a1111Text)}, 1000, nil), "png"},
		{"png zTXt", buildPNG(64, 64, [][]byte{zTXt("parameters", a1111Text)}, 1000, nil), "png"},
		{"png iTXt compressed", buildPNG(64, 64, [][]byte{iTXt("parameters", a1111Text, true)}, 1000, nil), "png"},
		{"png iTXt plain", buildPNG(64, 64, [][]byte{iTXt("parameters", a1111Text, false)}, 1000, nil), "png"},
		{"png zTXt after IDAT", buildPNG(64, 64, nil, 200000, [][]byte{zTXt("parameters", a1111Text)}), "png"},
		{"jpeg UTF-16BE in II TIFF", buildJPEG(jpegSeg(0xE1, append([]byte("Exif\x00\x00"), exifWith(binary.LittleEndian, utf16(binary.BigEndian, false))...))), "jpg"},
		{"jpeg UTF-16LE with NUL", buildJPEG(jpegSeg(0xE1, append([]byte("Exif\x00\x00"), exifWith(binary.LittleEndian, utf16(binary.LittleEndian, true))...))), "jpg"},
		{"jpeg UTF-16BE MM with NUL", buildJPEG(jpegSeg(0xE1, append([]byte("Exif\x00\x00"), exifWith(binary.BigEndian, utf16(binary.BigEndian, true))...))), "jpg"},
		{"jpeg ASCII usercomment", buildJPEG(jpegSeg(0xE1, append([]byte("Exif\x00\x00"), exifWith(binary.BigEndian, []byte("ASCII\x00\x00\x00"+a1111Text))...))), "jpg"},
		{"jpeg COM", buildJPEG(jpegSeg(0xFE, []byte(a1111Text))), "jpg"},
		{"jpeg XPComment", buildJPEG(jpegSeg(0xE1, append([]byte("Exif\x00\x00"), buildTIFF(binary.LittleEndian, []tiffTag{{0x9C9C, 1, utf16Bytes(a1111Text, binary.LittleEndian, true)}}, nil)...))), "jpg"},
		{"webp EXIF with prefix", buildWebP(riffChunk("EXIF", append([]byte("Exif\x00\x00"), exifWith(binary.LittleEndian, utf16(binary.BigEndian, false))...))), "webp"},
		{"webp EXIF without prefix", buildWebP(riffChunk("EXIF", exifWith(binary.BigEndian, utf16(binary.LittleEndian, true)))), "webp"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := ExtractBytes(ctx, c.data, "x."+c.ext, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Format != FormatForge {
				t.Errorf("format = %q (warnings %v)", res.Format, res.Warnings)
			}
			if res.Prompt != "masterpiece, <lora:detail:0.6>, a cat\non a mat" || res.NegativePrompt != "blurry,\nlowres" {
				t.Errorf("prompt %q negative %q", res.Prompt, res.NegativePrompt)
			}
			if res.Seed != "18446744073709551615" || res.Scheduler != "Karras" || *res.Steps != 28 || *res.CFGScale != 6.5 || *res.Width != 832 || res.Model != "sdxl_base" {
				t.Errorf("params: %+v", res)
			}
			if len(res.Warnings) != 0 {
				t.Errorf("warnings: %v", res.Warnings)
			}
		})
	}
}

func TestA1111Parser(t *testing.T) {
	a, ok := ParseA1111(a1111Text)
	if !ok {
		t.Fatal("no parameter line")
	}
	var r Result
	if f := applyA1111(&r, a); f != FormatForge {
		t.Errorf("format %s", f)
	}
	if len(r.Loras) != 2 || r.Loras[0].Name != "detail" || r.Loras[0].Hash != "1a2b3c" || *r.Loras[0].Weight != 0.6 || r.Loras[1].Name != "other" {
		t.Errorf("loras %+v", r.Loras)
	}
	if len(r.Controlnet) != 1 || r.Controlnet[0]["Module"] != "canny" || r.Controlnet[0]["Model"] != "control_canny [d14c016b]" {
		t.Errorf("controlnet %+v", r.Controlnet)
	}
	if r.SamplerSettings["Denoising strength"] != "0.4" || r.SamplerSettings["ADetailer model"] != "face_yolov8n.pt" || r.SamplerSettings["Hires upscale"] != "1.5" {
		t.Errorf("settings %v", r.SamplerSettings)
	}
	table := []struct {
		in, prompt, neg string
		params          bool
	}{
		{"just a prompt", "just a prompt", "", false},
		{"a\r\nb\r\nSteps: 1, Sampler: Euler", "a\nb", "", true}, // parameter line not left in the prompt (defect 25)
		{"Negative prompt: only neg\nSteps: 5", "", "only neg", true},
		{"p\nNegative prompt: n1\nn2\nn3\nSteps: 5, Seed: 1", "p", "n1\nn2\nn3", true},
		{"Steps: in prompt text\nreal\nSteps: 2, Seed: 3", "Steps: in prompt text\nreal", "", true},
	}
	for _, c := range table {
		a, ok := ParseA1111(c.in)
		if a.Prompt != c.prompt || a.NegativePrompt != c.neg || ok != c.params {
			t.Errorf("%q: got %q / %q / %v", c.in, a.Prompt, a.NegativePrompt, ok)
		}
	}
}

func TestGeneratorFormats(t *testing.T) {
	ctx := context.Background()
	swarm := `{"sui_image_params":{"prompt":"a fox","negativeprompt":"ugly","model":"flux1-dev","seed":1234567890123456789,"steps":25,"cfgscale":3.5,"width":1024,"height":768,"sampler":"euler","scheduler":"simple","loras":["styleA"],"loraweights":["0.7"]},"sui_extra_data":{"date":"2024-01-01"}}`
	ed := [][]byte{tEXt("prompt", "a castle"), tEXt("negative_prompt", "fog"), tEXt("seed", "42"), tEXt("use_stable_diffusion_model", "sd-v1-5"),
		tEXt("sampler_name", "euler_a"), tEXt("num_inference_steps", "30"), tEXt("guidance_scale", "7.5"), tEXt("width", "512"), tEXt("height", "640")}
	comfy := `{"1":{"class_type":"CheckpointLoaderSimple","inputs":{"ckpt_name":"base.safetensors"}},
"2":{"class_type":"LoraLoader","inputs":{"model":["1",0],"clip":["1",1],"lora_name":"l1.safetensors","strength_model":0.8,"strength_clip":1}},
"3":{"class_type":"CLIPTextEncode","inputs":{"clip":["2",1],"text":["9",0]}},
"4":{"class_type":"CLIPTextEncode","inputs":{"clip":["2",1],"text":"bad"}},
"5":{"class_type":"EmptyLatentImage","inputs":{"width":640,"height":896,"batch_size":1}},
"6":{"class_type":"KSampler","inputs":{"model":["2",0],"positive":["3",0],"negative":["4",0],"latent_image":["5",0],"seed":["8",0],"steps":20,"cfg":7,"sampler_name":"euler","scheduler":"karras","denoise":1}},
"7":{"class_type":"KSampler","inputs":{"model":["2",0],"positive":["3",0],"negative":["4",0],"latent_image":["6",0],"seed":5,"steps":10,"cfg":5,"sampler_name":"dpmpp_2m","scheduler":"normal","denoise":0.4}},
"8":{"class_type":"Seed (rgthree)","inputs":{"seed":987654321987654321}},
"9":{"class_type":"PrimitiveString","inputs":{"value":"linked prompt"}},
"10":{"class_type":"Loop","inputs":{"model":["10",0],"conditioning":["10",0]}}}`
	cases := []struct {
		name   string
		data   []byte
		format string
		check  func(r Result) bool
	}{
		{"swarmui", buildPNG(8, 8, [][]byte{tEXt("parameters", swarm)}, 10, nil), FormatSwarmUI, func(r Result) bool {
			return r.Prompt == "a fox" && r.NegativePrompt == "ugly" && r.Seed == "1234567890123456789" && *r.CFGScale == 3.5 && len(r.Loras) == 1 && *r.Loras[0].Weight == 0.7
		}},
		{"easydiffusion", buildPNG(8, 8, ed, 10, nil), FormatEasyDiffusion, func(r Result) bool {
			return r.Prompt == "a castle" && r.NegativePrompt == "fog" && r.Model == "sd-v1-5" && *r.Steps == 30 && *r.Height == 640
		}},
		{"comfy multi-sampler", buildPNG(8, 8, [][]byte{tEXt("prompt", comfy)}, 10, nil), FormatComfyUI, func(r Result) bool {
			return r.Prompt == "linked prompt" && r.NegativePrompt == "bad" && r.Seed == "987654321987654321" && r.Model == "base.safetensors" &&
				len(r.Loras) == 1 && *r.Loras[0].Weight == 0.8 && *r.Width == 640 && len(r.ParameterSets) == 2 && r.ParameterSets[0].NodeID == "6" && r.ParameterSets[1].NodeID == "7"
		}},
		{"comfy in webp exif Model", buildWebP(riffChunk("EXIF", buildTIFF(binary.LittleEndian, []tiffTag{{0x0110, 2, []byte("prompt:" + comfy + "\x00")}}, nil))), FormatComfyUI, func(r Result) bool {
			return r.Prompt == "linked prompt"
		}},
		{"civitai jpeg", buildJPEG(jpegSeg(0xE1, append([]byte("Exif\x00\x00"), buildTIFF(binary.BigEndian, nil, []tiffTag{{0x9286, 7, append([]byte("UNICODE\x00"), utf16Bytes("a dog\nSteps: 20, Sampler: Euler a, Seed: 7, Civitai resources: [{\"type\":\"checkpoint\",\"modelName\":\"Juggernaut\"},{\"type\":\"lora\",\"weight\":0.5,\"modelName\":\"Dogs\"}]", binary.BigEndian, false)...)}})...))), FormatCivitai, func(r Result) bool {
			return r.Prompt == "a dog" && r.Model == "Juggernaut" && len(r.Loras) == 1 && r.Loras[0].Name == "Dogs"
		}},
		{"unknown text kept raw", buildPNG(8, 8, [][]byte{tEXt("Comment", "made with something")}, 10, nil), FormatUnknown, func(r Result) bool {
			return r.RawBlock == "made with something" && !r.HasPrompt()
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ext := "png"
			if c.data[0] == 0xFF {
				ext = "jpg"
			} else if c.data[0] == 'R' {
				ext = "webp"
			}
			r, err := ExtractBytes(ctx, c.data, "f."+ext, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if r.Format != c.format || !c.check(r) {
				t.Errorf("format %q, result %+v", r.Format, r)
			}
		})
	}
}

func TestBadInput(t *testing.T) {
	ctx := context.Background()
	big := strings.Repeat("x", 50<<20)
	bomb := buildPNG(8, 8, [][]byte{zTXt("parameters", big)}, 10, nil)
	r, err := ExtractBytes(ctx, bomb, "b.png", Options{MaxTextBytes: 1 << 20})
	if err != nil || !hasWarning(r, "text_truncated_at_cap") {
		t.Errorf("zip bomb: err %v warnings %v", err, r.Warnings)
	}
	if len(r.RawBlock) > MaxRawBytes+len(TruncatedMarker) || !strings.HasSuffix(r.RawBlock, TruncatedMarker) {
		t.Errorf("raw block not truncated: %d", len(r.RawBlock))
	}
	for _, ch := range r.Chunks {
		if len(ch.Value) > MaxRawBytes+len(TruncatedMarker) {
			t.Errorf("chunk %s not truncated", ch.Key)
		}
	}
	// Absurd chunk length: no allocation, a warning.
	absurd := append(buildPNG(8, 8, nil, 10, nil)[:33], []byte{0x7F, 0xFF, 0xFF, 0xF0, 't', 'E', 'X', 't'}...)
	r, err = ExtractBytes(ctx, absurd, "a.png", Options{})
	if err != nil || !hasWarning(r, "png_chunk_too_large") {
		t.Errorf("absurd length: %v %v", err, r.Warnings)
	}
	// Bad CRC keeps the data and warns.
	crc := buildPNG(8, 8, [][]byte{tEXt("parameters", "a prompt\nSteps: 3")}, 10, nil)
	crc[33+8+len("parameters\x00a prompt\nSteps: 3")] ^= 0xFF
	r, _ = ExtractBytes(ctx, crc, "c.png", Options{})
	if r.Prompt != "a prompt" || !hasWarning(r, "png_crc_mismatch") {
		t.Errorf("bad crc: %+v", r)
	}
	// Invalid UTF-16 (odd length, lone surrogate) decodes to valid text.
	s, w := decodeUserComment(append([]byte("UNICODE\x00"), 0xD8, 0x00, 0x00, 0x41, 0x00), binary.BigEndian)
	if s != "\uFFFDA" || w != "exif_utf16_odd_length" {
		t.Errorf("utf16: %q %q", s, w)
	}
	// Comfy JSON that is not a graph, and a cyclic graph.
	r, _ = ExtractBytes(ctx, buildPNG(8, 8, [][]byte{tEXt("prompt", `[1,2,3]`), tEXt("workflow", `{"nodes":"x"}`)}, 10, nil), "n.png", Options{})
	if r.Format != FormatUnknown {
		t.Errorf("non-graph: %q", r.Format)
	}
	cyc := `{"1":{"class_type":"KSampler","inputs":{"positive":["2",0],"negative":["2",0],"model":["3",0],"latent_image":["1",0],"seed":["1",0]}},"2":{"class_type":"ConditioningCombine","inputs":{"conditioning_1":["2",0],"conditioning_2":["1",0]}},"3":{"class_type":"LoraLoader","inputs":{"model":["3",0],"lora_name":"x"}}}`
	r, err = ExtractBytes(ctx, buildPNG(8, 8, [][]byte{tEXt("prompt", cyc)}, 10, nil), "y.png", Options{})
	if err != nil || r.Format != FormatComfyUI {
		t.Errorf("cyclic: %v %q", err, r.Format)
	}
}

func hasWarning(r Result, code string) bool {
	for _, w := range r.Warnings {
		if strings.HasPrefix(w, code) {
			return true
		}
	}
	return false
}
