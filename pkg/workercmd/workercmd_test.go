package workercmd_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/localsupervisor/supervisor/pkg/db/dbtest"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/jobs/workerstate"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/workercmd"
)

// TestLockedRunsOnlyUnderTheLock: the Locked hook runs (and its stop at
// exit) in the instance that holds the worker lock, never in one that finds
// the lock taken and exits already_running.
func TestLockedRunsOnlyUnderTheLock(t *testing.T) {
	dir := t.TempDir()
	logs := filepath.Join(dir, "LOGS")
	d := dbtest.Open(t, filepath.Join(dir, "sv.sqlite"))
	var locked, stopped int
	spec := workercmd.Spec{Name: "test-worker", Worker: "test_worker", Types: []string{"t_x"},
		Registry: jobs.NewRegistry(jobs.TypeSpec{Name: "t_x", Group: "test", MaxAttempts: 1}),
		Setup: func(context.Context, *workercmd.Env) (map[string]jobs.Handler, func(), error) {
			return map[string]jobs.Handler{"t_x": func(context.Context, *jobs.Job) (any, error) { return nil, nil }}, nil, nil
		},
		Locked: func(context.Context, *workercmd.Env) func() {
			locked++
			return func() { stopped++ }
		},
		Bootstrap: func(*cli.Context) (*workercmd.Base, error) {
			return &workercmd.Base{DB: d, Log: zerolog.Nop(), LogsDir: logs, Jobs: jobs.DefaultConfig(), Stdout: io.Discard}, nil
		},
	}
	run := func() {
		t.Helper()
		app := workercmd.App(spec)
		app.Writer, app.ErrWriter = io.Discard, io.Discard
		if err := app.Run([]string{"test-worker", "--limit=1"}); err != nil {
			t.Fatal(err)
		}
	}

	run()
	if locked != 1 || stopped != 1 {
		t.Fatalf("holding the lock: Locked ran %d times, stop %d; want 1, 1", locked, stopped)
	}
	held, err := workerstate.AcquireLock(logs, "test_worker", time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	run()
	if locked != 1 || stopped != 1 {
		t.Fatalf("lock held elsewhere: Locked ran %d times, stop %d; want still 1, 1", locked, stopped)
	}
}

// TestFailedJobsReachSystemErrors: a worker (default bootstrap, real logs)
// whose jobs fail writes system_errors.jsonl lines, one per (worker, code)
// per rate-limit window: three failures with one code give one line, a
// failure with another code its own line.
func TestFailedJobsReachSystemErrors(t *testing.T) {
	dir := t.TempDir()
	logs := filepath.Join(dir, "LOGS")
	dbPath := filepath.Join(dir, "sv.sqlite")
	d := dbtest.Open(t, dbPath)
	cfg, _ := json.Marshal(map[string]any{"db": map[string]any{"path": dbPath}, "paths": map[string]any{"logs": logs},
		"scanner": map[string]any{"enabled": false}, "logging": map[string]any{"console": false}})
	cp := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cp, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	reg := jobs.NewRegistry(jobs.TypeSpec{Name: "t_x", Group: "test", MaxAttempts: 1})
	q := jobs.NewQueue(jobs.QueueOptions{DB: d, Config: jobs.DefaultConfig(), Registry: reg})
	// "snooze" asks to be queued again later: not a failure.
	for _, code := range []string{"snooze", "broken_a", "broken_a", "broken_a", "broken_b"} {
		if _, err := q.Enqueue(context.Background(), jobs.EnqueueRequest{Type: "t_x", Payload: map[string]string{"code": code}}); err != nil {
			t.Fatal(err)
		}
	}
	spec := workercmd.Spec{Name: "test-worker", Worker: "test_worker", Types: []string{"t_x"}, Registry: reg,
		Setup: func(context.Context, *workercmd.Env) (map[string]jobs.Handler, func(), error) {
			return map[string]jobs.Handler{"t_x": func(_ context.Context, j *jobs.Job) (any, error) {
				var p struct{ Code string }
				_ = json.Unmarshal(j.Payload, &p)
				if p.Code == "snooze" {
					return nil, jobs.Snooze(time.Hour)
				}
				return nil, reason.Permanent(p.Code, errors.New("the test handler fails"))
			}}, nil, nil
		},
	}
	app := workercmd.App(spec)
	app.Writer, app.ErrWriter = io.Discard, io.Discard
	if err := app.Run([]string{"test-worker", "--config=" + cp, "--limit=10"}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(logs, "system_errors.jsonl"))
	if err != nil {
		t.Fatalf("no system_errors.jsonl after failed jobs: %v", err)
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %s", l)
		}
		if m["service"] != "test_worker" || m["event"] != "system_error" || m["job_type"] != "t_x" || !strings.Contains(fmt.Sprint(m["message"]), "the test handler fails") {
			t.Errorf("line %v", m)
		}
		got = append(got, fmt.Sprint(m["reason_code"]))
	}
	if want := []string{"broken_a", "broken_b"}; !slices.Equal(got, want) {
		t.Fatalf("system_errors codes %v, want %v (one per code within the rate-limit window)", got, want)
	}
}
