package ollama

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

// TagMapping is one entry of tags_normalize's tags_map.
type TagMapping struct {
	Raw        string   `json:"raw"`
	Normalized string   `json:"normalized"`
	Confidence *float64 `json:"confidence"`
	Type       *string  `json:"type"`
}

// Output is the validated, normalised answer of a generate mode. Only the
// fields of the mode are set. Scores keep the scale the mode defines:
// prompt_eval and quality 0..100, nsfw and confidences 0..1; nothing is
// rescaled, out-of-range values are clamped and flagged as degraded.
type Output struct {
	Title          string   `json:"title,omitempty"`
	Caption        string   `json:"caption,omitempty"`
	Score          *float64 `json:"score,omitempty"`
	Contradictions []string `json:"contradictions,omitempty"`
	Missing        []string `json:"missing,omitempty"`
	Rationale      string   `json:"rationale,omitempty"`

	TagsNormalized []string     `json:"tags_normalized,omitempty"`
	TagsMap        []TagMapping `json:"tags_map,omitempty"`

	QualityFlags     []string `json:"quality_flags,omitempty"`
	DomainType       string   `json:"domain_type,omitempty"`
	DomainConfidence *float64 `json:"domain_confidence,omitempty"`

	NSFWFlags []string `json:"nsfw_flags,omitempty"`
	Category  string   `json:"category,omitempty"`

	Prompt         string   `json:"prompt,omitempty"`
	NegativePrompt string   `json:"negative_prompt,omitempty"`
	Confidence     *float64 `json:"confidence,omitempty"`
	StyleTokens    []string `json:"style_tokens,omitempty"`
	SubjectTokens  []string `json:"subject_tokens,omitempty"`

	// ParseError marks a degraded result: the answer had JSON and the
	// required keys, but optional keys were missing or malformed.
	ParseError bool `json:"parse_error"`
	// Problems lists what was degraded ("missing_key: rationale", …).
	Problems []string `json:"problems,omitempty"`
	// RawJSON is the extracted object, re-encoded compactly.
	RawJSON json.RawMessage `json:"-"`
}

// RawOutputError is wrapped into parse_error failures so the service can
// keep the model's raw answer on the job after the last retry.
type RawOutputError struct {
	Detail string
	Raw    string
}

// Error implements error.
func (e *RawOutputError) Error() string { return e.Detail }

// RawOutput returns the model answer carried by a parse_error, or "".
func RawOutput(err error) string {
	var r *RawOutputError
	if errors.As(err, &r) {
		return r.Raw
	}
	return ""
}

func parseFailure(detail, raw string) error {
	return (&reason.Error{Code: CodeParseError, Kind: reason.KindTransient, Msg: detail,
		Err: &RawOutputError{Detail: detail, Raw: raw}}).With("detail", detail)
}

// ExtractJSON finds the first balanced JSON object in a model answer. It
// strips a BOM, markdown code fences and leading prose; strings and escapes
// are respected (encoding/json's decoder stops after the first complete
// value, so trailing text is ignored). It returns the compact object.
func ExtractJSON(text string) (json.RawMessage, bool) {
	s := strings.TrimPrefix(strings.TrimSpace(text), "\uFEFF")
	s = stripFences(s)
	for off := 0; off < len(s); {
		i := strings.IndexByte(s[off:], '{')
		if i < 0 {
			return nil, false
		}
		start := off + i
		dec := json.NewDecoder(strings.NewReader(s[start:]))
		dec.UseNumber()
		var raw json.RawMessage
		if err := dec.Decode(&raw); err == nil {
			var buf bytes.Buffer
			if json.Compact(&buf, raw) == nil {
				return buf.Bytes(), true
			}
		}
		off = start + 1
	}
	return nil, false
}

