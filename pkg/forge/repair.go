package forge

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

// RepairOptions are the repair dialog's fields (spec 7.6). Empty fields take
// the defaults auto / repair / normal / none.
type RepairOptions struct {
	Source     string `json:"source"`
	Goal       string `json:"goal"`
	Intensity  string `json:"intensity"`
	TechFix    string `json:"tech_fix"`
	PromptEdit string `json:"prompt_edit,omitempty"`
}

// RepairInput is everything PlanRepair reads.
type RepairInput struct {
	Media    MediaInfo
	Prompt   *PromptRow
	Tags     []TagInput
	MetaSeed string
	Options  RepairOptions
}

// Normalized fills defaults and validates the options.
func (o RepairOptions) Normalized() (RepairOptions, error) {
	def := func(v, d string) string {
		if v = strings.TrimSpace(strings.ToLower(v)); v == "" {
			return d
		}
		return v
	}
	o.Source, o.Goal, o.Intensity, o.TechFix = def(o.Source, "auto"), def(o.Goal, "repair"), def(o.Intensity, "normal"), def(o.TechFix, "none")
	for _, c := range []struct {
		key, val string
		allowed  []string
	}{{"source", o.Source, RepairSources}, {"goal", o.Goal, RepairGoals}, {"intensity", o.Intensity, RepairIntensity}, {"tech_fix", o.TechFix, RepairTechFixes}} {
		if !contains(c.allowed, c.val) {
			return o, optionErr(c.key, c.val, c.allowed)
		}
	}
	o.PromptEdit = strings.TrimSpace(o.PromptEdit)
	if _, err := ApplyPromptEdit("x", o.PromptEdit); err != nil {
		return o, err
	}
	return o, nil
}

var replaceEdit = regexp.MustCompile(`(?is)^replace:\s*(.+?)\s*->\s*(.*)$`)

// ApplyPromptEdit applies a repair prompt edit: "replace: a -> b" replaces a
// with b case-insensitively, "+ text" appends text; "" leaves the prompt.
func ApplyPromptEdit(prompt, edit string) (string, error) {
	edit = strings.TrimSpace(edit)
	switch {
	case edit == "":
		return prompt, nil
	case strings.HasPrefix(edit, "+"):
		add := strings.TrimSpace(edit[1:])
		if add == "" {
			return prompt, nil
		}
		if strings.TrimSpace(prompt) == "" {
			return add, nil
		}
		return strings.TrimRight(strings.TrimSpace(prompt), ", ") + ", " + add, nil
	}
	if m := replaceEdit.FindStringSubmatch(edit); m != nil {
		re := regexp.MustCompile("(?i)" + regexp.QuoteMeta(m[1]))
		out := re.ReplaceAllLiteralString(prompt, m[2])
		return strings.Join(strings.Fields(out), " "), nil
	}
	e := reason.Newf(CodePromptEditInvalid, "prompt_edit %q: use \"replace: old -> new\" or \"+ text\"", edit)
	e.Fields = map[string]any{"option": "prompt_edit"}
	return "", e
}

