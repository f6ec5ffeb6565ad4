package web

import (
	"context"
	"time"

	"github.com/localsupervisor/supervisor/pkg/launch"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

// WorkerLauncher is the webui's Launcher: pkg/launch's detached spawn (own
// session/process group, DETACHED_PROCESS on Windows, stdin from the null
// device, output to LOGS/<worker>_spawn_*.log, spawn lock, cooldown and
// LOGS/<worker>_spawn_last.json). It never waits for the worker.
type WorkerLauncher struct {
	// Find resolves a worker name to its binary. webui passes the same
	// lookup the worker supervisor uses (workers.bin_dir, beside webui,
	// $PATH), so there is one lookup, not two. Required.
	Find func(worker string) (string, error)
	// LogsDir is the logs root (status and spawn log files). Required.
	LogsDir string
	// Dir is the worker's working directory (the base directory).
	Dir string
	// ExtraArgs follow the request's arguments (e.g. --config=…).
	ExtraArgs []string
	// Cooldown between two spawns of one worker (0: launch.DefaultCooldown).
	Cooldown time.Duration
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Respawner, with Service (a worker's lock name, e.g. scan_worker),
	// spawns once more when a spawn met an exiting worker (nil: plain
	// launch.Spawn).
	Respawner *launch.Respawner
	Service   func(worker string) string
}

// Spawn starts worker with args fire-and-forget and returns the launch
// status word ("started_unverified"; "busy"/"locked" while another spawn of
// the same worker is recent or in progress). A missing binary or a failed
// start is an error carrying launch's reason code.
func (l WorkerLauncher) Spawn(ctx context.Context, worker string, args []string) (string, error) {
	bin, err := l.Find(worker)
	if err != nil {
		if reason.Code(err) == "" {
			err = reason.Wrap(err, launch.CodeBinaryMissing, reason.KindPermanent)
		}
		return launch.StatusConfigFailed, err
	}
	req := launch.SpawnRequest{Worker: worker, Binary: bin,
		Args: append(append([]string(nil), args...), l.ExtraArgs...), LogsDir: l.LogsDir, RequestedBy: "web",
		Cooldown: l.Cooldown, Dir: l.Dir, Now: l.Now}
	var st launch.SpawnStatus
	if l.Respawner != nil && l.Service != nil {
		st = l.Respawner.Spawn(ctx, req, l.Service(worker))
	} else {
		st = launch.Spawn(ctx, req)
	}
	switch st.Status {
	case launch.StatusStarted, launch.StatusStartedUnverified, launch.StatusRunning, launch.StatusBusy, launch.StatusLocked:
		return st.Status, nil
	}
	return st.Status, reason.New(st.ReasonCode, st.Error)
}
