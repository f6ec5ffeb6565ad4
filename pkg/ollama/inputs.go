package ollama

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

// Inputs is everything a mode may read about one media. The caller (the
// job service) loads it from the DB; this package never queries for inputs,
// so the analysis stays testable without a catalogue.
type Inputs struct {
	MediaID int64
	// MediaType is "image" or "video".
	MediaType string
	// Image is the encoded image (or a representative video frame) for
	// vision modes.
	Image []byte
	// ImageSource is "path" or "video_frame" (downscaling appends _downscaled).
	ImageSource string
	// Prompt is the newest generation prompt (prompt_eval input, and the
	// "original prompt" of prompt_recon / context of tags_normalize).
	Prompt string
	// PromptSource is prompt|metadata|tags, as chosen at enqueue.
	PromptSource string
	// Tags are the media's raw tag names.
	Tags []string
	// TagsNormalized is the ollama.tags_normalized result, if any.
	TagsNormalized []string
	Caption        string
	Title          string
	DomainType     string
	QualityFlags   []string
	// PromptRecon is the ollama.prompt_recon.prompt result, if any.
	PromptRecon string
	// Context overrides the tags_normalize context built from the fields above.
	Context string
}

// tagNoise are tagger artefacts that say nothing about content; they are
// dropped from prompt_recon's raw-tag fallback.
var tagNoise = []string{"tagme", "commentary", "commentary_request", "translation", "translation_request",
	"bad_prompt", "bad_source", "bad_link", "bad_id", "bad_pixiv_id"}

// sortedTags returns trimmed, de-duplicated tag names sorted by name.
func sortedTags(in []string) []string {
	out := make([]string, 0, len(in))
	for _, t := range in {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// TagsContext builds the tags_normalize context lines (Caption/Title/Prompt).
func (in Inputs) TagsContext() string {
	if in.Context != "" {
		return in.Context
	}
	var lines []string
	add := func(k, v string) {
		if v = strings.TrimSpace(v); v != "" {
			lines = append(lines, k+": "+v)
		}
	}
	add("Caption", in.Caption)
	add("Title", in.Title)
	add("Prompt", in.Prompt)
	return strings.Join(lines, "\n")
}

// ReconTags returns the tags prompt_recon uses and their source:
// "normalized" when tags_normalize ran, else filtered raw tags ("db_raw").
func (in Inputs) ReconTags() ([]string, string) {
	if len(in.TagsNormalized) > 0 {
		return sortedTags(in.TagsNormalized), "normalized"
	}
	var out []string
	for _, t := range sortedTags(in.Tags) {
		lt := strings.ToLower(t)
		if strings.HasPrefix(lt, "rating:") || slices.Contains(tagNoise, lt) {
			continue
		}
		out = append(out, t)
	}
	if len(out) > 80 {
		out = out[:80]
	}
	if len(out) == 0 {
		return nil, ""
	}
	return out, "db_raw"
}

// EmbedText is the text embedded for a media: the lines that exist of
// caption, title, sorted normalised tags, domain type, sorted quality
// flags and the reconstructed prompt. It is "" when none of caption,
// normalised tags or prompt_recon exists (not eligible).
func (in Inputs) EmbedText() string {
	if strings.TrimSpace(in.Caption) == "" && len(in.TagsNormalized) == 0 && strings.TrimSpace(in.PromptRecon) == "" {
		return ""
	}
	var lines []string
	add := func(k, v string) {
		if v = strings.TrimSpace(v); v != "" {
			lines = append(lines, k+": "+v)
		}
	}
	add("caption", in.Caption)
	add("title", in.Title)
	add("tags_normalized", strings.Join(sortedTags(in.TagsNormalized), ", "))
	add("domain_type", in.DomainType)
	add("quality_flags", strings.Join(sortedTags(in.QualityFlags), ", "))
	add("prompt_recon", in.PromptRecon)
	return strings.Join(lines, "\n")
}

// InputHash is sha256(input \n model \n kind \n version), hex — the
// ollama_vectors.input_hash that makes re-embedding unchanged text a no-op.
func InputHash(input, model, kind, version string) string {
	sum := sha256.Sum256([]byte(input + "\n" + model + "\n" + kind + "\n" + version))
	return hex.EncodeToString(sum[:])
}

// templateVars builds the placeholder values of mode m, or a permanent
// missing_input error when the mode has nothing to work on.
func (in Inputs) templateVars(m Mode, sep string) (map[string]string, string, error) {
	vars := map[string]string{
		"media_id": "", "prompt": strings.TrimSpace(in.Prompt), "caption": strings.TrimSpace(in.Caption),
		"title": strings.TrimSpace(in.Title), "domain_type": in.DomainType,
		"quality_flags": strings.Join(sortedTags(in.QualityFlags), ", "), "original_prompt": strings.TrimSpace(in.Prompt),
		"tags":            strings.Join(sortedTags(in.Tags), sep),
		"tags_normalized": strings.Join(sortedTags(in.TagsNormalized), ", "),
		"context":         in.TagsContext(),
	}
	tagsSource := ""
	switch m {
	case ModePromptEval:
		if vars["prompt"] == "" {
			return nil, "", reason.New(CodeMissingInput, "prompt_eval needs a prompt")
		}
	case ModeTagsNormalize:
		if len(sortedTags(in.Tags)) == 0 {
			return nil, "", reason.New(CodeMissingInput, "tags_normalize needs raw tags")
		}
	case ModePromptRecon:
		tags, src := in.ReconTags()
		vars["tags_normalized"] = strings.Join(tags, ", ")
		tagsSource = src
		if vars["caption"] == "" && len(tags) == 0 {
			return nil, "", reason.New(CodeMissingInput, "prompt_recon needs a caption or tags")
		}
	}
	return vars, tagsSource, nil
}
