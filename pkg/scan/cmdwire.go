package scan

import (
	"context"
	"database/sql"

	"github.com/localsupervisor/supervisor/pkg/config"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// NewQueue builds the job queue from the config's jobs section.
func NewQueue(cfg *config.Config, d *sql.DB, clock svtime.Clock) (*jobs.Queue, error) {
	jc := jobs.DefaultConfig()
	if len(cfg.Jobs) > 0 {
		if err := cfg.DecodeSection("jobs", &jc); err != nil {
			return nil, err
		}
	}
	return jobs.NewQueue(jobs.QueueOptions{DB: d, Clock: clock, Config: jc}), nil
}

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
