package ollama_test

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/localsupervisor/supervisor/pkg/ollama"
	"github.com/localsupervisor/supervisor/pkg/ollama/ollamatest"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

// FuzzParseOutput feeds arbitrary model answers to ParseOutput for every
// mode. Properties: a failure is a *reason.Error — parse_error (transient,
// carrying the raw answer) or invalid_mode for the modes without a
// generate output; a success has its mode's required field, scores
// clamped to the mode's scale, trimmed non-empty list entries, vocabulary
// values only, ParseError == (Problems != empty), and RawJSON that parses
// to the same Output again (also when wrapped in prose and a code fence,
// as models do). Re-serialising the fields under the mode's own keys
// gives the same fields back.
func FuzzParseOutput(f *testing.F) {
	modes := ollama.AllModes()
	fenced, err := os.ReadFile("testdata/answers/quality_prose_fenced.txt")
	if err != nil {
		f.Fatal(err)
	}
	for i, m := range modes {
		f.Add(uint8(i), ollamatest.Answer(string(m), ""))
		f.Add(uint8(i), ollamatest.MinimalAnswer(string(m)))
		f.Add(uint8(i), "Sure!\n```json\n"+ollamatest.Answer(string(m), "")+"\n```\nDone.")
	}
	for _, s := range []string{
		string(fenced), "", "no json", `{"a":`, `{}`, `[{"title":"x"}]`, "\uFEFF{\"title\":\" t \"}",
		`{"score":"85%","contradictions":"a, b,,","missing":[1,null,{"x":1}," "]}`,
		`{"score":"NaN"}`, `{"nsfw_score":1e400}`, `{"nsfw_score":-3,"category":"NSFW"}`,
		`{"quality_score":500,"quality_flags":["Motion Blur","blur","blur"],"domain_type":7}`,
		`{"tags_normalized":["a","a"," "],"tags_map":[{"raw":"A","normalized":"a","confidence":"2"},3,{"raw":""}]}`,
		`{"prompt":{"nested":true},"confidence":-0.0}`, `{"title":"` + strings.Repeat("ä", 200) + `"}`,
	} {
		for i := range modes {
			f.Add(uint8(i), s)
		}
	}
	f.Fuzz(func(t *testing.T, mi uint8, text string) {
		m := modes[int(mi)%len(modes)]
		out, err := ollama.ParseOutput(m, text)
		if err != nil {
			checkParseFailure(t, m, text, out, err)
			return
		}
		checkOutput(t, m, out)

		again, err := ollama.ParseOutput(m, string(out.RawJSON))
		if err != nil || !reflect.DeepEqual(again, out) {
			t.Fatalf("RawJSON %s re-parses differently: %v\n got %+v\nwant %+v", out.RawJSON, err, again, out)
		}
		wrapped, err := ollama.ParseOutput(m, "Here you go:\n```json\n"+string(out.RawJSON)+"\n```\nAnything else?")
		if err != nil || !reflect.DeepEqual(wrapped, out) {
			t.Fatalf("fenced RawJSON parses differently: %v\n got %+v\nwant %+v", err, wrapped, out)
		}

		b, err := json.Marshal(modeObject(m, out))
		if err != nil {
			t.Fatalf("serialise: %v", err)
		}
		rt, err := ollama.ParseOutput(m, string(b))
		if err != nil {
			t.Fatalf("serialised output %s does not parse: %v", b, err)
		}
		if a, w := fieldsOnly(rt), fieldsOnly(out); !reflect.DeepEqual(a, w) {
			t.Fatalf("round trip via %s differs:\n got %+v\nwant %+v", b, a, w)
		}
	})
}

func checkParseFailure(t *testing.T, m ollama.Mode, text string, out *ollama.Output, err error) {
	t.Helper()
	var re *reason.Error
	if out != nil || !errors.As(err, &re) {
		t.Fatalf("failure is not a reason error: out=%v err=%v", out, err)
	}
	if !slices.Contains(ollama.GenerateModes(), m) && re.Code == "invalid_mode" {
		return // embed/dupe_hints have no generate output (checked after the JSON)
	}
	if re.Code != ollama.CodeParseError || re.Kind != reason.KindTransient || strings.TrimSpace(re.Msg) == "" {
		t.Fatalf("mode %s: %#v is not a transient parse_error with a detail", m, re)
	}
	if ollama.RawOutput(err) != text {
		t.Fatalf("parse_error lost the raw answer")
	}
}

