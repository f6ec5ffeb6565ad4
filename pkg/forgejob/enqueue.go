package forgejob

import (
	"context"
	"strconv"
	"strings"

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
}

// EnqueueResult is the answer of Enqueue.
type EnqueueResult struct {
	JobID   int64          `json:"job_id"`
	Deduped bool           `json:"deduped"`
	Status  string         `json:"status"`
	Request *forge.Request `json:"request"`
}

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
	if !er.SkipHealth {
		if hr, err := s.Client.Health(ctx); err != nil {
			s.auditHealth(context.WithoutCancel(ctx), hr, err, 0, er.MediaID)
			return nil, err
		}
	}
	row, tags, seed, err := planInputs(ctx, s.DB, er.MediaID)
	if err != nil {
		return nil, err
	}
	// An unreachable model list is not fatal: the request keeps the model
	// unverified and the worker resolves it against the live list.
	ml, _ := s.Client.ModelList(ctx)
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
	return &EnqueueResult{JobID: res.JobID, Deduped: res.Deduped, Status: jobs.StatusQueued, Request: req}, nil
}

// Models lists the server's checkpoints for the regen form (config needs
// only forge.enabled).
func (s *Service) Models(ctx context.Context) (forge.ModelList, error) {
	if err := s.validate(false); err != nil {
		return forge.ModelList{}, err
	}
	return s.Client.ModelList(ctx)
}
