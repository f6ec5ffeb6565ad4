package jobs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

func TestEnqueueCapsAndDedupe(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		cfg      func(*Config)
		reqs     []EnqueueRequest
		wantCode []string // "" = inserted, "dedupe" = deduped
	}{
		{"total cap", func(c *Config) { c.QueueMaxTotal = 2 },
			[]EnqueueRequest{{Type: "t_a"}, {Type: "t_b"}, {Type: "t_c"}}, []string{"", "", CodeQueueFullTotal}},
		{"type cap", func(c *Config) { c.QueueMaxPerType = map[string]int{"t_a": 1} },
			[]EnqueueRequest{{Type: "t_a"}, {Type: "t_a"}, {Type: "t_b"}}, []string{"", CodeQueueFullType, ""}},
		{"media cap with explicit keys", func(c *Config) { c.QueueMaxPerMedia = 2 },
			[]EnqueueRequest{{Type: "t_media", MediaID: i64(1), DedupeKey: "x1"}, {Type: "t_media", MediaID: i64(1), DedupeKey: "x2"},
				{Type: "t_media", MediaID: i64(1), DedupeKey: "x3"}, {Type: "t_media", MediaID: i64(2), DedupeKey: "x4"}},
			[]string{"", "", CodeQueueFullMedia, ""}},
		{"unique per media dedupes", nil,
			[]EnqueueRequest{{Type: "t_media", MediaID: i64(1)}, {Type: "t_media", MediaID: i64(1)}}, []string{"", "dedupe"}},
		{"cap disabled", func(c *Config) { c.QueueMaxTotal = 0; c.QueueMaxPerTypeDefault = 0 },
			[]EnqueueRequest{{Type: "t_a"}, {Type: "t_a"}, {Type: "t_a"}}, []string{"", "", ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := newTestQueue(t, newClock(), tc.cfg)
			insertMedia(t, q.db, 2)
			var first int64
			for i, req := range tc.reqs {
				res, err := q.Enqueue(ctx, req)
				switch want := tc.wantCode[i]; want {
				case "":
					if err != nil || res.Deduped {
						t.Fatalf("req %d: want insert, got %+v %v", i, res, err)
					}
					if first == 0 {
						first = res.JobID
					}
				case "dedupe":
					if err != nil || !res.Deduped || res.JobID != first {
						t.Fatalf("req %d: want dedupe to %d, got %+v %v", i, first, res, err)
					}
				default:
					if reason.Code(err) != want {
						t.Fatalf("req %d: want %s, got %+v %v", i, want, res, err)
					}
				}
			}
		})
	}
}

func TestEnqueuePathJobStoresNullMedia(t *testing.T) {
	q := newTestQueue(t, newClock(), nil)
	id := mustEnqueue(t, q, EnqueueRequest{Type: "t_a", Payload: map[string]any{"path": "/x"}})
	r := status(t, q, id)
	if r.MediaID != nil || r.Payload != `{"path":"/x"}` || r.Status != StatusQueued {
		t.Fatalf("row = %+v", r)
	}
}

// Concurrent enqueuers on separate connections must neither overshoot a cap
// nor create dedupe twins.
func TestConcurrentEnqueueCapsAndDedupe(t *testing.T) {
	ctx := context.Background()
	q := newTestQueue(t, newClock(), func(c *Config) { c.QueueMaxPerType = map[string]int{"t_a": 25} })
	insertMedia(t, q.db, 1)
	var wg sync.WaitGroup
	var mu sync.Mutex
	inserted, refused, ids := 0, 0, map[int64]bool{}
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				_, err := q.Enqueue(ctx, EnqueueRequest{Type: "t_a"})
				r2, err2 := q.Enqueue(ctx, EnqueueRequest{Type: "t_media", MediaID: i64(1)})
				mu.Lock()
				switch reason.Code(err) {
				case "":
					if err != nil {
						t.Error(err)
					}
					inserted++
				case CodeQueueFullType:
					refused++
				default:
					t.Error(err)
				}
				if err2 != nil {
					t.Error(err2)
				}
				ids[r2.JobID] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if inserted != 25 || refused != 55 {
		t.Fatalf("inserted=%d refused=%d, want 25/55", inserted, refused)
	}
	if len(ids) != 1 {
		t.Fatalf("dedupe produced %d distinct jobs", len(ids))
	}
}

