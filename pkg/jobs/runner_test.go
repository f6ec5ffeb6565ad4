package jobs

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/jobs/workerstate"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

func TestRunnerCancelRunningAndPanic(t *testing.T) {
	ctx := context.Background()
	d, _ := openDB(t)
	q := NewQueue(QueueOptions{DB: d, Config: DefaultConfig(), Registry: testRegistry(), Clock: svtime.SystemClock{}})
	started := make(chan int64, 1)
	handlers := map[string]Handler{
		"t_a": func(ctx context.Context, j *Job) (any, error) {
			started <- j.ID
			<-ctx.Done()
			return nil, context.Cause(ctx)
		},
		"t_b": func(context.Context, *Job) (any, error) { panic("boom") },
		"t_c": func(context.Context, *Job) (any, error) { return "ok", nil },
	}
	logs := filepath.Join(t.TempDir(), "LOGS")
	r, err := NewRunner(RunnerOptions{Queue: q, Worker: "w", Types: []string{"t_b", "t_c", "t_a"}, Handlers: handlers, LogsDir: logs,
		HeartbeatInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	a := mustEnqueue(t, q, EnqueueRequest{Type: "t_a"})
	b := mustEnqueue(t, q, EnqueueRequest{Type: "t_b"})
	c := mustEnqueue(t, q, EnqueueRequest{Type: "t_c"})
	go func() {
		<-started
		if _, err := q.Cancel(ctx, a); err != nil {
			t.Error(err)
		}
	}()
	s, err := r.RunBatch(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if s.Cancelled != 1 || s.Errors != 1 || s.Done != 1 {
		t.Fatalf("summary %+v", s)
	}
	for id, want := range map[int64]string{a: StatusCancelled, b: StatusError, c: StatusDone} {
		if got := status(t, q, id); got.Status != want {
			t.Fatalf("job %d: %+v want %s", id, got, want)
		}
	}
	if got := status(t, q, b); got.LastErrorCode != CodePanic {
		t.Fatalf("panic job %+v", got)
	}
	st := workerstate.ServiceState(logs, "w", time.Now(), time.Minute)
	if !st.Running || !st.LockHeld {
		t.Fatalf("service state %+v", st)
	}
}

func TestLockQuarantineAndBusy(t *testing.T) {
	logs := t.TempDir()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := os.WriteFile(workerstate.LockPath(logs, "scan_worker"), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := workerstate.AcquireLock(logs, "scan_worker", now, []string{"a"})
	if err != nil {
		t.Fatal(err)
	}
	want := workerstate.LockPath(logs, "scan_worker") + ".stale-20260102T030405Z"
	if l.Quarantined() != want {
		t.Fatalf("quarantined to %q", l.Quarantined())
	}
	if b, _ := os.ReadFile(want); string(b) != "{not json" {
		t.Fatalf("stale content %q", b)
	}
	if _, err := workerstate.AcquireLock(logs, "scan_worker", now, nil); err == nil || !strings.Contains(err.Error(), workerstate.CodeLockBusy) {
		t.Fatalf("second acquire: %v", err)
	}
	info, err := workerstate.ReadLock(logs, "scan_worker")
	if err != nil || info.PID != os.Getpid() || info.CommandHash != workerstate.CommandHash([]string{"a"}) {
		t.Fatalf("lock info %+v %v", info, err)
	}
	if held, _ := workerstate.LockHeld(logs, "scan_worker"); !held {
		t.Fatal("lock not reported held")
	}
	l.Release()
	if held, _ := workerstate.LockHeld(logs, "scan_worker"); held {
		t.Fatal("released lock still held")
	}
}

func TestWeightedRoundRobinDoesNotStarve(t *testing.T) {
	q := newTestQueue(t, newClock(), func(c *Config) { c.QueueMaxTotal, c.QueueMaxPerTypeDefault = 0, 0 })
	_, err := NewRunner(RunnerOptions{Queue: q, Worker: "w", Types: []string{"t_a", "t_b", "t_c"}, LogsDir: t.TempDir(),
		Handlers: map[string]Handler{"t_a": nil, "t_b": nil, "t_c": nil}})
	if err == nil {
		t.Fatal("nil handlers accepted")
	}
	noop := func(context.Context, *Job) (any, error) { return nil, nil }
	r, err := NewRunner(RunnerOptions{Queue: q, Worker: "w", Types: []string{"t_a", "t_b", "t_c"}, LogsDir: t.TempDir(),
		Handlers: map[string]Handler{"t_a": noop, "t_b": noop, "t_c": noop}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for i := 0; i < 70; i++ {
		o := r.order()
		got[o[0]]++
		r.charge(o[0])
	}
	if got["t_a"] != 40 || got["t_b"] != 20 || got["t_c"] != 10 {
		t.Fatalf("shares %v, want 40/20/10", got)
	}
}
