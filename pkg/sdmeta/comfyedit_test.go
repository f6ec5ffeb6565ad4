package sdmeta

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/svtest"
)

// TestComfyAPITargetsAgreeWithImporter: on every ComfyUI file with an API
// graph at hand, the targets' main pass is the importer's, and each located
// input holds exactly the value the importer read, so an edit written there
// changes what the catalogue shows.
func TestComfyAPITargetsAgreeWithImporter(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "comfy", "*.png"))
	if dir := svtest.OptionalSharedFixtures(t); dir != "" {
		more, _ := filepath.Glob(filepath.Join(dir, "comfyui", "*.png"))
		files = append(files, more...)
	}
	checked := 0
	for _, f := range files {
		r, err := Extract(context.Background(), f, Options{})
		if err != nil || r.ComfyAPIGraph == "" {
			continue
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			tg, ok := ComfyAPITargets(r.ComfyAPIGraph)
			if !ok {
				t.Fatal("no targets for an API graph the importer read")
			}
			m := tg.Main
			if m.Prompt != r.Prompt || m.Seed != r.Seed || m.Model != r.Model {
				t.Fatalf("main pass differs from the importer's: %q/%q %q/%q %q/%q", m.Prompt, r.Prompt, m.Seed, r.Seed, m.Model, r.Model)
			}
			var g map[string]struct {
				Inputs map[string]json.RawMessage `json:"inputs"`
			}
			if err := json.Unmarshal([]byte(r.ComfyAPIGraph), &g); err != nil {
				t.Skip("wrapped graph")
			}
			lit := func(at ComfyInput) string {
				v, _ := decodeJSON(string(g[at.Node].Inputs[at.Input]))
				return toString(v)
			}
			for name, c := range map[string]struct {
				at   ComfyInput
				want string
			}{
				"seed":  {tg.Seed, m.Seed},
				"steps": {tg.Steps, ptrStr(m.Steps)},
				"width": {tg.Width, ptrStr(m.Width)},
			} {
				if c.at.IsZero() {
					continue
				}
				if got := lit(c.at); got != c.want {
					t.Errorf("%s at %v holds %s, importer read %s", name, c.at, got, c.want)
				}
			}
			for _, at := range tg.Positive {
				var s string
				if json.Unmarshal(g[at.Node].Inputs[at.Input], &s) != nil || !strings.Contains(m.PromptRaw, s) {
					t.Errorf("positive text at %v is not part of the prompt", at)
				}
			}
		})
		checked++
	}
	if checked == 0 {
		t.Skip("no ComfyUI API graph fixtures")
	}
	t.Logf("%d files", checked)
}

func ptrStr(p *int) string {
	if p == nil {
		return ""
	}
	return fmt.Sprint(*p)
}
