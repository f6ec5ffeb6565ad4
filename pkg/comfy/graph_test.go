package comfy_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/comfy"
	"github.com/localsupervisor/supervisor/pkg/comfy/comfytest"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/sdmeta"
	"github.com/localsupervisor/supervisor/pkg/svtest"
)

func TestGraphValidation(t *testing.T) {
	fake := comfytest.Start(t, comfytest.Options{})
	oi, err := client(t, fake).ObjectInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		mutate   func(g comfy.Graph)
		wantCode string
		wantIn   []string // names the message must carry
	}{
		{"valid", func(comfy.Graph) {}, "", nil},
		{"cycle", func(g comfy.Graph) {
			g["8"].Inputs["samples"] = []any{json.Number("3"), json.Number("0")}
			g["3"].Inputs["latent_image"] = []any{"10", json.Number("0")}
			g["10"] = &comfy.Node{ClassType: "VAEEncode", Inputs: map[string]any{"pixels": []any{"8", json.Number("0")}, "vae": []any{"4", json.Number("2")}}}
		}, comfy.CodeGraphCycle, []string{"3", "8", "10"}},
		{"self loop", func(g comfy.Graph) {
			g["3"].Inputs["latent_image"] = []any{"3", json.Number("0")}
		}, comfy.CodeGraphCycle, []string{"3 → 3"}},
		{"missing link", func(g comfy.Graph) {
			g["8"].Inputs["vae"] = []any{"42", json.Number("0")}
		}, comfy.CodeGraphLinkMissing, []string{"node 8 (VAEDecode) input vae → node 42"}},
		{"missing slot", func(g comfy.Graph) {
			g["8"].Inputs["vae"] = []any{"4", json.Number("7")}
		}, comfy.CodeGraphLinkMissing, []string{"output 7 of node 4"}},
		{"unknown nodes", func(g comfy.Graph) {
			g["20"] = &comfy.Node{ClassType: "FaceDetailer", Inputs: map[string]any{}}
			g["21"] = &comfy.Node{ClassType: "UltimateSDUpscale", Inputs: map[string]any{}}
		}, comfy.CodeNodeUnknown, []string{"FaceDetailer", "UltimateSDUpscale"}},
		{"missing models", func(g comfy.Graph) {
			g["4"].Inputs["ckpt_name"] = "juggernautXL_v9.safetensors"
			g["11"] = &comfy.Node{ClassType: "LoraLoader", Inputs: map[string]any{"lora_name": "add_detail.safetensors",
				"model": []any{"4", json.Number("0")}, "clip": []any{"4", json.Number("1")}}}
			g["12"] = &comfy.Node{ClassType: "UpscaleModelLoader", Inputs: map[string]any{"model_name": "4x_foolhardy_Remacri.pth"}}
		}, comfy.CodeModelMissing, []string{"juggernautXL_v9.safetensors", "add_detail.safetensors", "4x_foolhardy_Remacri.pth"}},
		{"bad sampler", func(g comfy.Graph) {
			g["3"].Inputs["sampler_name"] = "dpmpp_3m_sde_gpu_custom"
		}, comfy.CodeValueInvalid, []string{"sampler_name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := graph(t)
			tt.mutate(g)
			err := g.CheckStructure()
			if err == nil {
				err = g.CheckServer(oi)
			}
			if got := reason.Code(err); got != tt.wantCode {
				t.Fatalf("code %q want %q (%v)", got, tt.wantCode, err)
			}
			for _, w := range tt.wantIn {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message lacks %q: %v", w, err)
				}
			}
			if tt.wantCode != "" {
				// Nothing invalid is ever submitted.
				_, err := client(t, fake).Run(context.Background(), g, comfy.RunOptions{})
				if reason.Code(err) != tt.wantCode || len(fake.Submitted()) != 0 {
					t.Fatalf("run: %v, submitted %d", err, len(fake.Submitted()))
				}
			}
		})
	}
}

func TestParseGraphInvalid(t *testing.T) {
	for _, in := range []string{`nope`, `[]`, `{}`, `{"1": {"inputs": {}}}`, `{"1": 5}`} {
		if _, err := comfy.ParseGraph(in); reason.Code(err) != comfy.CodeGraphInvalid {
			t.Errorf("%s: %v", in, err)
		}
	}
	g, err := comfy.ParseGraph(`{"prompt": ` + comfytest.Graph + `}`)
	if err != nil || len(g) != 7 {
		t.Fatalf("wrapped graph: %v %d", err, len(g))
	}
}

func ptr[T any](v T) *T { return &v }

func TestApplyEdits(t *testing.T) {
	g := graph(t)
	tg, err := g.Targets()
	if err != nil {
		t.Fatal(err)
	}
	if tg.Main.NodeID != "3" || tg.Seed.Node != "3" || tg.Width.Node != "5" || len(tg.Positive) != 1 || tg.Positive[0].Node != "6" {
		t.Fatalf("targets %+v", tg)
	}
	e := comfy.Edits{Seed: ptr(int64(18446744073709)), Prompt: ptr("a red fox"), Negative: ptr("blurry"), Steps: ptr(8), CFG: ptr(4.5),
		Denoise: ptr(0.6), Width: ptr(768), Height: ptr(1024)}
	if err := g.Apply(tg, e); err != nil {
		t.Fatal(err)
	}
	b, _ := g.JSON()
	after, _ := comfy.ParseGraph(string(b))
	ta, _ := after.Targets()
	m := ta.Main
	if m.Seed != "18446744073709" || m.Prompt != "a red fox" || m.NegativePrompt != "blurry" || *m.Steps != 8 || *m.CFGScale != 4.5 ||
		*m.Denoise != 0.6 || *m.Width != 768 || *m.Height != 1024 {
		t.Fatalf("after edit %+v", m)
	}
}

