package mediaops

import (
	"context"
	"fmt"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

// EnqueueOptions selects media for EnqueueMedia.
type EnqueueOptions struct {
	// Type is integrity_check, hash_compute, phash_compute or upscale.
	Type string
	// MediaIDs are explicit targets.
	MediaIDs []int64
	// AllMissing selects every active media that lacks the job's result:
	// integrity.checked_at, hash.sha256, a media_phash row, or (upscale)
	// an upscale child.
	AllMissing bool
	// Limit caps AllMissing (≤ 0: no limit).
	Limit int
	// AfterID and UpToID bound AllMissing to ids in (AfterID, UpToID]
	// (UpToID ≤ 0: no upper bound), so a caller can bound the rows one run
	// examines (TopUp on a 1M library).
	AfterID, UpToID int64
	// SkipLive leaves out media that already have a queued or running job
	// of Type: Limit then counts only media that can get a new job instead
	// of spending it on dedupes.
	SkipLive bool
	// Upscale is the payload of upscale jobs.
	Upscale UpscalePayload
}

// missingQuery returns the id query of media lacking the result of o.Type
// (one "?" for the keyset cursor) and its further arguments.
func missingQuery(o EnqueueOptions) (string, []any, error) {
	q := `SELECT m.id FROM media m WHERE m.id>? AND m.status='active' AND m.is_deleted=0 AND `
	var args []any
	if o.UpToID > 0 {
		q += `m.id<=? AND `
		args = append(args, o.UpToID)
	}
	if o.SkipLive {
		// idx_jobs_media keeps this a lookup per candidate.
		q += `NOT EXISTS (SELECT 1 FROM jobs j WHERE j.media_id=m.id AND j.type=? AND j.status IN ('queued','running')) AND `
		args = append(args, o.Type)
	}
	switch o.Type {
	case jobs.TypeIntegrityCheck:
		q += `NOT EXISTS (SELECT 1 FROM media_meta mm WHERE mm.media_id=m.id AND mm.meta_key='integrity.checked_at')`
	case jobs.TypeHashCompute:
		q += `NOT EXISTS (SELECT 1 FROM media_meta mm WHERE mm.media_id=m.id AND mm.meta_key='hash.sha256')`
	case jobs.TypePHashCompute:
		// A refusal row counts as done: the same content gets the same
		// answer (a replaced file is queued by its replace).
		q += `m.type IN ('image','video') AND NOT EXISTS (SELECT 1 FROM media_phash p WHERE p.media_id=m.id)`
	case jobs.TypeUpscale:
		q += `m.type='image' AND m.source<>'upscale' AND NOT EXISTS (SELECT 1 FROM media c WHERE c.parent_media_id=m.id AND c.source='upscale')`
	default:
		return "", nil, reason.Newf(jobs.CodeUnknownType, "not a media job type: %q", o.Type)
	}
	return q + ` ORDER BY m.id LIMIT 500`, args, nil
}

// EnqueueMedia enqueues media jobs (CLI `media-worker enqueue` and the web
// UI). Dedupe per (type, media) and the queue caps come from pkg/jobs; a
// full queue stops the run and is reported in the summary.
func EnqueueMedia(ctx context.Context, q *jobs.Queue, o EnqueueOptions) (EnqueueSummary, error) {
	var sum EnqueueSummary
	query, args, err := missingQuery(o)
	if err != nil {
		return sum, err
	}
	enqueue := func(id int64) (stop bool, err error) {
		mid := id
		req := jobs.EnqueueRequest{Type: o.Type, MediaID: &mid, Payload: map[string]any{"media_id": id}}
		if o.Type == jobs.TypeUpscale {
			req.Payload = o.Upscale
		}
		if stop, err := sum.add(q.Enqueue(ctx, req)); err != nil || stop {
			if err != nil {
				err = fmt.Errorf("enqueue %s for media %d: %w", o.Type, id, err)
			}
			return true, err
		}
		return o.Limit > 0 && sum.Candidates >= o.Limit, nil
	}
	for _, id := range o.MediaIDs {
		var n int
		if err := q.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM media WHERE id=?`, id).Scan(&n); err != nil {
			return sum, db.Classify(err)
		}
		if n == 0 {
			sum.Skipped++
			sum.Errors = append(sum.Errors, fmt.Sprintf("media %d not found", id))
			continue
		}
		if stop, err := enqueue(id); err != nil || stop {
			return sum, err
		}
	}
	if !o.AllMissing {
		return sum, nil
	}
	err = pageIDs(ctx, q.DB(), query, o.AfterID, args, func(ids []int64) (bool, error) {
		for _, id := range ids {
			if stop, err := enqueue(id); err != nil || stop {
				return true, err
			}
		}
		return false, nil
	})
	return sum, err
}
