package scan

import (
	"context"

	"github.com/localsupervisor/supervisor/pkg/jobs"
)

// QueueEnqueuer adapts a Queue to the importer's Enqueuer (media jobs,
// deduped per media by the queue).
func QueueEnqueuer(q *jobs.Queue) Enqueuer {
	return func(ctx context.Context, jobType string, mediaID int64) error {
		id := mediaID
		_, err := q.Enqueue(ctx, jobs.EnqueueRequest{Type: jobType, MediaID: &id, Payload: map[string]any{"media_id": mediaID}})
		return err
	}
}

// EnqueueScanPath queues a scan_path job.
func EnqueueScanPath(ctx context.Context, q *jobs.Queue, p ScanPathPayload) (jobs.EnqueueResult, error) {
	return q.Enqueue(ctx, jobs.EnqueueRequest{Type: jobs.TypeScanPath, Payload: p, DedupeKey: "scan_path:" + p.Path})
}