func TestApplyEditsThroughPrimitivesAndSharedText(t *testing.T) {
	// Seed in a primitive node, SDXL text_g/text_l with the same text.
	g := graph(t)
	g["13"] = &comfy.Node{ClassType: "PrimitiveInt", Inputs: map[string]any{"value": json.Number("5")}}
	g["3"].Inputs["seed"] = []any{"13", json.Number("0")}
	g["6"] = &comfy.Node{ClassType: "CLIPTextEncodeSDXL", Inputs: map[string]any{"text_g": "a cat", "text_l": "a cat", "clip": []any{"4", json.Number("1")}}}
	tg, err := g.Targets()
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Apply(tg, comfy.Edits{Seed: ptr(int64(99)), Prompt: ptr("a dog")}); err != nil {
		t.Fatal(err)
	}
	if g["13"].Inputs["value"] != json.Number("99") || g["3"].Inputs["seed"] == json.Number("99") {
		t.Fatalf("seed went to %v / %v", g["13"].Inputs, g["3"].Inputs["seed"])
	}
	if g["6"].Inputs["text_g"] != "a dog" || g["6"].Inputs["text_l"] != "a dog" {
		t.Fatalf("texts %v", g["6"].Inputs)
	}
}

func TestApplyEditsUnsupported(t *testing.T) {
	g := graph(t)
	g["6"] = &comfy.Node{ClassType: "CLIPTextEncodeSDXL", Inputs: map[string]any{"text_g": "a cat", "text_l": "photo", "clip": []any{"4", json.Number("1")}}}
	// Steps computed by a node the walk cannot read as a literal.
	g["14"] = &comfy.Node{ClassType: "MathExpression", Inputs: map[string]any{"a": []any{"5", json.Number("0")}}}
	g["3"].Inputs["steps"] = []any{"14", json.Number("0")}
	tg, err := g.Targets()
	if err != nil {
		t.Fatal(err)
	}
	for name, e := range map[string]comfy.Edits{
		"prompt": {Prompt: ptr("a dog")},
		"steps":  {Steps: ptr(30)},
	} {
		if err := g.Clone().Apply(tg, e); reason.Code(err) != comfy.CodeEditUnsupported || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Keeping the value is fine, and out-of-range values are refused.
	if err := g.Clone().Apply(tg, comfy.Edits{Prompt: ptr("a cat\nphoto")}); err != nil {
		t.Errorf("unchanged prompt: %v", err)
	}
	if err := g.Clone().Apply(tg, comfy.Edits{Width: ptr(1001)}); reason.Code(err) != comfy.CodeValueInvalid {
		t.Errorf("width: %v", err)
	}
}

// TestApplyEditsOnRealGraphs edits the graphs of real ComfyUI files and
// reads them back with the importer's walk: where an input is located, the
// edit is what the catalogue would show; where it is not, Apply refuses.
func TestApplyEditsOnRealGraphs(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "sdmeta", "testdata", "comfy", "*.png"))
	if dir := svtest.OptionalSharedFixtures(t); dir != "" {
		more, _ := filepath.Glob(filepath.Join(dir, "comfyui", "*.png"))
		files = append(files, more...)
	}
	n := 0
	for _, f := range files {
		r, err := sdmeta.Extract(context.Background(), f, sdmeta.Options{})
		if err != nil || r.ComfyAPIGraph == "" {
			continue
		}
		n++
		t.Run(filepath.Base(f), func(t *testing.T) {
			g, err := comfy.ParseGraph(r.ComfyAPIGraph)
			if err != nil {
				t.Fatal(err)
			}
			tg, err := g.Targets()
			if err != nil {
				t.Fatal(err)
			}
			for name, e := range map[string]comfy.Edits{
				"seed":  {Seed: ptr(int64(4242))},
				"steps": {Steps: ptr(7)},
				"text":  {Prompt: ptr("an edited prompt")},
				"size":  {Width: ptr(640), Height: ptr(832)},
			} {
				c := g.Clone()
				err := c.Apply(tg, e)
				if reason.Code(err) == comfy.CodeEditUnsupported {
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				after, err := c.Targets()
				if err != nil {
					t.Fatal(err)
				}
				m := after.Main
				ok := map[string]bool{
					"seed":  m.Seed == "4242",
					"steps": m.Steps != nil && *m.Steps == 7,
					"text":  m.Prompt == "an edited prompt",
					"size":  m.Width != nil && *m.Width == 640 && *m.Height == 832,
				}[name]
				if !ok {
					t.Errorf("%s edit not read back: %+v", name, m)
				}
				if g.Clone().Apply(tg, comfy.Edits{}) != nil {
					t.Error("no edits must always apply")
				}
			}
		})
	}
	if n == 0 {
		t.Skip("no ComfyUI fixtures with an API graph")
	}
}
