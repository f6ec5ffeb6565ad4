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
	// Type is integrity_check, hash_compute or upscale.
	Type string
	// MediaIDs are explicit targets.
	MediaIDs []int64
	// AllMissing selects every active media that lacks the job's result:
	// integrity.checked_at, hash.sha256, or (upscale) an upscale child.
	AllMissing bool
	// Limit caps AllMissing (≤ 0: no limit).
	Limit int
	// Upscale is the payload of upscale jobs.
	Upscale UpscalePayload
}

// missingQuery returns the id query of media lacking the result of typ.
func missingQuery(typ string) (string, error) {
	base := `SELECT m.id FROM media m WHERE m.id>? AND m.status='active' AND m.is_deleted=0 AND `
	switch typ {
	case jobs.TypeIntegrityCheck:
		return base + `NOT EXISTS (SELECT 1 FROM media_meta mm WHERE mm.media_id=m.id AND mm.meta_key='integrity.checked_at') ORDER BY m.id LIMIT 500`, nil
	case jobs.TypeHashCompute:
		return base + `NOT EXISTS (SELECT 1 FROM media_meta mm WHERE mm.media_id=m.id AND mm.meta_key='hash.sha256') ORDER BY m.id LIMIT 500`, nil
	case jobs.TypeUpscale:
		return base + `m.type='image' AND m.source<>'upscale' AND NOT EXISTS (SELECT 1 FROM media c WHERE c.parent_media_id=m.id AND c.source='upscale') ORDER BY m.id LIMIT 500`, nil
	}
	return "", reason.Newf(jobs.CodeUnknownType, "not a media job type: %q", typ)
}

// EnqueueMedia enqueues media jobs (CLI `media-worker enqueue` and the web
// UI). Dedupe per (type, media) and the queue caps come from pkg/jobs; a
// full queue stops the run and is reported in the summary.
func EnqueueMedia(ctx context.Context, q *jobs.Queue, o EnqueueOptions) (EnqueueSummary, error) {
	var sum EnqueueSummary
	query, err := missingQuery(o.Type)
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
	err = pageIDs(ctx, q.DB(), query, func(ids []int64) (bool, error) {
		for _, id := range ids {
			if stop, err := enqueue(id); err != nil || stop {
				return true, err
			}
		}
		return false, nil
	})
	return sum, err
}