// stripFences removes ``` / ```json fence lines; models often wrap JSON in
// them despite being told not to.
func stripFences(s string) string {
	if !strings.Contains(s, "```") {
		return s
	}
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			continue
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// ParseOutput validates and normalises a model answer for mode m. It
// returns a parse_error *reason.Error (transient; carries the raw text,
// see RawOutput) when the answer holds no JSON object or lacks a required
// key; missing or malformed optional keys yield a degraded Output with
// ParseError set instead, which must not be retried.
func ParseOutput(m Mode, text string) (*Output, error) {
	raw, ok := ExtractJSON(text)
	if !ok {
		if strings.TrimSpace(text) == "" {
			return nil, parseFailure("invalid_json: empty response", text)
		}
		return nil, parseFailure("invalid_json: no JSON object in response", text)
	}
	var obj map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil {
		return nil, parseFailure("invalid_json: "+err.Error(), text)
	}
	p := &picker{obj: obj}
	out := &Output{RawJSON: raw}
	switch m {
	case ModeCaption:
		out.Caption = p.str("caption", true, "description")
		// The caption template does not ask for a title; keep one if sent.
		if t, ok := obj["title"].(string); ok {
			out.Title = strings.TrimSpace(t)
		}
		out.Contradictions = p.list("contradictions", false)
		out.Missing = p.list("missing", false)
		out.Rationale = p.str("rationale", false, "reason")
		p.require(out.Caption != "", "caption")
	case ModeTitle:
		out.Title = truncRunes(p.str("title", true), 120)
		out.Rationale = p.str("rationale", false, "reason")
		p.require(out.Title != "", "title")
	case ModePromptEval:
		out.Score = p.num("score", true, 0, 100, "prompt_score")
		out.Contradictions = p.list("contradictions", false)
		out.Missing = p.list("missing", false)
		out.Rationale = p.str("rationale", false, "reason")
		p.require(out.Score != nil, "score")
	case ModeTagsNormalize:
		out.TagsNormalized = dedupeStrings(p.list("tags_normalized", true))
		out.TagsMap = p.tagMap()
		out.Rationale = p.str("rationale", false, "reason")
		p.require(len(out.TagsNormalized) > 0, "tags_normalized")
	case ModeQuality:
		out.Score = p.num("quality_score", true, 0, 100, "score")
		out.QualityFlags = p.vocab(p.list("quality_flags", true), qualityFlagVocab, "quality_flags")
		if out.QualityFlags == nil {
			out.QualityFlags = []string{}
		}
		out.DomainType = p.enum("domain_type", domainTypeVocab, "other", nil)
		out.DomainConfidence = p.num("domain_confidence", false, 0, 1)
		out.Rationale = p.str("rationale", false, "reason")
		p.require(out.Score != nil, "quality_score")
	case ModeNSFWClassify:
		out.Score = p.num("nsfw_score", true, 0, 1, "score")
		out.NSFWFlags = p.list("nsfw_flags", false)
		out.Category = p.enum("category", nsfwCategories, "", map[string]string{"nsfw": "explicit", "adult": "explicit", "sfw": "safe"})
		out.Rationale = p.str("rationale_short", false, "rationale", "reason")
		p.require(out.Score != nil, "nsfw_score")
		if out.Category == "" && out.Score != nil {
			// A score without a category is still usable: derive it so
			// the stored category is never empty.
			out.Category = nsfwCategoryFor(*out.Score)
		}
	case ModePromptRecon:
		out.Prompt = p.str("prompt", true)
		out.NegativePrompt = p.str("negative_prompt", false, "negative")
		out.Confidence = p.num("confidence", false, 0, 1)
		out.StyleTokens = p.list("style_tokens", false)
		out.SubjectTokens = p.list("subject_tokens", false)
		out.Rationale = p.str("rationale", false, "reason")
		p.require(out.Prompt != "", "prompt")
	default:
		return nil, reason.Newf("invalid_mode", "mode %s has no generate output", m)
	}
	if len(p.missingRequired) > 0 {
		return nil, parseFailure("missing_key: "+strings.Join(p.missingRequired, ","), text)
	}
	out.Problems = p.problems
	out.ParseError = len(p.problems) > 0
	return out, nil
}

func nsfwCategoryFor(score float64) string {
	switch {
	case score >= 0.7:
		return "explicit"
	case score >= 0.3:
		return "suggestive"
	}
	return "safe"
}

// picker reads keys leniently and records what it had to repair.
type picker struct {
	obj             map[string]any
	problems        []string
	missingRequired []string
}

func (p *picker) note(format string, args ...any) {
	p.problems = append(p.problems, fmt.Sprintf(format, args...))
}

func (p *picker) require(ok bool, key string) {
	if !ok {
		p.missingRequired = append(p.missingRequired, key)
	}
}

// get returns the first present key; a present alias is not a problem.
func (p *picker) get(key string, aliases ...string) (any, bool) {
	for _, k := range append([]string{key}, aliases...) {
		if v, ok := p.obj[k]; ok && v != nil {
			return v, true
		}
	}
	return nil, false
}

func (p *picker) str(key string, required bool, aliases ...string) string {
	v, ok := p.get(key, aliases...)
	if !ok {
		if !required {
			p.note("missing_key: %s", key)
		}
		return ""
	}
	switch t := v.(type) {
	case string:
		return strings.TrimSpace(t)
	case json.Number:
		return t.String()
	case bool:
		return strconv.FormatBool(t)
	}
	p.note("schema_mismatch: %s is not a string", key)
	b, _ := json.Marshal(v)
	return string(b)
}

func (p *picker) num(key string, required bool, lo, hi float64, aliases ...string) *float64 {
	v, ok := p.get(key, aliases...)
	if !ok {
		if !required {
			p.note("missing_key: %s", key)
		}
		return nil
	}
	var f float64
	var err error
	switch t := v.(type) {
	case json.Number:
		f, err = t.Float64()
	case string:
		f, err = strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(t), "%"), 64)
	default:
		err = errors.New("not a number")
	}
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		p.note("schema_mismatch: %s is not a number", key)
		return nil
	}
	if f < lo || f > hi {
		p.note("out_of_range: %s=%g not in %g..%g", key, f, lo, hi)
		f = math.Max(lo, math.Min(hi, f))
	}
	return &f
}

