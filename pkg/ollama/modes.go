package ollama

import (
	"fmt"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

// Mode is one kind of Ollama enrichment. Its string form is the value stored
// in ollama_results.mode and the suffix of the job type (ollama_<mode>).
type Mode string

// The nine modes of the original system.
const (
	ModeCaption       Mode = "caption"
	ModeTitle         Mode = "title"
	ModePromptEval    Mode = "prompt_eval"
	ModeTagsNormalize Mode = "tags_normalize"
	ModeQuality       Mode = "quality"
	ModeNSFWClassify  Mode = "nsfw_classify"
	ModePromptRecon   Mode = "prompt_recon"
	ModeEmbed         Mode = "embed"
	ModeDupeHints     Mode = "dupe_hints"
)

// JobTypePrefix is the prefix of every Ollama job type.
const JobTypePrefix = "ollama_"

// Version markers written to media_meta and hashed into vector input hashes.
const (
	StageVersion     = "stage5_v1"
	DupeStageVersion = "stage6_dupe_hints_v1"
	EmbedVersion     = "embed_v1"
	// MetaSource is media_meta.source for every row this package writes.
	MetaSource = "ollama"
	// VectorKindText is ollama_vectors.kind for text embeddings.
	VectorKindText = "text"
)

// ModelKind says which configured model a mode uses.
type ModelKind string

// Model kinds.
const (
	ModelVision ModelKind = "vision"
	ModelText   ModelKind = "text"
	ModelEmbed  ModelKind = "embed"
	ModelNone   ModelKind = ""
)

// AllModes returns every mode in dependency order: a mode never precedes a
// mode it depends on, so enqueueing in this order and claiming by id leads to
// complete results in one pass.
func AllModes() []Mode {
	return []Mode{ModeCaption, ModeTitle, ModePromptEval, ModeTagsNormalize, ModeQuality,
		ModeNSFWClassify, ModePromptRecon, ModeEmbed, ModeDupeHints}
}

// GenerateModes returns the modes that call /api/generate with a template.
func GenerateModes() []Mode {
	return []Mode{ModeCaption, ModeTitle, ModePromptEval, ModeTagsNormalize, ModeQuality,
		ModeNSFWClassify, ModePromptRecon}
}

// ParseMode accepts a mode name or a job type ("ollama_caption").
func ParseMode(s string) (Mode, error) {
	s = strings.TrimPrefix(strings.ToLower(strings.TrimSpace(s)), JobTypePrefix)
	for _, m := range AllModes() {
		if string(m) == s {
			return m, nil
		}
	}
	return "", reason.Newf("invalid_mode", "unknown ollama mode %q", s)
}

// ModeFromJobType returns the mode of an ollama_<mode> job type.
func ModeFromJobType(jobType string) (Mode, bool) {
	if !strings.HasPrefix(jobType, JobTypePrefix) {
		return "", false
	}
	m, err := ParseMode(jobType)
	return m, err == nil
}

// JobType returns the job type name, ollama_<mode>.
func (m Mode) JobType() string { return JobTypePrefix + string(m) }

// JobTypes returns the job types of the given modes (all modes when none).
func JobTypes(modes ...Mode) []string {
	if len(modes) == 0 {
		modes = AllModes()
	}
	out := make([]string, len(modes))
	for i, m := range modes {
		out[i] = m.JobType()
	}
	return out
}

// RequiresImage reports whether the mode sends the media's image to a
// vision model. Such modes only run for images (or a video frame).
func (m Mode) RequiresImage() bool {
	switch m {
	case ModeCaption, ModeTitle, ModePromptEval, ModeQuality, ModeNSFWClassify:
		return true
	}
	return false
}

// ModelKind returns which configured model the mode uses.
func (m Mode) ModelKind() ModelKind {
	switch {
	case m.RequiresImage():
		return ModelVision
	case m == ModeTagsNormalize || m == ModePromptRecon:
		return ModelText
	case m == ModeEmbed:
		return ModelEmbed
	}
	return ModelNone
}

// DependsOn lists the modes whose results feed this mode's input. The
// enqueuer uses it to order jobs; a dependency is "soft": the mode still
// runs with whatever inputs exist when a dependency produced nothing.
func (m Mode) DependsOn() []Mode {
	switch m {
	case ModePromptRecon:
		return []Mode{ModeCaption, ModeTitle, ModeTagsNormalize, ModeQuality}
	case ModeEmbed:
		return []Mode{ModeCaption, ModeTitle, ModeTagsNormalize, ModeQuality, ModePromptRecon}
	case ModeDupeHints:
		return []Mode{ModeEmbed}
	}
	return nil
}

// OutputKey is the media_meta key whose presence means "this mode ran to
// an end" (a result, a degraded result or a final parse failure) — the one
// definition of missing-ness for enqueue, so a mode that produced no value
// is not re-enqueued forever. ValueKey names the value itself.
func (m Mode) OutputKey() string {
	switch m {
	case ModeCaption:
		return "ollama.caption.meta"
	case ModeTitle:
		return "ollama.title.meta"
	case ModePromptEval:
		return "ollama.prompt_eval.meta"
	case ModeTagsNormalize:
		return "ollama.tags_normalize.meta"
	case ModeQuality:
		return "ollama.quality.meta"
	case ModeNSFWClassify:
		return "ollama.nsfw.meta"
	case ModePromptRecon:
		return "ollama.prompt_recon.meta"
	case ModeEmbed:
		return "ollama.embed.text.vector_id"
	case ModeDupeHints:
		return "ollama.dupe_hints.meta"
	}
	return ""
}

// ValueKey is the media_meta key holding the mode's main value
// (ollama.caption, ollama.title, ollama.quality.score, …).
func (m Mode) ValueKey() string {
	switch m {
	case ModeCaption:
		return "ollama.caption"
	case ModeTitle:
		return "ollama.title"
	case ModePromptEval:
		return "ollama.prompt_eval.score"
	case ModeTagsNormalize:
		return "ollama.tags_normalized"
	case ModeQuality:
		return "ollama.quality.score"
	case ModeNSFWClassify:
		return "ollama.nsfw.score"
	case ModePromptRecon:
		return "ollama.prompt_recon.prompt"
	case ModeEmbed:
		return "ollama.embed.text.vector_id"
	case ModeDupeHints:
		return "ollama.dupe_hints.top"
	}
	return ""
}

// MetaKeys returns every media_meta key a mode writes (excluding the shared
// ollama.last_run_at / ollama.stage_version), as deleted by DeleteResults.
func (m Mode) MetaKeys() []string {
	switch m {
	case ModeCaption:
		return []string{"ollama.caption", "ollama.caption.meta"}
	case ModeTitle:
		return []string{"ollama.title", "ollama.title.meta"}
	case ModePromptEval:
		return []string{"ollama.prompt_eval.score", "ollama.prompt_eval.meta"}
	case ModeTagsNormalize:
		return []string{"ollama.tags_raw", "ollama.tags_normalized", "ollama.tags_map", "ollama.tags_normalize.meta"}
	case ModeQuality:
		return []string{"ollama.quality.score", "ollama.quality.flags", "ollama.domain.type",
			"ollama.domain.confidence", "ollama.quality.meta"}
	case ModeNSFWClassify:
		return []string{"ollama.nsfw.score", "ollama.nsfw.flags", "ollama.nsfw.category", "ollama.nsfw.meta"}
	case ModePromptRecon:
		return []string{"ollama.prompt_recon.prompt", "ollama.prompt_recon.negative",
			"ollama.prompt_recon.confidence", "ollama.prompt_recon.style_tokens",
			"ollama.prompt_recon.subject_tokens", "ollama.prompt_recon.tags_source", "ollama.prompt_recon.meta"}
	case ModeEmbed:
		return []string{"ollama.embed.text.model", "ollama.embed.text.dims", "ollama.embed.text.hash",
			"ollama.embed.text.vector_id", "ollama.embed.meta"}
	case ModeDupeHints:
		return []string{"ollama.dupe_hints.top", "ollama.dupe_hints.threshold", "ollama.dupe_hints.meta"}
	}
	return nil
}

// TemplateFile is the prompt template file name of a generate mode.
func (m Mode) TemplateFile() string { return string(m) + ".txt" }

// String implements fmt.Stringer.
func (m Mode) String() string { return string(m) }

func (m Mode) validate() error {
	if _, err := ParseMode(string(m)); err != nil {
		return fmt.Errorf("mode %q: %w", string(m), err)
	}
	return nil
}
