package forgejob

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/forge"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// AuditPreviewDiscarded is written when previews are rejected.
const AuditPreviewDiscarded = "forge_preview_discarded"

// AcceptDiscarded marks a version whose preview file was rejected and
// removed (Version.AcceptedAs).
const AcceptDiscarded = "discarded"

// JobView is one forge job of a media as the UI lists it: state, stage and
// progress while it runs, the outputs (versions) once done, the failure
// details (reason_code, http_code, target_url, missing_keys, config_path)
// when it failed.
type JobView struct {
	ID            int64  `json:"id"`
	Type          string `json:"type"`
	Status        string `json:"status"`
	Stage         string `json:"stage,omitempty"`
	ProgressBits  int    `json:"progress_bits"`
	ProgressTotal int    `json:"progress_bits_total"`
	ErrorCode     string `json:"error_code,omitempty"`
	Error         string `json:"error,omitempty"`
	CreatedAt     string `json:"created_at"`
	UpdatedAt     string `json:"updated_at,omitempty"`
	Mode          string `json:"mode,omitempty"`
	Generation    string `json:"generation_mode,omitempty"`
	Model         string `json:"model,omitempty"`
	// ModelNote says which model replaced a missing one (forge
	// CheckpointResult.Note).
	ModelNote string         `json:"model_note,omitempty"`
	Variants  int            `json:"variants,omitempty"`
	JobLabel  string         `json:"job_label,omitempty"`
	Replaced  bool           `json:"replaced"`
	Versions  []Version      `json:"versions"`
	Failure   map[string]any `json:"failure,omitempty"`
}

// Percent is the progress in whole percent (0 when unknown).
func (j JobView) Percent() int {
	if j.ProgressTotal <= 0 {
		return 0
	}
	p := j.ProgressBits * 100 / j.ProgressTotal
	return max(0, min(100, p))
}

// Live reports whether the job is still queued or running.
func (j JobView) Live() bool { return j.Status == jobs.StatusQueued || j.Status == jobs.StatusRunning }

// MediaJobsLimitDefault is how many forge jobs MediaJobs lists by default.
const MediaJobsLimitDefault = 20

// MediaJobs lists the newest forge jobs of one media (idx_jobs_media) for
// the detail page. q may be a read-only handle.
func MediaJobs(ctx context.Context, q db.Execer, mediaID int64, limit int) ([]JobView, error) {
	if limit <= 0 {
		limit = MediaJobsLimitDefault
	}
	return mediaJobs(ctx, q, mediaID, limit, Types())
}

// MediaPreviewJobs is MediaJobs for the given job types (a subset of
// PreviewTypes: the ComfyUI panel lists its own jobs).
func MediaPreviewJobs(ctx context.Context, q db.Execer, mediaID int64, limit int, types ...string) ([]JobView, error) {
	if limit <= 0 {
		limit = MediaJobsLimitDefault
	}
	return mediaJobs(ctx, q, mediaID, limit, types)
}

