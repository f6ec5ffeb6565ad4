package ollama_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/ollama"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

func TestExtractJSON(t *testing.T) {
	cases := []struct {
		name, in, want string
		ok             bool
	}{
		{"plain", `{"a":1}`, `{"a":1}`, true},
		{"bom and fences", "\uFEFF```json\n{\"a\": \"b\"}\n```", `{"a":"b"}`, true},
		{"prose around", `Here: {"a":"x}"} and {"b":2}`, `{"a":"x}"}`, true},
		{"brace in prose first", `Use {curly} braces: {"a":1}`, `{"a":1}`, true},
		{"escaped quotes", `{"a":"say \"{hi}\""}`, `{"a":"say \"{hi}\""}`, true},
		{"nested", `{"a":{"b":[1,{"c":2}]}} trailing`, `{"a":{"b":[1,{"c":2}]}}`, true},
		{"truncated", `{"a":"b","c":[1,2`, "", false},
		{"none", "no json here", "", false},
		{"empty", "", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ollama.ExtractJSON(tc.in)
			if ok != tc.ok || string(got) != tc.want {
				t.Errorf("ExtractJSON(%q) = %s, %v; want %s, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestParseOutputNormalisation(t *testing.T) {
	fixture, err := os.ReadFile("testdata/answers/quality_prose_fenced.txt")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		mode     ollama.Mode
		in       string
		check    func(t *testing.T, o *ollama.Output)
		degraded bool
		code     string
	}{
		{name: "prompt_eval score 1 stays 1 (no rescale)", mode: ollama.ModePromptEval,
			in: `{"score":1,"contradictions":[],"missing":[],"rationale":"r"}`,
			check: func(t *testing.T, o *ollama.Output) {
				if *o.Score != 1 {
					t.Errorf("score = %v", *o.Score)
				}
			}},
		{name: "prompt_eval score above 100 clamped and flagged", mode: ollama.ModePromptEval,
			in: `{"score":140,"contradictions":[],"missing":[],"rationale":"r"}`, degraded: true,
			check: func(t *testing.T, o *ollama.Output) {
				if *o.Score != 100 {
					t.Errorf("score = %v", *o.Score)
				}
			}},
		{name: "quality fixture: string score, vocab, clamp", mode: ollama.ModeQuality, in: string(fixture), degraded: true,
			check: func(t *testing.T, o *ollama.Output) {
				if *o.Score != 88 || o.DomainType != "photo" || *o.DomainConfidence != 1 {
					t.Errorf("got %+v", o)
				}
				if strings.Join(o.QualityFlags, ",") != "noise,watermark" {
					t.Errorf("flags = %v", o.QualityFlags)
				}
				if !strings.Contains(o.Rationale, `"watermark"`) {
					t.Errorf("rationale = %q", o.Rationale)
				}
			}},
		{name: "caption contradictions string becomes list", mode: ollama.ModeCaption,
			in: `{"caption":"A cat.","contradictions":"six fingers, two moons","missing":[],"rationale":"r"}`, degraded: true,
			check: func(t *testing.T, o *ollama.Output) {
				if len(o.Contradictions) != 2 || o.Contradictions[1] != "two moons" {
					t.Errorf("contradictions = %#v", o.Contradictions)
				}
			}},
		{name: "caption from description alias", mode: ollama.ModeCaption,
			in: `{"description":"A dog.","contradictions":[],"missing":[],"rationale":"r"}`,
			check: func(t *testing.T, o *ollama.Output) {
				if o.Caption != "A dog." {
					t.Errorf("caption = %q", o.Caption)
				}
			}},
		{name: "nsfw category alias and scale kept", mode: ollama.ModeNSFWClassify,
			in: `{"nsfw_score":0.4,"nsfw_flags":[],"category":"Adult","rationale_short":"r"}`,
			check: func(t *testing.T, o *ollama.Output) {
				if o.Category != "explicit" || *o.Score != 0.4 {
					t.Errorf("got %v %v", o.Category, *o.Score)
				}
			}},
		{name: "nsfw 85 is out of range, not rescaled", mode: ollama.ModeNSFWClassify,
			in: `{"nsfw_score":85,"nsfw_flags":[],"category":"explicit","rationale_short":"r"}`, degraded: true,
			check: func(t *testing.T, o *ollama.Output) {
				if *o.Score != 1 {
					t.Errorf("score = %v", *o.Score)
				}
			}},
		{name: "tags_normalize dedupes and keeps map", mode: ollama.ModeTagsNormalize,
			in:       `{"tags_normalized":["fox","fox","snow"],"tags_map":[{"raw":"Fox","normalized":"fox","confidence":0.9,"type":"subject"},{"raw":"","normalized":"x"}],"rationale":"r"}`,
			degraded: true,
			check: func(t *testing.T, o *ollama.Output) {
				if len(o.TagsNormalized) != 2 || len(o.TagsMap) != 1 || *o.TagsMap[0].Confidence != 0.9 {
					t.Errorf("got %+v", o)
				}
			}},
		{name: "title required", mode: ollama.ModeTitle, in: `{"rationale":"r"}`, code: ollama.CodeParseError},
		{name: "tags_normalized required", mode: ollama.ModeTagsNormalize, in: `{"tags_normalized":[],"tags_map":[]}`, code: ollama.CodeParseError},
		{name: "prompt_recon complete", mode: ollama.ModePromptRecon,
			in: `{"prompt":"a fox","negative_prompt":"blurry","confidence":0.5,"style_tokens":["photo"],"subject_tokens":["fox"],"rationale":"r"}`,
			check: func(t *testing.T, o *ollama.Output) {
				if o.Prompt != "a fox" || *o.Confidence != 0.5 || o.NegativePrompt != "blurry" {
					t.Errorf("got %+v", o)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o, err := ollama.ParseOutput(tc.mode, tc.in)
			if reason.Code(err) != tc.code {
				t.Fatalf("err = %v, want code %q", err, tc.code)
			}
			if err != nil {
				if ollama.RawOutput(err) != tc.in {
					t.Error("raw output not kept on parse_error")
				}
				return
			}
			if o.ParseError != tc.degraded {
				t.Errorf("degraded = %v, want %v (problems %v)", o.ParseError, tc.degraded, o.Problems)
			}
			if tc.check != nil {
				tc.check(t, o)
			}
		})
	}
}

func TestTemplatesRenderAndOverride(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/title.txt", []byte("Custom {{prompt}} / {prompt} / {{unknown}}!"), 0o644); err != nil {
		t.Fatal(err)
	}
	tpls := ollama.NewTemplates(dir)
	tpl, err := tpls.Load(ollama.ModeTitle)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tpl.Source, "file:") {
		t.Errorf("source = %s", tpl.Source)
	}
	if got := tpl.Render(map[string]string{"prompt": "P"}); got != "Custom P / P / !" {
		t.Errorf("render = %q", got)
	}
	for _, m := range ollama.GenerateModes() {
		tpl, err := tpls.Load(m)
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		if m != ollama.ModeTitle && !strings.HasPrefix(tpl.Source, "embedded:") {
			t.Errorf("%s source = %s", m, tpl.Source)
		}
		if m != ollama.ModeTitle && !strings.Contains(tpl.Text, "Format: {") {
			t.Errorf("%s template lacks the JSON format line", m)
		}
		if ollama.Schema(m) == nil {
			t.Errorf("%s has no schema", m)
		}
	}
	if missing := tpls.Missing(ollama.AllModes()...); len(missing) != 0 {
		t.Errorf("missing = %v", missing)
	}
}

func TestConfigValidateAndBudgets(t *testing.T) {
	cfg := ollama.DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := cfg
	bad.BaseURL = ""
	bad.Model.Text = ""
	err := bad.Validate()
	keys, _ := reason.FieldsOf(err)["missing_keys"].([]string)
	if reason.Code(err) != "config_invalid" || strings.Join(keys, ",") != "ollama.base_url,ollama.model.text" {
		t.Errorf("err = %v keys = %v", err, keys)
	}

	// Derived from HTTP timeouts: 3 attempts × 180 s + 1 s + 2 s backoff + 15 s overhead.
	if got := cfg.ModeBudget(ollama.ModeCaption); got != 3*180*time.Second+3*time.Second+15*time.Second {
		t.Errorf("vision budget = %v", got)
	}
	// Fixed budget: the request timeout shrinks so everything fits.
	cfg.Worker.MaxSecondsText = 120
	per := cfg.RequestTimeout(ollama.ModeTagsNormalize)
	sched := cfg.BackoffSchedule()
	total := per * 3
	for _, d := range sched {
		total += d
	}
	if cfg.ModeBudget(ollama.ModeTagsNormalize) != 120*time.Second || total >= 120*time.Second || per != 34*time.Second {
		t.Errorf("per = %v total = %v budget = %v", per, total, cfg.ModeBudget(ollama.ModeTagsNormalize))
	}
	cfg.Retry = ollama.RetryConfig{MaxAttempts: 5, BackoffMS: 1000, BackoffMSMax: 3000}
	want := []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second}
	if got := cfg.BackoffSchedule(); len(got) != 4 || got[2] != want[2] || got[3] != want[3] {
		t.Errorf("schedule = %v", got)
	}
	if got := cfg.ModelsFor(ollama.ModeCaption, ollama.ModeQuality, ollama.ModeEmbed); len(got) != 2 {
		t.Errorf("models = %v", got)
	}
}

func TestModesTable(t *testing.T) {
	vision := 0
	for _, m := range ollama.AllModes() {
		got, ok := ollama.ModeFromJobType(m.JobType())
		if !ok || got != m {
			t.Errorf("round trip %s", m)
		}
		if m.RequiresImage() {
			vision++
		}
		if len(m.MetaKeys()) == 0 || m.OutputKey() == "" {
			t.Errorf("%s lacks meta keys", m)
		}
	}
	if vision != 5 {
		t.Errorf("vision modes = %d", vision)
	}
	if _, err := ollama.ParseMode("analyze"); reason.Code(err) != "invalid_mode" {
		t.Errorf("err = %v", err)
	}
}

func BenchmarkParseOutput(b *testing.B) {
	fixture, err := os.ReadFile("testdata/answers/quality_prose_fenced.txt")
	if err != nil {
		b.Fatal(err)
	}
	in := string(fixture)
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := ollama.ParseOutput(ollama.ModeQuality, in); err != nil {
			b.Fatal(err)
		}
	}
}
