package forgejob

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/localsupervisor/supervisor/pkg/forge"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

// EnqueueRequest is a regen (Overrides) or repair (Repair or Recipe) request
// for one media.
type EnqueueRequest struct {
	MediaID   int64
	Overrides forge.Overrides
	// Repair selects repair planning (spec 7.6) with the dialog's options.
	Repair *forge.RepairOptions
	// Recipe is a "goal.intensity" shortcut for Repair (CLI --recipe).
	Recipe string
	// ActorIP is recorded in the audit rows (web).
	ActorIP string
	// SkipHealth skips the health check (tests of planning only).
	SkipHealth bool
	// ProbeTimeout, when > 0, bounds the health check and the model list
	// fetch together (the web must not wait the full forge.timeout). A
	// health check that only ran out of this time does not refuse the job:
	// the worker checks again with the full timeout, and Result.Health says
	// "unverified".
	ProbeTimeout time.Duration
}

// EnqueueResult is the answer of Enqueue.
type EnqueueResult struct {
	JobID   int64          `json:"job_id"`
	Deduped bool           `json:"deduped"`
	Status  string         `json:"status"`
	Request *forge.Request `json:"request"`
	// Health is the enqueue-time health check (nil when skipped).
	Health *HealthState `json:"health,omitempty"`
}

// HealthState is a health check as the UI shows it: ok, failed (with
// reason_code, http_code and target_url) or unverified (no answer within
// the caller's probe time).
type HealthState struct {
	State string `json:"state"` // ok | failed | unverified
	forge.HealthResult
}

// Health states.
const (
	HealthOK         = "ok"
	HealthFailed     = "failed"
	HealthUnverified = "unverified"
)

// Enqueue validates the runtime config (dispatch required), checks Forge's
// health (a failure is audited as forge_health_failed with reason_code,
// http_code and target_url), plans the request against the cached model
// list and queues a forge_regen job whose payload is the planned
// forge.Request (no base64: the init image is read when the job runs).
func (s *Service) Enqueue(ctx context.Context, er EnqueueRequest) (*EnqueueResult, error) {
	if err := s.validate(true); err != nil {
		return nil, err
	}
	if s.Queue == nil {
		return nil, reason.New(CodeRequestInvalid, "forgejob: no queue configured")
	}
	mi, m, err := mediaInfo(ctx, s.DB, er.MediaID)
	if err != nil {
		return nil, err
	}
	if err := checkSource(m, mi); err != nil {
		return nil, err
	}
	pctx := ctx
	if er.ProbeTimeout > 0 {
		var cancel context.CancelFunc
		pctx, cancel = context.WithTimeout(ctx, er.ProbeTimeout)
		defer cancel()
	}
	var health *HealthState
	if !er.SkipHealth {
		h, err := s.probeHealth(ctx, pctx, er.MediaID)
		if err != nil {
			return nil, err
		}
		health = &h
	}
	row, tags, seed, err := planInputs(ctx, s.DB, er.MediaID)
	if err != nil {
		return nil, err
	}
	// An unreachable model list is not fatal: the request keeps the model
	// unverified and the worker resolves it against the live list.
	ml, _ := s.Client.ModelList(pctx)
	pl := forge.Planner{Recipes: s.Recipes, Models: ml.Models, FallbackModel: s.Config.FallbackModel(), Rand: s.Rand}

	repair := er.Repair
	if er.Recipe != "" {
		goal, intensity, ok := strings.Cut(er.Recipe, ".")
		if _, known := s.Recipes.Recipe(er.Recipe); !ok || !known {
			return nil, errf(forge.CodeOptionInvalid, "unknown recipe %q (forge-worker recipes lists them)", er.Recipe)
		}
		if repair == nil {
			repair = &forge.RepairOptions{}
		}
		repair.Goal, repair.Intensity = goal, intensity
	}
	var req *forge.Request
	if repair != nil {
		req, err = pl.PlanRepair(forge.RepairInput{Media: mi, Prompt: row, Tags: tags, MetaSeed: seed, Options: *repair})
		if err == nil && er.Overrides.Mode != "" {
			if er.Overrides.Mode != forge.OutputPreview && er.Overrides.Mode != forge.OutputReplace {
				return nil, errf(forge.CodeOptionInvalid, "mode must be preview or replace, got %q", er.Overrides.Mode)
			}
			req.Mode = er.Overrides.Mode
		}
	} else {
		req, err = pl.PlanRegen(forge.RegenInput{Media: mi, Prompt: row, Tags: tags, MetaSeed: seed, Overrides: er.Overrides})
	}
	if err != nil {
		return nil, err
	}

	now := s.now()
	if req.Plan.SeedGenerated {
		// The original stored a generated seed so later regens of the same
		// media reproduce it.
		if _, err := media.SetMetaIfAbsent(ctx, s.DB, er.MediaID, "forge", "seed", strconv.FormatInt(req.Payload.Seed, 10), now); err != nil {
			return nil, err
		}
	}
	mid := er.MediaID
	jr := jobs.EnqueueRequest{Type: jobs.TypeForgeRegen, MediaID: &mid, Payload: req, ForgeRequest: req.Payload}
	if req.PromptID != 0 {
		pid := req.PromptID
		jr.PromptID = &pid
	}
	res, err := s.Queue.Enqueue(ctx, jr)
	if err != nil {
		return nil, err
	}
	if req.Model.Requested != "" && !strings.EqualFold(req.Model.Requested, req.Model.Checkpoint) {
		_ = media.Audit(ctx, s.DB, media.AuditEntry{Action: AuditModelResolved, EntityType: "media", EntityID: er.MediaID, ActorIP: er.ActorIP,
			Details: map[string]any{"job_id": res.JobID, "requested_model": req.Model.Requested, "resolved_model": req.Model.Checkpoint,
				"matched_by": req.Model.MatchedBy, "fallback_used": req.Model.FallbackUsed, "model_source": ml.Source, "model_status": ml.Status}, At: now})
	}
	details := map[string]any{"job_id": res.JobID, "mode": req.Mode, "generation_mode": req.Generation, "model": req.Model.Checkpoint,
		"prompt_source": req.Plan.PromptSource, "variants": req.Payload.Variants(), "deduped": res.Deduped, "job_label": req.JobLabel}
	if req.Repair != nil {
		details["recipe_id"] = req.Repair.RecipeID
	}
	if err := media.Audit(ctx, s.DB, media.AuditEntry{Action: AuditJobCreated, EntityType: "media", EntityID: er.MediaID,
		ActorIP: er.ActorIP, Details: details, At: now}); err != nil {
		return nil, err
	}
	return &EnqueueResult{JobID: res.JobID, Deduped: res.Deduped, Status: jobs.StatusQueued, Request: req, Health: health}, nil
}

