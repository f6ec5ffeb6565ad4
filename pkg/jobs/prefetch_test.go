package jobs

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// prefetchRunner builds a started Runner on q with a large prefetch budget,
// so after the first (measured) job it claims every remaining job at once.
func prefetchRunner(t *testing.T, q *Queue, h Handler) *Runner {
	t.Helper()
	r, err := NewRunner(RunnerOptions{Queue: q, Worker: "w", Types: []string{"t_a"}, Handlers: map[string]Handler{"t_a": h},
		LogsDir: filepath.Join(t.TempDir(), "LOGS"), HeartbeatInterval: 10 * time.Millisecond, PrefetchBudget: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func enqueueN(t *testing.T, q *Queue, n int) []int64 {
	t.Helper()
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = mustEnqueue(t, q, EnqueueRequest{Type: "t_a"})
	}
	return ids
}

// waitFor polls cond (the lease keeper works on its own ticker). It reports
// with t.Error, not Fatal: it runs inside handlers, off the test goroutine.
func waitFor(t *testing.T, what string, cond func() bool) bool {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Errorf("timed out waiting for %s", what)
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// A shutdown while prefetched jobs wait gives them back to queued without
// counting the attempt and without an owner.
func TestPrefetchedJobsReleasedAtShutdown(t *testing.T) {
	q := newTestQueue(t, newClock(), nil)
	ids := enqueueN(t, q, 5)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var ran []int64
	r := prefetchRunner(t, q, func(_ context.Context, j *Job) (any, error) {
		ran = append(ran, j.ID)
		if len(ran) == 2 {
			// SIGTERM while three claimed jobs wait in the buffer.
			if row := status(t, q, ids[4]); row.Status != StatusRunning {
				t.Errorf("job 5 not prefetched: %+v", row)
			}
			cancel()
		}
		return nil, nil
	})
	s, err := r.RunBatch(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if s.Done != 2 || s.Released != 3 || s.Processed != 2 || len(ran) != 2 {
		t.Fatalf("summary %+v ran %v", s, ran)
	}
	for i, id := range ids {
		row := status(t, q, id)
		if i < 2 {
			if row.Status != StatusDone || row.Attempts != 1 {
				t.Fatalf("job %d: %+v", id, row)
			}
			continue
		}
		if row.Status != StatusQueued || row.Attempts != 0 || row.WorkerOwner != "" || row.StartedAt != "" {
			t.Fatalf("released job %d: %+v", id, row)
		}
	}
}

// The lease keeper heartbeats held jobs that have not started yet, so stuck
// recovery by another worker leaves them alone; an operator cancel of a held
// job ends it cancelled without running its handler.
func TestLeaseKeeperCoversHeldJobs(t *testing.T) {
	ctx := context.Background()
	clock := newClock()
	q := newTestQueue(t, clock, nil)
	ids := enqueueN(t, q, 4)
	var ran []int64
	var recovered []Recovered
	var r *Runner
	r = prefetchRunner(t, q, func(_ context.Context, j *Job) (any, error) {
		ran = append(ran, j.ID)
		if j.ID != ids[1] {
			return nil, nil
		}
		// Jobs 3 and 4 are held. An hour passes: only heartbeats keep
		// their leases (10 minutes) alive.
		clock.Advance(time.Hour)
		want := svtime.Format(clock.Now())
		if !waitFor(t, "held job heartbeat", func() bool { return status(t, q, ids[3]).HeartbeatAt == want }) {
			return nil, nil
		}
		var err error
		if recovered, err = q.RecoverStuck(ctx, nil); err != nil {
			t.Error(err)
		}
		if _, err := q.Cancel(ctx, ids[2]); err != nil {
			t.Error(err)
		}
		waitFor(t, "cancel flag seen by keeper", func() bool {
			r.liveMu.Lock()
			defer r.liveMu.Unlock()
			held := r.live[ids[2]]
			return held != nil && held.cancelReq.Load()
		})
		return nil, nil
	})
	s, err := r.RunBatch(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(recovered) != 0 {
		t.Fatalf("held jobs recovered: %+v", recovered)
	}
	if s.Done != 3 || s.Cancelled != 1 {
		t.Fatalf("summary %+v", s)
	}
	for _, id := range ran {
		if id == ids[2] {
			t.Fatal("handler ran for a job cancelled while held")
		}
	}
	if row := status(t, q, ids[2]); row.Status != StatusCancelled {
		t.Fatalf("cancelled held job %+v", row)
	}
}

// A completion that waits for the next claim transaction is still fenced: if
// the job was taken over meanwhile, the late write changes nothing.
func TestPendingCompletionIsFenced(t *testing.T) {
	q := newTestQueue(t, newClock(), nil)
	ids := enqueueN(t, q, 3)
	r := prefetchRunner(t, q, func(_ context.Context, j *Job) (any, error) {
		if j.ID == ids[1] {
			// Another worker took the job over (recovery + re-claim).
			if _, err := q.db.Exec(`UPDATE jobs SET worker_owner = 'thief:h:1:x' WHERE id = ?`, j.ID); err != nil {
				t.Error(err)
			}
		}
		return map[string]int{"n": 1}, nil
	})
	s, err := r.RunBatch(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if s.Done != 2 || s.Lost != 1 {
		t.Fatalf("summary %+v", s)
	}
	if row := status(t, q, ids[1]); row.Status != StatusRunning || row.WorkerOwner != "thief:h:1:x" || row.Result != "" {
		t.Fatalf("taken-over job overwritten: %+v", row)
	}
	if row := status(t, q, ids[2]); row.Status != StatusDone || row.Result != `{"n":1}` {
		t.Fatalf("job 3 %+v", row)
	}
}

// A result that cannot be marshalled fails its job, not the batch.
func TestUnmarshalableResultFailsOnlyTheJob(t *testing.T) {
	q := newTestQueue(t, newClock(), nil)
	ids := enqueueN(t, q, 2)
	r := prefetchRunner(t, q, func(_ context.Context, j *Job) (any, error) {
		if j.ID == ids[0] {
			return make(chan int), nil
		}
		return nil, nil
	})
	s, err := r.RunBatch(context.Background(), 0)
	if err != nil || s.Errors != 1 || s.Done != 1 {
		t.Fatalf("summary %+v %v", s, err)
	}
	if row := status(t, q, ids[0]); row.Status != StatusError || row.LastErrorCode != CodePayloadInvalid {
		t.Fatalf("job %+v", row)
	}
}

func TestClaimAPIFiltersMixedAndTypedSet(t *testing.T) {
	ctx := context.Background()
	q := newTestQueue(t, newClock(), nil)
	enq := func(typ string, prio int, payload any) int64 {
		return mustEnqueue(t, q, EnqueueRequest{Type: typ, Priority: &prio, Payload: payload})
	}
	inA := enq("t_a", 100, map[string]string{"path": "/lib/in/a"})
	inbox := enq("t_a", 100, map[string]string{"path": "/lib/inbox/b"})
	noPath := enq("t_a", 100, map[string]string{"other": "/lib/in/c"})
	pct := enq("t_a", 100, map[string]string{"path": "/lib/in%/d"})
	hiB := enq("t_b", 5, map[string]int{"n": 2})
	enq("t_b", 200, map[string]int{"n": 7})

	tests := []struct {
		name string
		req  ClaimRequest
		want []int64
	}{
		{"payload prefix", ClaimRequest{Types: []string{"t_a"}, Limit: 10,
			Filter: func(string) ClaimFilter { return PayloadPrefix("path", "/lib/in/") }}, []int64{inA}},
		{"prefix is literal, not LIKE", ClaimRequest{Types: []string{"t_a"}, Limit: 10,
			Filter: func(string) ClaimFilter { return PayloadPrefix("path", "/lib/in%") }}, []int64{pct}},
		{"folder under a root, at a separator (no folder: admitted, its handler fails it)", ClaimRequest{Types: []string{"t_a"}, Limit: 10,
			Filter: func(string) ClaimFilter {
				return ClaimFilter{Folder: FolderFilter{Field: "path", Sep: "/", Under: "/lib/inbox"}}
			}}, []int64{inbox, noPath}},
		{"mixed orders by priority across types", ClaimRequest{Types: []string{"t_a", "t_b"}, Mixed: true, Limit: 1}, []int64{hiB}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Owner = NewOwner("w", i)
			tc.req.Stage, tc.req.CapAttempts, tc.req.ProgressTotal = "claimed", 2, 1000
			js, err := q.Claim(ctx, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, j := range js {
				got = append(got, j.ID)
				row := status(t, q, j.ID)
				if row.Stage != "claimed" || row.WorkerOwner != tc.req.Owner || row.MaxAttempts != 2 || j.MaxAttempts != 2 ||
					row.ProgressTotal != 1000 {
					t.Fatalf("claimed row %+v", row)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("claimed %v, want %v", got, tc.want)
			}
		})
	}
}

// Consumers outside the Runner (a parent claims, a child attaches) use
// Attach, Heartbeat, End and Release, all fenced by the owner token.
func TestAttachHeartbeatUpdateRelease(t *testing.T) {
	ctx := context.Background()
	clock := newClock()
	q := newTestQueue(t, clock, nil)
	a := mustEnqueue(t, q, EnqueueRequest{Type: "t_a"})
	b := mustEnqueue(t, q, EnqueueRequest{Type: "t_a"})
	owner := NewOwner("ollama", 1)
	js, err := q.Claim(ctx, ClaimRequest{Owner: owner, Types: []string{"t_a"}, Limit: 2})
	if err != nil || len(js) != 2 {
		t.Fatalf("claim %v %v", js, err)
	}
	if _, err := q.Attach(ctx, a, "someone-else"); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("attach with foreign owner: %v", err)
	}
	child, err := q.Attach(ctx, a, owner)
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	if _, err := q.Cancel(ctx, b); err != nil {
		t.Fatal(err)
	}
	ls, err := q.Heartbeat(ctx, child, js[1])
	if err != nil || !ls[0].Held || ls[0].CancelRequested || !ls[1].Held || !ls[1].CancelRequested {
		t.Fatalf("leases %+v %v", ls, err)
	}
	if row := status(t, q, a); row.HeartbeatAt != svtime.Format(clock.Now()) {
		t.Fatalf("heartbeat not written: %+v", row)
	}
	if err := child.End(ctx, Done(nil)); err != nil {
		t.Fatal(err)
	}
	if err := js[0].SetStage(ctx, "late"); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("update after finish: %v", err)
	}
	if n, err := q.Release(ctx, js...); err != nil || n != 1 {
		t.Fatalf("release %d %v", n, err)
	}
	if row := status(t, q, b); row.Status != StatusQueued || row.Attempts != 0 {
		t.Fatalf("released %+v", row)
	}
	if ls, _ := q.Heartbeat(ctx, js[1]); ls[0].Held {
		t.Fatal("heartbeat of a released job accepted")
	}
}

// The lease keeper and the batch loop share jobs; run the Runner under the
// race detector's eyes with a short heartbeat and many quick jobs.
func TestRunnerKeeperConcurrency(t *testing.T) {
	q := newTestQueue(t, newClock(), func(c *Config) { c.QueueMaxTotal, c.QueueMaxPerTypeDefault = 0, 0 })
	enqueueN(t, q, 200)
	var mu sync.Mutex
	seen := map[int64]int{}
	r, err := NewRunner(RunnerOptions{Queue: q, Worker: "w", Types: []string{"t_a"}, LogsDir: t.TempDir(), HeartbeatInterval: time.Millisecond,
		Handlers: map[string]Handler{"t_a": func(_ context.Context, j *Job) (any, error) {
			mu.Lock()
			seen[j.ID]++
			mu.Unlock()
			return nil, nil
		}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s, err := r.RunBatch(context.Background(), 0)
	if err != nil || s.Done != 200 || len(seen) != 200 {
		t.Fatalf("summary %+v seen %d %v", s, len(seen), err)
	}
}
