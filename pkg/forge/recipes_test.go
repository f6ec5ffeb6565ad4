package forge

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtest"
)

func TestConfigRecipesEqualEmbedded(t *testing.T) {
	t.Parallel()
	cfg, err := os.ReadFile(filepath.Join(svtest.RepoRoot(t), "CONFIG", "forge_recipes.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(cfg, DefaultRecipesJSON()) {
		t.Fatal("CONFIG/forge_recipes.json differs from pkg/forge/recipes_default.json; copy one onto the other")
	}
}

func TestDefaultRecipes(t *testing.T) {
	t.Parallel()
	r := DefaultRecipes()
	if r.Source != "embedded" {
		t.Fatalf("source %q", r.Source)
	}
	list := r.ListRecipes()
	if len(list) != 9 || list[0].ID != "repair.fast" || list[8].ID != "vary.strong" {
		t.Fatalf("list %+v", list)
	}
	want := map[string]int{"repair.strong": 2, "rebuild.normal": 2, "rebuild.strong": 4, "vary.strong": 4, "repair.fast": 1}
	for _, ri := range list {
		if n, ok := want[ri.ID]; ok && ri.Variants != n {
			t.Errorf("%s variants %d want %d", ri.ID, ri.Variants, n)
		}
	}
	if s, _ := r.Recipe("repair.normal"); s.I2IDenoise == nil || *s.I2IDenoise != 0.40 {
		t.Errorf("repair.normal denoise %v", s.I2IDenoise)
	}
	if p := r.ModelFamilies["sdxl"].Presets["sdxl_default"]; p.Sampler != "DPM++ 2M Karras" || *p.Steps != 28 || *p.CFG != 6.5 {
		t.Errorf("sdxl_default %+v", p)
	}
}

func TestLoadRecipes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r, err := LoadRecipes(filepath.Join(dir, "absent.json"))
	if err != nil || r.Source != "embedded" {
		t.Fatalf("missing file must give the default: %v %v", r, err)
	}
	custom := strings.Replace(string(DefaultRecipesJSON()), `"variants": 4, "seed_policy": "new"}`, `"variants": 6, "seed_policy": "new"}`, 1)
	p := filepath.Join(dir, "custom.json")
	if err := os.WriteFile(p, []byte(custom), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err = LoadRecipes(p)
	if err != nil || r.Source != p {
		t.Fatal(err)
	}
	if s, _ := r.Recipe("vary.strong"); s.Variants != 6 {
		t.Fatalf("custom file not used: %+v", s)
	}
	bad := filepath.Join(dir, "bad.json")
	_ = os.WriteFile(bad, []byte(`{"version": 1,`), 0o644)
	_, err = LoadRecipes(bad)
	if reason.Code(err) != CodeRecipesInvalid || !strings.Contains(err.Error(), bad) {
		t.Fatalf("broken file: %v", err)
	}
}

// mutate applies fn to the decoded default document and re-encodes it.
func mutate(t *testing.T, fn func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(DefaultRecipesJSON(), &m); err != nil {
		t.Fatal(err)
	}
	fn(m)
	b, _ := json.Marshal(m)
	return b
}

func obj(m map[string]any, path ...string) map[string]any {
	for _, p := range path {
		m = m[p].(map[string]any)
	}
	return m
}

func TestRecipeValidationErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		key string
		fn  func(m map[string]any)
	}{
		{"version", func(m map[string]any) { m["version"] = 2 }},
		{"defaults.steps_min", func(m map[string]any) { delete(obj(m, "defaults"), "steps_min") }},
		{"defaults.cfg_max", func(m map[string]any) { obj(m, "defaults")["cfg_max"] = 1 }},
		{"defaults.size_default", func(m map[string]any) { obj(m, "defaults")["size_default"] = []int{1024} }},
		{"defaults.size_grid", func(m map[string]any) { delete(obj(m, "defaults"), "size_grid") }},
		{"model_families.flux", func(m map[string]any) { delete(obj(m, "model_families"), "flux") }},
		{"model_families.sdxl.default_preset", func(m map[string]any) { obj(m, "model_families", "sdxl")["default_preset"] = "nope" }},
		{"model_families.sdxl.sampler_compat_map", func(m map[string]any) { delete(obj(m, "model_families", "sdxl"), "sampler_compat_map") }},
		{"model_families.sdxl.presets.sdxl_fast.steps", func(m map[string]any) { delete(obj(m, "model_families", "sdxl", "presets", "sdxl_fast"), "steps") }},
		{"model_families.sdxl.presets.sdxl_default.negative_default", func(m map[string]any) {
			obj(m, "model_families", "sdxl", "presets", "sdxl_default")["negative_default"] = "missing_key"
		}},
		{"model_families.presets.size", func(m map[string]any) { obj(m, "model_families", "flux", "presets", "flux_default")["size"] = "big" }},
		{"recipes.vary", func(m map[string]any) { delete(obj(m, "recipes"), "vary") }},
		{"recipes.repair.strong", func(m map[string]any) { delete(obj(m, "recipes", "repair"), "strong") }},
		{"recipes.rebuild.fast.mode_hint", func(m map[string]any) { obj(m, "recipes", "rebuild", "fast")["mode_hint"] = "magic" }},
		{"recipes.rebuild.fast.variants", func(m map[string]any) { obj(m, "recipes", "rebuild", "fast")["variants"] = 0 }},
		{"recipes.repair.fast.i2i_denoise", func(m map[string]any) { delete(obj(m, "recipes", "repair", "fast"), "i2i_denoise") }},
		{"recipes.vary.fast.seed_policy", func(m map[string]any) { obj(m, "recipes", "vary", "fast")["seed_policy"] = "sometimes" }},
		{"tech_fixes.black_reset", func(m map[string]any) { delete(obj(m, "tech_fixes"), "black_reset") }},
		{"tech_fixes.universal_negative.force_negative_key", func(m map[string]any) { obj(m, "tech_fixes", "universal_negative")["force_negative_key"] = "x" }},
		{"version", func(m map[string]any) { m["version"] = "one" }}, // JSON type error
	}
	for _, tc := range tests {
		t.Run(tc.key, func(t *testing.T) {
			_, err := ParseRecipes(mutate(t, tc.fn), "CONFIG/forge_recipes.json")
			if reason.Code(err) != CodeRecipesInvalid {
				t.Fatalf("err %v", err)
			}
			f := reason.FieldsOf(err)
			if f["key"] != tc.key || f["config_path"] != "CONFIG/forge_recipes.json" {
				t.Fatalf("fields %v (err %v)", f, err)
			}
			if !strings.Contains(err.Error(), "CONFIG/forge_recipes.json") || (tc.key != "" && !strings.Contains(err.Error(), tc.key)) {
				t.Fatalf("message does not name path and key: %v", err)
			}
		})
	}
}
