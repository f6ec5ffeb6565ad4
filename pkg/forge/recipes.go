package forge

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

// defaultRecipesJSON is the built-in recipes file; CONFIG/forge_recipes.json
// is a copy users edit (a test keeps the two identical).
//
//go:embed recipes_default.json
var defaultRecipesJSON []byte

// DefaultRecipesJSON returns a copy of the embedded default recipes file.
func DefaultRecipesJSON() []byte { return bytes.Clone(defaultRecipesJSON) }

// CodeRecipesInvalid is the reason code of a recipes file that fails
// validation.
const CodeRecipesInvalid = "forge_recipes_invalid"

// Recipes is forge_recipes.json (format version 1, as in the original).
type Recipes struct {
	Version       int                              `json:"version"`
	Defaults      RecipeDefaults                   `json:"defaults"`
	ModelFamilies map[string]ModelFamily           `json:"model_families"`
	Negatives     map[string]string                `json:"negatives"`
	Recipes       map[string]map[string]RecipeSpec `json:"recipes"`
	TechFixes     map[string]TechFix               `json:"tech_fixes"`

	// Source is the file the recipes came from, or "embedded".
	Source string `json:"-"`
}

// RecipeDefaults are the clamps and the default size.
type RecipeDefaults struct {
	StepsMin    *int     `json:"steps_min"`
	StepsMax    *int     `json:"steps_max"`
	CFGMin      *float64 `json:"cfg_min"`
	CFGMax      *float64 `json:"cfg_max"`
	SizeDefault []int    `json:"size_default"`
	SizeGrid    *int     `json:"size_grid"`
}

// ModelFamily holds a family's presets and sampler compatibility map.
type ModelFamily struct {
	DefaultPreset    string            `json:"default_preset"`
	Presets          map[string]Preset `json:"presets"`
	SamplerCompatMap map[string]string `json:"sampler_compat_map"`
}

// Preset is a family's generation parameter set.
type Preset struct {
	Sampler         string   `json:"sampler"`
	Steps           *int     `json:"steps"`
	CFG             *float64 `json:"cfg"`
	Size            []int    `json:"size"`
	NegativeDefault *string  `json:"negative_default"`
}

// RecipeSpec is one goal × intensity entry.
type RecipeSpec struct {
	// ModeHint is i2i_if_image_else_t2i, t2i or t2i_or_i2i.
	ModeHint   string   `json:"mode_hint"`
	I2IDenoise *float64 `json:"i2i_denoise,omitempty"`
	Variants   int      `json:"variants"`
	// SeedPolicy "new" draws a fresh random seed.
	SeedPolicy string `json:"seed_policy,omitempty"`
}

// TechFix is one technical fix.
type TechFix struct {
	ApplySamplerMap  bool     `json:"apply_sampler_map,omitempty"`
	ForceSteps       *int     `json:"force_steps,omitempty"`
	ForceCFG         *float64 `json:"force_cfg,omitempty"`
	ForceSampler     string   `json:"force_sampler,omitempty"`
	ForceNegativeKey string   `json:"force_negative_key,omitempty"`
	ForceSizeDefault bool     `json:"force_size_default,omitempty"`
}

// Option values accepted by repair resolution.
var (
	RepairGoals      = []string{"repair", "rebuild", "vary"}
	RepairIntensity  = []string{"fast", "normal", "strong"}
	RepairSources    = []string{"auto", "prompt", "tags", "minimal"}
	RepairTechFixes  = []string{"none", "sampler_compat", "black_reset", "universal_negative", "normalize_size"}
	recipeModeHints  = []string{"i2i_if_image_else_t2i", "t2i", "t2i_or_i2i"}
	requiredFamilies = []string{"sdxl", "flux"}
)

// DefaultRecipes parses the embedded recipes. It panics only if the embedded
// file is broken, which a test rules out.
func DefaultRecipes() *Recipes {
	r, err := ParseRecipes(defaultRecipesJSON, "embedded")
	if err != nil {
		panic(fmt.Sprintf("forge: embedded recipes invalid: %v", err))
	}
	return r
}