func mediaJobs(ctx context.Context, q db.Execer, mediaID int64, limit int, types []string) ([]JobView, error) {
	args := []any{mediaID}
	for _, t := range types {
		args = append(args, t)
	}
	args = append(args, limit)
	rows, err := q.QueryContext(ctx, `SELECT id, type, status, COALESCE(stage,''), progress_bits, progress_bits_total,
		COALESCE(last_error_code,''), COALESCE(error_message,''), COALESCE(created_at,''), COALESCE(updated_at,''),
		COALESCE(payload_json,''), COALESCE(result_json,''), COALESCE(forge_response_json,'')
		FROM jobs WHERE media_id = ? AND type IN (?`+strings.Repeat(", ?", len(types)-1)+`) ORDER BY id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, db.Classify(err)
	}
	defer rows.Close()
	out := []JobView{}
	for rows.Next() {
		var v JobView
		var payload, result, resp string
		if err := rows.Scan(&v.ID, &v.Type, &v.Status, &v.Stage, &v.ProgressBits, &v.ProgressTotal, &v.ErrorCode, &v.Error,
			&v.CreatedAt, &v.UpdatedAt, &payload, &result, &resp); err != nil {
			return nil, db.Classify(err)
		}
		v.fill(payload, result, resp)
		out = append(out, v)
	}
	return out, db.Classify(rows.Err())
}

// fill reads the planned request (mode, model, variants) and the outcome
// from the JSON columns; unreadable JSON (legacy rows) just leaves fields
// empty.
func (v *JobView) fill(payload, result, resp string) {
	v.Versions = []Version{}
	var req forge.Request
	if json.Unmarshal([]byte(payload), &req) == nil && req.Payload.Prompt != "" {
		v.Mode, v.Generation, v.Model, v.Variants, v.JobLabel = req.Mode, string(req.Generation), req.Model.Checkpoint, req.Payload.Variants(), req.JobLabel
	}
	// Only failed (or retried) jobs carry {"error": …}; a done job's
	// response is its result, decoded once below.
	if v.Status != jobs.StatusDone {
		var failed struct {
			Error map[string]any `json:"error"`
		}
		if json.Unmarshal([]byte(resp), &failed) == nil && failed.Error != nil {
			v.Failure = failed.Error
		}
	}
	raw := result
	if strings.TrimSpace(raw) == "" {
		raw = resp
	}
	var res JobResult
	if json.Unmarshal([]byte(raw), &res) == nil && res.Versions != nil {
		v.Versions, v.Replaced = res.Versions, res.Replaced
		v.Mode = cmp.Or(v.Mode, res.Mode)
		v.Generation = cmp.Or(v.Generation, string(res.GenerationMode))
		v.Model = cmp.Or(res.Model.Active, v.Model)
		v.ModelNote = res.Model.Note
	}
}

// PreviewFile resolves the file of one version of a finished forge job
// (the original's sv_resolve_job_asset): the path comes from the job's own
// result, never from the caller. It returns the media id for access checks.
func (s *Service) PreviewFile(ctx context.Context, jobID int64, variant int) (path string, mediaID int64, err error) {
	rec, err := s.loadJob(ctx, jobID)
	if err != nil {
		return "", 0, err
	}
	for _, v := range rec.result.Versions {
		if v.Variant == variant && v.AcceptedAs != AcceptDiscarded {
			return v.Path, rec.result.MediaID, nil
		}
	}
	return "", 0, errf(CodeVariantNotFound, "job %d has no variant %d", jobID, variant)
}

// DiscardRequest rejects previews of a finished forge job.
type DiscardRequest struct {
	JobID int64
	// Variant is the 1-based preview to discard; 0 discards every preview
	// that was not accepted.
	Variant int
	ActorIP string
}

// DiscardResult says which previews were removed.
type DiscardResult struct {
	JobID     int64 `json:"job_id"`
	Discarded []int `json:"discarded"`
}

// Discard rejects previews: the files are deleted and the versions marked
// discarded in the job's result (so they can no longer be accepted), with
// an audit row. Accepted and replaced versions are never touched.
func (s *Service) Discard(ctx context.Context, dr DiscardRequest) (*DiscardResult, error) {
	rec, err := s.loadJob(ctx, dr.JobID)
	if err != nil {
		return nil, err
	}
	res := &DiscardResult{JobID: dr.JobID, Discarded: []int{}}
	var paths []string
	now := s.now()
	for i, v := range rec.result.Versions {
		if v.Role != "preview" || (dr.Variant != 0 && v.Variant != dr.Variant) {
			continue
		}
		if v.AcceptedAs != "" {
			if dr.Variant != 0 {
				return nil, errf(CodeAlreadyAccepted, "variant %d of job %d was already %s", v.Variant, dr.JobID, acceptedWord(v.AcceptedAs))
			}
			continue
		}
		rec.result.Versions[i].AcceptedAs = AcceptDiscarded
		rec.result.Versions[i].AcceptedAt = svtime.Format(now)
		res.Discarded = append(res.Discarded, v.Variant)
		paths = append(paths, v.Path)
	}
	if len(res.Discarded) == 0 {
		if dr.Variant != 0 {
			return nil, errf(CodeVariantNotFound, "job %d has no preview variant %d", dr.JobID, dr.Variant)
		}
		return res, nil
	}
	b, err := json.Marshal(rec.result)
	if err != nil {
		return nil, err
	}
	err = db.InTx(ctx, s.DB, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, `UPDATE jobs SET result_json = ?, forge_response_json = ? WHERE id = ? AND status = 'done'`, string(b), string(b), dr.JobID)
		if err != nil {
			return db.Classify(err)
		}
		if n, _ := r.RowsAffected(); n != 1 {
			return errf(CodeJobNotAccept, "job %d changed while discarding", dr.JobID)
		}
		return media.Audit(ctx, tx, media.AuditEntry{Action: AuditPreviewDiscarded, EntityType: "media", EntityID: rec.result.MediaID,
			ActorIP: dr.ActorIP, Details: map[string]any{"job_id": dr.JobID, "variants": res.Discarded}, At: now})
	})
	if err != nil {
		return nil, err
	}
	// Files go after the commit: a failed commit leaves the previews
	// acceptable; a failed removal only leaves an orphan in PREVIEWS.
	for _, p := range paths {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.Log.Warn().Err(err).Str("path", p).Msg("forge_preview_remove_failed")
		}
	}
	return res, nil
}

func acceptedWord(as string) string {
	if as == AcceptDiscarded {
		return "discarded"
	}
	return fmt.Sprintf("accepted as %s", as)
}
