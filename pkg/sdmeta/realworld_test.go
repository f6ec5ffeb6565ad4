package sdmeta

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/svtest"
	"github.com/localsupervisor/supervisor/pkg/svtest/pngtest"
)

// want is the golden expectation for one shared fixture, taken from the
// origin's own tests as recorded in manifest.json.
type want struct {
	format, prompt, negative, sampler, scheduler, model, seed string
	steps                                                     int
	cfg                                                       float64
	w, h                                                      int
	promptContains                                            []string
	err                                                       string // reason code
	video                                                     bool
	modelHash                                                 string
}

// realWorldCases are the golden expectations for the shared fixtures
// (TestRealWorldFixtures, TestFieldAccuracyPerFormat), by path under the
// fixtures folder.
func realWorldCases() map[string]want {
	const duck = "photo of a duck"
	cases := map[string]want{
		"sd_a1111/sdparsers_automatic1111_cropped.png":  {format: FormatA1111, prompt: duck, negative: "monochrome", sampler: "UniPC", model: "realistic_realisticVisionV20_v20", modelHash: "c0d1994c73", seed: "235284042", steps: 15, cfg: 5, w: 512, h: 400},
		"sd_a1111/sdparsers_text_after_idat.png":        {format: FormatA1111, prompt: duck, negative: "monochrome", sampler: "UniPC", modelHash: "c0d1994c73", seed: "235284042", steps: 15, cfg: 5, w: 512, h: 400},
		"exif_jpeg/sdparsers_automatic1111_cropped.jpg": {format: FormatA1111, prompt: duck, negative: "monochrome", sampler: "UniPC", model: "realistic_realisticVisionV20_v20", modelHash: "c0d1994c73", seed: "235284042", steps: 15, cfg: 5, w: 512, h: 400},
		"comfyui/sdparsers_img2img_cropped.png": {format: FormatComfyUI, prompt: "photograph of victorian woman with wings, sky clouds, meadow grass", negative: "watermark, text",
			sampler: "sample_dpmpp_2m", scheduler: "normal", model: "v1-5-pruned-emaonly.ckpt", seed: "280823642470253", steps: 20, cfg: 8},
		"comfyui/sdparsers_night_evening_day_morning_cropped.png": {format: FormatComfyUI, sampler: "dpmpp_sde", scheduler: "normal", model: "Anything-V3.0.ckpt", seed: "335608130539327", steps: 13, cfg: 8.5,
			promptContains: []string{"(best quality) (daytime:1.2) sky (blue)", "(masterpiece) (best quality) morning sky"}, w: 704, h: 1280},
		"comfyui/sdparsers_noisy_latents_3_subjects_cropped.png": {format: FormatComfyUI},
		"comfyui/sdparsers_unclip_2pass_cropped.png":             {format: FormatComfyUI},
		"novelai/sdparsers_novelai1_cropped.png": {format: FormatNovelAI, prompt: "masterpiece, best quality,  cat, space, icon", sampler: "k_euler_ancestral", seed: "2253955223", cfg: 10, steps: 50, model: "Stable Diffusion", modelHash: "1D44365E",
			promptContains: []string{"cat"}},
		"invokeai/sdparsers_invokeai_dream1.png":  {format: FormatInvokeAI, negative: "rendering, glowing eyes, skinny", sampler: "k_lms", seed: "2980747362", steps: 50, cfg: 5, w: 512, h: 768, promptContains: []string{"professional full body photo"}},
		"invokeai/sdparsers_invokeai_sdmeta1.png": {format: FormatInvokeAI, negative: "rendering, glowing eyes, skinny", sampler: "k_lms", seed: "2980747362", steps: 50, cfg: 5, w: 512, h: 768, model: "deliberateForInvoke_v08", modelHash: "56d1442a0feefd64836a19ac8e3527ec71c884fc962e246ddf67b03e42921272"},
		"invokeai/sdparsers_invokeai_imeta1.png": {format: FormatInvokeAI, prompt: "digital artwork, oil painting. painterly brushstrokes, holidays,", negative: "grainy+, photo, oversaturated, overexposed, blurry, compressed jpg+, noisy++, unfocused , black and white",
			sampler: "euler", seed: "3293022630", steps: 35, cfg: 8, w: 1024, h: 1024, model: "juggernautXL"},
		"fooocus/sdparsers_fooocus1_cropped.png":       {format: FormatFooocus, prompt: "a smiling goldfish", sampler: "dpmpp_2m_sde_gpu", scheduler: "karras", seed: "6952411511246973023", steps: 30, cfg: 4, w: 768, h: 1280, model: "juggernautXL_v8Rundiffusion", modelHash: "aeb7e9e689"},
		"nometa/sdparsers_empty_image.png":             {format: FormatNone},
		"nometa/sdparsers_empty_image.jpg":             {format: FormatNone},
		"corrupt/sdparsers_empty_file.png":             {err: CodeCorrupt},
		"corrupt/derived_text_named.jpg":               {err: CodeUnsupported},
		"corrupt/pillow_pngtest_bad.png.bin":           {err: CodeUnsupported},
		"sd_a1111/sdparsers_automatic1111_stealth.png": {format: FormatNone}, // stealth is off by default
	}
	for _, c := range []string{"video/selfmade_core_prompt_workflow_prog8s.mp4", "video/selfmade_vhs_comment_prog8s.mp4", "video/selfmade_vhs_comment_sample.webm"} {
		cases[c] = want{video: true, format: FormatComfyUI, prompt: "a fox moving quickly in a beautiful winter scenery nature trees mountains daytime tracking camera",
			seed: "82628696717253", steps: 30, cfg: 6, sampler: "uni_pc", scheduler: "simple", model: "wan2.1_t2v_1.3B_fp16.safetensors", w: 832, h: 480}
	}
	return cases
}