// LoadRecipes reads recipes from path. A missing file (or empty path) yields
// the embedded default with Source "embedded"; a file that exists but is
// invalid is an error naming the path and key, never silently replaced
// (the original fell back to defaults without telling anyone).
func LoadRecipes(path string) (*Recipes, error) {
	if strings.TrimSpace(path) == "" {
		return DefaultRecipes(), nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return DefaultRecipes(), nil
	}
	if err != nil {
		e := reason.Permanent(CodeRecipesInvalid, fmt.Errorf("read recipes %s: %w", path, err))
		e.Fields = map[string]any{"config_path": path}
		return nil, e
	}
	return ParseRecipes(b, path)
}

// ParseRecipes decodes and validates a recipes document. source names the
// file in errors.
func ParseRecipes(b []byte, source string) (*Recipes, error) {
	var r Recipes
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&r); err != nil {
		// A type error names the JSON path (map keys excluded), which is
		// still the best hint we can give the user.
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			return nil, recipeErr(source, ute.Field, fmt.Sprintf("has JSON type %s, want %s", ute.Value, ute.Type))
		}
		return nil, recipeErr(source, "", fmt.Sprintf("not valid JSON: %v", err))
	}
	r.Source = source
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return &r, nil
}

func recipeErr(source, key, msg string) *reason.Error {
	text := msg
	if key != "" {
		text = key + ": " + msg
	}
	return &reason.Error{
		Code:   CodeRecipesInvalid,
		Kind:   reason.KindPermanent,
		Msg:    fmt.Sprintf("%s: %s", source, text),
		Fields: map[string]any{"config_path": source, "key": key},
	}
}

// Validate checks the structure the planner relies on. The error names the
// first offending key (e.g. "model_families.sdxl.presets.sdxl_fast.steps").
func (r *Recipes) Validate() error {
	src := r.Source
	if r.Version != 1 {
		return recipeErr(src, "version", fmt.Sprintf("must be 1, got %d", r.Version))
	}
	d := r.Defaults
	switch {
	case d.StepsMin == nil:
		return recipeErr(src, "defaults.steps_min", "missing number")
	case d.StepsMax == nil:
		return recipeErr(src, "defaults.steps_max", "missing number")
	case *d.StepsMin < 1 || *d.StepsMax < *d.StepsMin:
		return recipeErr(src, "defaults.steps_max", fmt.Sprintf("steps range %d..%d invalid", *d.StepsMin, *d.StepsMax))
	case d.CFGMin == nil:
		return recipeErr(src, "defaults.cfg_min", "missing number")
	case d.CFGMax == nil:
		return recipeErr(src, "defaults.cfg_max", "missing number")
	case *d.CFGMin <= 0 || *d.CFGMax < *d.CFGMin:
		return recipeErr(src, "defaults.cfg_max", fmt.Sprintf("cfg range %g..%g invalid", *d.CFGMin, *d.CFGMax))
	case !validSize(d.SizeDefault):
		return recipeErr(src, "defaults.size_default", "must be [width, height] with positive integers")
	case d.SizeGrid == nil || *d.SizeGrid < 1:
		return recipeErr(src, "defaults.size_grid", "missing or not a positive integer")
	}
	for _, fam := range requiredFamilies {
		f, ok := r.ModelFamilies[fam]
		key := "model_families." + fam
		if !ok {
			return recipeErr(src, key, "missing family")
		}
		if len(f.Presets) == 0 {
			return recipeErr(src, key+".presets", "missing or empty")
		}
		if _, ok := f.Presets[f.DefaultPreset]; !ok {
			return recipeErr(src, key+".default_preset", fmt.Sprintf("%q is not a preset", f.DefaultPreset))
		}
		if f.SamplerCompatMap == nil {
			return recipeErr(src, key+".sampler_compat_map", "missing object")
		}
		for _, id := range sortedKeys(f.Presets) {
			p := f.Presets[id]
			pk := key + ".presets." + id
			switch {
			case strings.TrimSpace(p.Sampler) == "":
				return recipeErr(src, pk+".sampler", "missing")
			case p.Steps == nil || *p.Steps < 1:
				return recipeErr(src, pk+".steps", "missing or not positive")
			case p.CFG == nil || *p.CFG <= 0:
				return recipeErr(src, pk+".cfg", "missing or not positive")
			case !validSize(p.Size):
				return recipeErr(src, pk+".size", "must be [width, height]")
			case p.NegativeDefault == nil:
				return recipeErr(src, pk+".negative_default", "missing (use \"\" for none)")
			}
			if nd := *p.NegativeDefault; nd != "" {
				if _, ok := r.Negatives[nd]; !ok {
					return recipeErr(src, pk+".negative_default", fmt.Sprintf("%q is not a key of negatives", nd))
				}
			}
		}
	}
	if r.Negatives == nil {
		return recipeErr(src, "negatives", "missing object")
	}
	if r.Recipes == nil {
		return recipeErr(src, "recipes", "missing object")
	}
	for _, goal := range RepairGoals {
		g, ok := r.Recipes[goal]
		if !ok {
			return recipeErr(src, "recipes."+goal, "missing goal")
		}
		for _, in := range RepairIntensity {
			s, ok := g[in]
			k := "recipes." + goal + "." + in
			if !ok {
				return recipeErr(src, k, "missing intensity")
			}
			if !contains(recipeModeHints, s.ModeHint) {
				return recipeErr(src, k+".mode_hint", fmt.Sprintf("%q not one of %s", s.ModeHint, strings.Join(recipeModeHints, ", ")))
			}
			if s.Variants < 1 || s.Variants > 8 {
				return recipeErr(src, k+".variants", fmt.Sprintf("must be 1..8, got %d", s.Variants))
			}
			if s.I2IDenoise != nil && (*s.I2IDenoise <= 0 || *s.I2IDenoise > 1) {
				return recipeErr(src, k+".i2i_denoise", "must be in (0, 1]")
			}
			if s.ModeHint == "i2i_if_image_else_t2i" && s.I2IDenoise == nil {
				return recipeErr(src, k+".i2i_denoise", "required for mode_hint i2i_if_image_else_t2i")
			}
			if s.SeedPolicy != "" && s.SeedPolicy != "new" && s.SeedPolicy != "keep" {
				return recipeErr(src, k+".seed_policy", fmt.Sprintf("%q not one of new, keep", s.SeedPolicy))
			}
		}
	}
	if r.TechFixes == nil {
		return recipeErr(src, "tech_fixes", "missing object")
	}
	for _, id := range RepairTechFixes {
		tf, ok := r.TechFixes[id]
		if !ok {
			return recipeErr(src, "tech_fixes."+id, "missing")
		}
		if tf.ForceNegativeKey != "" {
			if _, ok := r.Negatives[tf.ForceNegativeKey]; !ok {
				return recipeErr(src, "tech_fixes."+id+".force_negative_key", fmt.Sprintf("%q is not a key of negatives", tf.ForceNegativeKey))
			}
		}
	}
	return nil
}

