package jobs

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

// HeldTx answers inside the caller's transaction: held, lease lost (other
// owner, finished) or job not found.
func TestHeldTx(t *testing.T) {
	ctx := context.Background()
	q := newTestQueue(t, newClock(), nil)
	a := mustEnqueue(t, q, EnqueueRequest{Type: "t_a"})
	b := mustEnqueue(t, q, EnqueueRequest{Type: "t_a"})
	c := mustEnqueue(t, q, EnqueueRequest{Type: "t_a"})
	js, err := q.Claim(ctx, ClaimRequest{Owner: NewOwner("w", 1), Types: []string{"t_a"}, Limit: 3})
	if err != nil || len(js) != 3 {
		t.Fatalf("claim %v %v", js, err)
	}
	byID := map[int64]*Job{}
	for _, j := range js {
		byID[j.ID] = j
	}
	if err := byID[b].End(ctx, Done(nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := q.db.Exec(`DELETE FROM jobs WHERE id = ?`, c); err != nil {
		t.Fatal(err)
	}
	foreign := &Job{ID: a, Owner: "someone:else:1:x", q: q}
	tests := []struct {
		name string
		job  *Job
		code string // "" = held
	}{
		{"held", byID[a], ""},
		{"other owner", foreign, CodeLeaseLost},
		{"finished", byID[b], CodeLeaseLost},
		{"deleted", byID[c], CodeNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := db.InTx(ctx, q.db, func(tx *sql.Tx) error { return tc.job.HeldTx(ctx, tx) })
			if got := reason.Code(err); got != tc.code || (tc.code == "" && err != nil) {
				t.Fatalf("HeldTx = %v (code %q), want code %q", err, got, tc.code)
			}
			if tc.code == CodeLeaseLost && !errors.Is(err, ErrLeaseLost) {
				t.Fatalf("want ErrLeaseLost, got %v", err)
			}
		})
	}
}

// Held (prefetched) claims count no attempt until the start is written. A
// dead worker's held jobs: the one whose start was written is recovered with
// its attempt spent, the others go back with attempts untouched, audited as
// not started. Their next run counts the attempt before the handler runs
// (they may be what killed the worker), and the completion does not count
// it twice.
func TestRecoverHeldJobsWithoutSpendingAttempts(t *testing.T) {
	ctx := context.Background()
	clock := newClock()
	q := newTestQueue(t, clock, nil)
	ids := enqueueN(t, q, 3)
	owner := "w:" + hostname() + ":999999999:x" // a dead pid
	js, err := q.Claim(ctx, ClaimRequest{Owner: owner, Types: []string{"t_a"}, Limit: 3, hold: true})
	if err != nil || len(js) != 3 {
		t.Fatalf("claim %v %v", js, err)
	}
	for _, j := range js {
		if r := status(t, q, j.ID); j.Attempt != 1 || r.Attempts != 0 || r.StartedAt != "" || r.Status != StatusRunning {
			t.Fatalf("held job %d: Attempt=%d row %+v", j.ID, j.Attempt, r)
		}
	}
	// The first job started and the keeper wrote it; then the worker died.
	js[0].began.Store(clock.Now().UnixNano())
	if err := db.InTx(ctx, q.db, func(tx *sql.Tx) error { return q.markStarted(ctx, tx, js[0]) }); err != nil {
		t.Fatal(err)
	}
	rec, err := q.RecoverStuck(ctx, nil)
	if err != nil || len(rec) != 3 {
		t.Fatalf("recover %+v %v", rec, err)
	}
	want := map[int64]struct {
		started  bool
		attempts int
		code     string
	}{
		ids[0]: {true, 1, CodeStuckWorkerGone},
		ids[1]: {false, 0, CodeStuckNotStarted},
		ids[2]: {false, 0, CodeStuckNotStarted},
	}
	for _, r := range rec {
		row := status(t, q, r.JobID)
		w := want[r.JobID]
		if r.Started != w.started || row.Status != StatusQueued || row.Attempts != w.attempts || row.LastErrorCode != w.code {
			t.Errorf("job %d: recovered %+v row %+v, want %+v", r.JobID, r, row, w)
		}
	}
	var audited int
	q.db.QueryRow(`SELECT count(*) FROM audit_log WHERE action = 'job_stuck_recovered' AND json_extract(details_json, '$.started') = 0
		AND json_extract(details_json, '$.attempt_spent') = 0`).Scan(&audited)
	if audited != 2 {
		t.Fatalf("%d not-started recoveries audited, want 2", audited)
	}

	// The next run: a not-started job has its attempt counted before its
	// handler runs; completion does not count it again.
	clock.Advance(time.Hour) // past the backoff of the started one
	seen := map[int64]int{}
	r := prefetchRunner(t, q, func(ctx context.Context, j *Job) (any, error) {
		row := status(t, q, j.ID)
		if j.lastCode == CodeStuckNotStarted {
			seen[j.ID] = row.Attempts
		}
		return nil, nil
	})
	if s, err := r.RunBatch(ctx, 0); err != nil || s.Done != 3 {
		t.Fatalf("batch %+v %v", s, err)
	}
	for _, id := range ids[1:] {
		if seen[id] != 1 {
			t.Errorf("job %d: attempts %d while its handler ran, want 1 (counted before the start)", id, seen[id])
		}
	}
	for i, id := range ids {
		if row := status(t, q, id); row.Status != StatusDone || row.Attempts != want[id].attempts+1 || row.StartedAt == "" {
			t.Errorf("job %d (#%d) after the run: %+v", id, i, row)
		}
	}
}

// Without a crash, prefetched jobs end with exactly one attempt each,
// whatever way they end (done, retry, error).
func TestHeldJobsCountOneAttemptPerRun(t *testing.T) {
	ctx := context.Background()
	q := newTestQueue(t, newClock(), nil)
	ids := enqueueN(t, q, 6)
	r := prefetchRunner(t, q, func(ctx context.Context, j *Job) (any, error) {
		switch j.ID % 3 {
		case 1:
			return nil, errors.New("transient")
		case 2:
			return nil, reason.New("bad", "permanent")
		}
		return nil, nil
	})
	if _, err := r.RunBatch(ctx, 0); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		row := status(t, q, id)
		if row.Attempts != 1 || row.StartedAt == "" {
			t.Errorf("job %d: %+v, want attempts 1 and started_at", id, row)
		}
	}
}

