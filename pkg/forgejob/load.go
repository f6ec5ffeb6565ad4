package forgejob

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	_ "image/gif" // header decoding of catalogued GIFs
	_ "image/jpeg"
	_ "image/png"
	"os"
	"strconv"
	"strings"

	_ "golang.org/x/image/webp" // WebP originals and previews

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/forge"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

// mediaInfo loads the planner's view of a media row. Dimensions come from
// the file header (the original used getimagesize), falling back to the row.
func mediaInfo(ctx context.Context, q db.Execer, id int64) (forge.MediaInfo, *media.Media, error) {
	m, err := media.Get(ctx, q, id)
	if err != nil {
		return forge.MediaInfo{}, nil, err
	}
	mi := forge.MediaInfo{ID: m.ID, Path: m.Path, Type: m.Type}
	if m.Width != nil {
		mi.Width = int(*m.Width)
	}
	if m.Height != nil {
		mi.Height = int(*m.Height)
	}
	if m.Filesize != nil {
		mi.Filesize = *m.Filesize
	}
	if st, err := os.Stat(m.Path); err == nil && st.Mode().IsRegular() {
		mi.Exists = true
		mi.Filesize = st.Size()
		if f, err := os.Open(m.Path); err == nil {
			if cfg, _, err := image.DecodeConfig(f); err == nil {
				mi.Width, mi.Height = cfg.Width, cfg.Height
			}
			f.Close()
		}
	}
	return mi, m, nil
}

// checkSource enforces the original's preconditions for regenerating a
// media (image, not missing, file present).
func checkSource(m *media.Media, mi forge.MediaInfo) error {
	switch {
	case m.Type != "image":
		return errf(CodeMediaNotImage, "only image media can be regenerated (media %d is %s)", m.ID, m.Type)
	case m.Status == media.StatusMissing:
		return errf(CodeMediaMissing, "media %d is marked missing", m.ID)
	case strings.TrimSpace(m.Path) == "":
		return errf(CodeMediaMissing, "media %d has an empty path", m.ID)
	case !mi.Exists:
		return errf(CodeMediaMissing, "file of media %d does not exist: %s", m.ID, m.Path)
	}
	return nil
}

// planInputs loads prompt, tags and meta seed of a media for the planner.
func planInputs(ctx context.Context, q db.Execer, id int64) (*forge.PromptRow, []forge.TagInput, string, error) {
	pid, p, err := media.CurrentPrompt(ctx, q, id)
	if err != nil {
		return nil, nil, "", err
	}
	var row *forge.PromptRow
	if pid != 0 {
		// Regeneration sends the prompt as written: a reproduction must not
		// depend on the trimming the list view does.
		prompt, negative := p.AsWritten()
		row = &forge.PromptRow{ID: pid, Prompt: prompt, NegativePrompt: negative, Model: p.Model,
			Sampler: p.Sampler, Scheduler: p.Scheduler, CFGScale: p.CFGScale, Seed: p.Seed,
			SourceMetadata: p.SourceMetadata, SamplerSettings: p.SamplerSettings, Loras: p.Loras}
		row.Steps, row.Width, row.Height = toInt(p.Steps), toInt(p.Width), toInt(p.Height)
	}
	mt, err := media.Tags(ctx, q, id)
	if err != nil {
		return nil, nil, "", err
	}
	tags := make([]forge.TagInput, 0, len(mt))
	for _, t := range mt {
		tags = append(tags, forge.TagInput{Name: t.Name, Type: t.Type, Confidence: t.Confidence, Locked: t.Locked})
	}
	seed, _, err := media.GetMeta(ctx, q, id, "seed")
	if err != nil {
		return nil, nil, "", err
	}
	return row, tags, seed, nil
}

func toInt(v *int64) *int {
	if v == nil {
		return nil
	}
	x := int(*v)
	return &x
}

// decodeRequest reads a job's Forge request: the planned forge.Request this
// package enqueues, or the legacy full Forge payload of forge_regen /
// forge_regen_replace / forge_regen_v3 rows migrated from the PHP version.
func decodeRequest(job *jobs.Job, recipes *forge.Recipes) (*forge.Request, error) {
	raw := job.Payload
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		raw = job.ForgeRequest
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(raw, &probe); err != nil || probe == nil {
		return nil, reason.Permanent(CodeRequestInvalid, errors.New("forge job payload is not a JSON object"))
	}
	if _, ok := probe["payload"]; ok {
		var r forge.Request
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, reason.Permanent(CodeRequestInvalid, err)
		}
		if r.MediaID == 0 && job.MediaID != nil {
			r.MediaID = *job.MediaID
		}
		if strings.TrimSpace(r.Payload.Prompt) == "" {
			return nil, errf(forge.CodePromptMissing, "forge job without final prompt")
		}
		return &r, nil
	}
	return legacyRequest(job, raw, recipes)
}

