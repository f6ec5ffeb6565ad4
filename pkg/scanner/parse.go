package scanner

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

// Tag is one normalised scanner tag.
type Tag struct {
	Name       string  `json:"name"`
	Type       string  `json:"type"`
	Confidence float64 `json:"confidence"`
}

// Result is a successful scan, normalised from any response shape.
type Result struct {
	// Tags are deduplicated by lower(name)|lower(type) keeping the highest
	// confidence, in first-seen order. rating:* labels stay in as ordinary
	// tags (the original stored them too). Character tags are included.
	Tags []Tag
	// CharacterTags is the subset of Tags typed danbooru.character.v1, for
	// media_meta scanner.character.tags.
	CharacterTags []Tag
	// NSFWScore is the stored score: the highest raw class score, raised
	// to 1.0 / 0.7 when the winning rating label is explicit /
	// questionable. nil when the response carried no NSFW signal at all.
	NSFWScore *float64
	// Rating is 1 safe, 2 questionable, 3 explicit (see Classify).
	Rating int
	// HasNSFW is Rating >= 2.
	HasNSFW bool
	// Flags are the response's own "flags" strings, if any.
	Flags []string
	// Scanner is the scanner name from the response meta, else the
	// configured scanner.name (fixes: the response's name was ignored).
	Scanner string
	// ModelID, ModelVersion, RunAt are copied from meta.* or top level.
	ModelID, ModelVersion, RunAt string
	// ResponseShape is list|results|frames|data|single|fallback_frames.
	ResponseShape string
	// ResponseType is A|B|C of the first usable part, or fallback_frames.
	ResponseType string
	// PartsCount is how many parts were merged.
	PartsCount int
	// FallbackUsed is true when a video was scanned frame by frame.
	FallbackUsed bool
	// Endpoint is the URL called (no credentials, no query string).
	Endpoint string
	// HTTPStatus of the (last) scanner response.
	HTTPStatus int
	// Raw is the scanner's response body (for the fallback: an object
	// holding every frame response).
	Raw json.RawMessage
	// Meta holds the scanner-side keys of scan_results.raw_json "_meta"
	// (response_shape, merged_parts_count, fallback_used, endpoint,
	// http_status, response_type_detected, scanner.model_id, …).
	Meta map[string]any
	// Debug carries the parse statistics logged as scanner_parse.
	Debug ParseDebug

	// rawScore is the highest class score before label boosts; labelRating
	// the rating of the winning rating:* label (0 when none). Kept so
	// fallback frames can be merged exactly like response parts.
	rawScore    *float64
	labelRating int
}

// ParseDebug mirrors the original's debug block / scanner_parse event.
type ParseDebug struct {
	TagSourcesUsed     []string `json:"tag_sources_used"`
	TagCountIn         int      `json:"tag_count_in"`
	TagCountNormalized int      `json:"tag_count_normalized"`
	TagCountDeduped    int      `json:"tag_count_deduped"`
	NSFWScoreRaw       *float64 `json:"nsfw_score_raw"`
	NSFWScoreComputed  *float64 `json:"nsfw_score_computed"`
	RatingDetected     string   `json:"rating_detected,omitempty"`
	EmptyReason        string   `json:"empty_reason,omitempty"`
	PartsFailed        int      `json:"parts_failed,omitempty"`
}

