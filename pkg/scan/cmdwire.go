package scan

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/sources"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// QueueEnqueuer adapts a Queue to the importer's Enqueuer: hash_compute
// and integrity_check per new media, inside the import transaction
// (jobs.Queue.EnqueueTx; deduped per media by the queue). Jobs a cap
// refuses are not import errors (a full queue must not stop imports): the
// batch reports them as one summary line, and media-worker tops the queue
// up with them later (mediaops.TopUp).
func QueueEnqueuer(q *jobs.Queue) Enqueuer {
	return func(ctx context.Context, tx *sql.Tx, mediaIDs []int64, fresh bool) ([]string, error) {
		// Fresh ids come from this transaction's media INSERT; a replaced
		// media's jobs are deduped against live ones.
		reqs := FollowUpRequests(mediaIDs, fresh)
		res, err := q.EnqueueTx(ctx, tx, reqs)
		if err != nil {
			return nil, err
		}
		var rs refusedSummary
		for i, r := range res {
			if r.Err != nil {
				rs.add(*reqs[i].MediaID, reqs[i].Type, cmp.Or(r.ReasonCode, reason.Code(r.Err)))
			}
		}
		if rs.n == 0 {
			return nil, nil
		}
		return []string{rs.String()}, nil
	}
}

// FollowUpRequests are the follow-up jobs (hash_compute, integrity_check)
// of media whose file is new: imported ones (newMedia: inserted in the
// caller's transaction, see jobs.EnqueueRequest.NewMedia) and media whose
// file a Forge replace swapped (newMedia false: jobs may already exist).
func FollowUpRequests(mediaIDs []int64, newMedia bool) []jobs.EnqueueRequest {
	reqs := make([]jobs.EnqueueRequest, 0, len(mediaIDs)*len(followUpJobs))
	for _, id := range mediaIDs {
		for _, t := range followUpJobs {
			mid := id
			reqs = append(reqs, jobs.EnqueueRequest{Type: t, MediaID: &mid, Payload: map[string]any{"media_id": id}, NewMedia: newMedia})
		}
	}
	return reqs
}

// refusedSummary aggregates the follow-up jobs a batch had refused, so a
// 10k-file import logs one warning per batch instead of one per job.
type refusedSummary struct {
	n             int
	first, last   int64
	types, causes map[string]int
}

func (s *refusedSummary) add(mediaID int64, typ, cause string) {
	if s.n == 0 {
		s.first, s.last = mediaID, mediaID
		s.types, s.causes = map[string]int{}, map[string]int{}
	}
	s.n++
	s.first, s.last = min(s.first, mediaID), max(s.last, mediaID)
	s.types[typ]++
	s.causes[cmp.Or(cause, "refused")]++
}

func (s *refusedSummary) String() string {
	return fmt.Sprintf("%d follow-up jobs refused by the queue caps (%s; %s), media %d..%d; media-worker will top up",
		s.n, countList(s.types), countList(s.causes), s.first, s.last)
}

// countList renders counts as "a=1, b=2" in key order.
func countList(m map[string]int) string {
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// EnqueueScanPath queues a scan_path job.
func EnqueueScanPath(ctx context.Context, q *jobs.Queue, p ScanPathPayload) (jobs.EnqueueResult, error) {
	return q.Enqueue(ctx, jobs.EnqueueRequest{Type: jobs.TypeScanPath, Payload: p, DedupeKey: "scan_path:" + p.Path})
}

// WatchEnqueuer is sources.Watcher's Enqueue: a scan_path job for a
// watched source in its mode, labelled source "watch", through
// EnqueueScanPath (deduped per folder, so a scan already queued or running
// is not queued twice).
func WatchEnqueuer(q *jobs.Queue, clock svtime.Clock) func(ctx context.Context, src sources.Source) (jobs.EnqueueResult, error) {
	return func(ctx context.Context, src sources.Source) (jobs.EnqueueResult, error) {
		p, err := NewScanPathPayload(src.Path, 0, src.Mode, "watch", clock.Now())
		if err != nil {
			return jobs.EnqueueResult{}, err
		}
		return EnqueueScanPath(ctx, q, p)
	}
}
