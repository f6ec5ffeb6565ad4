// Package supervise lets webui run --loop workers itself (config
// workers.supervise, e.g. ["scan","media"]): it starts each worker binary,
// restarts it with exponential backoff when it exits, stops it on shutdown
// (SIGTERM, then kill after a grace period) and reports every worker's state
// for /health.php and the dashboard.
package supervise

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/localsupervisor/supervisor/pkg/config"
	"github.com/localsupervisor/supervisor/pkg/jobs/workerstate"
	"github.com/localsupervisor/supervisor/pkg/modules"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// CodeBinaryMissing is the reason code when a supervised worker's binary
// cannot be found.
const CodeBinaryMissing = "worker_binary_missing"

// Worker states reported by State.State.
const (
	StateStarting = "starting"
	StateRunning  = "running"
	StateBackoff  = "backoff" // exited, waiting to restart
	StateStopping = "stopping"
	StateStopped  = "stopped"
)

// Spec describes one supervised worker process.
type Spec struct {
	Name string // short name ("scan")
	Path string // resolved binary path
	// Service names the worker's lock and heartbeat files (scan_worker);
	// "" reports no heartbeat.
	Service string
	Args    []string // e.g. --loop --config=...
	Dir     string   // working directory ("" = inherit)
	Env     []string // nil = inherit
}

// State is a snapshot of one worker, JSON-ready for /health.php.
type State struct {
	Name       string `json:"name"`
	Path       string `json:"path"`
	State      string `json:"state"`
	PID        int    `json:"pid,omitempty"`
	Restarts   int    `json:"restarts"`
	StartedAt  string `json:"started_at,omitempty"`
	LastExit   string `json:"last_exit,omitempty"`
	LastExitAt string `json:"last_exit_at,omitempty"`
	NextStart  string `json:"next_start_at,omitempty"`
	LastError  string `json:"last_error,omitempty"`
	// Service, Heartbeat (a workerstate status: busy, alive, stale,
	// stopped, missing), LastHeartbeatUTC and HeartbeatAge come from the
	// worker's own heartbeat file, read at every States call: a live
	// process whose heartbeat went stale (hung) shows "stale" on the next
	// health poll.
	Service          string `json:"service,omitempty"`
	Heartbeat        string `json:"heartbeat,omitempty"`
	HeartbeatReason  string `json:"heartbeat_reason,omitempty"`
	LastHeartbeatUTC string `json:"last_heartbeat_utc,omitempty"`
	HeartbeatAge     int64  `json:"heartbeat_age_seconds,omitempty"`
	// HeartbeatPID differs from PID for a moment after a restart: the
	// file is still the predecessor's until the new process writes.
	HeartbeatPID int `json:"heartbeat_pid,omitempty"`
}

// Running reports whether the worker process is up.
func (s State) Running() bool { return s.State == StateRunning }

// Options configures a Supervisor. Zero durations take the defaults.
type Options struct {
	Specs []Spec
	Log   zerolog.Logger
	// Clock stamps the reported times; waiting uses real timers.
	Clock svtime.Clock
	// MinBackoff (1 s) doubles per quick crash up to MaxBackoff (60 s).
	MinBackoff, MaxBackoff time.Duration
	// StableAfter (60 s): a run at least this long resets the backoff, so
	// a worker that crashes once a day restarts at once.
	StableAfter time.Duration
	// Grace (15 s) between SIGTERM and kill on shutdown. It must outlast
	// jobs.shutdown_grace_seconds (10 s by default) so a worker can finish
	// or release its running job before it is killed.
	Grace time.Duration
	// LogsDir holds the workers' heartbeat files; "" reports none.
	LogsDir string
	// Fresh (180 s, as /health.php) is how old a heartbeat may be.
	Fresh time.Duration
	// Stdout/Stderr of the workers (nil: discarded; workers log to their
	// own rotated files).
	Stdout, Stderr io.Writer
}

// Supervisor runs the workers. Create with New, then Run.
type Supervisor struct {
	o      Options
	mu     sync.Mutex
	states []State
}

