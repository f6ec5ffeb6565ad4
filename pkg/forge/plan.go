package forge

import (
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

// Planning reason codes.
const (
	CodePromptMissing     = "forge_prompt_missing"
	CodeMediaNotImage     = "forge_media_not_image"
	CodeOptionInvalid     = "forge_option_invalid"
	CodePromptEditInvalid = "forge_prompt_edit_invalid"
)

// Output modes of a Forge job.
const (
	OutputPreview = "preview"
	OutputReplace = "replace"
)

// Recreate strategies of the regen form (_sv_recreate_strategy).
const (
	StrategyAuto       = ""
	StrategyPromptOnly = "prompt_only"
	StrategyImg2Img    = "img2img"
	StrategyTags       = "tags"
	StrategyHybrid     = "hybrid"
)

// Prompt sources.
const (
	PromptManual = "manual"
	PromptStored = "stored_prompt"
	PromptTags   = "tags_prompt"
	PromptHybrid = "hybrid"
	PromptRecipe = "minimal"
)

// Defaults of regeneration planning (original values).
const (
	FallbackNegative = "low quality, blurry, watermark, jpeg artifacts, extra limbs"
	DefaultCFG       = 7.0
	DefaultSteps     = 30
	DefaultDenoise   = 0.25
	MinimalPrompt    = "high quality, detailed"
	// MaxGenSide bounds the generated size: a 6000 px photo is not
	// regenerated at 6000 px (minutes of VRAM), the output is generated
	// within this box at the original aspect and scaled back by the worker.
	MaxGenSide = 1536
	// sizeAlign is what A1111 needs width and height to be multiples of.
	sizeAlign = 8
)

// MediaInfo is the media row as the planner needs it.
type MediaInfo struct {
	ID       int64  `json:"id"`
	Path     string `json:"path"`
	Type     string `json:"type"`
	Width    int    `json:"width"`
	Height   int    `json:"height"`
	Filesize int64  `json:"filesize"`
	// Exists is true when the file is present and readable.
	Exists bool `json:"exists"`
}

// Ext is the lower-case extension without dot.
func (m MediaInfo) Ext() string {
	return strings.TrimPrefix(strings.ToLower(filepath.Ext(m.Path)), ".")
}

// PromptRow is the media's current prompts row (MAX(id)); nil pointers and
// empty strings are NULL columns.
type PromptRow struct {
	ID              int64    `json:"id"`
	Prompt          string   `json:"prompt"`
	NegativePrompt  string   `json:"negative_prompt"`
	Model           string   `json:"model"`
	Sampler         string   `json:"sampler"`
	Scheduler       string   `json:"scheduler"`
	CFGScale        *float64 `json:"cfg_scale"`
	Steps           *int     `json:"steps"`
	Seed            string   `json:"seed"`
	Width           *int     `json:"width"`
	Height          *int     `json:"height"`
	SourceMetadata  string   `json:"source_metadata"`
	SamplerSettings string   `json:"sampler_settings"`
	Loras           string   `json:"loras"`
}

// Overrides are the regen form's fields (spec 7.5), including the strategy
// radio and force-txt2img that the original dropped (defect 31).
type Overrides struct {
	Mode           string   `json:"mode,omitempty"` // preview|replace, default preview
	ManualPrompt   *string  `json:"manual_prompt,omitempty"`
	ManualNegative *string  `json:"manual_negative,omitempty"` // non-nil = set, may be ""
	UseHybrid      bool     `json:"use_hybrid,omitempty"`
	AllowEmptyNeg  bool     `json:"negative_allow_empty,omitempty"`
	Seed           *int64   `json:"seed,omitempty"`
	Steps          *int     `json:"steps,omitempty"`
	CFG            *float64 `json:"cfg_scale,omitempty"`
	Denoise        *float64 `json:"denoise,omitempty"`
	Sampler        string   `json:"sampler,omitempty"`
	Scheduler      string   `json:"scheduler,omitempty"`
	Model          string   `json:"model,omitempty"`
	Strategy       string   `json:"strategy,omitempty"`
	ForceTxt2Img   bool     `json:"force_txt2img,omitempty"`
	// NewSeed draws a fresh random seed instead of reusing the stored one
	// (the form's seed policy "new"); an explicit Seed still wins.
	NewSeed bool `json:"new_seed,omitempty"`
	// Variants is how many images to generate (1..8, default 1).
	Variants int `json:"variants,omitempty"`
}

// Planner turns media facts into Requests. Recipes and Rand are required;
// Models is the (possibly empty) cached model list.
type Planner struct {
	Recipes       *Recipes
	Models        []Model
	FallbackModel string
	// Rand returns a uniform integer in [0, n); inject a seeded source in
	// tests.
	Rand func(n int64) int64
}

// InitImageRef points at the img2img source; the bytes are read when the
// job runs, so no base64 is ever stored (defect 30).
type InitImageRef struct {
	Path     string `json:"path"`
	Width    int    `json:"width"`
	Height   int    `json:"height"`
	Filesize int64  `json:"filesize"`
}

// PlanInfo is the bookkeeping of a plan (the original's _sv_regen_plan),
// kept beside the payload instead of inside it.
type PlanInfo struct {
	Category       string   `json:"category"`
	FinalPrompt    string   `json:"final_prompt"`
	OriginalPrompt string   `json:"original_prompt"`
	PromptSource   string   `json:"prompt_source"`
	PromptMissing  bool     `json:"prompt_missing"`
	FallbackUsed   bool     `json:"fallback_used"`
	TagPromptUsed  bool     `json:"tag_prompt_used"`
	TagFragment    string   `json:"tag_fragment"`
	TagsUsedCount  int      `json:"tags_used_count"`
	TagsLimited    bool     `json:"tags_limited"`
	NoHumans       bool     `json:"no_humans"`
	QualityScore   int      `json:"quality_score"`
	QualityGrade   string   `json:"quality_grade"`
	QualityIssues  []string `json:"quality_issues"`
	NegativeSource string   `json:"negative_source"`
	NegativeMode   string   `json:"negative_mode"`
	NegativeLen    int      `json:"negative_len"`
	SeedSource     string   `json:"seed_source"`
	SeedGenerated  bool     `json:"seed_generated"`
	OrigWidth      int      `json:"orig_width"`
	OrigHeight     int      `json:"orig_height"`
	OrigExt        string   `json:"orig_ext"`
	Strategy       string   `json:"strategy"`
	ForceTxt2Img   bool     `json:"force_txt2img"`
	UseHybrid      bool     `json:"use_hybrid"`
	AllowEmptyNeg  bool     `json:"allow_empty_neg"`
	ManualPrompt   bool     `json:"manual_prompt"`
	ManualNegative bool     `json:"manual_negative"`
	DecidedMode    GenMode  `json:"decided_mode"`
	DecidedReason  string   `json:"decided_reason"`
	DecidedDenoise *float64 `json:"decided_denoise,omitempty"`
	Family         string   `json:"model_family"`
}

// RepairMeta describes a resolved repair (the original's _sv_repair_meta).
type RepairMeta struct {
	RecipeID      string `json:"recipe_id"`
	SourceUsed    string `json:"source_used"`
	Goal          string `json:"goal"`
	Intensity     string `json:"intensity"`
	TechFix       string `json:"tech_fix"`
	PromptEdit    string `json:"prompt_edit,omitempty"`
	AppliedDeltas string `json:"applied_deltas"`
	SeedPolicy    string `json:"seed_policy"`
	Variants      int    `json:"variants"`
}

// Request is a planned Forge job: what the job handler stores as the job
// payload and executes. Payload is exactly the A1111 body (init image
// attached at send time from InitImage).
type Request struct {
	MediaID    int64           `json:"media_id"`
	PromptID   int64           `json:"prompt_id,omitempty"`
	Mode       string          `json:"mode"`
	JobLabel   string          `json:"job_label"`
	Generation GenMode         `json:"generation_mode"`
	Payload    Payload         `json:"payload"`
	InitImage  *InitImageRef   `json:"init_image,omitempty"`
	Model      ModelResolution `json:"model"`
	Chain      []Attempt       `json:"sampler_chain"`
	Plan       PlanInfo        `json:"plan"`
	Repair     *RepairMeta     `json:"repair,omitempty"`
}

// RegenInput is everything PlanRegen reads.
type RegenInput struct {
	Media  MediaInfo
	Prompt *PromptRow
	Tags   []TagInput
	// MetaSeed is media_meta "seed" (may be empty).
	MetaSeed  string
	Overrides Overrides
}

func (pl Planner) checkMedia(m MediaInfo) error {
	if m.Type != "" && m.Type != "image" {
		return reason.Newf(CodeMediaNotImage, "only image media can be regenerated (media %d is %s)", m.ID, m.Type)
	}
	return nil
}

func validOutputMode(m string) (string, error) {
	switch m {
	case "", OutputPreview:
		return OutputPreview, nil
	case OutputReplace:
		return OutputReplace, nil
	}
	return "", optionErr("mode", m, []string{OutputPreview, OutputReplace})
}

func optionErr(key, val string, allowed []string) error {
	e := reason.Newf(CodeOptionInvalid, "%s %q not one of %s", key, val, strings.Join(allowed, ", "))
	e.Fields = map[string]any{"option": key, "value": val}
	return e
}

// Family returns "flux" when the model or the prompt's source metadata
// mentions flux, else "sdxl".
func Family(model, sourceMetadata string) string {
	if strings.Contains(strings.ToLower(model), "flux") || strings.Contains(strings.ToLower(sourceMetadata), "flux") {
		return "flux"
	}
	return "sdxl"
}

// PlanRegen plans a regeneration (spec 7.5) with the form's overrides.
func (pl Planner) PlanRegen(in RegenInput) (*Request, error) {
	if err := pl.checkMedia(in.Media); err != nil {
		return nil, err
	}
	ov := in.Overrides
	mode, err := validOutputMode(ov.Mode)
	if err != nil {
		return nil, err
	}
	switch ov.Strategy {
	case StrategyAuto, StrategyPromptOnly, StrategyImg2Img, StrategyTags, StrategyHybrid:
	default:
		return nil, optionErr("strategy", ov.Strategy, []string{StrategyPromptOnly, StrategyImg2Img, StrategyTags, StrategyHybrid})
	}
	row := in.Prompt
	if row == nil {
		row = &PromptRow{}
	}
	pp, err := PlanPrompt(PromptInput{
		Stored:       row.Prompt,
		HasSize:      row.Width != nil && row.Height != nil,
		Manual:       ov.ManualPrompt,
		Tags:         in.Tags,
		Strategy:     ov.Strategy,
		UseHybrid:    ov.UseHybrid || ov.Strategy == StrategyHybrid,
		ManualIsUsed: ov.ManualPrompt != nil && strings.TrimSpace(*ov.ManualPrompt) != "",
	})
	if err != nil {
		return nil, err
	}

	requested := firstNonEmpty(ov.Model, row.Model)
	res := ResolveModel(pl.Models, requested, pl.fallback())
	family := Family(res.Checkpoint, row.SourceMetadata)
	fam := pl.Recipes.ModelFamilies[family]

	neg := ResolveNegative(NegativeInput{Manual: ov.ManualNegative, Stored: row.NegativePrompt, Family: family, AllowEmpty: ov.AllowEmptyNeg})

	seed, seedSrc, gen := pl.resolveSeed(ov.Seed, row.Seed, in.MetaSeed, ov.NewSeed)

	sampler, scheduler := ov.Sampler, ov.Scheduler
	if sampler == "" {
		sampler, scheduler = row.Sampler, firstNonEmpty(ov.Scheduler, row.Scheduler)
		if sampler == "" {
			sampler = fam.Presets[fam.DefaultPreset].Sampler
		}
		sampler, scheduler = NormalizeSampler(fam, sampler, scheduler, true)
	} else {
		sampler, scheduler = NormalizeSampler(fam, sampler, scheduler, false)
	}

	steps := DefaultSteps
	if ov.Steps != nil {
		steps = *ov.Steps
	} else if row.Steps != nil && *row.Steps > 0 {
		steps = *row.Steps
	}
	steps = clampInt(steps, 1, 150)
	cfg := DefaultCFG
	if ov.CFG != nil {
		cfg = *ov.CFG
	} else if row.CFGScale != nil && *row.CFGScale > 0 {
		cfg = *row.CFGScale
	}
	cfg = clampFloat(cfg, 1, 30)

	w, h := GenSize(in.Media.Width, in.Media.Height, pl.Recipes.Defaults.SizeDefault)

	dec := DecideMode(ModeInput{
		Strategy:      ov.Strategy,
		ForceTxt2Img:  ov.ForceTxt2Img,
		Media:         in.Media,
		PromptMissing: pp.PromptMissing,
		Grade:         pp.Quality.Grade,
		FallbackUsed:  pp.FallbackUsed,
		CoreMissing:   coreFieldsMissing(row, ov, in.MetaSeed),
		Denoise:       ov.Denoise,
	})

	variants := ov.Variants
	if variants < 1 {
		variants = 1
	}
	if variants > 8 {
		return nil, reason.Newf(CodeOptionInvalid, "variants must be 1..8, got %d", variants)
	}

	p := Payload{
		Prompt: pp.Final, NegativePrompt: neg.Text, Seed: seed,
		SamplerName: sampler, Scheduler: scheduler, Steps: steps, CFGScale: round2(cfg),
		Width: w, Height: h, BatchSize: variants, NIter: 1,
		SendImages: true,
	}
	req := &Request{
		MediaID: in.Media.ID, PromptID: row.ID, Mode: mode, JobLabel: "Regen",
		Generation: dec.Mode, Model: res, Chain: SamplerChain(sampler, scheduler),
	}
	pl.finish(req, &p, dec, in.Media)
	req.Payload = p
	req.Plan = PlanInfo{
		Category: categoryOf(pp), FinalPrompt: pp.Final, OriginalPrompt: row.Prompt,
		PromptSource: pp.Source, PromptMissing: pp.PromptMissing, FallbackUsed: pp.FallbackUsed,
		TagPromptUsed: pp.TagPromptUsed, TagFragment: pp.Tags.Text, TagsUsedCount: pp.Tags.TagsUsed,
		TagsLimited: pp.Tags.TagsLimited, NoHumans: pp.Tags.NoHumans,
		QualityScore: pp.Quality.Score, QualityGrade: pp.Quality.Grade, QualityIssues: pp.Quality.Issues,
		NegativeSource: neg.Source, NegativeMode: neg.Mode, NegativeLen: len([]rune(neg.Text)),
		SeedSource: seedSrc, SeedGenerated: gen,
		OrigWidth: in.Media.Width, OrigHeight: in.Media.Height, OrigExt: in.Media.Ext(),
		Strategy: ov.Strategy, ForceTxt2Img: ov.ForceTxt2Img, UseHybrid: ov.UseHybrid || ov.Strategy == StrategyHybrid,
		AllowEmptyNeg: ov.AllowEmptyNeg, ManualPrompt: ov.ManualPrompt != nil, ManualNegative: ov.ManualNegative != nil,
		DecidedMode: dec.Mode, DecidedReason: dec.Reason, DecidedDenoise: dec.Denoise, Family: family,
	}
	return req, nil
}

// finish applies the mode decision to the payload.
func (pl Planner) finish(req *Request, p *Payload, dec ModeDecision, m MediaInfo) {
	if dec.Mode == Img2Img {
		d := *dec.Denoise
		p.DenoisingStrength = &d
		zero := 0
		p.ResizeMode = &zero
		req.InitImage = &InitImageRef{Path: m.Path, Width: m.Width, Height: m.Height, Filesize: m.Filesize}
	}
}

func categoryOf(pp PromptPlan) string {
	switch {
	case pp.FallbackUsed:
		return "fallback"
	case pp.Source == PromptTags:
		return "tags"
	case pp.Source == PromptHybrid:
		return "hybrid"
	case pp.Source == PromptManual:
		return "manual"
	default:
		return "stored"
	}
}

func (pl Planner) fallback() string {
	if pl.FallbackModel != "" {
		return pl.FallbackModel
	}
	return InternalModelFallbackDefault
}

// coreFieldsMissing reports whether the generation parameters of the image
// are unknown (neither stored nor given by the user), in which case txt2img
// cannot reproduce it and img2img is the better guess. A scheduler folded
// into an old sampler name ("DPM++ 2M Karras") counts as known.
func coreFieldsMissing(r *PromptRow, ov Overrides, metaSeed string) bool {
	has := func(ovr, stored string) bool { return strings.TrimSpace(ovr) != "" || strings.TrimSpace(stored) != "" }
	prompt := (ov.ManualPrompt != nil && strings.TrimSpace(*ov.ManualPrompt) != "") || strings.TrimSpace(r.Prompt) != ""
	sampler := firstNonEmpty(ov.Sampler, r.Sampler)
	_, foldedSched := NormalizeSampler(ModelFamily{}, sampler, "", false)
	scheduler := has(ov.Scheduler, r.Scheduler) || foldedSched != ""
	steps := ov.Steps != nil || r.Steps != nil
	seed := ov.Seed != nil || has(r.Seed, metaSeed)
	size := r.Width != nil && r.Height != nil
	return !(prompt && has(ov.Model, r.Model) && sampler != "" && scheduler && steps && seed && size)
}

// PromptInput is the input of PlanPrompt.
type PromptInput struct {
	Stored       string
	HasSize      bool
	Manual       *string
	ManualIsUsed bool
	Tags         []TagInput
	Strategy     string
	UseHybrid    bool
}

// PromptPlan is the chosen prompt and why.
type PromptPlan struct {
	Final         string
	Source        string
	Quality       Quality
	Tags          TagPrompt
	FallbackUsed  bool
	TagPromptUsed bool
	PromptMissing bool
}

// PlanPrompt chooses the final prompt: manual > stored; a grade-C stored
// prompt (without a manual one) becomes "Detailed reconstruction, <tags>";
// hybrid appends the tag prompt; strategy "tags" uses the tag prompt alone,
// "prompt_only" the stored prompt as it is; an empty prompt falls back to the
// tag prompt; nothing at all is forge_prompt_missing.
func PlanPrompt(in PromptInput) (PromptPlan, error) {
	tp := BuildTagPrompt(in.Tags)
	confSum := 0.0
	for _, t := range in.Tags {
		if t.Confidence > 0 {
			confSum += t.Confidence
		}
	}
	stored := strings.TrimSpace(in.Stored)
	pp := PromptPlan{Tags: tp, Quality: AnalyzePromptQuality(stored, in.HasSize, confSum)}
	base, src := stored, PromptStored
	if in.ManualIsUsed {
		base, src = strings.TrimSpace(*in.Manual), PromptManual
	}
	pp.PromptMissing = base == ""
	switch {
	case in.Strategy == StrategyTags:
		base, src = tp.Text, PromptTags
		pp.TagPromptUsed = tp.Text != ""
	case base == "":
		base, src = tp.Text, PromptTags
		pp.TagPromptUsed = tp.Text != ""
	case in.UseHybrid && tp.Text != "":
		base, src = base+", "+tp.Text, PromptHybrid
		pp.TagPromptUsed = true
	case src == PromptStored && in.Strategy != StrategyPromptOnly && pp.Quality.Grade == GradeC && tp.Text != "":
		base, src = "Detailed reconstruction, "+tp.Text, PromptTags
		pp.FallbackUsed, pp.TagPromptUsed = true, true
	}
	if strings.TrimSpace(base) == "" {
		return pp, reason.New(CodePromptMissing, "no prompt stored and no tags available")
	}
	pp.Final, pp.Source = base, src
	return pp, nil
}

// NegativeInput is the input of ResolveNegative.
type NegativeInput struct {
	Manual     *string
	Stored     string
	Family     string
	AllowEmpty bool
}

// Negative is a resolved negative prompt.
type Negative struct {
	Text   string `json:"text"`
	Source string `json:"source"` // manual|stored|empty|fallback
	Mode   string `json:"mode"`   // manual|manual_empty|stored|empty_flux|empty_allowed|fallback
}

// ResolveNegative picks the negative prompt: manual (even empty) > stored >
// empty for Flux (it ignores negatives) > empty when allowed > fallback.
func ResolveNegative(in NegativeInput) Negative {
	if in.Manual != nil {
		t := strings.TrimSpace(*in.Manual)
		if t == "" {
			return Negative{Source: "manual", Mode: "manual_empty"}
		}
		return Negative{Text: t, Source: "manual", Mode: "manual"}
	}
	if t := strings.TrimSpace(in.Stored); t != "" {
		return Negative{Text: t, Source: "stored", Mode: "stored"}
	}
	if in.Family == "flux" {
		return Negative{Source: "empty", Mode: "empty_flux"}
	}
	if in.AllowEmpty {
		return Negative{Source: "empty", Mode: "empty_allowed"}
	}
	return Negative{Text: FallbackNegative, Source: "fallback", Mode: "fallback"}
}

// ModeInput is the input of DecideMode.
type ModeInput struct {
	Strategy      string
	ForceTxt2Img  bool
	Media         MediaInfo
	PromptMissing bool
	Grade         string
	FallbackUsed  bool
	CoreMissing   bool
	Denoise       *float64
}

// ModeDecision is txt2img or img2img with a reason and, for img2img, the
// denoising strength.
type ModeDecision struct {
	Mode    GenMode
	Reason  string
	Denoise *float64
}

// Img2ImgUnsuitable returns why a media file cannot serve as an init image,
// or "" when it can (missing file, unknown size, < 8 KB, ≤ 32 px, aspect
// ratio above 10).
func Img2ImgUnsuitable(m MediaInfo) string {
	switch {
	case !m.Exists || m.Path == "":
		return "source_missing"
	case m.Width <= 0 || m.Height <= 0:
		return "source_size_unknown"
	case m.Filesize > 0 && m.Filesize < 8*1024:
		return "source_too_small_bytes"
	case m.Width <= 32 || m.Height <= 32:
		return "source_too_small_pixels"
	case float64(max(m.Width, m.Height))/float64(min(m.Width, m.Height)) > 10:
		return "source_aspect_extreme"
	}
	return ""
}

// DecideMode chooses txt2img or img2img. The user's choices win: strategy
// prompt_only/tags and force-txt2img give txt2img, strategy img2img gives
// img2img (when the source is usable). Otherwise a missing or poor prompt or
// missing core fields give img2img (the image carries what the prompt
// lacks), a good prompt gives txt2img.
func DecideMode(in ModeInput) ModeDecision {
	t2i := func(r string) ModeDecision { return ModeDecision{Mode: Txt2Img, Reason: r} }
	switch {
	case in.ForceTxt2Img:
		return t2i("force_txt2img")
	case in.Strategy == StrategyPromptOnly || in.Strategy == StrategyTags:
		return t2i("strategy_" + in.Strategy)
	}
	if why := Img2ImgUnsuitable(in.Media); why != "" {
		return t2i("img2img_unsuitable_" + why)
	}
	d := DefaultDenoise
	if in.Denoise != nil {
		d = clampFloat(*in.Denoise, 0.01, 1)
	}
	i2i := func(r string) ModeDecision {
		dd := round2(d)
		return ModeDecision{Mode: Img2Img, Reason: r, Denoise: &dd}
	}
	switch {
	case in.Strategy == StrategyImg2Img:
		return i2i("strategy_img2img")
	case in.PromptMissing:
		return i2i("prompt_missing")
	case in.Grade == GradeC:
		return i2i("prompt_grade_c")
	case in.CoreMissing:
		return i2i("core_fields_missing")
	case (in.Grade == GradeA || in.Grade == GradeB) && !in.FallbackUsed:
		return t2i("prompt_grade_" + strings.ToLower(in.Grade))
	}
	return i2i("default_img2img")
}

// resolveSeed applies the seed policy: override > stored > meta seed >
// generated (1,000,000..9,999,999,999, as the original). newSeed (recipe
// seed_policy "new") always draws 1..2147483647.
func (pl Planner) resolveSeed(override *int64, stored, meta string, newSeed bool) (int64, string, bool) {
	if override != nil && *override >= 0 {
		return *override, "override", false
	}
	if newSeed {
		return 1 + pl.Rand(2147483647), "new", true
	}
	for _, c := range []struct{ s, src string }{{stored, "stored"}, {meta, "meta"}} {
		if v, err := strconv.ParseInt(strings.TrimSpace(c.s), 10, 64); err == nil && v >= 0 {
			return v, c.src, false
		}
	}
	return 1_000_000 + pl.Rand(9_999_999_999-1_000_000+1), "generated", true
}

// schedulerSuffixes are the A1111 scheduler labels that old sampler names
// carry as a suffix ("DPM++ 2M Karras").
var schedulerSuffixes = []string{"SGM Uniform", "KL Optimal", "Align Your Steps", "Polyexponential", "Exponential", "Karras", "Uniform", "Simple", "Normal", "Beta", "DDIM", "Automatic"}

// NormalizeSampler maps a sampler through the family's compat map (when
// applyMap) and splits an old combined name ("DPM++ 2M Karras") into
// sampler_name and scheduler as A1111 ≥ 1.9 and Forge expect.
func NormalizeSampler(fam ModelFamily, sampler, scheduler string, applyMap bool) (string, string) {
	s := strings.TrimSpace(sampler)
	if applyMap {
		if m, ok := fam.SamplerCompatMap[s]; ok {
			s = m
		}
	}
	sch := strings.TrimSpace(scheduler)
	for _, suf := range schedulerSuffixes {
		if len(s) > len(suf)+1 && strings.EqualFold(s[len(s)-len(suf):], suf) && s[len(s)-len(suf)-1] == ' ' {
			base := strings.TrimSpace(s[:len(s)-len(suf)])
			// "DDIM" is also a sampler name; only split when a base remains.
			if base != "" {
				s = base
				if sch == "" {
					sch = suf
				}
			}
			break
		}
	}
	return s, sch
}

// ResolveSampler checks a sampler/scheduler pair against the server's lists
// and returns the canonical names. Sampler names and aliases match
// case-insensitively; schedulers by name, label or alias. Against a server
// without /schedulers (A1111 < 1.9) a scheduler is folded into a combined
// sampler name when the server knows one ("DPM++ 2M Karras"), else dropped.
func ResolveSampler(samplers []Sampler, schedulers []Scheduler, sampler, scheduler string) (string, string, error) {
	find := func(n string) (string, bool) {
		for _, s := range samplers {
			if strings.EqualFold(s.Name, n) {
				return s.Name, true
			}
			for _, a := range s.Aliases {
				if strings.EqualFold(a, n) {
					return s.Name, true
				}
			}
		}
		return "", false
	}
	if len(schedulers) == 0 && scheduler != "" {
		if comb, ok := find(sampler + " " + scheduler); ok {
			return comb, "", nil
		}
	}
	name, ok := find(sampler)
	if !ok {
		e := reason.Newf(CodeSamplerUnknown, "sampler %q is not offered by the server", sampler)
		e.Fields = map[string]any{"sampler_name": sampler}
		return "", "", e
	}
	if scheduler == "" || len(schedulers) == 0 {
		return name, "", nil
	}
	for _, s := range schedulers {
		if strings.EqualFold(s.Name, scheduler) || strings.EqualFold(s.Label, scheduler) {
			return name, s.Label, nil
		}
		for _, a := range s.Aliases {
			if strings.EqualFold(a, scheduler) {
				return name, s.Label, nil
			}
		}
	}
	e := reason.Newf(CodeSchedulerUnknown, "scheduler %q is not offered by the server", scheduler)
	e.Fields = map[string]any{"scheduler": scheduler}
	return "", "", e
}

// FilterChain keeps the attempts the server can run, normalised through
// ResolveSampler; when nothing survives the original chain is returned so
// the server's own error is reported.
func FilterChain(chain []Attempt, samplers []Sampler, schedulers []Scheduler) []Attempt {
	var out []Attempt
	for _, a := range chain {
		s, sch, err := ResolveSampler(samplers, schedulers, a.Sampler, a.Scheduler)
		if err == nil {
			out = append(out, Attempt{Sampler: s, Scheduler: sch})
		}
	}
	if len(out) == 0 {
		return chain
	}
	return out
}

// GenSize is the generation size for a source of w×h: the original size
// when it fits MaxGenSide, else scaled down at the same aspect; multiples of
// 8. Unknown sizes use def.
func GenSize(w, h int, def []int) (int, int) {
	if w <= 0 || h <= 0 {
		if len(def) == 2 {
			return def[0], def[1]
		}
		return 1024, 1024
	}
	if m := max(w, h); m > MaxGenSide {
		f := float64(MaxGenSide) / float64(m)
		w, h = int(math.Round(float64(w)*f)), int(math.Round(float64(h)*f))
	}
	return alignDown(w, sizeAlign), alignDown(h, sizeAlign)
}

func alignDown(v, a int) int {
	r := (v / a) * a
	if r < a {
		return a
	}
	return r
}

// gridSize fits the source aspect into the area of def and rounds to grid
// (tech fix normalize_size).
func gridSize(w, h int, def []int, grid int) (int, int) {
	area := float64(def[0] * def[1])
	if w <= 0 || h <= 0 {
		w, h = def[0], def[1]
	}
	aspect := float64(w) / float64(h)
	gw := math.Sqrt(area * aspect)
	gh := gw / aspect
	round := func(v float64) int {
		r := int(math.Round(v/float64(grid))) * grid
		if r < grid {
			r = grid
		}
		return r
	}
	return round(gw), round(gh)
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if strings.TrimSpace(s) != "" {
			return strings.TrimSpace(s)
		}
	}
	return ""
}

func clampInt(v, lo, hi int) int { return min(max(v, lo), hi) }

func clampFloat(v, lo, hi float64) float64 { return math.Min(math.Max(v, lo), hi) }

func round2(f float64) float64 { return math.Round(f*100) / 100 }