func TestEnqueueManyPartialRefusal(t *testing.T) {
	q := newTestQueue(t, newClock(), func(c *Config) { c.QueueMaxPerType = map[string]int{"t_a": 3} })
	reqs := make([]EnqueueRequest, 5)
	for i := range reqs {
		reqs[i] = EnqueueRequest{Type: "t_a"}
	}
	res, err := q.EnqueueMany(context.Background(), reqs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if (i < 3) != (r.Err == nil) {
			t.Fatalf("item %d: %+v", i, r)
		}
	}
	if _, err := q.EnqueueMany(context.Background(), []EnqueueRequest{{Type: "nope"}}); reason.Code(err) != CodeUnknownType {
		t.Fatalf("unknown type: %v", err)
	}
}

func claimOne(t *testing.T, q *Queue, owner string, order ...string) *Job {
	t.Helper()
	j, err := q.claim(context.Background(), owner, 4242, order, nil)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func TestClaimOrderPriorityAndNotBefore(t *testing.T) {
	clock := newClock()
	q := newTestQueue(t, clock, nil)
	late := mustEnqueue(t, q, EnqueueRequest{Type: "t_a", NotBefore: clock.Now().Add(time.Minute)})
	low := mustEnqueue(t, q, EnqueueRequest{Type: "t_a", Priority: new(int)})
	b := mustEnqueue(t, q, EnqueueRequest{Type: "t_b"})
	if j := claimOne(t, q, "w:h:1:a", "t_b", "t_a"); j.ID != b {
		t.Fatalf("type order: got %d want %d", j.ID, b)
	}
	if j := claimOne(t, q, "w:h:1:b", "t_a"); j.ID != low || j.Attempt != 1 {
		t.Fatalf("priority: got %+v", j)
	}
	if j := claimOne(t, q, "w:h:1:c", "t_a"); j != nil {
		t.Fatalf("not_before ignored: %+v", j)
	}
	clock.Advance(time.Minute)
	if j := claimOne(t, q, "w:h:1:d", "t_a"); j == nil || j.ID != late {
		t.Fatalf("not_before reached: %+v", j)
	}
	r := status(t, q, late)
	if r.Status != StatusRunning || r.WorkerOwner != "w:h:1:d" || r.StartedAt != svtime.Format(clock.Now()) {
		t.Fatalf("claimed row %+v", r)
	}
}

func TestFinishRetryBackoffAndPermanent(t *testing.T) {
	ctx := context.Background()
	clock := newClock()
	q := newTestQueue(t, clock, func(c *Config) { c.RetryBaseMS = 10000; c.RetryCapMS = 25000 })
	id := mustEnqueue(t, q, EnqueueRequest{Type: "t_a"})
	// jitter is fixed at 0.5 → factor 1.0: delays 10 s, 20 s, then error.
	for attempt, wantDelay := range []time.Duration{10 * time.Second, 20 * time.Second} {
		j := claimOne(t, q, fmt.Sprintf("w:h:1:%d", attempt), "t_a")
		if j == nil || j.Attempt != attempt+1 {
			t.Fatalf("attempt %d: %+v", attempt, j)
		}
		out, err := q.finish(ctx, j, nil, reason.Transient("ollama_down", errors.New("down")), nil)
		if err != nil || out != outRetry {
			t.Fatalf("finish: %v %v", out, err)
		}
		r := status(t, q, id)
		if r.Status != StatusQueued || r.NotBefore != svtime.Format(clock.Now().Add(wantDelay)) || r.LastErrorCode != "ollama_down" {
			t.Fatalf("after attempt %d: %+v", attempt+1, r)
		}
		clock.Advance(wantDelay)
	}
	j := claimOne(t, q, "w:h:1:last", "t_a")
	if out, _ := q.finish(ctx, j, nil, errors.New("still down"), nil); out != outError {
		t.Fatalf("max attempts: %v", out)
	}
	if r := status(t, q, id); r.Status != StatusError || r.Attempts != 3 || r.LastErrorCode != CodeHandlerFailed {
		t.Fatalf("final: %+v", r)
	}

	id2 := mustEnqueue(t, q, EnqueueRequest{Type: "t_b"})
	j = claimOne(t, q, "w:h:1:p", "t_b")
	if out, _ := q.finish(ctx, j, nil, reason.New("file_corrupt", "bad"), nil); out != outError {
		t.Fatalf("permanent: %v", out)
	}
	if r := status(t, q, id2); r.Status != StatusError || r.Attempts != 1 || r.LastErrorCode != "file_corrupt" {
		t.Fatalf("permanent row: %+v", r)
	}

	id3 := mustEnqueue(t, q, EnqueueRequest{Type: "t_c"})
	j = claimOne(t, q, "w:h:1:s", "t_c")
	if out, _ := q.finish(ctx, j, nil, Snooze(30*time.Second), nil); out != outSnoozed {
		t.Fatalf("snooze: %v", out)
	}
	if r := status(t, q, id3); r.Status != StatusQueued || r.Attempts != 0 || r.NotBefore != svtime.Format(clock.Now().Add(30*time.Second)) {
		t.Fatalf("snooze row: %+v", r)
	}
}

func TestTerminalWritesAreFenced(t *testing.T) {
	ctx := context.Background()
	clock := newClock()
	q := newTestQueue(t, clock, nil)
	id := mustEnqueue(t, q, EnqueueRequest{Type: "t_a"})
	j := claimOne(t, q, "w:h:1:old", "t_a")
	// The job is recovered (lease expired) and re-claimed by another worker.
	clock.Advance(time.Hour)
	rec, err := q.RecoverStuck(ctx, nil)
	if err != nil || len(rec) != 1 || rec[0].ReasonCode != CodeStuckHeartbeat || rec[0].NewStatus != StatusQueued {
		t.Fatalf("recover: %+v %v", rec, err)
	}
	clock.Advance(time.Hour)
	j2 := claimOne(t, q, "w:h:1:new", "t_a")
	if j2 == nil || j2.ID != id || j2.Attempt != 2 {
		t.Fatalf("reclaim: %+v", j2)
	}
	if out, err := q.finish(ctx, j, "late", nil, nil); out != outLost || err != nil {
		t.Fatalf("late complete: %v %v", out, err)
	}
	if err := j.Progress(ctx, 1, 2); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("late progress: %v", err)
	}
	if _, ok, _ := q.heartbeat(ctx, j); ok {
		t.Fatal("late heartbeat accepted")
	}
	if out, _ := q.finish(ctx, j2, map[string]int{"n": 1}, nil, nil); out != outDone {
		t.Fatalf("owner complete: %v", out)
	}
	if r := status(t, q, id); r.Status != StatusDone || r.Result != `{"n":1}` {
		t.Fatalf("row %+v", r)
	}
	var audits int
	q.db.QueryRow(`SELECT count(*) FROM audit_log WHERE action='job_stuck_recovered' AND entity_id=?`, id).Scan(&audits)
	if audits != 1 {
		t.Fatalf("audits = %d", audits)
	}
}

