package ollamasvc

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gofrs/flock"

	"github.com/localsupervisor/supervisor/pkg/jobs/workerstate"
	"github.com/localsupervisor/supervisor/pkg/launch"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

func TestAutostartNeverDoubleStarts(t *testing.T) {
	truePath, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true binary")
	}
	logs := t.TempDir()
	clock := &svtime.FixedClock{T: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	o := AutostartOptions{LogsDir: logs, ServiceBin: truePath, Cooldown: 10 * time.Second, Clock: clock, Pending: 3}
	steps := []struct {
		name   string
		prep   func() func()
		status string
		code   string
	}{
		{"no pending", func() func() { o.Pending = 0; return func() { o.Pending = 3 } }, "skipped", "no_pending"},
		{"missing binary", func() func() { o.ServiceBin = filepath.Join(logs, "nope"); return func() { o.ServiceBin = truePath } },
			launch.StatusConfigFailed, launch.CodeBinaryMissing},
		{"first spawn", nil, launch.StatusStarted, launch.CodeSpawnUnverified},
		{"within cooldown", nil, launch.StatusBusy, launch.CodeSpawnCooldown},
		{"spawn lock held", func() func() {
			clock.T = clock.T.Add(time.Minute)
			l := flock.New(filepath.Join(logs, ServiceName+"_spawn.lock"))
			if ok, err := l.TryLock(); !ok || err != nil {
				t.Fatalf("take spawn lock: %v %v", ok, err)
			}
			return func() { l.Unlock() }
		}, launch.StatusLocked, launch.CodeSpawnLockBusy},
		{"service running", func() func() {
			l, err := workerstate.AcquireLock(logs, ServiceName, clock.T, nil)
			if err != nil {
				t.Fatal(err)
			}
			_ = workerstate.WriteHeartbeat(logs, workerstate.Heartbeat{Service: ServiceName, PID: os.Getpid(), State: "idle", LastHeartbeatUTC: svtime.Format(clock.T)})
			return func() { l.Release() }
		}, launch.StatusRunning, launch.CodeWorkerRunning},
		{"after cooldown", nil, launch.StatusStarted, launch.CodeSpawnUnverified},
	}
	for _, s := range steps {
		var undo func()
		if s.prep != nil {
			undo = s.prep()
		}
		r := Autostart(context.Background(), o)
		if undo != nil {
			undo()
		}
		if r.Status != s.status || r.ReasonCode != s.code {
			t.Fatalf("%s: got %s/%s (%s), want %s/%s", s.name, r.Status, r.ReasonCode, r.Error, s.status, s.code)
		}
		if s.status == launch.StatusStarted && r.PID <= 0 {
			t.Fatalf("%s: no pid: %+v", s.name, r)
		}
	}
	var last SpawnResult
	if err := readJSON(filepath.Join(RuntimeDir(logs), SpawnLastFile), &last); err != nil || last.Status != launch.StatusStarted || last.TS != svtime.Format(clock.T) {
		t.Fatalf("spawn last file: %+v %v", last, err)
	}
}

// TestAutostartConcurrentCallersStartOnce: many launchers at the same
// moment (web requests, enqueue runs) start the service exactly once; the
// others see the spawn lock or the cooldown.
func TestAutostartConcurrentCallersStartOnce(t *testing.T) {
	truePath, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true binary")
	}
	logs := t.TempDir()
	clock := &svtime.FixedClock{T: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	const n = 12
	results := make([]SpawnResult, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i] = Autostart(context.Background(), AutostartOptions{LogsDir: logs, ServiceBin: truePath, Cooldown: time.Minute, Clock: clock, Pending: 1})
		}()
	}
	close(start)
	wg.Wait()
	started := 0
	for _, r := range results {
		switch r.Status {
		case launch.StatusStarted:
			started++
		case launch.StatusLocked, launch.StatusBusy:
		default:
			t.Fatalf("unexpected result %+v", r)
		}
	}
	if started != 1 {
		t.Fatalf("started %d times: %+v", started, results)
	}
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
