package sdmeta

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
)

// Front-end variants (issue #19 items 2 and 3). The texts are written out
// here in the shape the named front ends write (field order and values
// follow the sample expectations of enslo/sd-metadata, MIT); no sample file
// is copied.

const variantPrompt = "general, masterpiece, best quality, amazing quality, \n1girl, solo, hatsune miku, テスト"
const variantNeg = "bad quality, worst quality, worst detail, sketch, censor,"

func variantText(params string) string {
	return variantPrompt + "\nNegative prompt: " + variantNeg + "\n" + params
}

// civitaiHiresGraph is shaped after Civitai's orchestration output
// (civitai-hires.jpg): an API graph whose checkpoint is an AIR, the AIR
// list under "extra" and the site's request as a JSON string under
// "extraMetadata".
const civitaiHiresGraph = `{"resource-stack":{"class_type":"CheckpointLoaderSimple","inputs":{"ckpt_name":"urn:air:sdxl:checkpoint:civitai:827184@2514310"}},` +
	`"6":{"class_type":"CLIPTextEncode","inputs":{"text":"general, masterpiece, best quality, amazing quality, \n1girl, solo, hatsune miku, #テスト","clip":["resource-stack",1]},"_meta":{"title":"Positive"}},` +
	`"7":{"class_type":"CLIPTextEncode","inputs":{"text":"bad quality, worst quality, worst detail, sketch, censor, \n","clip":["resource-stack",1]},"_meta":{"title":"Negative"}},` +
	`"5":{"class_type":"EmptyLatentImage","inputs":{"width":1024,"height":1024,"batch_size":1}},` +
	`"3":{"class_type":"KSampler","inputs":{"sampler_name":"euler_ancestral","scheduler":"normal","seed":1311178179,"steps":25,"cfg":5,"denoise":1,"model":["resource-stack",0],"positive":["6",0],"negative":["7",0],"latent_image":["5",0]}},` +
	`"8":{"class_type":"VAEDecode","inputs":{"samples":["3",0],"vae":["resource-stack",2]}},` +
	`"9":{"class_type":"SaveImage","inputs":{"filename_prefix":"ComfyUI","images":["8",0]}},` +
	`"extra":{"airs":["urn:air:sdxl:checkpoint:civitai:827184@2514310","urn:air:other:upscaler:civitai:147759@164821"]},` +
	`"extraMetadata":"{\"prompt\":\"general, masterpiece, best quality, amazing quality, \\n1girl, solo, hatsune miku, #テスト\",\"negativePrompt\":\"bad quality, worst quality, worst detail, sketch, censor, \\n\",\"cfgScale\":5,\"sampler\":\"Euler a\",\"clipSkip\":2,\"steps\":25,\"seed\":1311178179,\"width\":1024,\"height\":1024,\"baseModel\":\"Illustrious\",\"transformations\":[{\"type\":\"upscale\",\"upscaleWidth\":1536,\"upscaleHeight\":1536}]}"}`

// civitaiUpscaleGraph has no sampler at all (an upscale-only job): the
// request in extraMetadata is the only record of the generation.
const civitaiUpscaleGraph = `{"resource-stack":{"class_type":"CheckpointLoaderSimple","inputs":{"ckpt_name":"urn:air:sdxl:checkpoint:civitai:827184@2514310"}},` +
	`"17":{"class_type":"LoadImage","inputs":{"image":"https://orchestration.civitai.com/v2/consumer/blobs/EXAMPLE","upload":"image"}},` +
	`"20":{"class_type":"ImageUpscaleWithModel","inputs":{"upscale_model":["21",0],"image":["17",0]}},` +
	`"21":{"class_type":"UpscaleModelLoader","inputs":{"model_name":"urn:air:other:upscaler:civitai:147759@164821"}},` +
	`"12":{"class_type":"SaveImage","inputs":{"filename_prefix":"ComfyUI","images":["20",0]}},` +
	`"extra":{"airs":["urn:air:other:upscaler:civitai:147759@164821"]},` +
	`"extraMetadata":"{\"prompt\":\"a lighthouse at dusk\",\"negativePrompt\":\"lowres\",\"cfgScale\":4,\"sampler\":\"DPM++ 2M Karras\",\"steps\":30,\"seed\":42,\"width\":832,\"height\":1216,\"baseModel\":\"SDXL 1.0\"}"}`