// New validates the options.
func New(o Options) (*Supervisor, error) {
	if o.Clock == nil {
		o.Clock = svtime.SystemClock{}
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = time.Second
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = 60 * time.Second
		if o.MaxBackoff < o.MinBackoff {
			o.MaxBackoff = o.MinBackoff
		}
	}
	if o.StableAfter <= 0 {
		o.StableAfter = 60 * time.Second
	}
	if o.Grace <= 0 {
		o.Grace = 15 * time.Second
	}
	if o.Fresh <= 0 {
		o.Fresh = 180 * time.Second
	}
	s := &Supervisor{o: o}
	seen := map[string]bool{}
	for _, sp := range o.Specs {
		if sp.Name == "" || sp.Path == "" {
			return nil, errors.New("supervise: spec needs Name and Path")
		}
		if seen[sp.Name] {
			return nil, fmt.Errorf("supervise: worker %q listed twice", sp.Name)
		}
		seen[sp.Name] = true
		s.states = append(s.states, State{Name: sp.Name, Path: sp.Path, Service: sp.Service, State: StateStopped})
	}
	return s, nil
}

// States returns a copy of every worker's current state, in spec order,
// with its heartbeat as of now. The files are read outside the mutex so a
// slow disk never blocks the restart loops.
func (s *Supervisor) States() []State {
	s.mu.Lock()
	out := append([]State(nil), s.states...)
	s.mu.Unlock()
	if s.o.LogsDir == "" {
		return out
	}
	now := s.o.Clock.Now()
	for i := range out {
		if out[i].Service == "" {
			continue
		}
		hb := workerstate.ServiceState(s.o.LogsDir, out[i].Service, now, s.o.Fresh)
		out[i].Heartbeat, out[i].HeartbeatReason = hb.Status, hb.ReasonCode
		out[i].LastHeartbeatUTC, out[i].HeartbeatAge, out[i].HeartbeatPID = hb.LastHeartbeatUTC, hb.AgeSeconds, hb.PID
	}
	return out
}

func (s *Supervisor) update(i int, f func(*State)) {
	s.mu.Lock()
	f(&s.states[i])
	s.mu.Unlock()
}

// Run starts every worker and keeps them running until ctx is cancelled;
// then it stops them and returns once all have exited.
func (s *Supervisor) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for i := range s.o.Specs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.loop(ctx, i)
		}()
	}
	wg.Wait()
	return nil
}

func (s *Supervisor) loop(ctx context.Context, i int) {
	sp := s.o.Specs[i]
	log := s.o.Log.With().Str("worker", sp.Name).Logger()
	backoff := s.o.MinBackoff
	for ctx.Err() == nil {
		s.update(i, func(st *State) { st.State, st.PID, st.NextStart = StateStarting, 0, "" })
		cmd := exec.Command(sp.Path, sp.Args...)
		cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = sp.Dir, sp.Env, s.o.Stdout, s.o.Stderr
		started := time.Now()
		var exitMsg string
		if err := cmd.Start(); err != nil {
			exitMsg = "start failed: " + err.Error()
			log.Error().Err(err).Str("event", "worker_start_failed").Msg("supervise")
		} else {
			pid := cmd.Process.Pid
			s.update(i, func(st *State) {
				st.State, st.PID, st.StartedAt, st.LastError = StateRunning, pid, svtime.Format(s.o.Clock.Now()), ""
			})
			log.Info().Int("pid", pid).Str("event", "worker_started").Msg("supervise")
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			err, hung := s.watch(ctx, i, cmd, done, log)
			exitMsg = exitString(err)
			if hung {
				exitMsg = "hung (heartbeat stale), stopped: " + exitMsg
			}
			log.Info().Int("pid", pid).Str("exit", exitMsg).Str("event", "worker_exited").Msg("supervise")
		}
		now := svtime.Format(s.o.Clock.Now())
		if ctx.Err() != nil {
			s.update(i, func(st *State) { st.State, st.PID, st.LastExit, st.LastExitAt = StateStopped, 0, exitMsg, now })
			return
		}
		// A long healthy run resets the backoff; quick crashes double it.
		if time.Since(started) >= s.o.StableAfter {
			backoff = s.o.MinBackoff
		}
		wait := backoff
		backoff = min(backoff*2, s.o.MaxBackoff)
		s.update(i, func(st *State) {
			st.State, st.PID, st.LastExit, st.LastExitAt = StateBackoff, 0, exitMsg, now
			st.NextStart = svtime.Format(s.o.Clock.Now().Add(wait))
			if strings.HasPrefix(exitMsg, "start failed") {
				st.LastError = exitMsg
			}
		})
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			s.update(i, func(st *State) { st.State, st.NextStart = StateStopped, "" })
			return
		case <-t.C:
		}
		s.update(i, func(st *State) { st.Restarts++ })
	}
	s.update(i, func(st *State) { st.State = StateStopped })
}

