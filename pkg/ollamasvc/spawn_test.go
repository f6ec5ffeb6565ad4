package ollamasvc

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/jobs/workerstate"
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
		{"missing binary", func() func() { o.ServiceBin = filepath.Join(logs, "nope"); return func() { o.ServiceBin = truePath } }, "config_failed", "service_binary_missing"},
		{"first spawn", nil, "started", "spawn_unverified"},
		{"within cooldown", nil, "busy", "spawn_cooldown"},
		{"launcher lock held", func() func() {
			clock.T = clock.T.Add(time.Minute)
			l, err := workerstate.AcquireLock(logs, "ollama_launcher", clock.T, nil)
			if err != nil {
				t.Fatal(err)
			}
			return func() { l.Release() }
		}, "locked", "lock_busy"},
		{"service running", func() func() {
			l, err := workerstate.AcquireLock(logs, ServiceName, clock.T, nil)
			if err != nil {
				t.Fatal(err)
			}
			_ = workerstate.WriteHeartbeat(logs, workerstate.Heartbeat{Service: ServiceName, PID: os.Getpid(), State: "idle", LastHeartbeatUTC: svtime.Format(clock.T)})
			return func() { l.Release() }
		}, "running", "worker_running"},
		{"after cooldown", nil, "started", "spawn_unverified"},
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
			t.Fatalf("%s: got %s/%s, want %s/%s", s.name, r.Status, r.ReasonCode, s.status, s.code)
		}
	}
}