// probeHealth checks Forge with pctx (a possibly shorter child of ctx). A
// failure is audited as forge_health_failed and returned; running out of
// pctx's time while ctx is still alive is only "unverified".
func (s *Service) probeHealth(ctx, pctx context.Context, mediaID int64) (HealthState, error) {
	hr, err := s.Client.Health(pctx)
	switch {
	case err == nil:
		return HealthState{State: HealthOK, HealthResult: hr}, nil
	case pctx.Err() != nil && ctx.Err() == nil:
		hr.ReasonCode = forge.CodeTimeout
		return HealthState{State: HealthUnverified, HealthResult: hr}, nil
	}
	s.auditHealth(context.WithoutCancel(ctx), hr, err, 0, mediaID)
	return HealthState{State: HealthFailed, HealthResult: hr}, err
}

// Health checks Forge within timeout (0: the client's forge.timeout) for
// the UI. A real failure is audited like every other health failure; a
// check that only ran out of timeout reports "unverified". Config problems
// come back as the validation error.
func (s *Service) Health(ctx context.Context, timeout time.Duration) (HealthState, error) {
	if err := s.validate(false); err != nil {
		return HealthState{}, err
	}
	pctx := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		pctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	h, err := s.probeHealth(ctx, pctx, 0)
	if err != nil && h.State == HealthFailed {
		return h, nil
	}
	return h, err
}

// ConfigError runs the runtime config validation (dispatch required for
// anything that generates) without touching Forge; nil when usable. Use
// Problem to turn it into the visible message.
func (s *Service) ConfigError(requireDispatch bool) error { return s.validate(requireDispatch) }

// CachedModels returns the last fetched model list without a network call
// (ok false when there is none yet).
func (s *Service) CachedModels() (forge.ModelList, bool) {
	if s.Client == nil {
		return forge.ModelList{Models: []forge.Model{}}, false
	}
	return s.Client.CachedModelList()
}

// Models lists the server's checkpoints for the regen form (config needs
// only forge.enabled).
func (s *Service) Models(ctx context.Context) (forge.ModelList, error) {
	if err := s.validate(false); err != nil {
		return forge.ModelList{}, err
	}
	return s.Client.ModelList(ctx)
}