func validSize(s []int) bool { return len(s) == 2 && s[0] > 0 && s[1] > 0 }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// RecipeInfo is one line of ListRecipes.
type RecipeInfo struct {
	ID         string   `json:"recipe_id"`
	Goal       string   `json:"goal"`
	Intensity  string   `json:"intensity"`
	ModeHint   string   `json:"mode_hint"`
	I2IDenoise *float64 `json:"i2i_denoise,omitempty"`
	Variants   int      `json:"variants"`
	SeedPolicy string   `json:"seed_policy,omitempty"`
}

// ListRecipes returns every goal.intensity recipe in a stable order (goals
// and intensities in their natural order, extra ones sorted after).
func (r *Recipes) ListRecipes() []RecipeInfo {
	var out []RecipeInfo
	for _, goal := range orderedKeys(r.Recipes, RepairGoals) {
		for _, in := range orderedKeys(r.Recipes[goal], RepairIntensity) {
			s := r.Recipes[goal][in]
			out = append(out, RecipeInfo{ID: goal + "." + in, Goal: goal, Intensity: in, ModeHint: s.ModeHint, I2IDenoise: s.I2IDenoise, Variants: s.Variants, SeedPolicy: s.SeedPolicy})
		}
	}
	return out
}

func orderedKeys[V any](m map[string]V, natural []string) []string {
	var out []string
	for _, k := range natural {
		if _, ok := m[k]; ok {
			out = append(out, k)
		}
	}
	for _, k := range sortedKeys(m) {
		if !contains(natural, k) {
			out = append(out, k)
		}
	}
	return out
}

// Recipe returns the spec for a recipe id "goal.intensity".
func (r *Recipes) Recipe(id string) (RecipeSpec, bool) {
	goal, in, ok := strings.Cut(id, ".")
	if !ok {
		return RecipeSpec{}, false
	}
	s, ok := r.Recipes[goal][in]
	return s, ok
}