func TestRecoverStuckExhaustedAndDeadOwner(t *testing.T) {
	ctx := context.Background()
	clock := newClock()
	q := newTestQueue(t, clock, nil)
	id := mustEnqueue(t, q, EnqueueRequest{Type: "t_media", MediaID: nil})
	for i := 0; i < 2; i++ {
		claimOne(t, q, fmt.Sprintf("w:h:1:%d", i), "t_media")
		clock.Advance(time.Hour)
		if _, err := q.RecoverStuck(ctx, []string{"t_media"}); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Hour)
	}
	if r := status(t, q, id); r.Status != StatusError || r.LastErrorCode != CodeStuckHeartbeat {
		t.Fatalf("exhausted: %+v", r)
	}
	// A fresh heartbeat but an owner pid that does not exist on this host.
	id2 := mustEnqueue(t, q, EnqueueRequest{Type: "t_a"})
	host := hostname()
	claimOne(t, q, "w:"+host+":999999999:x", "t_a")
	rec, _ := q.RecoverStuck(ctx, nil)
	if len(rec) != 1 || rec[0].JobID != id2 || rec[0].ReasonCode != CodeStuckWorkerGone {
		t.Fatalf("dead owner: %+v", rec)
	}
	// A live owner (this process) with a fresh heartbeat is left alone.
	clock.Advance(time.Hour)
	claimOne(t, q, fmt.Sprintf("w:%s:%d:y", host, 1), "t_a") // pid 1 is alive (init)
	if rec, _ := q.RecoverStuck(ctx, nil); len(rec) != 0 {
		t.Fatalf("live job recovered: %+v", rec)
	}
}