func TestRealWorldFixtures(t *testing.T) {
	dir := svtest.SharedFixtures(t)
	for file, w := range realWorldCases() {
		t.Run(file, func(t *testing.T) {
			opts := Options{}
			if w.video {
				bin := svtest.RequireTool(t, "ffprobe")
				opts.VideoTags = testFFprobe(bin)
			}
			res, err := Extract(context.Background(), filepath.Join(dir, file), opts)
			checkWant(t, res, err, w)
		})
	}
	// Every shared file (corrupt ones included) must extract without panic
	// and give JSON-marshalable output.
	files, _ := filepath.Glob(filepath.Join(dir, "*", "*"))
	for _, f := range files {
		res, err := Extract(context.Background(), f, Options{Stealth: true})
		if _, merr := json.Marshal(res); merr != nil {
			t.Errorf("%s: result not marshalable: %v", f, merr)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "meta_") {
			t.Errorf("%s: error without reason code: %v", f, err)
		}
	}
}

func TestStealthFixture(t *testing.T) {
	dir := svtest.SharedFixtures(t)
	res, err := Extract(context.Background(), filepath.Join(dir, "sd_a1111/sdparsers_automatic1111_stealth.png"), Options{Stealth: true})
	checkWant(t, res, err, want{format: FormatA1111, prompt: "a circle", negative: "a square", sampler: "Euler", scheduler: "Automatic", seed: "2015833630", steps: 20, cfg: 7, model: "realisticVisionV51_v51VAE", w: 64, h: 64})
	if res.SamplerSettings["Clip skip"] != "2" || res.SamplerSettings["Version"] != "v1.9.4-169-ga30b19dd" {
		t.Errorf("settings = %v", res.SamplerSettings)
	}
	// An RGBA PNG without any text chunk: import.stealth_pnginfo auto finds it too.
	auto, err := Extract(context.Background(), filepath.Join(dir, "sd_a1111/sdparsers_automatic1111_stealth.png"), Options{StealthAuto: true})
	if err != nil || auto.Prompt != "a circle" {
		t.Errorf("auto: %q %v", auto.Prompt, err)
	}
}

