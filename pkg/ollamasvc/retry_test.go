package ollamasvc

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/ollama"
	"github.com/localsupervisor/supervisor/pkg/ollama/ollamatest"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// TestParseErrorRetriedOnceThenFailedWithRawKept: an answer without JSON is
// retried once; the second one ends the job as error, records the failure
// (the mode counts as ran) and is not enqueued again.
func TestParseErrorRetriedOnceThenFailedWithRawKept(t *testing.T) {
	r := newRig(t, func(c *ollama.Config) { c.Worker.MaxRetries = 3 })
	id := r.addImage(t)
	sum := r.enqueue(t, EnqueueOptions{Modes: []ollama.Mode{ollama.ModeTitle}, MediaID: id})
	r.fake.SetFault(ollamatest.FaultNoJSONAnswer, -1, "/api/generate")
	ctx := context.Background()
	want := []string{"retry", "error"}
	for i, st := range want {
		r.db.Exec(`UPDATE jobs SET not_before = NULL WHERE id = ?`, sum.JobIDs[0])
		j, err := claimJob(ctx, r.q, "owner", 0, 4)
		if err != nil || j == nil {
			t.Fatalf("claim %d: %v %v", i, j, err)
		}
		res := RunChild(ctx, ChildOptions{DB: r.db, Clock: svtime.SystemClock{}, Config: r.cfg, JobID: j.ID, Owner: j.Owner,
			TraceFile: filepath.Join(r.dir, "t.json"), JobsLog: r.logs.File("ollama_jobs", "t"), ErrorsLog: r.logs.File("ollama_errors", "t")})
		if res.Status != st || res.Code != ollama.CodeParseError {
			t.Fatalf("attempt %d: %+v, want %s/parse_error", i+1, res, st)
		}
	}
	var raw string
	if err := r.db.QueryRow(`SELECT COALESCE(raw_text, '') FROM ollama_results WHERE media_id = ? AND mode = 'title' AND parse_error = 1`, id).Scan(&raw); err != nil || raw == "" {
		t.Fatalf("failure row with raw answer: %q %v", raw, err)
	}
	if s := r.enqueue(t, EnqueueOptions{Modes: []ollama.Mode{ollama.ModeTitle}}); s.Candidates != 0 {
		t.Fatalf("failed mode re-enqueued: %+v", s)
	}
}

// TestJobRetryBackoffSequence: a transient failure (HTTP 500) is retried
// while attempts remain, each time with not_before = now + the queue's
// backoff (3 s, 6 s with jobs.retry_base_ms=3000: the same rule as every
// job type, not a second one from ollama.retry), and the last attempt ends error with the code kept and the
// failure recorded.
func TestJobRetryBackoffSequence(t *testing.T) {
	r := newRig(t, func(c *ollama.Config) { c.Worker.MaxRetries = 2 })
	id := r.addImage(t)
	sum := r.enqueue(t, EnqueueOptions{Modes: []ollama.Mode{ollama.ModeTitle}, MediaID: id})
	r.fake.SetFault(ollamatest.FaultServerError, -1, "/api/generate")
	ctx := context.Background()
	clock := &svtime.FixedClock{T: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	jcfg := jobs.DefaultConfig()
	jcfg.RetryBaseMS = 3000
	// Jitter 0.5 is a factor of exactly 1 (±20 % around the base).
	q := jobs.NewQueue(jobs.QueueOptions{DB: r.db, Clock: clock, Config: jcfg, Jitter: func() float64 { return 0.5 }})
	want := []struct {
		status string
		wait   time.Duration
	}{{"retry", 3 * time.Second}, {"retry", 6 * time.Second}, {"error", 0}}
	for i, w := range want {
		// Not claimable before not_before.
		if i > 0 {
			if j, err := claimJob(ctx, q, "early", 0, 3); err != nil || j != nil {
				t.Fatalf("attempt %d claimable before not_before: %+v %v", i+1, j, err)
			}
			clock.T = clock.T.Add(want[i-1].wait)
		}
		j, err := claimJob(ctx, q, "owner", 0, 3)
		if err != nil || j == nil || j.Attempt != i+1 {
			t.Fatalf("claim %d: %+v %v", i+1, j, err)
		}
		res := RunChild(ctx, ChildOptions{DB: r.db, Queue: q, Clock: clock, Config: r.cfg, JobID: j.ID, Owner: j.Owner,
			TraceFile: filepath.Join(r.dir, "t.json"), JobsLog: r.logs.File("ollama_jobs", "t"), ErrorsLog: r.logs.File("ollama_errors", "t")})
		if res.Status != w.status || res.Code != ollama.CodeHTTP5xx {
			t.Fatalf("attempt %d: %+v, want %s/%s", i+1, res, w.status, ollama.CodeHTTP5xx)
		}
		row := r.job(t, sum.JobIDs[0])
		if w.status == "retry" && (row.Status != "queued" || row.NotBefore != svtime.Format(clock.T.Add(w.wait))) {
			t.Fatalf("attempt %d row: %s not_before=%s, want queued %s", i+1, row.Status, row.NotBefore, svtime.Format(clock.T.Add(w.wait)))
		}
		if w.status == "error" && (row.Status != "error" || row.Attempts != 3 || row.LastErrorCode != ollama.CodeHTTP5xx) {
			t.Fatalf("final row: %+v", row)
		}
	}
	if n := len(r.fake.RequestsTo("/api/generate")); n != 3 {
		t.Fatalf("%d generate requests, want 3 (one per attempt)", n)
	}
	var failures int
	r.db.QueryRow(`SELECT COUNT(*) FROM ollama_results WHERE media_id = ? AND mode = 'title' AND parse_error = 1`, id).Scan(&failures)
	if failures != 1 {
		t.Fatalf("failure rows = %d, want 1 (only the final attempt records)", failures)
	}
}

// TestChildRefusesJobNotHeld: the child attaches through the shared queue
// and does nothing (no request, no write) for a job that is not running
// under its owner token or does not exist.
func TestChildRefusesJobNotHeld(t *testing.T) {
	r := newRig(t, nil)
	sum := r.enqueue(t, EnqueueOptions{Modes: []ollama.Mode{ollama.ModeTitle}, MediaID: r.addImage(t)})
	ctx := context.Background()
	j, err := claimJob(ctx, r.q, "service-owner", 0, 1)
	if err != nil || j == nil || j.ID != sum.JobIDs[0] {
		t.Fatalf("claim: %+v %v", j, err)
	}
	cases := []struct {
		name  string
		id    int64
		owner string
		code  string
	}{
		{"other owner", j.ID, "someone-else", jobs.CodeLeaseLost},
		{"no owner", j.ID, "", jobs.CodeLeaseLost},
		{"missing job", j.ID + 1000, "service-owner", jobs.CodeNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := RunChild(ctx, ChildOptions{DB: r.db, Queue: r.q, Clock: svtime.SystemClock{}, Config: r.cfg, JobID: tc.id, Owner: tc.owner,
				JobsLog: r.logs.File("ollama_jobs", "t"), ErrorsLog: r.logs.File("ollama_errors", "t")})
			if res.OK || res.Code != tc.code || res.Written {
				t.Fatalf("child: %+v, want code %s", res, tc.code)
			}
		})
	}
	if n := len(r.fake.RequestsTo("/api/generate")); n != 0 {
		t.Fatalf("%d requests sent for jobs the child does not hold", n)
	}
	if row := r.job(t, j.ID); row.Status != "running" || row.Stage != "claimed" || row.Attempts != 1 {
		t.Fatalf("row touched: %+v", row)
	}
}
