package forge

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestAnalyzePromptQuality(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		prompt string
		size   bool
		conf   float64
		grade  string
		score  int
		issues []string
	}{
		{"rich prompt", "masterpiece, best quality, a young woman standing in a sunlit wheat field, golden hour lighting, flowing white dress, soft focus background, detailed face", true, 0, GradeA, 95, []string{}},
		{"plain sentence", "a cat sitting on a red chair near the window", true, 0, GradeA, 85, []string{}},
		{"empty", "", true, 0, GradeC, 25, []string{"empty", "too_short"}},
		{"short", "cat, dog", true, 0, GradeC, 45, []string{"too_short", "no_substantial_fragment"}},
		{"fragmented", "a, b, cd, sunset over the quiet lake, mountains in the distance", true, 0, GradeB, 70, []string{"fragmented"}},
		{"garbled", "a photo of xkcdvbnm qwrtplk in the garden with flowers", true, 0, GradeB, 65, []string{"garbled"}},
		{"mojibake", "portrait of a woman Ã©Ã© wearing a hat in the rain", true, 0, GradeB, 65, []string{"garbled"}},
		{"missing size", "a cat sitting on a red chair near the window", false, 0, GradeA, 80, []string{"missing_resolution"}},
		{"tags richer than prompt", "a cat sitting on a red chair", true, 4.5, GradeA, 75, []string{"tags_richer_than_prompt"}},
		{"weights and loras are not garbled", "(masterpiece:1.2), [detailed], <lora:add_detail:0.5>, a castle on a hill at night", true, 0, GradeA, 90, []string{}},
	}
	for _, tc := range tests {
		q := AnalyzePromptQuality(tc.prompt, tc.size, tc.conf)
		if q.Grade != tc.grade || q.Score != tc.score || !reflect.DeepEqual(q.Issues, tc.issues) {
			t.Errorf("%s: got %+v, want grade %s score %d issues %v", tc.name, q, tc.grade, tc.score, tc.issues)
		}
	}
}

var sampleTags = []TagInput{
	{Name: "1girl", Type: "content", Confidence: 0.99},
	{Name: "long_hair", Type: "content", Confidence: 0.95},
	{Name: "hatsune_miku", Type: "danbooru.character.v1", Confidence: 0.9},
	{Name: "plaid", Type: "pattern", Confidence: 0.6},
	{Name: "stripes", Type: "pattern", Confidence: 0.55},
	{Name: "night_sky", Type: "general", Confidence: 0.7},
	{Name: "watercolor", Type: "style", Confidence: 0.5},
	{Name: "^_^", Type: "content", Confidence: 0.4},
	{Name: "zero_conf", Type: "content", Confidence: 0},
	{Name: "low", Type: "content", Confidence: 0.1},
	{Name: "manual_tag", Type: "content", Confidence: 0.2, Locked: true},
}

func TestBuildTagPrompt(t *testing.T) {
	t.Parallel()
	tp := BuildTagPrompt(sampleTags)
	want := "manual tag, 1girl, long hair, hatsune miku, plaid, stripes, pattern mix, night sky, background detail, watercolor"
	if tp.Text != want || tp.TagsUsed != 8 || !tp.TagsLimited {
		t.Fatalf("got %+v\nwant %q", tp, want)
	}
	noh := []TagInput{
		{Name: "no_humans", Type: "content", Confidence: 0.9},
		{Name: "landscape", Type: "content", Confidence: 0.8},
		{Name: "man_made_structure", Type: "content", Confidence: 0.7},
		{Name: "girl", Type: "content", Confidence: 0.3},
		{Name: "portrait_frame", Type: "general", Confidence: 0.2},
	}
	tp = BuildTagPrompt(noh)
	if tp.Text != "no humans, landscape, made structure, frame, background detail" || !tp.NoHumans {
		t.Fatalf("no_humans: %+v", tp)
	}
	if got := RepairTagPrompt(sampleTags); got != "1girl, hatsune miku, long hair, manual tag, night sky, plaid, stripes, watercolor" {
		t.Fatalf("repair tags %q", got)
	}
}

