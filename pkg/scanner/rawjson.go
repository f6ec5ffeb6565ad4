package scanner

import (
	"bytes"
	"encoding/json"
	"regexp"
	"sort"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

func jsonMarshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Tag names like "<lora>" or "a&b" stay readable in the DB.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// RawJSON builds the scan_results.raw_json value (spec 4.6) for one scan
// attempt. On success (scanErr nil, res set) it is the scanner's response
// object plus "_meta"; a top-level list response is kept under "response"
// because a list cannot hold "_meta". On failure it is the error meta
// object {http_status, endpoint, error, error_code, body_snippet,
// response_type_detected, and for config errors reason_code, missing_keys,
// required_any, config_path} plus "_meta" and "_error" (the human message).
// extra adds caller-side "_meta" keys such as tags_written, path_before,
// path_after.
func RawJSON(res *Result, scanErr error, extra map[string]any) ([]byte, error) {
	meta := map[string]any{
		"has_nsfw":               false,
		"rating":                 RatingUnknown,
		"response_shape":         nil,
		"merged_parts_count":     0,
		"fallback_used":          false,
		"error_text":             nil,
		"error_code":             nil,
		"http_status":            nil,
		"endpoint":               nil,
		"body_snippet":           nil,
		"response_type_detected": TypeNone,
		"scanner.model_id":       nil,
		"scanner.model_version":  nil,
	}
	doc := map[string]any{}
	if scanErr == nil && res != nil {
		for k, v := range res.Meta {
			meta[k] = v
		}
		raw := bytes.TrimSpace(res.Raw)
		var obj map[string]json.RawMessage
		if len(raw) > 0 && raw[0] == '{' && json.Unmarshal(raw, &obj) == nil {
			for k, v := range obj {
				doc[k] = v
			}
		} else if len(raw) > 0 {
			doc["response"] = json.RawMessage(raw)
		}
	} else {
		code := reason.CodeOr(scanErr, "scanner_failed")
		fields := reason.FieldsOf(scanErr)
		msg := "scanner_failed"
		if scanErr != nil {
			msg = scanErr.Error()
		}
		doc["error"] = msg
		doc["error_code"] = code
		for _, k := range []string{"http_status", "endpoint", "body_snippet", "response_type_detected"} {
			doc[k] = fields[k]
		}
		if doc["response_type_detected"] == nil {
			doc["response_type_detected"] = TypeNone
		}
		switch code {
		case CodeNotConfigured, CodeAuthMissing, CodeDisabled:
			doc["reason_code"] = code
			doc["response_type_detected"] = TypeConfigError
			for _, k := range []string{"missing_keys", "required_any", "config_path"} {
				doc[k] = fields[k]
			}
		}
		for _, k := range []string{"http_status", "endpoint", "body_snippet", "response_type_detected"} {
			meta[k] = doc[k]
		}
		if fields["batch_error_code"] != nil {
			meta["fallback_used"] = true
			meta["batch_error_code"] = fields["batch_error_code"]
		}
		meta["error_text"] = msg
		meta["error_code"] = code
		doc["_error"] = msg
		if res != nil {
			meta["fallback_used"] = res.FallbackUsed
		}
	}
	for k, v := range extra {
		meta[k] = v
	}
	doc["_meta"] = meta
	return jsonMarshal(doc)
}

// Snippet patterns (spec 4.11: base64 blobs → <base64>, paths → [path]).
var (
	reDataURI = regexp.MustCompile(`data:[a-zA-Z0-9.+/-]+;base64,[A-Za-z0-9+/=]+`)
	reBase64  = regexp.MustCompile(`[A-Za-z0-9+/]{80,}={0,2}`)
	reWinPath = regexp.MustCompile(`(?:[A-Za-z]:|\\\\[^\\\s"']+)(?:\\\\?[^\\\s"'<>|:*?]+)+`)
	reNixPath = regexp.MustCompile(`(^|[\s"'=(\[,])(/[^/\s"'<>]+(?:/[^/\s"'<>]+)+/?)`)
)

// SanitizeSnippet shortens s to at most n runes with base64 blobs replaced
// by "<base64>" and file system paths by "[path]", for logs and
// body_snippet fields.
func SanitizeSnippet(s string, n int) string {
	s = reDataURI.ReplaceAllString(s, "<base64>")
	s = reBase64.ReplaceAllStringFunc(s, func(m string) string {
		// Long runs of one character class (a row of x's, a hex hash) are
		// not blobs; real base64 mixes upper, lower and digits.
		var up, low, dig bool
		for _, r := range m {
			switch {
			case r >= 'A' && r <= 'Z':
				up = true
			case r >= 'a' && r <= 'z':
				low = true
			case r >= '0' && r <= '9', r == '+', r == '/':
				dig = true
			}
		}
		if up && low && dig {
			return "<base64>"
		}
		return m
	})
	s = reWinPath.ReplaceAllString(s, "[path]")
	s = reNixPath.ReplaceAllString(s, "$1[path]")
	return reason.Truncate(s, n)
}

// IngestFields returns the scanner-side fields of a scanner_ingest log
// event (spec 4.11, which the original lost to its log envelope). The
// caller adds media_id, operation and file_basename.
func IngestFields(res *Result, scanErr error) map[string]any {
	out := map[string]any{}
	if scanErr != nil || res == nil {
		f := reason.FieldsOf(scanErr)
		for _, k := range []string{"endpoint", "http_status", "response_type_detected", "missing_keys", "required_any", "config_path", "batch_error_code", "phase"} {
			if v, ok := f[k]; ok && v != nil {
				out[k] = v
			}
		}
		if v, ok := f["body_snippet"]; ok {
			out["response_snippet_sanitized"] = v
		}
		out["error_code"] = reason.CodeOr(scanErr, "scanner_failed")
		if c := reason.Code(scanErr); c == CodeNotConfigured || c == CodeAuthMissing || c == CodeDisabled {
			out["reason_code"] = c
			out["response_type_detected"] = TypeConfigError
		}
		return out
	}
	out["endpoint"] = res.Endpoint
	out["http_status"] = res.HTTPStatus
	out["response_bytes"] = len(res.Raw)
	out["response_type_detected"] = res.ResponseType
	out["response_shape"] = res.ResponseShape
	out["fallback_used"] = res.FallbackUsed
	var top map[string]json.RawMessage
	if json.Unmarshal(res.Raw, &top) == nil {
		keys := make([]string, 0, len(top))
		for k := range top {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if len(keys) > 50 {
			keys = keys[:50]
		}
		out["response_keys_top"] = keys
	}
	out["response_snippet_sanitized"] = SanitizeSnippet(string(res.Raw), 4096)
	return out
}

// ParseFields returns the scanner_parse log event fields (nulls removed).
func ParseFields(res *Result) map[string]any {
	out := map[string]any{
		"response_type_used":   res.ResponseType,
		"tag_sources_used":     res.Debug.TagSourcesUsed,
		"tag_count_in":         res.Debug.TagCountIn,
		"tag_count_normalized": res.Debug.TagCountNormalized,
		"tag_count_deduped":    res.Debug.TagCountDeduped,
		"has_nsfw":             res.HasNSFW,
		"rating":               res.Rating,
	}
	if res.Debug.NSFWScoreRaw != nil {
		out["nsfw_score_raw"] = *res.Debug.NSFWScoreRaw
	}
	if res.Debug.NSFWScoreComputed != nil {
		out["nsfw_score_computed"] = *res.Debug.NSFWScoreComputed
	}
	if res.Debug.RatingDetected != "" {
		out["rating_detected"] = res.Debug.RatingDetected
	}
	if res.Debug.EmptyReason != "" {
		out["empty_reason"] = res.Debug.EmptyReason
	}
	if res.Debug.PartsFailed > 0 {
		out["parts_failed"] = res.Debug.PartsFailed
	}
	return out
}

// CharacterTagsMeta returns the media_meta scanner.character.tags value:
// a JSON list of {name, confidence, source:"scanner", namespace}. It
// returns "" when the result has no character tags.
func CharacterTagsMeta(res *Result) string {
	if res == nil || len(res.CharacterTags) == 0 {
		return ""
	}
	type entry struct {
		Name       string  `json:"name"`
		Confidence float64 `json:"confidence"`
		Source     string  `json:"source"`
		Namespace  string  `json:"namespace"`
	}
	list := make([]entry, len(res.CharacterTags))
	for i, t := range res.CharacterTags {
		list[i] = entry{Name: t.Name, Confidence: t.Confidence, Source: "scanner", Namespace: t.Type}
	}
	b, _ := jsonMarshal(list)
	return string(b)
}