// watch waits for the worker to exit or ctx to end. A worker whose own
// heartbeat (same pid) has gone stale is hung — a live process that does
// no work and would never exit on its own — so it is stopped like at
// shutdown and the loop restarts it. Workers refresh their heartbeat every
// few seconds while idle and while a job runs, so only a stuck process
// crosses the freshness limit.
func (s *Supervisor) watch(ctx context.Context, i int, cmd *exec.Cmd, done <-chan error, log zerolog.Logger) (err error, hung bool) {
	var tick <-chan time.Time
	sp := s.o.Specs[i]
	if s.o.LogsDir != "" && sp.Service != "" && s.o.Fresh > 0 {
		t := time.NewTicker(max(s.o.Fresh/4, 100*time.Millisecond))
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case err = <-done:
			return err, false
		case <-ctx.Done():
			s.update(i, func(st *State) { st.State = StateStopping })
			return s.stop(cmd, done, log), false
		case <-tick:
			hb := workerstate.ServiceState(s.o.LogsDir, sp.Service, s.o.Clock.Now(), s.o.Fresh)
			if hb.PID != cmd.Process.Pid || hb.ReasonCode != "heartbeat_file_stale" {
				continue
			}
			log.Warn().Int("pid", hb.PID).Int64("heartbeat_age_seconds", hb.AgeSeconds).Str("event", "worker_hung").Msg("supervise")
			s.update(i, func(st *State) { st.State = StateStopping })
			return s.stop(cmd, done, log), true
		}
	}
}

// stop asks the worker to finish its current job (SIGTERM) and kills it
// after the grace period. Windows has no SIGTERM for other processes, so
// the signal fails there and the worker is killed at once.
func (s *Supervisor) stop(cmd *exec.Cmd, done <-chan error, log zerolog.Logger) error {
	if runtime.GOOS == "windows" || cmd.Process.Signal(syscall.SIGTERM) != nil {
		_ = cmd.Process.Kill()
		return <-done
	}
	t := time.NewTimer(s.o.Grace)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		log.Warn().Int("pid", cmd.Process.Pid).Str("event", "worker_kill_after_grace").Msg("supervise")
		_ = cmd.Process.Kill()
		return <-done
	}
}

func exitString(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error() // "exit status 1", "signal: killed"
}

// worker is what a configured name in workers.supervise stands for.
type worker struct {
	bin     string   // binary without .exe
	service string   // lock/heartbeat name
	args    []string // service-mode flags
}

// lookup maps a configured name to its worker. Short names are what
// configs use ("scan", "library_rename"); two differ from the <name>-worker
// pattern: library renames run in library-rename-worker, and Ollama's
// long-running process is ollama-service, which has no --loop flag
// (ollama-worker runs one job as its child). A full binary name
// ("scan-worker", "ollama-service", also with underscores) is taken as
// given, so Find("ollama-worker") still finds that binary.
func lookup(name string) worker {
	key := strings.ReplaceAll(strings.ToLower(strings.TrimSuffix(strings.TrimSpace(name), ".exe")), "_", "-")
	switch {
	case strings.HasSuffix(key, "-service"):
		return worker{bin: key, service: strings.ReplaceAll(key, "-", "_")}
	case strings.HasSuffix(key, "-worker"):
	case key == "ollama":
		return worker{bin: "ollama-service", service: "ollama_service"}
	case key == "rename" || key == "library-rename":
		key = "library-rename-worker"
	default:
		key += "-worker"
	}
	return worker{bin: key, service: strings.ReplaceAll(key, "-", "_"), args: []string{"--loop"}}
}

