package jobs

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/jobs/workerstate"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

func TestWarningsText(t *testing.T) {
	build := func(unit string, codes ...string) *Warnings {
		var w *Warnings
		for _, c := range codes {
			AddWarning(&w, unit, c)
		}
		return w
	}
	cases := []struct {
		name     string
		w        *Warnings
		dominant string
		text     string
	}{
		{"none", nil, "", ""},
		{"one reason", build("files", "place_failed", "place_failed"), "place_failed", "2 files failed (place_failed: 2)"},
		{"dominant first with advice", build("files", "not_readable", "disk_full", "disk_full"), "disk_full",
			"3 files failed (disk_full: 2, not_readable: 1): " + reason.Hint(reason.CodeDiskFull)},
		{"no code no unit", build("", ""), "error", "1 items failed (error: 1)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.w.Dominant(); got != c.dominant {
				t.Fatalf("dominant %q, want %q", got, c.dominant)
			}
			if got := c.w.Text(); got != c.text {
				t.Fatalf("text %q, want %q", got, c.text)
			}
		})
	}
}

func TestResultWarnings(t *testing.T) {
	cases := []struct {
		result string
		total  int
	}{
		{``, 0},
		{`not json`, 0},
		{`{"result":{"warnings":{"total":3,"by_reason":{"x":3}}}}`, 0}, // only the top level counts
		{`{"warnings":{"total":0,"by_reason":{}}}`, 0},
		{`{"path":"/in","warnings":{"total":1271,"by_reason":{"place_failed":1271},"unit":"files"}}`, 1271},
	}
	for _, c := range cases {
		w := ResultWarnings(c.result)
		if (w == nil) != (c.total == 0) || (w != nil && w.Total != c.total) {
			t.Errorf("ResultWarnings(%s) = %+v, want total %d", c.result, w, c.total)
		}
	}
}

// TestHandlerDBFullStopsBatch: a handler failing on a full database disk
// gets disk_full recorded on its job (a small UPDATE may still succeed) and
// the batch stops with that error instead of claiming the next job.
func TestHandlerDBFullStopsBatch(t *testing.T) {
	ctx := context.Background()
	d, _ := openDB(t)
	q := NewQueue(QueueOptions{DB: d, Config: DefaultConfig(), Registry: testRegistry(), Clock: svtime.SystemClock{}})
	first := mustEnqueue(t, q, EnqueueRequest{Type: "t_a", Payload: map[string]any{}})
	second := mustEnqueue(t, q, EnqueueRequest{Type: "t_a", Payload: map[string]any{}})
	h := map[string]Handler{"t_a": func(ctx context.Context, j *Job) (any, error) {
		return nil, fmt.Errorf("import batch: %w", sqlite3.Error{Code: 13})
	}}
	r, err := NewRunner(RunnerOptions{Queue: q, Worker: "w", Types: []string{"t_a"}, Handlers: h, LogsDir: t.TempDir(), Prefetch: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s, err := r.RunBatch(ctx, 10)
	if reason.Code(err) != reason.CodeDiskFull || !db.IsFull(err) {
		t.Fatalf("RunBatch error %v, want disk_full", err)
	}
	if s.Processed != 1 {
		t.Fatalf("processed %d jobs after the disk filled, want 1", s.Processed)
	}
	row := status(t, q, first)
	if row.Status != StatusQueued || row.LastErrorCode != reason.CodeDiskFull || !strings.Contains(row.ErrorMessage, "free space") {
		t.Fatalf("failed job: %s %s %q", row.Status, row.LastErrorCode, row.ErrorMessage)
	}
	if row := status(t, q, second); row.Status != StatusQueued || row.Attempts != 0 {
		t.Fatalf("second job %s attempts %d, want untouched", row.Status, row.Attempts)
	}
}

// TestRecoveryNamesWhyTheWorkerStopped: a job left running by a worker
// that could not write its result (full database disk) is taken back with
// the reason from the worker's stop note, not as a bare worker_gone.
func TestRecoveryNamesWhyTheWorkerStopped(t *testing.T) {
	const deadPID = 999_999_9
	if workerstate.ProcessAlive(deadPID) {
		t.Skip("test pid is alive")
	}
	cases := []struct {
		name      string
		noteOwner string // "" writes no note
		noteIn    string // heartbeat file holding the note: the recovering worker's own, or another's
		code      string
	}{
		{"own previous process", "w:" + hostname() + ":" + fmt.Sprint(deadPID) + ":", "w", reason.CodeDiskFull},
		{"other worker", "w2:" + hostname() + ":" + fmt.Sprint(deadPID) + ":", "w2", reason.CodeDiskFull},
		{"no note", "", "w", CodeStuckWorkerGone},
		{"note of another process", "w:" + hostname() + ":1:", "w", CodeStuckWorkerGone},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			d, _ := openDB(t)
			logs := t.TempDir()
			q := NewQueue(QueueOptions{DB: d, Config: DefaultConfig(), Registry: testRegistry(), Clock: svtime.SystemClock{}})
			id := mustEnqueue(t, q, EnqueueRequest{Type: "t_a", Payload: map[string]any{}})
			owner := c.noteIn + ":" + hostname() + ":" + fmt.Sprint(deadPID) + ":abc"
			now := svtime.Format(time.Now())
			if _, err := d.Exec(`UPDATE jobs SET status='running', attempts=1, worker_owner=?, worker_pid=?, started_at=?, heartbeat_at=? WHERE id=?`,
				owner, deadPID, now, now, id); err != nil {
				t.Fatal(err)
			}
			hb := workerstate.Heartbeat{Service: c.noteIn, PID: deadPID, State: workerstate.StateStopped}
			if c.noteOwner != "" {
				hb.Extra = map[string]any{stopNoteKey: map[string]any{"owner": c.noteOwner, "reason_code": reason.CodeDiskFull,
					"message": "disk_full: the disk holding the database is full", "job_id": id}}
			}
			if err := workerstate.WriteHeartbeat(logs, hb); err != nil {
				t.Fatal(err)
			}
			r, err := NewRunner(RunnerOptions{Queue: q, Worker: "w", Types: []string{"t_a"}, LogsDir: logs,
				Handlers: map[string]Handler{"t_a": func(context.Context, *Job) (any, error) { return nil, nil }}})
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Start(); err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			rec, err := r.q.recoverStuck(ctx, r.o.Types, r.stopCause)
			if err != nil || len(rec) != 1 {
				t.Fatalf("recovered %+v %v", rec, err)
			}
			row := status(t, q, id)
			if row.LastErrorCode != c.code || row.Status != StatusQueued {
				t.Fatalf("recovered as %s %s (%q), want queued %s", row.Status, row.LastErrorCode, row.ErrorMessage, c.code)
			}
			if c.code == reason.CodeDiskFull && !strings.Contains(row.ErrorMessage, "database is full") {
				t.Fatalf("message %q does not say why", row.ErrorMessage)
			}
		})
	}
}
