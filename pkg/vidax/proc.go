package vidax

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/localsupervisor/supervisor/pkg/jobs/workerstate"
	"github.com/localsupervisor/supervisor/pkg/launch"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// Process-manager defaults, as the original's.
const (
	LogMaxBytesDefault = 10 << 20
	LogKeepDefault     = 5
	GraceDefault       = 2 * time.Second
	// earlyExitDefault is how long Start watches a new process: one that
	// dies at once (bad command, missing main.py) is reported as a failed
	// start with its error log instead of "started".
	earlyExitDefault = 700 * time.Millisecond
)

// LogPaths are the ComfyUI log files.
type LogPaths struct {
	Stdout string `json:"stdout"`
	Stderr string `json:"stderr"`
}

// ProcState is <state>/state/vidax/comfyui.json.
type ProcState struct {
	PID        int      `json:"pid"`
	StartedAt  string   `json:"started_at"`
	Command    []string `json:"command"`
	WorkingDir string   `json:"working_dir"`
	Logs       LogPaths `json:"logs"`
	URL        string   `json:"url,omitempty"`
}

// ProcStatus is the ComfyUI part of /install/status.
type ProcStatus struct {
	Running   bool     `json:"running"`
	PID       int      `json:"pid,omitempty"`
	StartedAt string   `json:"started_at,omitempty"`
	Command   []string `json:"command,omitempty"`
	Logs      LogPaths `json:"logs"`
	URL       string   `json:"url,omitempty"`
	// Responding is whether URL answered (nil: no URL known or not
	// running).
	Responding *bool `json:"responding,omitempty"`
}

// Process starts, watches and stops one ComfyUI process. The state file
// is the truth (a restarted vidax finds its ComfyUI again); the mutex only
// keeps two requests of one server from starting it twice.
type Process struct {
	Layout Layout
	Comfy  ComfyConfig
	// MaxLogBytes and KeepLogs rotate the logs at start (10 MiB, 5).
	MaxLogBytes int64
	KeepLogs    int
	// Grace is how long Stop waits after SIGTERM before SIGKILL (2 s).
	Grace time.Duration
	// EarlyExit is how long Start watches for an immediate exit.
	EarlyExit time.Duration
	// HTTP probes URL (nil: a 2 s client).
	HTTP *http.Client
	// Clock stamps started_at (nil: the system clock).
	Clock svtime.Clock

	mu sync.Mutex
	// reaped holds, per pid this vidax started, a channel closed once the
	// child was reaped (Stop waits for it so the pid is really gone).
	reaped map[int]chan struct{}
}

// StatePath is comfyui.json.
func (p *Process) StatePath() string { return filepath.Join(p.Layout.Dir(), "comfyui.json") }

// LogPaths are comfyui.out.log and comfyui.err.log.
func (p *Process) LogPaths() LogPaths {
	return LogPaths{Stdout: filepath.Join(p.Layout.Dir(), "comfyui.out.log"), Stderr: filepath.Join(p.Layout.Dir(), "comfyui.err.log")}
}

func (p *Process) readState() (ProcState, error) {
	var st ProcState
	b, err := os.ReadFile(p.StatePath())
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal(b, &st)
}

// alive is the liveness check: the state's pid exists and is still the
// process vidax started (not a recycled pid; see sameProcess).
func (p *Process) alive(st ProcState) bool {
	return st.PID > 0 && workerstate.ProcessAlive(st.PID) && sameProcess(st)
}

// Status reports the process; probe asks its URL whether it answers.
func (p *Process) Status(ctx context.Context, probe bool) ProcStatus {
	out := ProcStatus{Logs: p.LogPaths(), URL: p.Comfy.URL}
	st, err := p.readState()
	if err != nil || !p.alive(st) {
		return out
	}
	out.Running, out.PID, out.StartedAt, out.Command, out.Logs = true, st.PID, st.StartedAt, st.Command, st.Logs
	if st.URL != "" {
		out.URL = st.URL
	}
	if probe && out.URL != "" {
		ok := p.responds(ctx, out.URL)
		out.Responding = &ok
	}
	return out
}

func (p *Process) responds(ctx context.Context, url string) bool {
	hc := p.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 2 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(url, "/")+"/system_stats", nil)
	if err != nil {
		return false
	}
	resp, err := hc.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode < 500
}

