//go:build !windows

package launch

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/jobs/workerstate"
)

// TestRespawnAfterExitingWorker (issue #17 item 11): a job queued while its
// one-shot worker is exiting (the worker still holds LOGS/<worker>.lock but
// has looked at the queue for the last time) gets a spawn that the worker
// refuses or never sees: "busy" (the cooldown after the worker's own
// spawn), or a new process that finds the lock held and leaves. Once the
// lock is free the Respawner spawns once more, so the job is run.
func TestRespawnAfterExitingWorker(t *testing.T) {
	tests := []struct {
		name string
		// after is the time since the exiting worker's own spawn.
		after      time.Duration
		wantStatus string
	}{
		{"refused by the cooldown", time.Second, StatusBusy},
		{"started while the lock is held", time.Minute, StatusStartedUnverified},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logs := t.TempDir()
			runs := filepath.Join(logs, "runs")
			t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			now := t0
			req := SpawnRequest{Worker: "w-worker", Binary: "/bin/sh", Args: []string{"-c", `echo run >> "$1"`, "sh", runs}, LogsDir: logs,
				RequestedBy: "web", Now: func() time.Time { return now }}
			// The worker's own spawn; it runs and is exiting, its lock held.
			if st := Spawn(context.Background(), req); !st.OK() {
				t.Fatalf("first spawn: %+v", st)
			}
			lock, err := workerstate.AcquireLock(logs, "w_worker", t0, nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			r := NewRespawner(ctx)
			r.Poll = 20 * time.Millisecond
			defer func() { cancel(); r.Close() }()

			now = t0.Add(tc.after)
			if st := r.Spawn(context.Background(), req, "w_worker"); st.Status != tc.wantStatus {
				t.Fatalf("spawn while the worker exits: %+v, want %s", st, tc.wantStatus)
			}
			want := 2 // the worker's own run and this spawn's
			if tc.wantStatus == StatusBusy {
				want = 1
			}
			waitRuns(t, runs, want)
			if err := lock.Release(); err != nil {
				t.Fatal(err)
			}
			// The follow-up spawn runs once the lock is free.
			waitRuns(t, runs, want+1)
		})
	}
}

// waitRuns waits (generously) until the spawned script ran n times.
func waitRuns(t *testing.T, path string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		got := strings.Count(string(b), "run\n")
		if got == n {
			return
		}
		if got > n || time.Now().After(deadline) {
			t.Fatalf("%d runs, want %d", got, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