func TestPlanPrompt(t *testing.T) {
	t.Parallel()
	good := "a cat sitting on a red chair near the window, soft light"
	manual := "an owl on a branch at dusk, detailed feathers"
	empty := "   "
	tags := sampleTags[:3]
	tests := []struct {
		name     string
		in       PromptInput
		final    string
		source   string
		fallback bool
		code     string
	}{
		{"stored good", PromptInput{Stored: good, HasSize: true, Tags: tags}, good, PromptStored, false, ""},
		{"manual wins", PromptInput{Stored: good, Manual: &manual, ManualIsUsed: true, Tags: tags}, manual, PromptManual, false, ""},
		{"blank manual ignored", PromptInput{Stored: good, Manual: &empty, Tags: tags, HasSize: true}, good, PromptStored, false, ""},
		{"grade C falls back to tags", PromptInput{Stored: "cat", Tags: tags}, "Detailed reconstruction, 1girl, long hair, hatsune miku", PromptTags, true, ""},
		{"grade C prompt_only kept", PromptInput{Stored: "cat", Tags: tags, Strategy: StrategyPromptOnly}, "cat", PromptStored, false, ""},
		{"grade C without tags kept", PromptInput{Stored: "cat"}, "cat", PromptStored, false, ""},
		{"hybrid", PromptInput{Stored: good, Tags: tags, UseHybrid: true, HasSize: true}, good + ", 1girl, long hair, hatsune miku", PromptHybrid, false, ""},
		{"strategy tags", PromptInput{Stored: good, Tags: tags, Strategy: StrategyTags}, "1girl, long hair, hatsune miku", PromptTags, false, ""},
		{"empty prompt uses tags", PromptInput{Tags: tags}, "1girl, long hair, hatsune miku", PromptTags, false, ""},
		{"nothing", PromptInput{}, "", "", false, CodePromptMissing},
	}
	for _, tc := range tests {
		pp, err := PlanPrompt(tc.in)
		if reason.Code(err) != tc.code {
			t.Errorf("%s: err %v", tc.name, err)
			continue
		}
		if tc.code == "" && (pp.Final != tc.final || pp.Source != tc.source || pp.FallbackUsed != tc.fallback) {
			t.Errorf("%s: got %q/%s/%v, want %q/%s/%v", tc.name, pp.Final, pp.Source, pp.FallbackUsed, tc.final, tc.source, tc.fallback)
		}
	}
}

func TestResolveNegative(t *testing.T) {
	t.Parallel()
	m, e := "bad hands", ""
	tests := []struct {
		in   NegativeInput
		want Negative
	}{
		{NegativeInput{Manual: &m, Stored: "x"}, Negative{"bad hands", "manual", "manual"}},
		{NegativeInput{Manual: &e, Stored: "x"}, Negative{"", "manual", "manual_empty"}},
		{NegativeInput{Stored: " lowres "}, Negative{"lowres", "stored", "stored"}},
		{NegativeInput{Family: "flux"}, Negative{"", "empty", "empty_flux"}},
		{NegativeInput{Family: "sdxl", AllowEmpty: true}, Negative{"", "empty", "empty_allowed"}},
		{NegativeInput{Family: "sdxl"}, Negative{FallbackNegative, "fallback", "fallback"}},
	}
	for i, tc := range tests {
		if got := ResolveNegative(tc.in); got != tc.want {
			t.Errorf("%d: got %+v want %+v", i, got, tc.want)
		}
	}
}