// ruinedFooocusJSON is the key set RuinedFooocus writes into "parameters"
// (modules/async_worker.py: Prompt/Negative/…/"software": "RuinedFooocus").
const ruinedFooocusJSON = `{"Prompt": "cinematic film still A sunflower field, shallow depth of field, vignette, highly detailed, ", "Negative": "anime, cartoon, graphic, text, painting, crayon, graphite, abstract, glitch, blur, bokeh , , ", "steps": 30, "cfg": 8.5, "width": 1152, "height": 896, "seed": 3864674281, "sampler_name": "dpmpp_2m_sde_gpu", "scheduler": "karras", "base_model_name": "sd_xl_base_1.0_0.9vae.safetensors", "base_model_hash": "be9edd61", "loras": [["4852686128", "0.1 - sd_xl_offset_example-lora_1.0.safetensors"]], "start_step": 0, "denoise": null, "clip_skip": 1, "software": "RuinedFooocus"}`

// ruinedFooocusOld is the older form: refiner fields and the LoRAs as one
// "Loras:<name:weight>,…" string.
const ruinedFooocusOld = `{"Prompt": "a dog", "Negative": "ugly", "steps": 24, "switch": 16, "cfg": 4.5, "width": 1024, "height": 1024, "seed": 7, "sampler_name": "dpmpp_2m", "scheduler": "simple", "base_model_name": "juggernaut.safetensors", "refiner_model_name": "None", "loras": "Loras:<add_detail:0.5>,<film grain:1.0>", "start_step": 0, "denoise": null, "software": "RuinedFooocus"}`

// hfSpaceJSON is what Gradio + diffusers Spaces (Animagine and its
// derivatives) write into "parameters".
const hfSpaceJSON = `{"prompt": "1girl, hatsune miku, masterpiece", "negative_prompt": "lowres, bad anatomy", "resolution": "832 x 1216", "guidance_scale": 5.5, "num_inference_steps": 24, "style_preset": "(None)", "seed": 443800072, "sampler": "DPM++ 2M Karras", "Model": "WAI-NSFW-illustrious-SDXL v16", "Model hash": "BDB59BAC77", "use_upscaler": null}`

type variantWant struct {
	format, prompt, neg, model, modelHash, seed, sampler, scheduler string
	steps, w, h                                                     int
	cfg                                                             float64
}

// variantFields compares the checked fields and returns the misses.
func variantFields(r Result, w variantWant) (misses []string, checked int) {
	cmp := func(name string, got, want any) {
		checked++
		if fmt.Sprint(got) != fmt.Sprint(want) {
			misses = append(misses, fmt.Sprintf("%s = %v, want %v", name, got, want))
		}
	}
	deref := func(p *int) any {
		if p == nil {
			return "<nil>"
		}
		return *p
	}
	cfg := any("<nil>")
	if r.CFGScale != nil {
		cfg = *r.CFGScale
	}
	cmp("format", r.Format, w.format)
	cmp("prompt", r.Prompt, w.prompt)
	cmp("negative", r.NegativePrompt, w.neg)
	cmp("model", r.Model, w.model)
	cmp("model hash", r.ModelHash, w.modelHash)
	cmp("seed", r.Seed, w.seed)
	cmp("sampler", r.Sampler, w.sampler)
	cmp("scheduler", r.Scheduler, w.scheduler)
	cmp("steps", deref(r.Steps), w.steps)
	cmp("cfg", cfg, w.cfg)
	cmp("width", deref(r.Width), w.w)
	cmp("height", deref(r.Height), w.h)
	return misses, checked
}

// variantCase is one front-end variant input and its golden fields.
type variantCase struct {
	name string
	data []byte
	ext  string
	want variantWant
}