// Start starts ComfyUI detached unless it runs; already reports that it
// was running.
func (p *Process) Start(ctx context.Context) (st ProcStatus, already bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s := p.Status(ctx, false); s.Running {
		return s, true, nil
	}
	argv := p.Comfy.Argv()
	if len(argv) == 0 || strings.TrimSpace(argv[0]) == "" {
		return ProcStatus{}, false, reason.New(CodeConfigInvalid, `comfyui.command is empty in vidax.json: set it, e.g. "python main.py" or ["python","main.py"]`)
	}
	if p.Comfy.WorkingDir != "" {
		if fi, err := os.Stat(p.Comfy.WorkingDir); err != nil || !fi.IsDir() {
			return ProcStatus{}, false, reason.Newf(CodeStartFailed, "comfyui.workingDir %s is not a folder: set it to the ComfyUI checkout in vidax.json", p.Comfy.WorkingDir)
		}
	}
	logs := p.LogPaths()
	if err := os.MkdirAll(p.Layout.Dir(), 0o755); err != nil {
		return ProcStatus{}, false, writeErr(p.Layout.Dir(), err)
	}
	maxB, keep := p.MaxLogBytes, p.KeepLogs
	if maxB <= 0 {
		maxB = LogMaxBytesDefault
	}
	if keep <= 0 {
		keep = LogKeepDefault
	}
	for _, l := range []string{logs.Stdout, logs.Stderr} {
		if err := rotate(l, maxB, keep); err != nil {
			return ProcStatus{}, false, writeErr(l, err)
		}
	}
	cmd, exited, err := p.spawn(argv, logs)
	if err != nil {
		return ProcStatus{}, false, err
	}
	state := ProcState{PID: cmd.Process.Pid, StartedAt: svtime.NowString(clockOr(p.Clock)), Command: argv, WorkingDir: p.Comfy.WorkingDir, Logs: logs, URL: p.Comfy.URL}
	if err := workerstate.WriteJSONAtomic(p.StatePath(), state); err != nil {
		_ = stopGroup(context.Background(), state.PID, 0)
		return ProcStatus{}, false, writeErr(p.StatePath(), err)
	}
	early := p.EarlyExit
	if early == 0 {
		early = earlyExitDefault
	}
	select {
	case werr := <-exited:
		delete(p.reaped, state.PID)
		_ = os.Remove(p.StatePath())
		return ProcStatus{Logs: logs}, false, reason.Newf(CodeStartFailed, "ComfyUI (%s) exited right after the start (%v): see %s — %s",
			strings.Join(argv, " "), werr, logs.Stderr, tail(logs.Stderr, 300))
	case <-time.After(early):
	case <-ctx.Done():
	}
	return ProcStatus{Running: true, PID: state.PID, StartedAt: state.StartedAt, Command: argv, Logs: logs, URL: state.URL}, false, nil
}

// spawn starts argv detached with the logs appended and reaps it in the
// background (a vidax that outlives many ComfyUI runs collects no
// zombies, and a dead child is not seen as alive).
func (p *Process) spawn(argv []string, logs LogPaths) (*exec.Cmd, <-chan error, error) {
	out, err := os.OpenFile(logs.Stdout, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, writeErr(logs.Stdout, err)
	}
	defer out.Close()
	errf, err := os.OpenFile(logs.Stderr, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, writeErr(logs.Stderr, err)
	}
	defer errf.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", os.DevNull, err)
	}
	defer devnull.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = p.Comfy.WorkingDir
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, out, errf
	cmd.SysProcAttr = launch.DetachAttr()
	if err := cmd.Start(); err != nil {
		return nil, nil, reason.Newf(CodeStartFailed, "cannot start ComfyUI with %q: %v: check comfyui.command (and comfyui.workingDir) in vidax.json", strings.Join(argv, " "), err)
	}
	if err := afterStart(cmd); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, nil, reason.Newf(CodeStartFailed, "started ComfyUI but could not put it into its process group: %v", err)
	}
	exited := make(chan error, 1)
	done := make(chan struct{})
	if p.reaped == nil {
		p.reaped = map[int]chan struct{}{}
	}
	p.reaped[cmd.Process.Pid] = done
	go func() {
		exited <- cmd.Wait()
		close(done)
	}()
	return cmd, exited, nil
}

// Stop ends ComfyUI: SIGTERM to its process group, Grace, then SIGKILL (on
// Windows its job object is terminated). stopped is false when it was not
// running.
func (p *Process) Stop(ctx context.Context) (stopped bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st, err := p.readState()
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return false, reason.Newf(CodeStopFailed, "the state file %s is unreadable (%v): stop ComfyUI by hand and delete it", p.StatePath(), err)
	}
	if !p.alive(st) {
		_ = os.Remove(p.StatePath())
		return false, nil
	}
	grace := p.Grace
	if grace <= 0 {
		grace = GraceDefault
	}
	if err := stopGroup(ctx, st.PID, grace); err != nil {
		return false, reason.Newf(CodeStopFailed, "could not stop ComfyUI (pid %d): %v: end it by hand", st.PID, err)
	}
	// The group is gone once StopGroup returns; a child of this vidax is
	// waited for until reaped, so its pid is free when Stop answers.
	if done, ok := p.reaped[st.PID]; ok {
		select {
		case <-done:
		case <-ctx.Done():
		}
		delete(p.reaped, st.PID)
	}
	if err := os.Remove(p.StatePath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return true, writeErr(p.StatePath(), err)
	}
	return true, nil
}

func clockOr(c svtime.Clock) svtime.Clock {
	if c == nil {
		return svtime.SystemClock{}
	}
	return c
}

// rotate renames a log of at least maxBytes to .1 (shifting .1…keep-1 up
// and dropping .keep), so every start writes into a small file.
func rotate(path string, maxBytes int64, keep int) error {
	fi, err := os.Stat(path)
	if err != nil || fi.Size() < maxBytes {
		return nil
	}
	_ = os.Remove(path + "." + strconv.Itoa(keep))
	for i := keep - 1; i >= 1; i-- {
		from := path + "." + strconv.Itoa(i)
		if err := os.Rename(from, path+"."+strconv.Itoa(i+1)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return os.Rename(path, path+".1")
}

// tail is the last n bytes of a file, on one line.
func tail(path string, n int64) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	if int64(len(b)) > n {
		b = b[int64(len(b))-n:]
	}
	return strings.Join(strings.Fields(string(bytes.ToValidUTF8(b, nil))), " ")
}