func TestMultiSamplerComfy(t *testing.T) {
	dir := svtest.SharedFixtures(t)
	res, err := Extract(context.Background(), filepath.Join(dir, "comfyui/sdparsers_night_evening_day_morning_cropped.png"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.ParameterSets) != 2 {
		t.Fatalf("want 2 parameter sets, got %d", len(res.ParameterSets))
	}
	second := res.ParameterSets[1]
	if second.NodeID != "24" || second.Sampler != "dpmpp_2m" || second.Seed != "1122440447966177" || second.Model != "AbyssOrangeMix2_hard.safetensors" ||
		!strings.Contains(second.Prompt, "(realistic:1.2) landscape") || *second.Denoise != 0.5 {
		t.Errorf("second pass = %+v", second)
	}
	if res.SourceMetadata["main_node"] != "3" {
		t.Errorf("main node = %v", res.SourceMetadata["main_node"])
	}
}

func checkWant(t *testing.T, res Result, err error, w want) {
	t.Helper()
	if w.err != "" {
		if err == nil || !strings.HasPrefix(err.Error(), w.err) {
			t.Fatalf("want error %s, got %v", w.err, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	str := func(name, got, want string) {
		if want != "" && got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	str("format", res.Format, w.format)
	str("prompt", res.Prompt, w.prompt)
	str("negative", res.NegativePrompt, w.negative)
	str("sampler", res.Sampler, w.sampler)
	str("scheduler", res.Scheduler, w.scheduler)
	str("model", res.Model, w.model)
	str("model_hash", res.ModelHash, w.modelHash)
	str("seed", res.Seed, w.seed)
	if w.steps != 0 && (res.Steps == nil || *res.Steps != w.steps) {
		t.Errorf("steps = %v, want %d", res.Steps, w.steps)
	}
	if w.cfg != 0 && (res.CFGScale == nil || *res.CFGScale != w.cfg) {
		t.Errorf("cfg = %v, want %v", res.CFGScale, w.cfg)
	}
	if w.w != 0 && (res.Width == nil || res.Height == nil || *res.Width != w.w || *res.Height != w.h) {
		t.Errorf("size = %v x %v, want %dx%d", res.Width, res.Height, w.w, w.h)
	}
	for _, s := range w.promptContains {
		if !strings.Contains(res.Prompt, s) {
			t.Errorf("prompt %q lacks %q", res.Prompt, s)
		}
	}
	if w.format == FormatComfyUI && !res.HasPrompt() {
		t.Errorf("comfy prompt empty")
	}
	if w.format != FormatNone && w.format != "" {
		if res.SourceMetadata["format"] != w.format || res.SourceMetadata["extractor_version"] != ExtractorVersion {
			t.Errorf("source_metadata = %v", res.SourceMetadata)
		}
	}
	if w.format == FormatNone && (res.HasPrompt() || res.SourceMetadata != nil) {
		t.Errorf("no-metadata file produced %+v", res)
	}
}

// testFFprobe is the same ffprobe call meta-inspect wires (kept here to
// avoid importing a cmd package).
func testFFprobe(bin string) func(ctx context.Context, path string) (map[string]string, error) {
	return func(ctx context.Context, path string) (map[string]string, error) {
		out, err := runCmd(ctx, bin, "-v", "error", "-print_format", "json", "-show_format", path)
		if err != nil {
			return nil, err
		}
		var doc struct {
			Format struct {
				Tags map[string]string `json:"tags"`
			} `json:"format"`
		}
		if err := json.Unmarshal(out, &doc); err != nil {
			return nil, err
		}
		return doc.Format.Tags, nil
	}
}

var _ = os.Getenv

// BenchmarkStealthDecode is the cost of one stealth pnginfo read of a
// 1024×1024 RGBA PNG without text chunks (what import.stealth_pnginfo
// auto pays per such file): the whole image is decoded.
func BenchmarkStealthDecode(b *testing.B) {
	data := pngtest.Stealth(1024, 1024, false, "a castle\nNegative prompt: blurry\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 1, Size: 1024x1024, Model: m")
	for _, c := range []struct {
		name string
		opts Options
	}{{"off", Options{}}, {"auto", Options{StealthAuto: true}}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for i := 0; i < b.N; i++ {
				res, err := ExtractBytes(context.Background(), data, "f.png", c.opts)
				if err != nil || (c.opts.StealthAuto && res.Prompt != "a castle") {
					b.Fatalf("%q %v", res.Prompt, err)
				}
			}
		})
	}
}
