package ollamasvc

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/localsupervisor/supervisor/pkg/jobs/workerstate"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// SpawnResult follows the seed's status schema.
type SpawnResult struct {
	Status     string   `json:"status"` // started|running|locked|busy|start_failed|skipped
	ReasonCode string   `json:"reason_code"`
	PID        int      `json:"pid,omitempty"`
	Pending    int      `json:"pending_jobs"`
	Error      string   `json:"error,omitempty"`
	TS         string   `json:"ts"`
	Args       []string `json:"args,omitempty"`
}

// AutostartOptions configure Autostart.
type AutostartOptions struct {
	LogsDir    string
	ServiceBin string
	Args       []string
	Cooldown   time.Duration
	Clock      svtime.Clock
	Pending    int
	// Force spawns even with no pending jobs (run_once).
	Force bool
}

// Autostart starts ollama-service fire-and-forget unless it runs already,
// another launcher holds LOGS/ollama_launcher lock, or the last spawn is
// younger than the cooldown. The result is also written to
// LOGS/runtime/ollama_worker_spawn.last.json.
func Autostart(ctx context.Context, o AutostartOptions) SpawnResult {
	now := o.Clock.Now()
	r := SpawnResult{TS: svtime.Format(now), Pending: o.Pending, Args: o.Args}
	switch {
	case o.Pending == 0 && !o.Force:
		r.Status, r.ReasonCode = "skipped", "no_pending"
		return r
	case workerstate.ServiceState(o.LogsDir, ServiceName, now, 3*time.Minute).Running:
		r.Status, r.ReasonCode = "running", "worker_running"
		return r
	}
	if st, err := os.Stat(o.ServiceBin); o.ServiceBin == "" || err != nil || st.IsDir() {
		r.Status, r.ReasonCode = "config_failed", "service_binary_missing"
		return r
	}
	lock, err := workerstate.AcquireLock(o.LogsDir, "ollama_launcher", now, nil)
	if err != nil {
		r.Status, r.ReasonCode = "locked", "lock_busy"
		return r
	}
	defer lock.Release()
	lastPath := filepath.Join(RuntimeDir(o.LogsDir), SpawnLastFile)
	var last SpawnResult
	if b, err := os.ReadFile(lastPath); err == nil && json.Unmarshal(b, &last) == nil && last.Status == "started" {
		if t, ok := svtime.Parse(last.TS); ok && now.Sub(t) < o.Cooldown {
			r.Status, r.ReasonCode = "busy", "spawn_cooldown"
			return r
		}
	}
	out, _ := os.OpenFile(filepath.Join(o.LogsDir, "ollama_worker.out.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	errf, _ := os.OpenFile(filepath.Join(o.LogsDir, "ollama_worker.err.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	cmd := exec.Command(o.ServiceBin, o.Args...)
	cmd.Stdout, cmd.Stderr = out, errf
	setGroup(cmd) // survives the caller's process group (web server restart, terminal close)
	if err := cmd.Start(); err != nil {
		r.Status, r.ReasonCode, r.Error = "start_failed", "spawn_failed", err.Error()
	} else {
		r.Status, r.ReasonCode, r.PID = "started", "spawn_unverified", cmd.Process.Pid
		go func() { _ = cmd.Wait() }() // reap; the caller may be long-lived (webui)
	}
	if out != nil {
		out.Close()
	}
	if errf != nil {
		errf.Close()
	}
	_ = writeRuntime(o.LogsDir, SpawnLastFile, r)
	return r
}