// BinaryName maps a configured worker name to its binary: "scan" →
// "scan-worker" ("scan-worker" stays, "ollama" → "ollama-service"), with
// ".exe" on Windows.
func BinaryName(name string) string {
	b := lookup(name).bin
	if runtime.GOOS == "windows" {
		b += ".exe"
	}
	return b
}

// ServiceName is the lock/heartbeat name of a configured worker ("scan" →
// "scan_worker").
func ServiceName(name string) string { return lookup(name).service }

// Find locates a worker binary in binDir, then beside exeDir (the webui
// executable), then on $PATH.
func Find(name, binDir, exeDir string) (string, error) {
	bin := BinaryName(name)
	for _, d := range []string{binDir, exeDir} {
		if d == "" {
			continue
		}
		p := filepath.Join(d, bin)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	if p, err := exec.LookPath(bin); err == nil {
		return p, nil
	}
	return "", reason.Newf(CodeBinaryMissing, "worker binary %s not found (workers.bin_dir, beside webui, $PATH)", bin)
}

// FindConfigured is Find with the configured workers.bin_dir, resolved
// against the base directory as every configured path is: the one lookup
// of webui's supervision and of its fire-and-forget spawns.
func FindConfigured(cfg *config.Config, name, exeDir string) (string, error) {
	binDir := cfg.Workers.BinDir
	if binDir != "" {
		binDir = cfg.Resolve(binDir)
	}
	return Find(name, binDir, exeDir)
}

// SpecsFromConfig builds the specs for cfg.Workers.Supervise: every worker
// runs in service mode (--loop) with the same config file as webui. A
// relative workers.bin_dir resolves against the base directory, as every
// configured path does, not against webui's working directory.
func SpecsFromConfig(cfg *config.Config, exeDir string) ([]Spec, error) {
	mods, err := modules.Load(cfg)
	if err != nil {
		return nil, err
	}
	var specs []Spec
	for _, n := range cfg.Workers.Supervise {
		n = strings.TrimSpace(n)
		if n == "" || !serviceEnabled(mods, n) {
			continue
		}
		p, err := FindConfigured(cfg, n, exeDir)
		if err != nil {
			return nil, err
		}
		w := lookup(n)
		args := append([]string(nil), w.args...)
		if cfg.ConfigPath != "" {
			args = append(args, "--config="+cfg.ConfigPath)
		}
		specs = append(specs, Spec{Name: n, Path: p, Service: w.service, Args: args, Dir: cfg.BaseDir})
	}
	return specs, nil
}

// serviceEnabled reports whether the service a worker talks to is
// enabled: forge and ollama workers are supervised only with forge.enabled
// (or comfyui.enabled: forge-worker also runs the ComfyUI regenerations)
// and ollama.enabled (the embedded defaults list them, so enabling the
// service is all it takes); every other worker always is.
func serviceEnabled(mods modules.Modules, name string) bool {
	switch lookup(name).bin {
	case "forge-worker":
		return mods.Enabled("forge") || mods.Enabled("comfyui")
	case "ollama-service", "ollama-worker":
		return mods.Enabled("ollama")
	}
	return true
}

// OptionsFromConfig fills the parts of Options that come from the
// configuration: the specs, the logs folder with the heartbeats and the
// freshness threshold (jobs.fresh_seconds when set).
func OptionsFromConfig(cfg *config.Config, exeDir string, fresh time.Duration) (Options, error) {
	specs, err := SpecsFromConfig(cfg, exeDir)
	if err != nil {
		return Options{}, err
	}
	return Options{Specs: specs, LogsDir: cfg.Paths.Logs, Fresh: fresh}, nil
}