func TestCancelQueuedAndRunningRequest(t *testing.T) {
	ctx := context.Background()
	q := newTestQueue(t, newClock(), nil)
	a := mustEnqueue(t, q, EnqueueRequest{Type: "t_a"})
	b := mustEnqueue(t, q, EnqueueRequest{Type: "t_b"})
	if r, err := q.Cancel(ctx, a); err != nil || r.Status != StatusCancelled {
		t.Fatalf("cancel queued: %+v %v", r, err)
	}
	j := claimOne(t, q, "w:h:1:z", "t_b")
	if r, err := q.Cancel(ctx, b); err != nil || r.Status != "cancel_requested" {
		t.Fatalf("cancel running: %+v %v", r, err)
	}
	if c, ok, _ := q.heartbeat(ctx, j); !c || !ok {
		t.Fatal("heartbeat did not report cancel")
	}
	if _, err := q.Cancel(ctx, a); reason.Code(err) != CodeInvalidState {
		t.Fatalf("cancel finished: %v", err)
	}
	if err := q.Requeue(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := q.Delete(ctx, a); reason.Code(err) != CodeInvalidState {
		t.Fatalf("delete queued: %v", err)
	}
}

func TestPruneKeepLastAndDryRun(t *testing.T) {
	ctx := context.Background()
	clock := newClock()
	q := newTestQueue(t, clock, nil)
	for i := 0; i < 5; i++ {
		mustEnqueue(t, q, EnqueueRequest{Type: "t_a"})
		j := claimOne(t, q, fmt.Sprintf("w:h:1:%d", i), "t_a")
		q.finish(ctx, j, nil, nil, nil)
	}
	mustEnqueue(t, q, EnqueueRequest{Type: "t_a"})
	dry, err := q.Prune(ctx, PruneOptions{KeepLast: 2, DryRun: true})
	if err != nil || dry.Matched != 3 || dry.Deleted != 0 {
		t.Fatalf("dry: %+v %v", dry, err)
	}
	var n int
	q.db.QueryRow(`SELECT count(*) FROM jobs`).Scan(&n)
	if n != 6 {
		t.Fatalf("dry run wrote: %d jobs", n)
	}
	res, err := q.Prune(ctx, PruneOptions{KeepLast: 2})
	if err != nil || res.Deleted != 3 {
		t.Fatalf("prune: %+v %v", res, err)
	}
	q.db.QueryRow(`SELECT count(*) FROM jobs`).Scan(&n)
	if n != 3 {
		t.Fatalf("left %d jobs, want 3 (2 done + 1 queued)", n)
	}
}