func TestDecideMode(t *testing.T) {
	t.Parallel()
	img := MediaInfo{Path: "/lib/a.png", Width: 1024, Height: 1536, Filesize: 900_000, Exists: true}
	d5 := 0.5
	tests := []struct {
		name   string
		in     ModeInput
		mode   GenMode
		reason string
		dn     float64
	}{
		{"force txt2img beats everything", ModeInput{ForceTxt2Img: true, Strategy: StrategyImg2Img, Media: img, Grade: GradeC}, Txt2Img, "force_txt2img", 0},
		{"strategy prompt_only", ModeInput{Strategy: StrategyPromptOnly, Media: img, Grade: GradeC}, Txt2Img, "strategy_prompt_only", 0},
		{"strategy tags", ModeInput{Strategy: StrategyTags, Media: img, PromptMissing: true}, Txt2Img, "strategy_tags", 0},
		{"strategy img2img with good prompt", ModeInput{Strategy: StrategyImg2Img, Media: img, Grade: GradeA, Denoise: &d5}, Img2Img, "strategy_img2img", 0.5},
		{"missing source", ModeInput{Media: MediaInfo{Path: "/x.png", Width: 10}, Grade: GradeC}, Txt2Img, "img2img_unsuitable_source_missing", 0},
		{"tiny file", ModeInput{Media: MediaInfo{Path: "/x.png", Width: 512, Height: 512, Filesize: 4000, Exists: true}, Grade: GradeC}, Txt2Img, "img2img_unsuitable_source_too_small_bytes", 0},
		{"tiny pixels", ModeInput{Media: MediaInfo{Path: "/x.png", Width: 32, Height: 512, Filesize: 40000, Exists: true}, Grade: GradeC}, Txt2Img, "img2img_unsuitable_source_too_small_pixels", 0},
		{"extreme aspect", ModeInput{Media: MediaInfo{Path: "/x.png", Width: 6000, Height: 500, Filesize: 40000, Exists: true}, Grade: GradeC}, Txt2Img, "img2img_unsuitable_source_aspect_extreme", 0},
		{"prompt missing", ModeInput{Media: img, PromptMissing: true, Grade: GradeC}, Img2Img, "prompt_missing", 0.25},
		{"grade C", ModeInput{Media: img, Grade: GradeC}, Img2Img, "prompt_grade_c", 0.25},
		{"core fields missing", ModeInput{Media: img, Grade: GradeA, CoreMissing: true}, Img2Img, "core_fields_missing", 0.25},
		{"grade A", ModeInput{Media: img, Grade: GradeA}, Txt2Img, "prompt_grade_a", 0},
		{"grade B", ModeInput{Media: img, Grade: GradeB}, Txt2Img, "prompt_grade_b", 0},
		{"grade B with fallback", ModeInput{Media: img, Grade: GradeB, FallbackUsed: true}, Img2Img, "default_img2img", 0.25},
	}
	for _, tc := range tests {
		d := DecideMode(tc.in)
		var dn float64
		if d.Denoise != nil {
			dn = *d.Denoise
		}
		if d.Mode != tc.mode || d.Reason != tc.reason || dn != tc.dn || (tc.mode == Txt2Img) != (d.Denoise == nil) {
			t.Errorf("%s: got %s/%s/%v, want %s/%s/%v", tc.name, d.Mode, d.Reason, dn, tc.mode, tc.reason, tc.dn)
		}
	}
}

func TestSeedPolicy(t *testing.T) {
	t.Parallel()
	pl := testPlanner()
	o := int64(77)
	tests := []struct {
		name     string
		override *int64
		stored   string
		meta     string
		newSeed  bool
		seed     int64
		src      string
		gen      bool
	}{
		{"override", &o, "5", "6", false, 77, "override", false},
		{"stored", nil, " 5 ", "6", false, 5, "stored", false},
		{"stored -1 is random in A1111, so use meta", nil, "-1", "6", false, 6, "meta", false},
		{"generated", nil, "", "junk", false, 1_000_000 + (9_999_999_999-1_000_000+1)/2, "generated", true},
		{"policy new ignores stored", nil, "5", "", true, 1 + 2147483647/2, "new", true},
		{"override beats policy new", &o, "5", "", true, 77, "override", false},
	}
	for _, tc := range tests {
		s, src, gen := pl.resolveSeed(tc.override, tc.stored, tc.meta, tc.newSeed)
		if s != tc.seed || src != tc.src || gen != tc.gen {
			t.Errorf("%s: got %d/%s/%v want %d/%s/%v", tc.name, s, src, gen, tc.seed, tc.src, tc.gen)
		}
	}
}

