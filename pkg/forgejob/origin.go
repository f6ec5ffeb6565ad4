package forgejob

import (
	"strconv"

	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/media"
)

// Generators (media.source of an accepted child, Origin.Generator).
const (
	GeneratorForge   = "forge"
	GeneratorComfyUI = "comfyui"
)

// Origin says how a generated output came about, whichever generator made
// it: what the replace and accept steps store as the media's prompt, meta
// and audit. Forge jobs derive it from their planned request (forgeOrigin);
// other generators (ComfyUI) record it in JobResult.Origin, which makes
// their previews acceptable through the same Accept/Discard as Forge's.
type Origin struct {
	// Generator is GeneratorForge or GeneratorComfyUI.
	Generator string `json:"generator"`
	// Prompt is the prompts row of the output; a version's own seed and
	// size are filled in when it is accepted.
	Prompt media.Prompt `json:"prompt"`
	// OriginalPrompt is the raw text kept with the prompt history version.
	OriginalPrompt string `json:"original_prompt,omitempty"`
	// Generation is meta forge.generation_mode (txt2img, img2img, comfyui).
	Generation string `json:"generation_mode"`
	// Audit adds details to the replace audit row.
	Audit map[string]any `json:"audit,omitempty"`
}

// forVersion is o for one accepted version: its seed and size.
func (o Origin) forVersion(v Version, out Output) Origin {
	if v.Seed != nil {
		o.Prompt.Seed = strconv.FormatInt(*v.Seed, 10)
	}
	w, h := int64(out.Width), int64(out.Height)
	o.Prompt.Width, o.Prompt.Height = &w, &h
	return o
}

// PreviewTypes are the job types whose finished results list versions that
// Accept, Discard and PreviewFile handle: Forge's and ComfyUI's.
func PreviewTypes() []string { return append(Types(), jobs.TypeComfyRegen) }