// PlanRepair resolves a repair (goal × intensity recipe, source, tech fix,
// prompt edit) into a preview Request generating the recipe's variants.
func (pl Planner) PlanRepair(in RepairInput) (*Request, error) {
	if err := pl.checkMedia(in.Media); err != nil {
		return nil, err
	}
	o, err := in.Options.Normalized()
	if err != nil {
		return nil, err
	}
	recipeID := o.Goal + "." + o.Intensity
	spec, ok := pl.Recipes.Recipe(recipeID)
	if !ok {
		return nil, reason.Newf(CodeOptionInvalid, "recipe %s missing in %s", recipeID, pl.Recipes.Source)
	}
	row := in.Prompt
	if row == nil {
		row = &PromptRow{}
	}
	var deltas []string

	hasPrompt := strings.TrimSpace(row.Prompt) != "" && strings.TrimSpace(row.Model) != ""
	tagText := RepairTagPrompt(in.Tags)
	source := o.Source
	if source == "auto" || (source == "prompt" && !hasPrompt) || (source == "tags" && tagText == "") {
		switch {
		case (source == "auto" || source == "prompt") && hasPrompt:
			source = "prompt"
		case source != "minimal" && tagText != "":
			source = "tags"
		default:
			source = "minimal"
		}
		if o.Source != "auto" && source != o.Source {
			deltas = append(deltas, fmt.Sprintf("source %s->%s", o.Source, source))
		}
	}

	requested := row.Model
	res := ResolveModel(pl.Models, requested, pl.fallback())
	family := Family(res.Checkpoint, row.SourceMetadata)
	fam := pl.Recipes.ModelFamilies[family]
	presetID := fam.DefaultPreset
	if o.Intensity == "fast" {
		if _, ok := fam.Presets[family+"_fast"]; ok {
			presetID = family + "_fast"
		}
	}
	preset := fam.Presets[presetID]
	d := pl.Recipes.Defaults

	sampler, scheduler := preset.Sampler, ""
	steps, cfg := *preset.Steps, *preset.CFG
	if source == "prompt" {
		if row.Sampler != "" {
			sampler, scheduler = row.Sampler, row.Scheduler
		}
		if row.Steps != nil && *row.Steps > 0 {
			steps = *row.Steps
		}
		if row.CFGScale != nil && *row.CFGScale > 0 {
			cfg = *row.CFGScale
		}
	} else {
		deltas = append(deltas, "preset="+presetID)
	}
	if cs := clampInt(steps, *d.StepsMin, *d.StepsMax); cs != steps {
		deltas = append(deltas, fmt.Sprintf("steps %d->%d", steps, cs))
		steps = cs
	}
	if cc := clampFloat(cfg, *d.CFGMin, *d.CFGMax); cc != cfg {
		deltas = append(deltas, fmt.Sprintf("cfg %g->%g", cfg, cc))
		cfg = cc
	}
	w, h := GenSize(in.Media.Width, in.Media.Height, preset.Size)

	var prompt string
	switch source {
	case "prompt":
		prompt = strings.TrimSpace(row.Prompt)
	case "tags":
		prompt = tagText
	default:
		prompt = MinimalPrompt
	}
	if prompt, err = ApplyPromptEdit(prompt, o.PromptEdit); err != nil {
		return nil, err
	}
	if o.PromptEdit != "" {
		deltas = append(deltas, "prompt_edit")
	}
	if strings.TrimSpace(prompt) == "" {
		return nil, reason.New(CodePromptMissing, "repair prompt is empty after prompt_edit")
	}

	neg := Negative{Source: "empty", Mode: "empty"}
	if source == "prompt" && strings.TrimSpace(row.NegativePrompt) != "" {
		neg = Negative{Text: strings.TrimSpace(row.NegativePrompt), Source: "stored", Mode: "stored"}
	}
	if neg.Text == "" && family == "sdxl" && (o.Intensity != "fast" || o.TechFix == "universal_negative") {
		key := "universal_sdxl"
		if preset.NegativeDefault != nil && *preset.NegativeDefault != "" {
			key = *preset.NegativeDefault
		}
		if t := pl.Recipes.Negatives[key]; t != "" {
			neg = Negative{Text: t, Source: "fallback", Mode: "recipe_" + key}
		}
	}

	tf := pl.Recipes.TechFixes[o.TechFix]
	if tf.ApplySamplerMap {
		if m, ok := fam.SamplerCompatMap[sampler]; ok && m != sampler {
			deltas = append(deltas, fmt.Sprintf("sampler %s->%s", sampler, m))
			sampler = m
		}
	}
	if tf.ForceSteps != nil && *tf.ForceSteps != steps {
		deltas = append(deltas, fmt.Sprintf("steps %d->%d", steps, *tf.ForceSteps))
		steps = *tf.ForceSteps
	}
	if tf.ForceCFG != nil && *tf.ForceCFG != cfg {
		deltas = append(deltas, fmt.Sprintf("cfg %g->%g", cfg, *tf.ForceCFG))
		cfg = *tf.ForceCFG
	}
	if tf.ForceSampler != "" && tf.ForceSampler != sampler {
		deltas = append(deltas, fmt.Sprintf("sampler %s->%s", sampler, tf.ForceSampler))
		sampler, scheduler = tf.ForceSampler, ""
	}
	if tf.ForceNegativeKey != "" {
		if t := pl.Recipes.Negatives[tf.ForceNegativeKey]; t != "" && t != neg.Text {
			neg = Negative{Text: t, Source: "fallback", Mode: "recipe_" + tf.ForceNegativeKey}
			deltas = append(deltas, "negative="+tf.ForceNegativeKey)
		}
	}
	if tf.ForceSizeDefault {
		nw, nh := gridSize(in.Media.Width, in.Media.Height, d.SizeDefault, *d.SizeGrid)
		if nw != w || nh != h {
			deltas = append(deltas, fmt.Sprintf("size %dx%d->%dx%d", w, h, nw, nh))
			w, h = nw, nh
		}
	}
	sampler, scheduler = NormalizeSampler(fam, sampler, scheduler, false)

	seedPolicy := spec.SeedPolicy
	if seedPolicy == "" {
		seedPolicy = "keep"
	}
	seed, seedSrc, gen := pl.resolveSeed(nil, row.Seed, in.MetaSeed, seedPolicy == "new")

	var dec ModeDecision
	why := Img2ImgUnsuitable(in.Media)
	switch {
	case spec.ModeHint == "i2i_if_image_else_t2i" && why == "":
		dn := round2(*spec.I2IDenoise)
		dec = ModeDecision{Mode: Img2Img, Reason: "recipe_" + recipeID, Denoise: &dn}
	case spec.ModeHint == "i2i_if_image_else_t2i":
		dec = ModeDecision{Mode: Txt2Img, Reason: "img2img_unsuitable_" + why}
	default:
		dec = ModeDecision{Mode: Txt2Img, Reason: "recipe_" + recipeID}
	}

	p := Payload{
		Prompt: prompt, NegativePrompt: neg.Text, Seed: seed,
		SamplerName: sampler, Scheduler: scheduler, Steps: steps, CFGScale: round2(cfg),
		Width: w, Height: h, BatchSize: spec.Variants, NIter: 1, SendImages: true,
	}
	req := &Request{
		MediaID: in.Media.ID, Mode: OutputPreview, JobLabel: "Repair",
		Generation: dec.Mode, Model: res, Chain: SamplerChain(sampler, scheduler),
	}
	if source == "prompt" {
		req.PromptID = row.ID
	}
	pl.finish(req, &p, dec, in.Media)
	req.Payload = p
	req.Plan = PlanInfo{
		Category: "repair", FinalPrompt: prompt, OriginalPrompt: row.Prompt,
		PromptSource: repairPromptSource(source), PromptMissing: strings.TrimSpace(row.Prompt) == "",
		TagPromptUsed: source == "tags", TagFragment: tagText, TagsUsedCount: min(len(in.Tags), MaxPromptTags),
		NoHumans: HasNoHumans(in.Tags), QualityIssues: []string{},
		NegativeSource: neg.Source, NegativeMode: neg.Mode, NegativeLen: len([]rune(neg.Text)),
		SeedSource: seedSrc, SeedGenerated: gen,
		OrigWidth: in.Media.Width, OrigHeight: in.Media.Height, OrigExt: in.Media.Ext(),
		DecidedMode: dec.Mode, DecidedReason: dec.Reason, DecidedDenoise: dec.Denoise, Family: family,
	}
	req.Repair = &RepairMeta{
		RecipeID: recipeID, SourceUsed: source, Goal: o.Goal, Intensity: o.Intensity, TechFix: o.TechFix,
		PromptEdit: o.PromptEdit, AppliedDeltas: strings.Join(deltas, "; "), SeedPolicy: seedPolicy, Variants: spec.Variants,
	}
	return req, nil
}

func repairPromptSource(source string) string {
	switch source {
	case "prompt":
		return PromptStored
	case "tags":
		return PromptTags
	}
	return PromptRecipe
}