func checkOutput(t *testing.T, m ollama.Mode, o *ollama.Output) {
	t.Helper()
	if o.ParseError != (len(o.Problems) > 0) {
		t.Fatalf("ParseError %v with problems %q", o.ParseError, o.Problems)
	}
	var obj map[string]any
	if json.Unmarshal(o.RawJSON, &obj) != nil {
		t.Fatalf("RawJSON %q is not an object", o.RawJSON)
	}
	for _, s := range []string{o.Title, o.Caption, o.Rationale, o.Prompt, o.NegativePrompt, o.DomainType, o.Category} {
		if s != strings.TrimSpace(s) {
			t.Fatalf("field %q not trimmed", s)
		}
	}
	for _, l := range [][]string{o.Contradictions, o.Missing, o.TagsNormalized, o.QualityFlags, o.NSFWFlags, o.StyleTokens, o.SubjectTokens} {
		for _, s := range l {
			if s == "" || s != strings.TrimSpace(s) {
				t.Fatalf("list entry %q empty or not trimmed in %q", s, l)
			}
		}
	}
	inRange := func(name string, v *float64, lo, hi float64) {
		if v != nil && !(*v >= lo && *v <= hi) {
			t.Fatalf("%s = %v not in %v..%v", name, *v, lo, hi)
		}
	}
	inRange("domain_confidence", o.DomainConfidence, 0, 1)
	inRange("confidence", o.Confidence, 0, 1)
	for _, tm := range o.TagsMap {
		if tm.Raw == "" || tm.Normalized == "" {
			t.Fatalf("tags_map entry without raw/normalized: %+v", tm)
		}
		inRange("tags_map.confidence", tm.Confidence, 0, 1)
	}
	switch m {
	case ollama.ModeCaption:
		if o.Caption == "" {
			t.Fatal("caption empty")
		}
	case ollama.ModeTitle:
		if o.Title == "" || utf8.RuneCountInString(o.Title) > 120 {
			t.Fatalf("title %q empty or over 120 runes", o.Title)
		}
	case ollama.ModePromptEval:
		if o.Score == nil {
			t.Fatal("score missing")
		}
		inRange("score", o.Score, 0, 100)
	case ollama.ModeTagsNormalize:
		if len(o.TagsNormalized) == 0 || len(slices.Compact(slices.Sorted(slices.Values(o.TagsNormalized)))) != len(o.TagsNormalized) {
			t.Fatalf("tags_normalized %q empty or duplicated", o.TagsNormalized)
		}
	case ollama.ModeQuality:
		if o.Score == nil || o.QualityFlags == nil {
			t.Fatalf("quality score %v / flags %v missing", o.Score, o.QualityFlags)
		}
		inRange("quality_score", o.Score, 0, 100)
		for i, fl := range o.QualityFlags {
			if !slices.Contains(ollama.QualityFlags(), fl) || slices.Contains(o.QualityFlags[:i], fl) {
				t.Fatalf("quality flag %q unknown or repeated in %q", fl, o.QualityFlags)
			}
		}
		if !slices.Contains(ollama.DomainTypes(), o.DomainType) {
			t.Fatalf("domain_type %q not in vocabulary", o.DomainType)
		}
	case ollama.ModeNSFWClassify:
		if o.Score == nil {
			t.Fatal("nsfw score missing")
		}
		inRange("nsfw_score", o.Score, 0, 1)
		if !slices.Contains([]string{"safe", "suggestive", "explicit"}, o.Category) {
			t.Fatalf("category %q not in vocabulary", o.Category)
		}
	case ollama.ModePromptRecon:
		if o.Prompt == "" {
			t.Fatal("prompt empty")
		}
	}
}

// modeObject writes an Output back under the keys its mode's template asks
// for; absent (nil) fields stay absent.
func modeObject(m ollama.Mode, o *ollama.Output) map[string]any {
	obj := map[string]any{}
	put := func(k string, v any, present bool) {
		if present {
			obj[k] = v
		}
	}
	put("rationale", o.Rationale, o.Rationale != "" && m != ollama.ModeNSFWClassify)
	put("contradictions", o.Contradictions, o.Contradictions != nil)
	put("missing", o.Missing, o.Missing != nil)
	switch m {
	case ollama.ModeCaption:
		put("caption", o.Caption, true)
		put("title", o.Title, o.Title != "")
	case ollama.ModeTitle:
		put("title", o.Title, true)
	case ollama.ModePromptEval:
		put("score", o.Score, true)
	case ollama.ModeTagsNormalize:
		put("tags_normalized", o.TagsNormalized, true)
		put("tags_map", o.TagsMap, true)
	case ollama.ModeQuality:
		put("quality_score", o.Score, true)
		put("quality_flags", o.QualityFlags, true)
		put("domain_type", o.DomainType, true)
		put("domain_confidence", o.DomainConfidence, o.DomainConfidence != nil)
	case ollama.ModeNSFWClassify:
		put("nsfw_score", o.Score, true)
		put("nsfw_flags", o.NSFWFlags, o.NSFWFlags != nil)
		put("category", o.Category, true)
		put("rationale_short", o.Rationale, o.Rationale != "")
	case ollama.ModePromptRecon:
		put("prompt", o.Prompt, true)
		put("negative_prompt", o.NegativePrompt, o.NegativePrompt != "")
		put("confidence", o.Confidence, o.Confidence != nil)
		put("style_tokens", o.StyleTokens, o.StyleTokens != nil)
		put("subject_tokens", o.SubjectTokens, o.SubjectTokens != nil)
	}
	return obj
}

// fieldsOnly drops what depends on the answer's form, not its values.
func fieldsOnly(o *ollama.Output) ollama.Output {
	c := *o
	c.RawJSON, c.Problems, c.ParseError = nil, nil, false
	return c
}