// RunnerOptions.MediaID (--media-id) restricts the claim itself: jobs of
// other media are never claimed and keep attempts 0.
func TestRunnerMediaIDFiltersInClaim(t *testing.T) {
	ctx := context.Background()
	q := newTestQueue(t, newClock(), nil)
	insertMedia(t, q.db, 2)
	one, two := int64(1), int64(2)
	mine := mustEnqueue(t, q, EnqueueRequest{Type: "t_a", MediaID: &one})
	other := mustEnqueue(t, q, EnqueueRequest{Type: "t_a", MediaID: &two})
	r, err := NewRunner(RunnerOptions{Queue: q, Worker: "w", Types: []string{"t_a"}, MediaID: &one, LogsDir: t.TempDir(),
		Handlers: map[string]Handler{"t_a": func(context.Context, *Job) (any, error) { return nil, nil }}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if s, err := r.RunBatch(ctx, 0); err != nil || s.Done != 1 || s.Processed != 1 {
		t.Fatalf("batch %+v %v", s, err)
	}
	if row := status(t, q, mine); row.Status != StatusDone {
		t.Fatalf("own media job %+v", row)
	}
	if row := status(t, q, other); row.Status != StatusQueued || row.Attempts != 0 || row.WorkerOwner != "" || row.NotBefore != "" {
		t.Fatalf("other media job touched: %+v", row)
	}
}

// MarkBlocked marks and clears queued jobs of the given types only,
// leaving status, attempts and other codes alone.
func TestMarkBlocked(t *testing.T) {
	ctx := context.Background()
	q := newTestQueue(t, newClock(), nil)
	a := mustEnqueue(t, q, EnqueueRequest{Type: "t_a"})
	b := mustEnqueue(t, q, EnqueueRequest{Type: "t_b"})
	if n, err := q.MarkBlocked(ctx, []string{"t_a"}, "blocked_by_x", "X down", true); err != nil || n != 1 {
		t.Fatalf("mark: %d %v", n, err)
	}
	if n, _ := q.MarkBlocked(ctx, []string{"t_a"}, "blocked_by_x", "X down", true); n != 0 {
		t.Fatalf("marked twice: %d", n)
	}
	if ra, rb := status(t, q, a), status(t, q, b); ra.LastErrorCode != "blocked_by_x" || ra.ErrorMessage != "X down" || ra.Status != StatusQueued ||
		ra.Attempts != 0 || rb.LastErrorCode != "" {
		t.Fatalf("rows %+v %+v", ra, rb)
	}
	if n, err := q.MarkBlocked(ctx, []string{"t_a", "t_b"}, "blocked_by_x", "", false); err != nil || n != 1 {
		t.Fatalf("clear: %d %v", n, err)
	}
	if ra := status(t, q, a); ra.LastErrorCode != "" || ra.ErrorMessage != "" {
		t.Fatalf("not cleared: %+v", ra)
	}
}
