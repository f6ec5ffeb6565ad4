package scan

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/localsupervisor/supervisor/pkg/jobs"
)

// QueueEnqueuer adapts a Queue to the importer's Enqueuer: hash_compute
// and integrity_check per new media, inside the import transaction
// (jobs.Queue.EnqueueTx; deduped per media by the queue). Jobs a cap
// refuses become consistency_log warnings, not import errors: a full queue
// must not stop imports.
func QueueEnqueuer(q *jobs.Queue) Enqueuer {
	return func(ctx context.Context, tx *sql.Tx, mediaIDs []int64) ([]string, error) {
		reqs := make([]jobs.EnqueueRequest, 0, len(mediaIDs)*len(followUpJobs))
		for _, id := range mediaIDs {
			for _, t := range followUpJobs {
				mid := id
				reqs = append(reqs, jobs.EnqueueRequest{Type: t, MediaID: &mid, Payload: map[string]any{"media_id": id}})
			}
		}
		res, err := q.EnqueueTx(ctx, tx, reqs)
		if err != nil {
			return nil, err
		}
		var refused []string
		for i, r := range res {
			if r.Err != nil {
				refused = append(refused, fmt.Sprintf("media %d %s: %v", *reqs[i].MediaID, reqs[i].Type, r.Err))
			}
		}
		return refused, nil
	}
}

// EnqueueScanPath queues a scan_path job.
func EnqueueScanPath(ctx context.Context, q *jobs.Queue, p ScanPathPayload) (jobs.EnqueueResult, error) {
	return q.Enqueue(ctx, jobs.EnqueueRequest{Type: jobs.TypeScanPath, Payload: p, DedupeKey: "scan_path:" + p.Path})
}
