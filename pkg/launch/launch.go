// Package launch starts worker binaries fire-and-forget from another
// process (web UI, Ollama service): a new session/process group, stdin from
// the null device, stdout/stderr to timestamped files in the logs root, a
// spawn lock and cooldown, and LOGS/<worker>_spawn_last.json. A spawn never
// blocks to verify; whether a worker runs is decided by its lock and fresh
// heartbeat (workerstate.ServiceState), never by a bare PID.
package launch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gofrs/flock"

	"github.com/localsupervisor/supervisor/pkg/jobs/workerstate"
)

// Spawn status values (unified over all spawners).
const (
	StatusStarted           = "started"
	StatusStartedUnverified = "started_unverified"
	StatusRunning           = "running"
	StatusLocked            = "locked"
	StatusBusy              = "busy"
	StatusStartFailed       = "start_failed"
	StatusOpenFailed        = "open_failed"
	StatusConfigFailed      = "config_failed"
)

// Reason codes.
const (
	CodeLogRootUnavailable = "log_root_unavailable"
	CodeSpawnLockOpen      = "spawn_lock_open_failed"
	CodeSpawnLockBusy      = "spawn_lock_busy"
	CodeSpawnCooldown      = "spawn_cooldown"
	CodeSpawnUnverified    = "spawn_unverified"
	CodeSpawnFailed        = "spawn_failed"
	CodeBinaryMissing      = "worker_binary_missing"
	CodeWorkerRunning      = "worker_running"
)

// DefaultCooldown is the minimum time between two spawns of one worker.
const DefaultCooldown = 10 * time.Second

