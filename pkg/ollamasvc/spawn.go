package ollamasvc

import (
	"cmp"
	"context"
	"time"

	"github.com/localsupervisor/supervisor/pkg/launch"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// SpawnResult follows the seed's status schema.
type SpawnResult struct {
	// Status is started|running|locked|busy|start_failed|open_failed|config_failed|skipped.
	Status     string   `json:"status"`
	ReasonCode string   `json:"reason_code"`
	PID        int      `json:"pid,omitempty"`
	Pending    int      `json:"pending_jobs"`
	Error      string   `json:"error,omitempty"`
	TS         string   `json:"ts"`
	Args       []string `json:"args,omitempty"`
	Command    []string `json:"cmd,omitempty"`
	OutLog     string   `json:"out_log,omitempty"`
	ErrLog     string   `json:"err_log,omitempty"`
}

// AutostartOptions configure Autostart.
type AutostartOptions struct {
	LogsDir    string
	ServiceBin string
	Args       []string
	// Cooldown between two spawns; 0 means launch.DefaultCooldown.
	Cooldown time.Duration
	Clock    svtime.Clock
	Pending  int
	// Force spawns even with no pending jobs (run_once).
	Force bool
	// RequestedBy is recorded in the spawn status (cli, web); default "cli".
	RequestedBy string
}

// Autostart starts ollama-service fire-and-forget through pkg/launch (new
// session / detached process, spawn lock LOGS/ollama_service_spawn.lock,
// cooldown, LOGS/ollama_service_spawn_last.json) unless nothing is pending
// or the service already runs (its lock is held and its heartbeat fresh).
// A second service can never run anyway: ollama-service takes the service
// lock at start and exits "locked". The result is also written to
// LOGS/runtime/ollama_worker_spawn.last.json for the dashboard.
func Autostart(ctx context.Context, o AutostartOptions) SpawnResult {
	now := o.Clock.Now()
	r := SpawnResult{TS: svtime.Format(now), Pending: o.Pending, Args: o.Args}
	if o.Pending == 0 && !o.Force {
		r.Status, r.ReasonCode = "skipped", "no_pending"
		return r
	}
	st := launch.Spawn(ctx, launch.SpawnRequest{Worker: ServiceName, Binary: o.ServiceBin, Args: o.Args, LogsDir: o.LogsDir,
		RequestedBy: cmp.Or(o.RequestedBy, "cli"), Cooldown: o.Cooldown, SkipIfRunning: true, Now: o.Clock.Now})
	r.Status, r.ReasonCode, r.PID, r.Error = st.Status, st.ReasonCode, st.PID, st.Error
	r.Command, r.OutLog, r.ErrLog = st.Command, st.OutLog, st.ErrLog
	if st.Status == launch.StatusStartedUnverified {
		// The seed's schema knows "started"; the reason code says that
		// nobody waited to verify it.
		r.Status = launch.StatusStarted
	}
	if st.Status != launch.StatusRunning && st.Status != launch.StatusLocked && st.Status != launch.StatusBusy {
		_ = writeRuntime(o.LogsDir, SpawnLastFile, r)
	}
	return r
}