// legacyPayload is the original's job payload: A1111 fields mixed with
// "sampler", "model" and "_sv_*" bookkeeping, maybe with a base64 init image.
type legacyPayload struct {
	Prompt         string          `json:"prompt"`
	NegativePrompt string          `json:"negative_prompt"`
	Model          string          `json:"model"`
	Sampler        string          `json:"sampler"`
	SamplerName    string          `json:"sampler_name"`
	Scheduler      string          `json:"scheduler"`
	CFGScale       json.Number     `json:"cfg_scale"`
	Steps          json.Number     `json:"steps"`
	Seed           json.RawMessage `json:"seed"`
	Width          json.Number     `json:"width"`
	Height         json.Number     `json:"height"`
	Denoise        json.Number     `json:"denoising_strength"`
	InitImages     []string        `json:"init_images"`
	BatchSize      json.Number     `json:"batch_size"`
	NIter          json.Number     `json:"n_iter"`
	Mode           string          `json:"_sv_mode"`
	GenMode        string          `json:"_sv_generation_mode"`
	DecidedMode    string          `json:"_sv_decided_mode"`
	RequestedModel string          `json:"_sv_requested_model"`
	JobLabel       string          `json:"_sv_job_label"`
	Plan           struct {
		FinalPrompt    string      `json:"final_prompt"`
		OriginalPrompt string      `json:"original_prompt"`
		Category       string      `json:"category"`
		OrigWidth      json.Number `json:"orig_width"`
		OrigHeight     json.Number `json:"orig_height"`
		OrigExt        string      `json:"orig_ext"`
		FallbackUsed   bool        `json:"fallback_used"`
		TagPromptUsed  bool        `json:"tag_prompt_used"`
	} `json:"_sv_regen_plan"`
}

func num(n json.Number, def float64) float64 {
	if f, err := n.Float64(); err == nil {
		return f
	}
	return def
}

func legacyRequest(job *jobs.Job, raw []byte, recipes *forge.Recipes) (*forge.Request, error) {
	var lp legacyPayload
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&lp); err != nil {
		return nil, reason.Permanent(CodeRequestInvalid, err)
	}
	prompt := strings.TrimSpace(lp.Prompt)
	if prompt == "" {
		prompt = strings.TrimSpace(lp.Plan.FinalPrompt)
	}
	if prompt == "" {
		return nil, errf(forge.CodePromptMissing, "Forge-Job ohne finalen Prompt.")
	}
	var mediaID int64
	if job.MediaID != nil {
		mediaID = *job.MediaID
	}
	mode := lp.Mode
	if mode == "" && job.Type == jobs.TypeForgeRegenReplace {
		mode = forge.OutputReplace
	}
	if mode != forge.OutputReplace {
		mode = forge.OutputPreview
	}
	sampler := lp.SamplerName
	if sampler == "" {
		sampler = lp.Sampler
	}
	fam := recipes.ModelFamilies[forge.Family(lp.Model, "")]
	sampler, scheduler := forge.NormalizeSampler(fam, sampler, lp.Scheduler, true)
	var seed int64 = -1
	if s := strings.Trim(strings.TrimSpace(string(lp.Seed)), `"`); s != "" {
		if v, err := strconv.ParseInt(s, 10, 64); err == nil {
			seed = v
		}
	}
	batch := int(num(lp.BatchSize, 1))
	p := forge.Payload{
		Prompt: prompt, NegativePrompt: lp.NegativePrompt, Seed: seed, SamplerName: sampler, Scheduler: scheduler,
		Steps: int(num(lp.Steps, forge.DefaultSteps)), CFGScale: num(lp.CFGScale, forge.DefaultCFG),
		Width: int(num(lp.Width, 1024)), Height: int(num(lp.Height, 1024)),
		BatchSize: max(batch, 1), NIter: max(int(num(lp.NIter, 1)), 1), SendImages: true,
	}
	gen := forge.Txt2Img
	if len(lp.InitImages) > 0 || lp.DecidedMode == string(forge.Img2Img) || lp.GenMode == string(forge.Img2Img) {
		gen = forge.Img2Img
		dn := num(lp.Denoise, forge.DefaultDenoise)
		p.DenoisingStrength = &dn
		zero := 0
		p.ResizeMode = &zero
	}
	requested := lp.RequestedModel
	if requested == "" {
		requested = lp.Model
	}
	r := &forge.Request{
		MediaID: mediaID, Mode: mode, JobLabel: lp.JobLabel, Generation: gen, Payload: p,
		// The legacy "model" is what the PHP worker would have switched to;
		// the worker resolves it against the live list again.
		Model: forge.ModelResolution{Requested: requested, Checkpoint: lp.Model, MatchedBy: forge.MatchUnverified},
		Chain: forge.SamplerChain(sampler, scheduler),
		Plan: forge.PlanInfo{Category: lp.Plan.Category, FinalPrompt: prompt, OriginalPrompt: lp.Plan.OriginalPrompt,
			FallbackUsed: lp.Plan.FallbackUsed, TagPromptUsed: lp.Plan.TagPromptUsed,
			OrigWidth: int(num(lp.Plan.OrigWidth, 0)), OrigHeight: int(num(lp.Plan.OrigHeight, 0)), OrigExt: lp.Plan.OrigExt,
			DecidedMode: gen},
	}
	if job.PromptID != nil {
		r.PromptID = *job.PromptID
	}
	return r, nil
}

// SourceMedia loads a media for regeneration by any generator and enforces
// the same preconditions as Forge's (an image, not missing, file present).
func SourceMedia(ctx context.Context, q db.Execer, id int64) (*media.Media, forge.MediaInfo, error) {
	mi, m, err := mediaInfo(ctx, q, id)
	if err != nil {
		return nil, mi, err
	}
	if err := checkSource(m, mi); err != nil {
		return nil, mi, err
	}
	return m, mi, nil
}