// SpawnRequest describes one spawn.
type SpawnRequest struct {
	// Worker names the files (<Worker>_spawn_last.json, spawn logs) and is
	// the service name checked with SkipIfRunning. Required.
	Worker string
	// Binary is the executable: an absolute/relative path, or a bare name
	// looked up next to the current executable, then in $PATH.
	Binary string
	// Args are passed as a list (no shell; paths with spaces are safe).
	Args []string
	// LogsDir is the logs root. Required.
	LogsDir string
	// RequestedBy is recorded (cli, web, ollama_service).
	RequestedBy string
	// Cooldown since the last spawn (default 10 s; negative disables).
	Cooldown time.Duration
	// SkipIfRunning answers "running" when the worker's lock is held and
	// its heartbeat is fresh (FreshFor, default 180 s).
	SkipIfRunning bool
	FreshFor      time.Duration
	// Env replaces the child's environment (nil: inherit).
	Env []string
	// Dir is the child's working directory (default: inherit).
	Dir string
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// SpawnStatus is the result, also written to <Worker>_spawn_last.json.
type SpawnStatus struct {
	TsUTC       string   `json:"ts_utc"`
	RequestedBy string   `json:"requested_by"`
	PID         int      `json:"pid"`
	Command     []string `json:"command"`
	Status      string   `json:"status"`
	ReasonCode  string   `json:"reason_code"`
	OutLog      string   `json:"out_log"`
	ErrLog      string   `json:"err_log"`
	Error       string   `json:"error,omitempty"`
}

// OK reports whether a worker was started or is already running.
func (s SpawnStatus) OK() bool {
	return s.Status == StatusStarted || s.Status == StatusStartedUnverified || s.Status == StatusRunning
}

// LastPath is LOGS/<worker>_spawn_last.json.
func LastPath(logsDir, worker string) string {
	return filepath.Join(logsDir, worker+"_spawn_last.json")
}

// ReadLast reads the last spawn status of worker.
func ReadLast(logsDir, worker string) (SpawnStatus, error) {
	var s SpawnStatus
	b, err := os.ReadFile(LastPath(logsDir, worker))
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(b, &s)
}

// ResolveBinary finds a worker binary: a path containing a separator is
// used as is; a bare name is looked up next to the current executable
// (installed layout), then in $PATH.
func ResolveBinary(name string) (string, error) {
	if name == "" {
		return "", errors.New("no worker binary given")
	}
	if strings.ContainsAny(name, `/\`) {
		if _, err := os.Stat(name); err != nil {
			return "", err
		}
		return filepath.Abs(name)
	}
	if exe, err := os.Executable(); err == nil {
		for _, cand := range []string{name, name + exeSuffix} {
			p := filepath.Join(filepath.Dir(exe), cand)
			if st, err := os.Stat(p); err == nil && !st.IsDir() {
				return p, nil
			}
		}
	}
	return exec.LookPath(name)
}

// DetachAttr is the process attribute Spawn starts children with (own
// session/process group, no console), for other managers of long-lived
// children (vidax's ComfyUI) that need the same detachment and StopGroup.
func DetachAttr() *syscall.SysProcAttr { return detachAttr() }

// Spawn starts the worker detached and returns at once. The context only
// bounds the preparation; the child is not tied to it.
func Spawn(ctx context.Context, req SpawnRequest) SpawnStatus {
	now := time.Now
	if req.Now != nil {
		now = req.Now
	}
	t := now().UTC()
	st := SpawnStatus{TsUTC: workerstate.Format(t), RequestedBy: req.RequestedBy, Command: append([]string{req.Binary}, req.Args...)}
	if err := ctx.Err(); err != nil {
		st.Status, st.ReasonCode, st.Error = StatusStartFailed, CodeSpawnFailed, err.Error()
		return st
	}
	if err := workerstate.EnsureDir(req.LogsDir); err != nil {
		st.Status, st.ReasonCode, st.Error = StatusOpenFailed, CodeLogRootUnavailable, err.Error()
		return st
	}
	fl := flock.New(filepath.Join(req.LogsDir, req.Worker+"_spawn.lock"), flock.SetFlag(os.O_CREATE|os.O_RDWR))
	ok, err := fl.TryLock()
	if err != nil {
		st.Status, st.ReasonCode, st.Error = StatusOpenFailed, CodeSpawnLockOpen, err.Error()
		return st
	}
	if !ok {
		st.Status, st.ReasonCode = StatusLocked, CodeSpawnLockBusy
		return st
	}
	defer fl.Unlock()

	if req.SkipIfRunning {
		fresh := req.FreshFor
		if fresh <= 0 {
			fresh = 180 * time.Second
		}
		if ss := workerstate.ServiceState(req.LogsDir, req.Worker, t, fresh); ss.Running {
			st.Status, st.ReasonCode, st.PID = StatusRunning, CodeWorkerRunning, ss.PID
			return st
		}
	}
	cool := req.Cooldown
	if cool == 0 {
		cool = DefaultCooldown
	}
	if last, err := ReadLast(req.LogsDir, req.Worker); err == nil && cool > 0 && last.OK() {
		if lt, perr := time.Parse("2006-01-02T15:04:05Z", last.TsUTC); perr == nil && t.Sub(lt) < cool {
			st.Status, st.ReasonCode, st.PID = StatusBusy, CodeSpawnCooldown, last.PID
			return st
		}
	}
	st = start(req, st, t)
	if err := workerstate.WriteJSONAtomic(LastPath(req.LogsDir, req.Worker), st); err != nil && st.Error == "" {
		st.Error = fmt.Sprintf("write spawn status: %v", err)
	}
	return st
}

func start(req SpawnRequest, st SpawnStatus, t time.Time) SpawnStatus {
	bin, err := ResolveBinary(req.Binary)
	if err != nil {
		st.Status, st.ReasonCode, st.Error = StatusConfigFailed, CodeBinaryMissing, err.Error()
		return st
	}
	st.Command[0] = bin
	stamp := workerstate.FileStamp(t)
	st.OutLog = filepath.Join(req.LogsDir, fmt.Sprintf("%s_spawn_%s.out.log", req.Worker, stamp))
	st.ErrLog = filepath.Join(req.LogsDir, fmt.Sprintf("%s_spawn_%s.err.log", req.Worker, stamp))
	out, err := os.OpenFile(st.OutLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		st.Status, st.ReasonCode, st.Error = StatusOpenFailed, CodeLogRootUnavailable, err.Error()
		return st
	}
	defer out.Close()
	errf, err := os.OpenFile(st.ErrLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		st.Status, st.ReasonCode, st.Error = StatusOpenFailed, CodeLogRootUnavailable, err.Error()
		return st
	}
	defer errf.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		st.Status, st.ReasonCode, st.Error = StatusOpenFailed, CodeSpawnFailed, err.Error()
		return st
	}
	defer devnull.Close()
	cmd := exec.Command(bin, req.Args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, out, errf
	cmd.Env, cmd.Dir = req.Env, req.Dir
	cmd.SysProcAttr = detachAttr()
	if err := cmd.Start(); err != nil {
		st.Status, st.ReasonCode, st.Error = StatusStartFailed, CodeSpawnFailed, err.Error()
		return st
	}
	st.PID = cmd.Process.Pid
	// Reap the child when it exits so a long-running parent (webui) does not
	// collect zombies; this never blocks the caller.
	go func() { _ = cmd.Wait() }()
	st.Status, st.ReasonCode = StatusStartedUnverified, CodeSpawnUnverified
	return st
}
