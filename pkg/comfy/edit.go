package comfy

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/sdmeta"
)

// Edits are the changes a person may make before regenerating. nil fields
// keep the graph's value.
type Edits struct {
	// Seed replaces the main sampler's seed (the caller draws a new one
	// for "new seed"; nil keeps the same seed).
	Seed     *int64   `json:"seed,omitempty"`
	Prompt   *string  `json:"prompt,omitempty"`
	Negative *string  `json:"negative,omitempty"`
	Steps    *int     `json:"steps,omitempty"`
	CFG      *float64 `json:"cfg,omitempty"`
	Denoise  *float64 `json:"denoise,omitempty"`
	Width    *int     `json:"width,omitempty"`
	Height   *int     `json:"height,omitempty"`
}

// Limits of the edits (ComfyUI's own KSampler/EmptyLatentImage bounds,
// MAX_RESOLUTION 16384).
const (
	MaxSteps = 10000
	MaxCFG   = 100
	MaxSize  = 16384
)

// Validate checks the edits' ranges.
func (e Edits) Validate() error {
	bad := func(f string, a ...any) error { return reason.Newf(CodeValueInvalid, f, a...) }
	switch {
	case e.Steps != nil && (*e.Steps < 1 || *e.Steps > MaxSteps):
		return bad("steps must be between 1 and %d", MaxSteps)
	case e.CFG != nil && (*e.CFG < 0 || *e.CFG > MaxCFG):
		return bad("cfg must be between 0 and %d", MaxCFG)
	case e.Denoise != nil && (*e.Denoise < 0 || *e.Denoise > 1):
		return bad("denoise must be between 0 and 1")
	case e.Width != nil && (*e.Width < 16 || *e.Width > MaxSize || *e.Width%8 != 0):
		return bad("width must be a multiple of 8 between 16 and %d", MaxSize)
	case e.Height != nil && (*e.Height < 16 || *e.Height > MaxSize || *e.Height%8 != 0):
		return bad("height must be a multiple of 8 between 16 and %d", MaxSize)
	case e.Seed != nil && *e.Seed < 0:
		return bad("seed must not be negative")
	}
	return nil
}

// Targets locates the main sampler pass and its editable inputs with the
// importer's own walk (sdmeta.ComfyAPITargets), so the pass regenerated is
// the pass whose prompt the catalogue shows.
func (g Graph) Targets() (sdmeta.ComfyTargets, error) {
	b, err := g.JSON()
	if err != nil {
		return sdmeta.ComfyTargets{}, err
	}
	t, ok := sdmeta.ComfyAPITargets(string(b))
	if !ok {
		return sdmeta.ComfyTargets{}, reason.New(CodeGraphInvalid, "the embedded ComfyUI workflow has no sampler node to regenerate")
	}
	return t, nil
}

// Apply writes the edits into g at the inputs t names. A value that is not
// a literal of one input (computed by another node) cannot be changed:
// comfy_edit_unsupported names it, unless the edit equals the current
// value. A prompt spread over several text inputs with different texts is
// refused the same way (which box would the new text go to?).
func (g Graph) Apply(t sdmeta.ComfyTargets, e Edits) error {
	if err := e.Validate(); err != nil {
		return err
	}
	set := func(name string, at sdmeta.ComfyInput, v any, same bool) error {
		if at.IsZero() || g[at.Node] == nil {
			if same {
				return nil
			}
			return reason.Newf(CodeEditUnsupported, "the workflow computes its %s in another node, so it cannot be changed here: change it in ComfyUI or keep the current value", name).With("parameter", name)
		}
		g[at.Node].Inputs[at.Input] = v
		return nil
	}
	num := func(s string) json.Number { return json.Number(s) }
	m := t.Main
	if e.Seed != nil {
		if err := set("seed", t.Seed, num(strconv.FormatInt(*e.Seed, 10)), m.Seed == strconv.FormatInt(*e.Seed, 10)); err != nil {
			return err
		}
	}
	if e.Steps != nil {
		if err := set("steps", t.Steps, num(strconv.Itoa(*e.Steps)), m.Steps != nil && *m.Steps == *e.Steps); err != nil {
			return err
		}
	}
	if e.CFG != nil {
		if err := set("cfg", t.CFG, num(strconv.FormatFloat(*e.CFG, 'f', -1, 64)), m.CFGScale != nil && *m.CFGScale == *e.CFG); err != nil {
			return err
		}
	}
	if e.Denoise != nil {
		if err := set("denoise", t.Denoise, num(strconv.FormatFloat(*e.Denoise, 'f', -1, 64)), m.Denoise != nil && *m.Denoise == *e.Denoise); err != nil {
			return err
		}
	}
	if e.Width != nil {
		if err := set("width", t.Width, num(strconv.Itoa(*e.Width)), m.Width != nil && *m.Width == *e.Width); err != nil {
			return err
		}
	}
	if e.Height != nil {
		if err := set("height", t.Height, num(strconv.Itoa(*e.Height)), m.Height != nil && *m.Height == *e.Height); err != nil {
			return err
		}
	}
	if e.Prompt != nil {
		if err := g.setText("prompt", t.Positive, m.PromptRaw, *e.Prompt); err != nil {
			return err
		}
	}
	if e.Negative != nil {
		if err := g.setText("negative prompt", t.Negative, m.NegativePromptRaw, *e.Negative); err != nil {
			return err
		}
	}
	return nil
}

// setText writes text into every input of one side when they all hold the
// same text (SDXL's text_g/text_l, repeated encoders); an unchanged text is
// no edit.
func (g Graph) setText(name string, at []sdmeta.ComfyInput, current, text string) error {
	if sdmeta.CleanPrompt(text) == sdmeta.CleanPrompt(current) {
		return nil
	}
	if len(at) == 0 {
		return reason.Newf(CodeEditUnsupported, "the workflow has no text input for the %s that could be changed", name).With("parameter", name)
	}
	var first string
	for i, a := range at {
		s, _ := g[a.Node].Inputs[a.Input].(string)
		if i == 0 {
			first = s
		} else if sdmeta.CleanPrompt(s) != sdmeta.CleanPrompt(first) {
			names := make([]string, len(at))
			for j, x := range at {
				names[j] = fmt.Sprintf("node %s %s", x.Node, x.Input)
			}
			return reason.Newf(CodeEditUnsupported, "the %s is put together from %d different texts (%s): change it in ComfyUI or keep it as it is",
				name, len(at), strings.Join(names, ", ")).With("parameter", name)
		}
	}
	for _, a := range at {
		g[a.Node].Inputs[a.Input] = text
	}
	return nil
}
