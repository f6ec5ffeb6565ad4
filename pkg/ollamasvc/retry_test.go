package ollamasvc

import (
	"context"
	"path/filepath"
	"testing"

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
		j, err := claimJob(ctx, r.db, svtime.SystemClock{}, "owner", 0, 4)
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
