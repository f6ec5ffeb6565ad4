package sdmeta

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/image/webp"

	"github.com/localsupervisor/supervisor/pkg/svtest"
)

var updateNAI = flag.Bool("update-nai", false, "rebuild testdata/novelai/*.webp|jpg (needs ffmpeg with libwebp)")

// naiParams is a NovelAI V4.5 parameter JSON (the Comment text) as the
// site writes it, trimmed of the long signature fields.
const naiParams = `{"prompt": "1girl, cherry blossoms, night sky, lantern", "steps": 28, "height": 1216, "width": 832, "scale": 5.5, "uncond_scale": 0.0, "cfg_rescale": 0.0, "seed": 3141592653, "n_samples": 1, "noise_schedule": "karras", "legacy_v3_extend": false, "sampler": "k_euler_ancestral", "dynamic_thresholding": false, "prefer_brownian": true, "v4_prompt": {"caption": {"base_caption": "1girl, cherry blossoms, night sky, lantern", "char_captions": []}, "use_coords": false, "use_order": true}, "v4_negative_prompt": {"caption": {"base_caption": "lowres, bad anatomy, worst quality", "char_captions": []}}, "uc": "lowres, bad anatomy, worst quality", "request_type": "PromptGenerateRequest"}`

// naiEnvelope is the EXIF UserComment JSON of NovelAI's WebP/JPEG exports:
// the PNG text chunk keys in one object, Comment a JSON string.
func naiEnvelope(t testing.TB, withDescription bool) string {
	m := map[string]any{"Title": "NovelAI generated image", "Software": "NovelAI", "Source": "NovelAI Diffusion V4.5 4BDE2A90", "Generation time": "6.12", "Comment": naiParams}
	if withDescription {
		m["Description"] = "1girl, cherry blossoms, night sky, lantern"
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// naiUserComment is an EXIF block with the envelope in UserComment behind
// the 8-byte "ASCII\0\0\0" character-code prefix.
func naiUserComment(t testing.TB, bo binary.ByteOrder, withDescription bool) []byte {
	uc := append([]byte("ASCII\x00\x00\x00"), naiEnvelope(t, withDescription)...)
	return buildTIFF(bo, nil, []tiffTag{{0x9286, 7, uc}})
}

// novelAICase is one NovelAI input: a file under testdata/novelai, or
// data built in memory.
type novelAICase struct {
	name string
	file string // under testdata/novelai, or "" for data
	data []byte
	ext  string
	want want
}

// novelAICases are the NovelAI golden cases (TestNovelAIExif,
// TestFieldAccuracyPerFormat).
func novelAICases(t testing.TB) []novelAICase {
	full := want{format: FormatNovelAI, prompt: "1girl, cherry blossoms, night sky, lantern", negative: "lowres, bad anatomy, worst quality",
		seed: "3141592653", steps: 28, cfg: 5.5, sampler: "k_euler_ancestral", scheduler: "karras", model: "NovelAI Diffusion V4.5", modelHash: "4BDE2A90", w: 832, h: 1216}
	pngParams := `{"steps": 50, "sampler": "k_euler", "seed": 7, "scale": 11, "uc": "blurry", "noise_schedule": "exponential", "width": 512, "height": 768}`
	v4Only := `{"steps": 23, "sampler": "k_dpmpp_2m", "seed": 9, "scale": 5, "noise_schedule": "native", "v4_prompt": {"caption": {"base_caption": "a fox"}}, "v4_negative_prompt": {"caption": {"base_caption": "lowres"}}}`
	return []novelAICase{
		{name: "webp export", file: "selfmade_novelai_curated.webp", want: full},
		{name: "jpeg export without Description", file: "selfmade_novelai_curated.jpg", want: full},
		{name: "webp big-endian exif", data: buildWebP(riffChunk("EXIF", naiUserComment(t, binary.BigEndian, true))), ext: "webp", want: full},
		{name: "jpeg exif with prefix", data: buildJPEG(jpegSeg(0xE1, append([]byte("Exif\x00\x00"), naiUserComment(t, binary.LittleEndian, false)...))), ext: "jpg", want: full},
		{name: "png noise_schedule", data: buildPNG(8, 8, [][]byte{tEXt("Software", "NovelAI"), tEXt("Description", "a cat"), tEXt("Comment", pngParams)}, 10, nil), ext: "png",
			want: want{format: FormatNovelAI, prompt: "a cat", negative: "blurry", seed: "7", steps: 50, cfg: 11, sampler: "k_euler", scheduler: "exponential", w: 512, h: 768}},
		{name: "png v4 captions only", data: buildPNG(8, 8, [][]byte{tEXt("Software", "NovelAI"), tEXt("Comment", v4Only)}, 10, nil), ext: "png",
			want: want{format: FormatNovelAI, prompt: "a fox", negative: "lowres", seed: "9", steps: 23, cfg: 5, sampler: "k_dpmpp_2m", scheduler: "native"}},
	}
}

// extract reads the case's file or data.
func (tc novelAICase) extract() (Result, error) {
	if tc.file != "" {
		return Extract(context.Background(), filepath.Join("testdata", "novelai", tc.file), Options{})
	}
	return ExtractBytes(context.Background(), tc.data, "f."+tc.ext, Options{})
}

func TestNovelAIExif(t *testing.T) {
	if *updateNAI {
		writeNAIFixtures(t)
	}
	for _, tc := range novelAICases(t) {
		t.Run(tc.name, func(t *testing.T) {
			res, err := tc.extract()
			checkWant(t, res, err, tc.want)
			if tc.want.negative == "" || res.NegativePrompt != tc.want.negative {
				t.Errorf("negative = %q", res.NegativePrompt)
			}
			if tc.want.scheduler == "" || res.Scheduler != tc.want.scheduler {
				t.Errorf("scheduler = %q", res.Scheduler)
			}
			if tc.want.model != "" && res.SamplerSettings["model_hash"] != "4BDE2A90" {
				t.Errorf("model_hash = %v", res.SamplerSettings["model_hash"])
			}
			if res.RawBlock == "" || res.SourceMetadata["source_key"] == "" {
				t.Errorf("raw block %q, source_key %v", res.RawBlock, res.SourceMetadata["source_key"])
			}
		})
	}
}

// A UserComment JSON with a Comment field is NovelAI only when it says so
// or the Comment holds NovelAI parameters.
func TestNovelAIExifNotNovelAI(t *testing.T) {
	uc := append([]byte("ASCII\x00\x00\x00"), `{"Comment": "{\"prompt\": \"a dog\", \"steps\": 20}", "Software": "Other"}`...)
	data := buildWebP(riffChunk("EXIF", buildTIFF(binary.LittleEndian, nil, []tiffTag{{0x9286, 7, uc}})))
	res, err := ExtractBytes(context.Background(), data, "f.webp", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Format == FormatNovelAI {
		t.Errorf("format = %q, want not novelai", res.Format)
	}
}

// V4 multi-character prompts keep each character's caption and position;
// the base prompt alone would lose them.
func TestNovelAICharacterPrompts(t *testing.T) {
	params := `{"prompt": "2girls, park", "uc": "lowres", "scale": 5, "sampler": "k_euler", "seed": 1, "steps": 28, "noise_schedule": "karras",
"v4_prompt": {"caption": {"base_caption": "2girls, park", "char_captions": [{"char_caption": "girl, red hair", "centers": [{"x": 0.3, "y": 0.5}]}, {"char_caption": "girl, blue hair", "centers": [{"x": 0.7, "y": 0.5}]}, {"char_caption": ""}]}},
"v4_negative_prompt": {"caption": {"base_caption": "lowres", "char_captions": [{"char_caption": "hat", "centers": [{"x": 0.3, "y": 0.5}]}]}}}`
	data := buildPNG(8, 8, [][]byte{tEXt("Software", "NovelAI"), tEXt("Description", "2girls, park"), tEXt("Comment", params)}, 10, nil)
	res, err := ExtractBytes(context.Background(), data, "f.png", Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(map[string]any{"pos": res.SamplerSettings["character_prompts"], "neg": res.SamplerSettings["character_negative_prompts"]})
	want := `{"neg":[{"center":{"x":0.3,"y":0.5},"prompt":"hat"}],"pos":[{"center":{"x":0.3,"y":0.5},"prompt":"girl, red hair"},{"center":{"x":0.7,"y":0.5},"prompt":"girl, blue hair"}]}`
	if res.Format != FormatNovelAI || string(got) != want {
		t.Errorf("format %q, characters %s\nwant %s", res.Format, got, want)
	}
}

// NovelAI PNGs also carry the envelope in the alpha channel's low bits
// ("stealth_pngcomp", gzip); once stripped of text chunks, that is all
// that is left. The stealth reader files it under "parameters".
func TestNovelAIStealthAndFallback(t *testing.T) {
	ctx := context.Background()
	full := want{format: FormatNovelAI, prompt: "1girl, cherry blossoms, night sky, lantern", negative: "lowres, bad anatomy, worst quality",
		seed: "3141592653", steps: 28, cfg: 5.5, sampler: "k_euler_ancestral", scheduler: "karras", model: "NovelAI Diffusion V4.5", w: 832, h: 1216}
	t.Run("stealth alpha", func(t *testing.T) {
		res, err := ExtractBytes(ctx, naiStealthPNG(t, naiEnvelope(t, true)), "f.png", Options{Stealth: true})
		checkWant(t, res, err, full)
	})
	t.Run("comment chunk not novelai, envelope elsewhere", func(t *testing.T) {
		data := buildPNG(8, 8, [][]byte{tEXt("Comment", "made with something"), tEXt("parameters", naiEnvelope(t, false))}, 10, nil)
		res, err := ExtractBytes(ctx, data, "f.png", Options{})
		checkWant(t, res, err, full)
	})
}

// naiStealthPNG hides text in the alpha LSBs the way NovelAI does: column
// by column, the signature, a 32-bit big-endian bit count, gzip data.
func naiStealthPNG(t *testing.T, text string) []byte {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(text))
	zw.Close()
	payload := []byte("stealth_pngcomp")
	payload = binary.BigEndian.AppendUint32(payload, uint32(gz.Len()*8))
	payload = append(payload, gz.Bytes()...)
	const h = 64
	w := (len(payload)*8 + h - 1) / h
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = 0xFE // alpha LSB 0 unless set below
	}
	for i := 0; i < len(payload)*8; i++ {
		if payload[i/8]&(0x80>>(i%8)) != 0 {
			x, y := i/h, i%h
			img.Pix[img.PixOffset(x, y)+3] |= 1
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// The committed fixtures must still be images a decoder accepts: the
// EXIF splice must not have broken the container.
func TestNovelAIFixturesDecode(t *testing.T) {
	for name, dec := range map[string]func(*bytes.Reader) (image.Config, error){
		"selfmade_novelai_curated.webp": func(r *bytes.Reader) (image.Config, error) { return webp.DecodeConfig(r) },
		"selfmade_novelai_curated.jpg":  func(r *bytes.Reader) (image.Config, error) { return jpeg.DecodeConfig(r) },
	} {
		b, err := os.ReadFile(filepath.Join("testdata", "novelai", name))
		if err != nil {
			t.Fatal(err)
		}
		if cfg, err := dec(bytes.NewReader(b)); err != nil || cfg.Width != 64 || cfg.Height != 48 {
			t.Errorf("%s: %+v %v", name, cfg, err)
		}
	}
	if _, err := webp.Decode(bytes.NewReader(mustRead(t, "testdata/novelai/selfmade_novelai_curated.webp"))); err != nil {
		t.Errorf("webp decode: %v", err)
	}
	if _, err := jpeg.Decode(bytes.NewReader(mustRead(t, "testdata/novelai/selfmade_novelai_curated.jpg"))); err != nil {
		t.Errorf("jpeg decode: %v", err)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeNAIFixtures builds the two fixtures (go test -run TestNovelAIExif
// -update-nai): a 64x48 gradient encoded by image/jpeg with an APP1 EXIF
// segment spliced after SOI (big-endian TIFF, envelope without
// Description), and ffmpeg's lossless WebP of the same size rewrapped as
// extended WebP (VP8X with the EXIF flag) with an EXIF chunk
// (little-endian TIFF, envelope with Description).
func writeNAIFixtures(t *testing.T) {
	dir := filepath.Join("testdata", "novelai")
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for y := 0; y < 48; y++ {
		for x := 0; x < 64; x++ {
			img.Set(x, y, color.RGBA{uint8(x * 4), uint8(y * 5), 128, 255})
		}
	}
	var jb bytes.Buffer
	if err := jpeg.Encode(&jb, img, &jpeg.Options{Quality: 80}); err != nil {
		t.Fatal(err)
	}
	app1 := jpegSeg(0xE1, append([]byte("Exif\x00\x00"), naiUserComment(t, binary.BigEndian, false)...))
	jpg := append(append([]byte{0xFF, 0xD8}, app1...), jb.Bytes()[2:]...)
	if err := os.WriteFile(filepath.Join(dir, "selfmade_novelai_curated.jpg"), jpg, 0o644); err != nil {
		t.Fatal(err)
	}

	ff := svtest.RequireTool(t, "ffmpeg")
	base := filepath.Join(t.TempDir(), "base.webp")
	if out, err := runCmd(context.Background(), ff, "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x48", "-frames:v", "1", "-c:v", "libwebp", "-lossless", "1", base); err != nil {
		t.Fatalf("ffmpeg: %v %s", err, out)
	}
	src := mustRead(t, base)
	if len(src) < 20 || string(src[12:16]) != "VP8L" {
		t.Fatalf("ffmpeg wrote no simple lossless WebP: % x", src[:min(len(src), 20)])
	}
	vp8x := make([]byte, 10)
	vp8x[0] = 0x08 // EXIF present
	vp8x[4], vp8x[7] = 63, 47
	var body bytes.Buffer
	body.WriteString("WEBP")
	body.Write(riffChunk("VP8X", vp8x))
	body.Write(src[12:]) // the VP8L chunk as ffmpeg wrote it
	body.Write(riffChunk("EXIF", naiUserComment(t, binary.LittleEndian, true)))
	var wb bytes.Buffer
	wb.WriteString("RIFF")
	binary.Write(&wb, binary.LittleEndian, uint32(body.Len()))
	wb.Write(body.Bytes())
	if err := os.WriteFile(filepath.Join(dir, "selfmade_novelai_curated.webp"), wb.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