// Parse interprets a 2xx scanner response body. threshold is
// scanner.nsfw_threshold (<=0 means the default 0.7). Errors are permanent
// *reason.Error values: scanner_invalid_json, scanner_error_response,
// scanner_no_parts, scanner_unrecognized_response.
func Parse(body []byte, threshold float64) (*Result, error) {
	if threshold <= 0 || threshold > 1 {
		threshold = DefaultNSFWThreshold
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || (trimmed[0] != '{' && trimmed[0] != '[') {
		return nil, parseError(CodeInvalidJSON, "response is not a JSON object or array", TypeUnknown, nil)
	}
	var top any
	if err := json.Unmarshal(trimmed, &top); err != nil {
		return nil, parseError(CodeInvalidJSON, "response is not valid JSON", TypeUnknown, err)
	}

	shape, parts := splitParts(top)
	if obj, ok := top.(map[string]any); ok {
		// A "message" next to a non-empty results/frames/data list is
		// informational, not an error.
		if msg := errorMessage(obj, shape == ShapeSingle || len(parts) == 0); msg != "" {
			return nil, parseError(CodeErrorResponse, msg, TypeUnknown, nil)
		}
	}

	var (
		interpreted []*Result
		failed      int
		lastErrMsg  string
	)
	for _, p := range parts {
		obj, ok := p.(map[string]any)
		if !ok {
			failed++
			continue
		}
		if inner, ok := obj["result"].(map[string]any); ok {
			obj = inner
		}
		if msg := errorMessage(obj, true); msg != "" {
			failed++
			lastErrMsg = msg
			continue
		}
		r := interpretPart(obj)
		if r.ResponseType == TypeUnknown {
			failed++
			continue
		}
		interpreted = append(interpreted, r)
	}
	if len(interpreted) == 0 {
		switch {
		case lastErrMsg != "":
			return nil, parseError(CodeErrorResponse, lastErrMsg, TypeUnknown, nil)
		case shape == ShapeSingle:
			return nil, parseError(CodeUnrecognized,
				"response has none of the known result keys (modules, tags, class scores); is the endpoint right?",
				TypeUnknown, nil)
		default:
			return nil, parseError(CodeNoParts, fmt.Sprintf("no usable part in %q response", shape), TypeUnknown, nil)
		}
	}
	res := merge(interpreted, threshold)
	res.ResponseShape = shape
	res.Debug.PartsFailed = failed
	res.Raw = json.RawMessage(append([]byte(nil), trimmed...))
	res.fillMeta()
	return res, nil
}

func parseError(code, msg, respType string, cause error) *reason.Error {
	return &reason.Error{
		Code: code, Kind: reason.KindPermanent, Msg: msg, Err: cause,
		Fields: map[string]any{"response_type_detected": respType},
	}
}

// splitParts applies the response-shape rules of spec 4.5.
func splitParts(top any) (string, []any) {
	switch v := top.(type) {
	case []any:
		return ShapeList, v
	case map[string]any:
		if l, ok := v["results"].([]any); ok {
			return ShapeResults, l
		}
		if l, ok := v["frames"].([]any); ok {
			return ShapeFrames, l
		}
		if l, ok := v["data"].([]any); ok {
			return ShapeData, l
		}
		return ShapeSingle, []any{v}
	}
	return ShapeSingle, nil
}

// errorMessage returns the error text of an error-shaped object. "error",
// "detail" (FastAPI) and "errors[0]" always count; "message" only when
// messageCounts is set, i.e. when the object carries no result data —
// the original failed every response that merely included a message
// (defect 20).
func errorMessage(obj map[string]any, messageCounts bool) string {
	switch e := obj["error"].(type) {
	case string:
		if s := strings.TrimSpace(e); s != "" {
			return s
		}
	case map[string]any:
		if s, _ := e["message"].(string); strings.TrimSpace(s) != "" {
			return strings.TrimSpace(s)
		}
		return "error"
	case bool:
		if e {
			return "error"
		}
	}
	if s, ok := obj["detail"].(string); ok && strings.TrimSpace(s) != "" {
		return strings.TrimSpace(s)
	}
	if l, ok := obj["errors"].([]any); ok && len(l) > 0 {
		if s, ok := l[0].(string); ok && strings.TrimSpace(s) != "" {
			return strings.TrimSpace(s)
		}
	}
	if messageCounts && detectType(obj) == TypeUnknown {
		if s, ok := obj["message"].(string); ok && strings.TrimSpace(s) != "" {
			return strings.TrimSpace(s)
		}
	}
	return ""
}

func detectType(obj map[string]any) string {
	if _, ok := obj["modules"].(map[string]any); ok {
		return TypeA
	}
	for k := range obj {
		if strings.HasPrefix(k, "modules.") {
			return TypeB
		}
	}
	// "risk" and "nsfw_score" are added to the original list: the PixAI
	// /batch answer is {"risk", "tags", "frameCount"} and its score was
	// dropped before.
	for _, k := range [...]string{"tags", "danbooru_tags", "hentai", "porn", "sexy", "neutral", "drawings", "risk", "nsfw_score"} {
		if _, ok := obj[k]; ok {
			return TypeC
		}
	}
	return TypeUnknown
}

// modulesOf returns the modules tree, expanding dotted keys
// ("modules.nsfw_scanner") into nested maps.
func modulesOf(obj map[string]any) map[string]any {
	mods := map[string]any{}
	if m, ok := obj["modules"].(map[string]any); ok {
		for k, v := range m {
			mods[k] = v
		}
	}
	for k, v := range obj {
		rest, ok := strings.CutPrefix(k, "modules.")
		if !ok || rest == "" {
			continue
		}
		setPath(mods, strings.Split(rest, "."), v)
	}
	return mods
}

func setPath(m map[string]any, path []string, v any) {
	for i, p := range path {
		if i == len(path)-1 {
			if _, exists := m[p]; !exists {
				m[p] = v
			}
			return
		}
		next, ok := m[p].(map[string]any)
		if !ok {
			if _, exists := m[p]; exists {
				return // a leaf already sits here; keep it
			}
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
}

func lookup(m map[string]any, path ...string) (any, bool) {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		cur, ok = mm[p]
		if !ok {
			return nil, false
		}
	}
	return cur, true
}

// number accepts JSON numbers and numeric strings. Only finite values
// count: ParseFloat reads "NaN" and "Inf", and such a score or confidence
// cannot be JSON-encoded into raw_json / scanner.character.tags (found by
// FuzzParse).
func number(v any) (float64, bool) {
	var (
		f   float64
		err error
	)
	switch n := v.(type) {
	case float64:
		f = n
	case json.Number:
		f, err = n.Float64()
	case string:
		f, err = strconv.ParseFloat(strings.TrimSpace(n), 64)
	default:
		return 0, false
	}
	return f, err == nil && !math.IsNaN(f) && !math.IsInf(f, 0)
}

func maxClass(obj map[string]any) (float64, bool) {
	best, found := 0.0, false
	for _, k := range [...]string{"hentai", "porn", "sexy"} {
		if f, ok := number(obj[k]); ok && (!found || f > best) {
			best, found = f, true
		}
	}
	return best, found
}

// nsfwScore finds the raw NSFW score of one part.
func nsfwScore(obj map[string]any, mods map[string]any) *float64 {
	var cands []float64
	for _, path := range [][]string{{"nsfw_scanner"}, {"nsfw", "scanner"}, {"nsfw"}} {
		v, ok := lookup(mods, path...)
		no, isObj := v.(map[string]any)
		if !ok || !isObj {
			continue
		}
		if f, ok := number(no["nsfw_score"]); ok {
			cands = append(cands, f)
		} else if cl, ok := no["classes"].(map[string]any); ok {
			if f, ok := maxClass(cl); ok {
				cands = append(cands, f)
			}
		} else if f, ok := maxClass(no); ok {
			cands = append(cands, f)
		}
		break
	}
	for _, k := range [...]string{"nsfw_score", "risk"} {
		if f, ok := number(obj[k]); ok {
			cands = append(cands, f)
		}
	}
	if f, ok := maxClass(obj); ok {
		cands = append(cands, f)
	}
	if len(cands) == 0 {
		return nil
	}
	best := cands[0]
	for _, f := range cands[1:] {
		best = max(best, f)
	}
	return &best
}

// tagSource is one place tags may sit, as a path below the part (or below
// modules when mod is set).
type tagSource struct {
	name string
	mod  bool
	path []string
}

// tagSources lists the tag locations in the order the original read them,
// plus the unwrapped danbooru_tags object.
func tagSources() [8]tagSource {
	return [...]tagSource{
		{"modules.tagging.tags", true, []string{"tagging", "tags"}},
		{"modules.tagging", true, []string{"tagging"}},
		{"modules.deepdanbooru_tags.tags", true, []string{"deepdanbooru_tags", "tags"}},
		{"modules.deepdanbooru_tags", true, []string{"deepdanbooru_tags"}},
		{"modules.deepdanbooru.tags", true, []string{"deepdanbooru", "tags"}},
		{"tags", false, []string{"tags"}},
		{"danbooru_tags", false, []string{"danbooru_tags"}},
		{"danbooru_tags.tags", false, []string{"danbooru_tags", "tags"}},
	}
}

// rawTags returns the elements of a tag source: a list, or a
// {"label": score} map (deepdanbooru-style servers answer that way).
func rawTags(v any) ([]any, bool) {
	switch t := v.(type) {
	case []any:
		return t, true
	case map[string]any:
		if len(t) == 0 {
			return nil, false
		}
		keys := make([]string, 0, len(t))
		for k, val := range t {
			if _, ok := val.(float64); !ok {
				return nil, false
			}
			keys = append(keys, k)
		}
		// Map order is random; sort by score so output is deterministic.
		sort.Slice(keys, func(i, j int) bool {
			a, b := t[keys[i]].(float64), t[keys[j]].(float64)
			if a != b {
				return a > b
			}
			return keys[i] < keys[j]
		})
		out := make([]any, len(keys))
		for i, k := range keys {
			out[i] = map[string]any{"label": k, "confidence": t[k]}
		}
		return out, true
	}
	return nil, false
}

// normalizeTag turns one raw tag into a Tag; ok=false drops it.
func normalizeTag(v any) (Tag, bool) {
	switch t := v.(type) {
	case string:
		name := strings.TrimSpace(t)
		return Tag{Name: name, Type: TagTypeContent, Confidence: 1}, name != ""
	case map[string]any:
		var name string
		for _, k := range [...]string{"label", "name", "tag"} {
			if s, ok := t[k].(string); ok && strings.TrimSpace(s) != "" {
				name = strings.TrimSpace(s)
				break
			}
		}
		if name == "" {
			return Tag{}, false
		}
		conf := 1.0
		for _, k := range [...]string{"confidence", "probability", "score"} {
			if f, ok := number(t[k]); ok {
				conf = f
				break
			}
		}
		if conf <= 0 {
			return Tag{}, false
		}
		typ := TagTypeContent
		if s, _ := t["type"].(string); strings.TrimSpace(s) != "" {
			typ = strings.TrimSpace(s)
		}
		for _, k := range [...]string{"namespace", "category", "type"} {
			if s, _ := t[k].(string); strings.EqualFold(strings.TrimSpace(s), "character") {
				typ = TagTypeCharacter
				break
			}
		}
		return Tag{Name: name, Type: typ, Confidence: conf}, true
	}
	return Tag{}, false
}

// tagSet dedupes by lower(name)|lower(type) keeping max confidence and
// first-seen order.
type tagSet struct {
	idx  map[string]int
	tags []Tag
}

func (s *tagSet) add(t Tag) {
	if s.idx == nil {
		s.idx = map[string]int{}
	}
	k := strings.ToLower(t.Name) + "|" + strings.ToLower(t.Type)
	if i, ok := s.idx[k]; ok {
		if t.Confidence > s.tags[i].Confidence {
			s.tags[i].Confidence = t.Confidence
		}
		return
	}
	s.idx[k] = len(s.tags)
	s.tags = append(s.tags, t)
}

// ratingLabel picks the rating:* tag with the highest confidence. A
// DeepDanbooru model emits all rating labels above its 0.2 cut-off, so
// "any rating:explicit present" (the original rule) marked many safe
// images explicit; the most confident label is the model's answer. Ties go
// to the more severe rating.
func ratingLabel(tags []Tag) (rating int, label string) {
	bestConf := -1.0
	for _, t := range tags {
		var r int
		switch strings.ToLower(t.Name) {
		case "rating:explicit":
			r = RatingExplicit
		case "rating:questionable":
			r = RatingQuestionable
		case "rating:safe", "rating:general":
			r = RatingSafe
		default:
			continue
		}
		if t.Confidence > bestConf || (t.Confidence == bestConf && r > rating) {
			bestConf, rating, label = t.Confidence, r, strings.ToLower(t.Name)
		}
	}
	return rating, label
}

// interpretPart reads one response part (spec 4.5 part interpretation).
func interpretPart(obj map[string]any) *Result {
	r := &Result{ResponseType: detectType(obj)}
	if r.ResponseType == TypeUnknown {
		return r
	}
	mods := modulesOf(obj)
	r.rawScore = nsfwScore(obj, mods)

	var set tagSet
	for _, src := range tagSources() {
		var (
			v  any
			ok bool
		)
		if src.mod {
			v, ok = lookup(mods, src.path...)
		} else {
			v, ok = lookup(obj, src.path...)
		}
		if !ok {
			continue
		}
		list, ok := rawTags(v)
		if !ok {
			continue
		}
		r.Debug.TagSourcesUsed = append(r.Debug.TagSourcesUsed, src.name)
		r.Debug.TagCountIn += len(list)
		for _, raw := range list {
			if t, ok := normalizeTag(raw); ok {
				r.Debug.TagCountNormalized++
				set.add(t)
			}
		}
	}
	r.Tags = set.tags
	r.Debug.TagCountDeduped = len(set.tags)
	switch {
	case len(r.Debug.TagSourcesUsed) == 0:
		r.Debug.EmptyReason = "no_sources_matched"
	case r.Debug.TagCountNormalized == 0:
		r.Debug.EmptyReason = "all_invalid"
	}
	r.labelRating, r.Debug.RatingDetected = ratingLabel(r.Tags)

	if fl, ok := obj["flags"].([]any); ok {
		for _, f := range fl {
			if s, ok := f.(string); ok && strings.TrimSpace(s) != "" {
				r.Flags = append(r.Flags, strings.TrimSpace(s))
			}
		}
	}
	meta, _ := obj["meta"].(map[string]any)
	str := func(k string) string {
		if s, ok := meta[k].(string); ok && s != "" {
			return s
		}
		if f, ok := number(meta[k]); ok && meta[k] != nil {
			return strconv.FormatFloat(f, 'f', -1, 64)
		}
		if s, ok := obj[k].(string); ok {
			return s
		}
		return ""
	}
	r.Scanner, r.RunAt, r.ModelID, r.ModelVersion = str("scanner"), str("run_at"), str("model_id"), str("model_version")
	return r
}

// merge combines parts (or fallback frames): max scores, max label
// rating, union of tags and flags, first non-empty meta values.
func merge(parts []*Result, threshold float64) *Result {
	out := &Result{ResponseType: parts[0].ResponseType, PartsCount: len(parts)}
	var set tagSet
	flagSeen := map[string]bool{}
	for _, p := range parts {
		if p.rawScore != nil && (out.rawScore == nil || *p.rawScore > *out.rawScore) {
			v := *p.rawScore
			out.rawScore = &v
		}
		if p.labelRating > out.labelRating {
			out.labelRating, out.Debug.RatingDetected = p.labelRating, p.Debug.RatingDetected
		}
		for _, t := range p.Tags {
			set.add(t)
		}
		for _, f := range p.Flags {
			if !flagSeen[f] {
				flagSeen[f] = true
				out.Flags = append(out.Flags, f)
			}
		}
		out.Debug.TagSourcesUsed = appendUnique(out.Debug.TagSourcesUsed, p.Debug.TagSourcesUsed...)
		out.Debug.TagCountIn += p.Debug.TagCountIn
		out.Debug.TagCountNormalized += p.Debug.TagCountNormalized
		out.Scanner = cmp.Or(out.Scanner, p.Scanner)
		out.RunAt = cmp.Or(out.RunAt, p.RunAt)
		out.ModelID = cmp.Or(out.ModelID, p.ModelID)
		out.ModelVersion = cmp.Or(out.ModelVersion, p.ModelVersion)
	}
	out.Tags = set.tags
	out.Debug.TagCountDeduped = len(set.tags)
	if len(out.Tags) == 0 {
		out.Debug.EmptyReason = parts[0].Debug.EmptyReason
	}
	out.classify(threshold)
	return out
}

// classify derives NSFWScore, Rating and HasNSFW from the raw score and the
// winning rating label. The original wrote rating 3 for score>=threshold
// and 1 otherwise, using rating labels only through a score boost, so
// rating 2 never appeared (defect 19). Here:
//
//	rating = max(label rating, 3 if raw score >= threshold else 1)
//	has_nsfw = rating >= 2
//
// The raw score, not the boosted one, is compared with the threshold so a
// questionable label (boosted to 0.7) stays questionable. With no score
// and no label the part is rated safe, as in the original.
func (r *Result) classify(threshold float64) {
	rating := RatingSafe
	if r.rawScore != nil && *r.rawScore >= threshold {
		rating = RatingExplicit
	}
	rating = max(rating, r.labelRating)
	r.Rating, r.HasNSFW = rating, rating >= RatingQuestionable

	var computed *float64
	if r.rawScore != nil {
		v := *r.rawScore
		computed = &v
	}
	boost := 0.0
	switch r.labelRating {
	case RatingExplicit:
		boost = 1.0
	case RatingQuestionable:
		boost = 0.7
	}
	if boost > 0 && (computed == nil || *computed < boost) {
		computed = &boost
	}
	r.NSFWScore = computed
	r.Debug.NSFWScoreRaw = r.rawScore
	r.Debug.NSFWScoreComputed = computed

	r.CharacterTags = nil
	for _, t := range r.Tags {
		if isCharacterType(t.Type) {
			r.CharacterTags = append(r.CharacterTags, t)
		}
	}
}

func isCharacterType(typ string) bool {
	l := strings.ToLower(typ)
	return strings.HasPrefix(l, "danbooru.character") || strings.HasPrefix(l, "scanner.character")
}

// fillMeta writes the scanner-side "_meta" keys.
func (r *Result) fillMeta() {
	if r.Meta == nil {
		r.Meta = map[string]any{}
	}
	r.Meta["response_shape"] = r.ResponseShape
	r.Meta["merged_parts_count"] = r.PartsCount
	r.Meta["fallback_used"] = r.FallbackUsed
	r.Meta["response_type_detected"] = r.ResponseType
	r.Meta["has_nsfw"] = r.HasNSFW
	r.Meta["rating"] = r.Rating
	r.Meta["scanner.model_id"] = nilIfEmpty(r.ModelID)
	r.Meta["scanner.model_version"] = nilIfEmpty(r.ModelVersion)
	if r.Endpoint != "" {
		r.Meta["endpoint"] = r.Endpoint
	}
	if r.HTTPStatus != 0 {
		r.Meta["http_status"] = r.HTTPStatus
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func appendUnique(dst []string, src ...string) []string {
outer:
	for _, s := range src {
		for _, d := range dst {
			if d == s {
				continue outer
			}
		}
		dst = append(dst, s)
	}
	return dst
}