// variantCases are the front-end variant golden cases (TestFrontEndVariants,
// TestFieldAccuracyPerFormat).
func variantCases() []variantCase {
	forgeWant := func(format, version string) (string, variantWant) {
		return variantText("Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6, Seed: 1239240392, Size: 1024x1024, Model hash: 45a21ea00a, Model: waiIllustriousSDXL_v160, Version: " + version),
			variantWant{format, variantPrompt, variantNeg, "waiIllustriousSDXL_v160", "45a21ea00a", "1239240392", "DPM++ 2M", "Karras", 20, 1024, 1024, 6}
	}
	type tc = variantCase
	png := func(key, text string) []byte { return buildPNG(64, 64, [][]byte{tEXt(key, text)}, 100, nil) }
	jpegUC := func(text string) []byte {
		uc := append([]byte("UNICODE\x00"), utf16Bytes(text, binary.BigEndian, false)...)
		return buildJPEG(jpegSeg(0xE1, append([]byte("Exif\x00\x00"), buildTIFF(binary.BigEndian, nil, []tiffTag{{0x9286, 7, uc}})...)))
	}
	var cases []tc
	for _, v := range []struct{ name, format, version string }{
		{"forge", FormatForge, "f2.0.1v1.10.1-previous-669-gdfdcbab6"},
		{"forge classic", FormatForgeClassic, "classic"},
		{"forge neo", FormatForgeNeo, "neo"},
		{"reforge", FormatReForge, "f1.0.0v2-v1.10.1RC-latest-2185-g3a3b5a4a"},
		{"easy reforge", FormatEasyReForge, "f1.7.0-v1.10.1RC-latest-2181-g4e4e4e10"},
		{"a1111", FormatA1111, "v1.10.1"},
		{"comfyui text only", FormatComfyUI, "ComfyUI"},
	} {
		text, w := forgeWant(v.format, v.version)
		cases = append(cases, tc{v.name + " png", png("parameters", text), "png", w})
		cases = append(cases, tc{v.name + " jpeg", jpegUC(text), "jpg", w})
	}
	sdnext := variantText("Steps: 20, Size: 1024x1024, Sampler: DDIM, Seed: 2427651458, CFG scale: 6, Model: waiIllustriousSDXL_v160, Model hash: 45a21ea00a, App: SD.Next, Version: f5e8b7d, Parser: native, Pipeline: StableDiffusionXLPipeline, Operations: txt2img")
	sdnextW := variantWant{FormatSDNext, variantPrompt, variantNeg, "waiIllustriousSDXL_v160", "45a21ea00a", "2427651458", "DDIM", "", 20, 1024, 1024, 6}
	cases = append(cases, tc{"sd.next png", png("parameters", sdnext), "png", sdnextW}, tc{"sd.next jpeg", jpegUC(sdnext), "jpg", sdnextW})
	civ := "1girl, hatsune miku\nNegative prompt: bad quality\nSteps: 30, Sampler: Euler a, Schedule type: Automatic, CFG scale: 7, Seed: 2073075463, Size: 1024x1360, Clip skip: 2, Model hash: a5f58eb1c3, Model: WAI-Nsfw-Illustrious-16, Hires upscale: 1.5, Hires upscaler: R-ESRGAN 4x+ Anime6B, Denoising strength: 0.5, Civitai resources: [{\"type\":\"checkpoint\",\"modelVersionId\":1183765,\"modelName\":\"WAI-NSFW-illustrious-SDXL\",\"modelVersionName\":\"v16\"}], Civitai metadata: {}"
	cases = append(cases, tc{"civitai text", png("parameters", civ), "png", variantWant{FormatCivitai, "1girl, hatsune miku", "bad quality", "WAI-Nsfw-Illustrious-16", "a5f58eb1c3", "2073075463", "Euler a", "Automatic", 30, 1024, 1360, 7}})
	hiresW := variantWant{FormatCivitai, "general, masterpiece, best quality, amazing quality, \n1girl, solo, hatsune miku, #テスト", "bad quality, worst quality, worst detail, sketch, censor,", "urn:air:sdxl:checkpoint:civitai:827184@2514310", "", "1311178179", "euler_ancestral", "normal", 25, 1024, 1024, 5}
	cases = append(cases, tc{"civitai hires json jpeg", jpegUC(civitaiHiresGraph), "jpg", hiresW}, tc{"civitai hires json png", png("prompt", civitaiHiresGraph), "png", hiresW})
	cases = append(cases, tc{"civitai upscale-only json", jpegUC(civitaiUpscaleGraph), "jpg", variantWant{FormatCivitai, "a lighthouse at dusk", "lowres", "urn:air:sdxl:checkpoint:civitai:827184@2514310", "", "42", "DPM++ 2M Karras", "", 30, 832, 1216, 4}})
	// The PNG form keeps the request in a chunk of its own.
	graph, req, _ := strings.Cut(civitaiUpscaleGraph, `,"extraMetadata":`)
	req = strings.TrimSuffix(req, "}")
	req = strings.ReplaceAll(strings.Trim(req, `"`), `\"`, `"`)
	cases = append(cases, tc{"civitai upscale-only png chunks", buildPNG(64, 64, [][]byte{tEXt("prompt", graph+"}"), tEXt("extraMetadata", req)}, 100, nil), "png", variantWant{FormatCivitai, "a lighthouse at dusk", "lowres", "urn:air:sdxl:checkpoint:civitai:827184@2514310", "", "42", "DPM++ 2M Karras", "", 30, 832, 1216, 4}})
	hfW := variantWant{FormatHFSpace, "1girl, hatsune miku, masterpiece", "lowres, bad anatomy", "WAI-NSFW-illustrious-SDXL v16", "BDB59BAC77", "443800072", "DPM++ 2M Karras", "", 24, 832, 1216, 5.5}
	cases = append(cases, tc{"hf space png", png("parameters", hfSpaceJSON), "png", hfW}, tc{"hf space jpeg", jpegUC(hfSpaceJSON), "jpg", hfW})
	rfW := variantWant{FormatRuinedFooocus, "cinematic film still A sunflower field, shallow depth of field, vignette, highly detailed,", "anime, cartoon, graphic, text, painting, crayon, graphite, abstract, glitch, blur, bokeh , ,", "sd_xl_base_1.0_0.9vae.safetensors", "be9edd61", "3864674281", "dpmpp_2m_sde_gpu", "karras", 30, 1152, 896, 8.5}
	cases = append(cases, tc{"ruinedfooocus png", png("parameters", ruinedFooocusJSON), "png", rfW}, tc{"ruinedfooocus jpeg", jpegUC(ruinedFooocusJSON), "jpg", rfW})
	cases = append(cases, tc{"ruinedfooocus old png", png("parameters", ruinedFooocusOld), "png", variantWant{FormatRuinedFooocus, "a dog", "ugly", "juggernaut.safetensors", "", "7", "dpmpp_2m", "simple", 24, 1024, 1024, 4.5}})
	return cases
}