func TestNormalizeSampler(t *testing.T) {
	t.Parallel()
	r := DefaultRecipes()
	sdxl, flux := r.ModelFamilies["sdxl"], r.ModelFamilies["flux"]
	tests := []struct {
		fam            ModelFamily
		s, sch         string
		apply          bool
		wantS, wantSch string
	}{
		{sdxl, "DPM++ 2M Karras", "", true, "DPM++ 2M", "Karras"},
		{sdxl, "DPM++ 2M Karras", "Exponential", true, "DPM++ 2M", "Exponential"},
		{sdxl, "DPM++ 2M SDE", "", true, "DPM++ 2M SDE", ""},
		{sdxl, "euler", "", true, "Euler a", ""},
		{sdxl, "euler", "", false, "euler", ""},
		{sdxl, "DDIM", "", true, "DDIM", ""},
		{sdxl, "Euler a", "Normal", true, "Euler a", "Normal"},
		{flux, "Euler a", "", true, "Euler", ""},
		{flux, "DPM++ 2M Karras", "", true, "Euler", ""},
		{sdxl, "DPM++ 2M SGM Uniform", "", false, "DPM++ 2M", "SGM Uniform"},
	}
	for _, tc := range tests {
		s, sch := NormalizeSampler(tc.fam, tc.s, tc.sch, tc.apply)
		if s != tc.wantS || sch != tc.wantSch {
			t.Errorf("%q/%q apply=%v: got %q/%q want %q/%q", tc.s, tc.sch, tc.apply, s, sch, tc.wantS, tc.wantSch)
		}
	}
	// Old servers without /schedulers take the combined name.
	old := []Sampler{{Name: "DPM++ 2M Karras"}, {Name: "DPM++ 2M"}}
	if s, sch, err := ResolveSampler(old, nil, "DPM++ 2M", "Karras"); err != nil || s != "DPM++ 2M Karras" || sch != "" {
		t.Errorf("old server: %q %q %v", s, sch, err)
	}
	chain := FilterChain(SamplerChain("Bogus", ""), []Sampler{{Name: "Euler a"}, {Name: "DPM++ 2M"}}, []Scheduler{{Name: "karras", Label: "Karras"}, {Name: "normal", Label: "Normal"}})
	if !reflect.DeepEqual(chain, []Attempt{{"DPM++ 2M", "Karras"}, {"Euler a", "Normal"}}) {
		t.Errorf("filtered chain %+v", chain)
	}
}

func TestApplyPromptEdit(t *testing.T) {
	t.Parallel()
	tests := []struct{ p, edit, want, code string }{
		{"a red Car on a road", "replace: car -> bicycle", "a red bicycle on a road", ""},
		{"a red car, CAR park", "REPLACE:car->", "a red , park", ""},
		{"a red car", "+ rain, night", "a red car, rain, night", ""},
		{"", "+ rain", "rain", ""},
		{"a (car:1.2)", "replace: (car:1.2) -> (bike:1.1)", "a (bike:1.1)", ""},
		{"a car", "", "a car", ""},
		{"a car", "make it blue", "", CodePromptEditInvalid},
	}
	for _, tc := range tests {
		got, err := ApplyPromptEdit(tc.p, tc.edit)
		if reason.Code(err) != tc.code || got != tc.want {
			t.Errorf("%q %q: got %q %v, want %q %s", tc.p, tc.edit, got, err, tc.want, tc.code)
		}
	}
}

func testPlanner() Planner {
	return Planner{
		Recipes:       DefaultRecipes(),
		Models:        testModels,
		FallbackModel: "SDXL_FP16_waiNSFWIllustrious_v120.safetensors",
		Rand:          func(n int64) int64 { return n / 2 },
	}
}

func fp(f float64) *float64 { return &f }
func ip(i int) *int         { return &i }

func storedRow() *PromptRow {
	return &PromptRow{
		ID: 9, Prompt: "masterpiece, best quality, a young woman standing in a sunlit wheat field, golden hour lighting, flowing white dress",
		NegativePrompt: "lowres, bad anatomy", Model: "ponyDiffusionV6XL", Sampler: "DPM++ 2M Karras", Scheduler: "",
		CFGScale: fp(7), Steps: ip(28), Seed: "123456789", Width: ip(832), Height: ip(1216),
	}
}

func photo() MediaInfo {
	return MediaInfo{ID: 5, Path: "/lib/images_sfw/ab/abcdef.png", Type: "image", Width: 832, Height: 1216, Filesize: 1_500_000, Exists: true}
}

// allowedPayloadKeys are the A1111 API fields a Payload may produce.
var allowedPayloadKeys = map[string]bool{
	"prompt": true, "negative_prompt": true, "seed": true, "sampler_name": true, "scheduler": true, "steps": true,
	"cfg_scale": true, "width": true, "height": true, "batch_size": true, "n_iter": true, "denoising_strength": true,
	"resize_mode": true, "init_images": true, "send_images": true, "save_images": true,
}

var base64Blob = regexp.MustCompile(`[A-Za-z0-9+/]{200,}={0,2}`)

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n got: %s\nwant: %s", path, got, want)
	}
}

