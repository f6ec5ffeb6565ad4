package workercmd_test

import (
	"context"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/localsupervisor/supervisor/pkg/db/dbtest"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/jobs/workerstate"
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