// TestFrontEndVariants checks each variant; TestFieldAccuracyPerFormat
// reports the per-format counts.
func TestFrontEndVariants(t *testing.T) {
	for _, c := range variantCases() {
		t.Run(c.name, func(t *testing.T) {
			res, err := ExtractBytes(context.Background(), c.data, "x."+c.ext, Options{})
			if err != nil {
				t.Fatal(err)
			}
			misses, _ := variantFields(res, c.want)
			if len(res.Warnings) != 0 {
				t.Errorf("warnings %v", res.Warnings)
			}
			for _, m := range misses {
				t.Error(m)
			}
		})
	}
}

func TestRuinedFooocusLoras(t *testing.T) {
	for _, c := range []struct {
		name, json string
		want       []Lora
	}{
		{"hash list", ruinedFooocusJSON, []Lora{{Name: "sd_xl_offset_example-lora_1.0.safetensors", Hash: "4852686128", Weight: ptrF(0.1), Source: "metadata"}}},
		{"old string", ruinedFooocusOld, []Lora{{Name: "add_detail", Weight: ptrF(0.5), Source: "metadata"}, {Name: "film grain", Weight: ptrF(1), Source: "metadata"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := ExtractBytes(context.Background(), buildPNG(8, 8, [][]byte{tEXt("parameters", c.json)}, 10, nil), "x.png", Options{})
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(loraStrings(res.Loras)) != fmt.Sprint(loraStrings(c.want)) {
				t.Errorf("loras %v, want %v", loraStrings(res.Loras), loraStrings(c.want))
			}
			if _, dup := res.SamplerSettings["Prompt"]; dup || res.SamplerSettings["software"] != nil {
				t.Errorf("settings repeat columns or the marker: %v", res.SamplerSettings)
			}
		})
	}
}

func ptrF(f float64) *float64 { return &f }

func loraStrings(ls []Lora) []string {
	var out []string
	for _, l := range ls {
		w := "<nil>"
		if l.Weight != nil {
			w = fmt.Sprint(*l.Weight)
		}
		out = append(out, strings.Join([]string{l.Name, l.Hash, w, l.Source}, "|"))
	}
	return out
}

// TestRuinedFooocusVideo: RuinedFooocus' video writer puts the same
// document into a "metadata" container tag.
func TestRuinedFooocusVideo(t *testing.T) {
	opts := Options{VideoTags: func(context.Context, string) (map[string]string, error) {
		return map[string]string{"metadata": ruinedFooocusJSON, "encoder": "Lavf61.7.100"}, nil
	}}
	res, err := ExtractBytes(context.Background(), []byte("\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"), "clip.mp4", opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Format != FormatRuinedFooocus || res.Seed != "3864674281" || res.Model != "sd_xl_base_1.0_0.9vae.safetensors" {
		t.Errorf("format %q seed %q model %q (warnings %v)", res.Format, res.Seed, res.Model, res.Warnings)
	}
}