func checkPayloadJSON(t *testing.T, p Payload) []byte {
	t.Helper()
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	for k := range m {
		if !allowedPayloadKeys[k] {
			t.Errorf("payload key %q is not an A1111 API field", k)
		}
	}
	return append(b, '\n')
}

func TestPlanRegenGolden(t *testing.T) {
	t.Parallel()
	manualNeg := ""
	manual := "an astronaut riding a horse on the moon, cinematic, volumetric light"
	seed := int64(4242)
	tests := []struct {
		name string
		in   RegenInput
	}{
		{"stored_prompt_txt2img", RegenInput{Media: photo(), Prompt: storedRow(), Tags: sampleTags}},
		{"poor_prompt_img2img", RegenInput{Media: photo(), Prompt: &PromptRow{ID: 3, Prompt: "girl", Model: "unknown-model"}, Tags: sampleTags, MetaSeed: "99"}},
		{"no_prompt_tags_only", RegenInput{Media: photo(), Tags: sampleTags}},
		{"manual_overrides_replace", RegenInput{Media: photo(), Prompt: storedRow(), Tags: sampleTags, Overrides: Overrides{
			Mode: OutputReplace, ManualPrompt: &manual, ManualNegative: &manualNeg, Seed: &seed, Steps: ip(40), CFG: fp(5.5),
			Sampler: "Euler a", Scheduler: "Normal", Model: "67ab2fd8ec", Variants: 3}}},
		{"strategy_img2img_denoise", RegenInput{Media: photo(), Prompt: storedRow(), Overrides: Overrides{Strategy: StrategyImg2Img, Denoise: fp(0.55)}}},
		{"flux_empty_negative", RegenInput{Media: MediaInfo{ID: 8, Path: "/lib/x.jpg", Type: "image", Width: 4000, Height: 3000, Filesize: 3_000_000, Exists: true},
			Prompt: &PromptRow{ID: 1, Prompt: "a lighthouse on a cliff during a storm, waves crashing, dramatic sky, photo", Model: "flux1-dev-bnb-nf4-v2", Sampler: "Euler", Scheduler: "Simple", Steps: ip(20), CFGScale: fp(1), Seed: "7", Width: ip(1024), Height: ip(768)}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := testPlanner().PlanRegen(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join("testdata", "plan", tc.name)
			checkGolden(t, filepath.Join(dir, "payload.json"), checkPayloadJSON(t, req.Payload))
			rb, _ := json.MarshalIndent(req, "", "  ")
			if base64Blob.Match(rb) {
				t.Error("request holds a base64 blob")
			}
			checkGolden(t, filepath.Join(dir, "request.json"), append(rb, '\n'))
			// The A1111 body actually sent for img2img adds init_images
			// and nothing else.
			if req.Generation == Img2Img {
				if req.InitImage == nil || req.InitImage.Path != tc.in.Media.Path || req.Payload.DenoisingStrength == nil {
					t.Fatalf("img2img plan incomplete: %+v", req)
				}
				sent := checkPayloadJSON(t, req.Payload.WithInitImage([]byte("PNG")))
				if !bytes.Contains(sent, []byte(`"init_images": [`)) {
					t.Fatal("init image not attached")
				}
			} else if req.InitImage != nil || req.Payload.DenoisingStrength != nil {
				t.Fatalf("txt2img plan carries img2img fields: %+v", req)
			}
		})
	}
}

func TestPlanRegenErrors(t *testing.T) {
	t.Parallel()
	pl := testPlanner()
	tests := []struct {
		name string
		in   RegenInput
		code string
	}{
		{"video", RegenInput{Media: MediaInfo{Type: "video"}, Prompt: storedRow()}, CodeMediaNotImage},
		{"bad mode", RegenInput{Media: photo(), Prompt: storedRow(), Overrides: Overrides{Mode: "overwrite"}}, CodeOptionInvalid},
		{"bad strategy", RegenInput{Media: photo(), Prompt: storedRow(), Overrides: Overrides{Strategy: "magic"}}, CodeOptionInvalid},
		{"too many variants", RegenInput{Media: photo(), Prompt: storedRow(), Overrides: Overrides{Variants: 9}}, CodeOptionInvalid},
		{"no prompt no tags", RegenInput{Media: photo()}, CodePromptMissing},
	}
	for _, tc := range tests {
		if _, err := pl.PlanRegen(tc.in); reason.Code(err) != tc.code {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

func TestPlanRepair(t *testing.T) {
	t.Parallel()
	pl := testPlanner()
	tests := []struct {
		name     string
		in       RepairInput
		mode     GenMode
		denoise  float64
		variants int
		source   string
		sampler  string
		steps    int
		cfg      float64
		negMode  string
		deltas   string
		seed     int64
		prompt   string
		w, h     int
	}{
		{"repair normal from prompt", RepairInput{Media: photo(), Prompt: storedRow(), Options: RepairOptions{}},
			Img2Img, 0.4, 1, "prompt", "DPM++ 2M", 28, 7, "stored", "", 123456789, storedRow().Prompt, 832, 1216},
		{"repair strong two variants", RepairInput{Media: photo(), Prompt: storedRow(), Options: RepairOptions{Intensity: "strong"}},
			Img2Img, 0.6, 2, "prompt", "DPM++ 2M", 28, 7, "stored", "", 123456789, storedRow().Prompt, 832, 1216},
		{"repair without image is txt2img", RepairInput{Media: MediaInfo{ID: 1, Type: "image", Path: "/x.png"}, Prompt: storedRow(), Options: RepairOptions{}},
			Txt2Img, 0, 1, "prompt", "DPM++ 2M", 28, 7, "stored", "", 123456789, storedRow().Prompt, 1024, 1024},
		{"rebuild strong from tags", RepairInput{Media: photo(), Tags: sampleTags, Options: RepairOptions{Goal: "rebuild", Intensity: "strong"}},
			Txt2Img, 0, 4, "tags", "DPM++ 2M", 28, 6.5, "recipe_universal_sdxl", "preset=sdxl_default", 1_000_000 + (9_999_999_999-1_000_000+1)/2, RepairTagPrompt(sampleTags), 832, 1216},
		{"vary draws a new seed", RepairInput{Media: photo(), Prompt: storedRow(), Options: RepairOptions{Goal: "vary", Intensity: "normal"}},
			Txt2Img, 0, 2, "prompt", "DPM++ 2M", 28, 7, "stored", "", 1 + 2147483647/2, storedRow().Prompt, 832, 1216},
		{"minimal fast no negative", RepairInput{Media: photo(), Options: RepairOptions{Source: "minimal", Intensity: "fast"}},
			Img2Img, 0.25, 1, "minimal", "DPM++ 2M", 22, 6, "empty", "preset=sdxl_fast", 1_000_000 + (9_999_999_999-1_000_000+1)/2, MinimalPrompt, 832, 1216},
		{"prompt requested but missing falls to tags", RepairInput{Media: photo(), Tags: sampleTags, Options: RepairOptions{Source: "prompt"}},
			Img2Img, 0.4, 1, "tags", "DPM++ 2M", 28, 6.5, "recipe_universal_sdxl", "source prompt->tags; preset=sdxl_default", 1_000_000 + (9_999_999_999-1_000_000+1)/2, RepairTagPrompt(sampleTags), 832, 1216},
		{"black reset", RepairInput{Media: photo(), Prompt: &PromptRow{Prompt: "a castle", Model: "ponyDiffusionV6XL", Sampler: "Euler a", Steps: ip(80), CFGScale: fp(15), Seed: "5"}, Options: RepairOptions{TechFix: "black_reset"}},
			Img2Img, 0.4, 1, "prompt", "DPM++ 2M", 28, 6.5, "recipe_universal_sdxl", "steps 80->60; cfg 15->12; steps 60->28; cfg 12->6.5; sampler Euler a->DPM++ 2M Karras", 5, "a castle", 832, 1216},
		{"sampler compat and universal negative", RepairInput{Media: photo(), Prompt: &PromptRow{Prompt: "a castle", NegativePrompt: "ugly", Model: "ponyDiffusionV6XL", Sampler: "euler", Seed: "5"}, Options: RepairOptions{TechFix: "sampler_compat", Intensity: "fast"}},
			Img2Img, 0.25, 1, "prompt", "Euler a", 22, 6, "stored", "sampler euler->Euler a", 5, "a castle", 832, 1216},
		{"normalize size keeps aspect on the grid", RepairInput{Media: photo(), Prompt: storedRow(), Options: RepairOptions{TechFix: "normalize_size", PromptEdit: "replace: white dress -> red coat"}},
			Img2Img, 0.4, 1, "prompt", "DPM++ 2M", 28, 7, "stored", "prompt_edit", 123456789, strings.Replace(storedRow().Prompt, "white dress", "red coat", 1), 832, 1216},
		{"normalize size changes an off-grid size", RepairInput{Media: MediaInfo{ID: 2, Type: "image", Path: "/t.webp", Width: 1000, Height: 2000, Filesize: 90000, Exists: true}, Prompt: storedRow(), Options: RepairOptions{TechFix: "normalize_size"}},
			Img2Img, 0.4, 1, "prompt", "DPM++ 2M", 28, 7, "stored", "size 768x1536->704x1472", 123456789, storedRow().Prompt, 704, 1472},
		{"flux gets no negative", RepairInput{Media: photo(), Prompt: &PromptRow{Prompt: "a lighthouse", Model: "flux1-dev-bnb-nf4-v2", Seed: "1"}, Options: RepairOptions{Goal: "rebuild"}},
			Txt2Img, 0, 2, "prompt", "Euler", 24, 5, "empty", "", 1, "a lighthouse", 832, 1216},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := pl.PlanRepair(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			p := req.Payload
			var dn float64
			if p.DenoisingStrength != nil {
				dn = *p.DenoisingStrength
			}
			got := []any{req.Generation, dn, p.BatchSize, req.Repair.SourceUsed, p.SamplerName, p.Steps, p.CFGScale, req.Plan.NegativeMode, req.Repair.AppliedDeltas, p.Seed, p.Prompt, p.Width, p.Height}
			want := []any{tc.mode, tc.denoise, tc.variants, tc.source, tc.sampler, tc.steps, tc.cfg, tc.negMode, tc.deltas, tc.seed, tc.prompt, tc.w, tc.h}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("\n got %v\nwant %v", got, want)
			}
			if req.Mode != OutputPreview || req.JobLabel != "Repair" || req.Plan.Category != "repair" || p.NIter != 1 {
				t.Errorf("repair always previews: %+v", req)
			}
			wantID := int64(0)
			if tc.source == "prompt" {
				wantID = tc.in.Prompt.ID
			}
			if req.PromptID != wantID {
				t.Errorf("prompt_id %d for source %s, want %d", req.PromptID, tc.source, wantID)
			}
			checkPayloadJSON(t, p)
		})
	}
}

func TestPlanRepairOptionErrors(t *testing.T) {
	t.Parallel()
	pl := testPlanner()
	for _, o := range []RepairOptions{{Goal: "destroy"}, {Intensity: "max"}, {Source: "dream"}, {TechFix: "magic"}, {PromptEdit: "blue please"}} {
		if _, err := pl.PlanRepair(RepairInput{Media: photo(), Prompt: storedRow(), Options: o}); err == nil || !reason.IsPermanent(err) {
			t.Errorf("%+v accepted: %v", o, err)
		}
	}
}

func TestGenSize(t *testing.T) {
	t.Parallel()
	tests := []struct{ w, h, ww, wh int }{
		{832, 1216, 832, 1216},
		{4000, 3000, 1536, 1152},
		{1023, 767, 1016, 760},
		{0, 0, 1024, 1024},
		{3000, 200, 1536, 96},
	}
	for _, tc := range tests {
		if w, h := GenSize(tc.w, tc.h, []int{1024, 1024}); w != tc.ww || h != tc.wh {
			t.Errorf("%dx%d: got %dx%d want %dx%d", tc.w, tc.h, w, h, tc.ww, tc.wh)
		}
	}
	if w, h := gridSize(1000, 2000, []int{1024, 1024}, 64); w != 704 || h != 1472 {
		t.Errorf("grid size %dx%d", w, h)
	}
}

func BenchmarkPlanRegen(b *testing.B) {
	pl := testPlanner()
	in := RegenInput{Media: photo(), Prompt: storedRow(), Tags: sampleTags}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := pl.PlanRegen(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPlanRepair(b *testing.B) {
	pl := testPlanner()
	in := RepairInput{Media: photo(), Prompt: storedRow(), Tags: sampleTags, Options: RepairOptions{Goal: "rebuild", TechFix: "black_reset"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := pl.PlanRepair(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAnalyzePromptQuality(b *testing.B) {
	p := storedRow().Prompt
	b.ReportAllocs()
	for b.Loop() {
		AnalyzePromptQuality(p, true, 3.2)
	}
}
