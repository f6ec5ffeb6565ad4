package ollama

import "encoding/json"

// Controlled vocabularies (original-core.md 1.8 and our templates).
var (
	qualityFlagVocab = []string{"blur", "out_of_focus", "motion_blur", "lowres", "jpeg_artifacts", "noise",
		"overexposed", "underexposed", "watermark", "text_overlay", "signature", "cropped_subject", "distorted", "glitch"}
	domainTypeVocab = []string{"anime", "photo", "illustration", "3d_render", "screenshot", "adult", "other"}
	nsfwCategories  = []string{"safe", "suggestive", "explicit"}
)

// QualityFlags returns the allowed quality flags.
func QualityFlags() []string { return append([]string(nil), qualityFlagVocab...) }

// DomainTypes returns the allowed domain types.
func DomainTypes() []string { return append([]string(nil), domainTypeVocab...) }

// Schema returns the JSON schema sent as `format` for a generate mode
// (Ollama ≥ 0.5 constrains decoding to it; older servers treat any
// non-"json" format as plain JSON mode). It returns nil for other modes.
func Schema(m Mode) json.RawMessage {
	str := map[string]any{"type": "string"}
	strs := map[string]any{"type": "array", "items": str}
	num := map[string]any{"type": "number"}
	obj := func(props map[string]any, required ...string) json.RawMessage {
		b, _ := json.Marshal(map[string]any{"type": "object", "properties": props, "required": required})
		return b
	}
	switch m {
	case ModeCaption:
		return obj(map[string]any{"caption": str, "contradictions": strs, "missing": strs, "rationale": str}, "caption")
	case ModeTitle:
		return obj(map[string]any{"title": str, "rationale": str}, "title")
	case ModePromptEval:
		return obj(map[string]any{"score": num, "contradictions": strs, "missing": strs, "rationale": str}, "score")
	case ModeTagsNormalize:
		entry := map[string]any{"type": "object", "properties": map[string]any{
			"raw": str, "normalized": str, "confidence": num, "type": str}, "required": []string{"raw", "normalized"}}
		return obj(map[string]any{"tags_normalized": strs, "tags_map": map[string]any{"type": "array", "items": entry},
			"rationale": str}, "tags_normalized", "tags_map")
	case ModeQuality:
		return obj(map[string]any{"quality_score": num,
			"quality_flags":     map[string]any{"type": "array", "items": map[string]any{"type": "string", "enum": qualityFlagVocab}},
			"domain_type":       map[string]any{"type": "string", "enum": domainTypeVocab},
			"domain_confidence": num, "rationale": str}, "quality_score", "quality_flags", "domain_type", "domain_confidence")
	case ModeNSFWClassify:
		return obj(map[string]any{"nsfw_score": num, "nsfw_flags": strs,
			"category":        map[string]any{"type": "string", "enum": nsfwCategories},
			"rationale_short": str}, "nsfw_score", "category")
	case ModePromptRecon:
		return obj(map[string]any{"prompt": str, "negative_prompt": str, "confidence": num,
			"style_tokens": strs, "subject_tokens": strs, "rationale": str}, "prompt", "confidence")
	}
	return nil
}

// formatFor returns the `format` value per Config.RequestFormat.
func (c Config) formatFor(m Mode) json.RawMessage {
	switch c.RequestFormat {
	case "json":
		return json.RawMessage(`"json"`)
	case "none":
		return nil
	}
	return Schema(m)
}