// list returns a list of non-empty trimmed strings; a bare string becomes a
// one-element list (flagged), so arrays always stay arrays.
func (p *picker) list(key string, required bool) []string {
	v, ok := p.get(key)
	if !ok {
		if !required {
			p.note("missing_key: %s", key)
		}
		return nil
	}
	out := []string{}
	switch t := v.(type) {
	case []any:
		for _, e := range t {
			switch s := e.(type) {
			case string:
				if s = strings.TrimSpace(s); s != "" {
					out = append(out, s)
				}
			case json.Number:
				out = append(out, s.String())
			default:
				p.note("schema_mismatch: %s has a non-string entry", key)
			}
		}
	case string:
		p.note("schema_mismatch: %s is a string, not a list", key)
		for _, s := range strings.Split(t, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	default:
		p.note("schema_mismatch: %s is not a list", key)
	}
	return out
}

func (p *picker) vocab(in, allowed []string, key string) []string {
	if in == nil {
		return nil
	}
	out := []string{}
	for _, s := range in {
		s = strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), " ", "_")
		if slices.Contains(allowed, s) {
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		} else {
			p.note("unknown_value: %s=%s dropped", key, s)
		}
	}
	return out
}

func (p *picker) enum(key string, allowed []string, fallback string, aliases map[string]string) string {
	v, ok := p.get(key)
	s, isStr := v.(string)
	if !ok || !isStr {
		p.note("missing_key: %s", key)
		return fallback
	}
	s = strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), " ", "_")
	if a, ok := aliases[s]; ok {
		s = a
	}
	if !slices.Contains(allowed, s) {
		p.note("unknown_value: %s=%s", key, s)
		return fallback
	}
	return s
}

func (p *picker) tagMap() []TagMapping {
	v, ok := p.get("tags_map")
	arr, isArr := v.([]any)
	if !ok || !isArr {
		p.note("missing_key: tags_map")
		return []TagMapping{}
	}
	out := []TagMapping{}
	for _, e := range arr {
		m, ok := e.(map[string]any)
		if !ok {
			p.note("schema_mismatch: tags_map entry is not an object")
			continue
		}
		sub := &picker{obj: m}
		tm := TagMapping{Raw: sub.str("raw", true), Normalized: sub.str("normalized", true)}
		if tm.Raw == "" || tm.Normalized == "" {
			p.note("schema_mismatch: tags_map entry without raw/normalized")
			continue
		}
		if _, has := m["confidence"]; has {
			tm.Confidence = sub.num("confidence", true, 0, 1)
		}
		if t, has := m["type"].(string); has && strings.TrimSpace(t) != "" {
			t = strings.TrimSpace(t)
			tm.Type = &t
		}
		p.problems = append(p.problems, sub.problems...)
		out = append(out, tm)
	}
	if len(out) == 0 {
		p.note("missing_key: tags_map (no usable entry)")
	}
	return out
}

func dedupeStrings(in []string) []string {
	if in == nil {
		return nil
	}
	out := make([]string, 0, len(in))
	for _, s := range in {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func truncRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return strings.TrimSpace(string(r[:n]))
}
