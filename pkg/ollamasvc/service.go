package ollamasvc

import (
	"bufio"
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/jobs/workerstate"
	"github.com/localsupervisor/supervisor/pkg/ollama"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// ServiceOptions configure a Service.
type ServiceOptions struct {
	DB      *sql.DB
	Queue   *jobs.Queue
	Clock   svtime.Clock
	Config  ollama.Config
	HTTP    *http.Client
	LogsDir string
	// WorkerBin is the ollama-worker binary; WorkerArgs are passed before
	// the per-job flags (e.g. --config=…).
	WorkerBin  string
	WorkerArgs []string
	Sleep      time.Duration
	Batch      int
	MediaID    int64
	MaxBatches int
	MaxMinutes int
	Log        zerolog.Logger
	JobsLog    zerolog.Logger
	ErrorsLog  zerolog.Logger
	// HeartbeatEvery is how often a running child's job row is refreshed
	// and cancel_requested checked (default 1 s).
	HeartbeatEvery time.Duration
	// SystemError records a failed job or round in system_errors.jsonl
	// (cliapp.Env.SystemError, rate-limited there; nil: not recorded).
	SystemError func(code string, fields map[string]any)
}

// Service is the ollama-service loop.
type Service struct {
	o         ServiceOptions
	cfg       ollama.Config
	client    *ollama.Client
	owner     string
	mu        sync.Mutex
	running   map[int64]bool
	done      chan struct{}
	wg        sync.WaitGroup
	down      bool
	downMsg   string
	blockers  map[string]any
	backoff   time.Duration
	lastBatch string
	// guard ties the children's lives to the service's (childGuard);
	// nil when the platform refused it (logged at start).
	guard *childGuard
	// Stats counts finished children.
	Stats ServiceStats
}

// ServiceStats is the service's summary.
type ServiceStats struct {
	Batches   int `json:"batches"`
	Spawned   int `json:"spawned"`
	Done      int `json:"done"`
	Errors    int `json:"errors"`
	Retried   int `json:"retried"`
	Cancelled int `json:"cancelled"`
	Killed    int `json:"killed"`
}

// NewService builds a service.
func NewService(o ServiceOptions) *Service {
	if o.Clock == nil {
		o.Clock = svtime.SystemClock{}
	}
	if o.Sleep <= 0 {
		o.Sleep = time.Second
	}
	if o.HeartbeatEvery <= 0 {
		o.HeartbeatEvery = time.Second
	}
	if o.Queue == nil {
		o.Queue = jobs.NewQueue(jobs.QueueOptions{DB: o.DB, Clock: o.Clock, Config: jobs.DefaultConfig()})
	}
	cfg := o.Config.Normalized()
	if o.Batch <= 0 {
		o.Batch = cfg.Worker.BatchSize
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	host, _ := os.Hostname()
	return &Service{o: o, cfg: cfg, client: ollama.New(cfg, o.HTTP), running: map[int64]bool{}, done: make(chan struct{}, 64),
		owner: fmt.Sprintf("ollama_service:%s:%d:%s", host, os.Getpid(), hex.EncodeToString(b))}
}

// Run is the loop. It never exits because the queue is idle; it returns on
// ctx end (after killing running children) or a MaxBatches/MaxMinutes cap.
func (s *Service) Run(ctx context.Context) (ServiceStats, error) {
	lock, err := workerstate.AcquireLock(s.o.LogsDir, ServiceName, s.o.Clock.Now(), os.Args)
	if err != nil {
		return s.Stats, err
	}
	defer lock.Release()
	if g, err := newChildGuard(); err != nil {
		// Children still run; only a hard kill of the service leaves them
		// to end with their request.
		s.o.Log.Warn().Err(err).Str("event", "child_guard_failed").Msg("child_guard_failed")
	} else {
		s.guard = g
		defer g.close()
	}
	start := s.o.Clock.Now()
	s.o.Log.Info().Str("event", "service_started").Int("pid", os.Getpid()).Int("batch", s.o.Batch).Int("max_concurrency", s.cfg.Worker.MaxConcurrency).Msg("service_started")
	defer func() {
		s.wg.Wait()
		s.writeStatus(context.Background(), "stopped", false)
	}()
	for {
		wait := s.batch(ctx)
		_ = lock.Touch(s.o.Clock.Now())
		if s.o.MaxBatches > 0 && s.Stats.Batches >= s.o.MaxBatches && s.active() == 0 {
			return s.Stats, nil
		}
		if s.o.MaxMinutes > 0 && s.o.Clock.Now().Sub(start) >= time.Duration(s.o.MaxMinutes)*time.Minute {
			s.cancelAll()
			return s.Stats, nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			s.wg.Wait()
			return s.Stats, nil
		case <-s.done:
		case <-t.C:
		}
		t.Stop()
	}
}

func (s *Service) spawned() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Stats.Spawned
}

func (s *Service) active() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.running)
}

func (s *Service) cancelAll() { s.wg.Wait() }

// batch runs one round: recovery, health gate, preflight, claims up to the
// free child slots. It returns how long to wait before the next round.
func (s *Service) batch(ctx context.Context) time.Duration {
	s.mu.Lock()
	s.Stats.Batches++
	s.mu.Unlock()
	s.lastBatch = svtime.NowString(s.o.Clock)
	defer s.writeStatus(ctx, "", true)
	if s.o.Queue != nil {
		if rec, err := s.o.Queue.RecoverStuck(ctx, JobTypes()); err == nil && len(rec) > 0 {
			s.o.Log.Warn().Str("event", "stuck_recovered").Int("count", len(rec)).Msg("stuck_recovered")
		}
	}
	c, err := Counts(ctx, s.o.DB)
	if err != nil {
		s.o.Log.Error().Err(err).Str("event", "counts_failed").Msg("counts_failed")
		s.reportRound("counts_failed", err)
		return s.o.Sleep
	}
	if c.Queued == 0 {
		return s.o.Sleep
	}
	// Health gate: nothing is claimed while Ollama is down, so no attempt
	// is consumed; queued jobs carry blocked_by_ollama for the UI.
	if _, err := s.client.Version(ctx); err != nil {
		if ctx.Err() != nil {
			return s.o.Sleep
		}
		n, _ := s.o.Queue.MarkBlocked(ctx, JobTypes(), CodeBlockedByOllama, "Ollama down", true)
		if !s.down {
			s.backoff = s.o.Sleep
		} else {
			s.backoff = min(s.backoff*2, time.Minute)
		}
		s.down, s.downMsg = true, "Ollama down: "+err.Error()
		s.o.JobsLog.Warn().Str("event", "ollama_down").Str("error_code", ollama.CodeOllamaDown).Str("error", err.Error()).
			Int64("blocked", n).Int64("retry_in_ms", s.backoff.Milliseconds()).Msg("ollama_down")
		s.o.Log.Warn().Str("event", "ollama_down").Str("error", err.Error()).Msg("ollama_down")
		return s.backoff
	}
	if s.down {
		s.o.Log.Info().Str("event", "ollama_up").Msg("ollama_up")
	}
	s.down, s.downMsg = false, ""
	_, _ = s.o.Queue.MarkBlocked(ctx, JobTypes(), CodeBlockedByOllama, "", false)
	// Preflight: only what the queued modes need.
	modes, _ := queuedModes(ctx, s.o.DB)
	var gen []ollama.Mode
	for _, m := range modes {
		if m != ollama.ModeEmbed {
			gen = append(gen, m)
		}
	}
	s.blockers = nil
	if miss := ollama.NewTemplates(s.cfg.PromptsDir).Missing(gen...); len(miss) > 0 {
		s.blockers = map[string]any{CodeMissingPrompts: miss}
		s.o.Log.Error().Str("event", CodeMissingPrompts).Strs("missing", miss).Msg(CodeMissingPrompts)
		return s.o.Sleep
	}
	if miss, err := s.client.MissingModels(ctx, s.cfg.ModelsFor(modes...)); err == nil && len(miss) > 0 {
		s.blockers = map[string]any{CodeMissingModels: miss}
		s.o.Log.Error().Str("event", CodeMissingModels).Strs("missing", miss).Msg(CodeMissingModels)
		return s.o.Sleep
	}
	claimed := 0
	for claimed < s.o.Batch && s.active() < max(1, s.cfg.Worker.MaxConcurrency) && ctx.Err() == nil {
		j, err := claimJob(ctx, s.o.Queue, s.owner+":"+strconv.Itoa(s.spawned()), s.o.MediaID, s.cfg.Worker.MaxRetries+1)
		if err != nil {
			s.o.Log.Error().Err(err).Str("event", "claim_failed").Msg("claim_failed")
			s.reportRound("claim_failed", err)
			break
		}
		if j == nil {
			break
		}
		claimed++
		s.start(ctx, j)
	}
	if claimed > 0 {
		return 0
	}
	return s.o.Sleep
}

func (s *Service) start(ctx context.Context, j *JobRow) {
	s.mu.Lock()
	s.running[j.ID] = true
	s.Stats.Spawned++
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.supervise(ctx, j)
		s.mu.Lock()
		delete(s.running, j.ID)
		s.mu.Unlock()
		select {
		case s.done <- struct{}{}:
		default:
		}
	}()
}

// supervise runs one child with a hard deadline (ModeBudget + kill grace),
// heartbeats the job row, kills the child's process group on timeout, cancel
// or service shutdown, and finalises the row if the child did not.
func (s *Service) supervise(ctx context.Context, j *JobRow) {
	tracePath := TracePath(s.o.LogsDir, s.o.Clock.Now(), j.ID, string(j.Mode), j.Attempt)
	tr := OpenTrace(tracePath, s.o.Clock)
	tr.Set(map[string]any{"job_id": j.ID, "media_id": j.MediaID, "mode": string(j.Mode), "attempt": j.Attempt, "job_type": j.Type})
	_ = tr.Stage("claimed", nil)
	budget := s.cfg.ModeBudget(j.Mode)
	args := append(append([]string{}, s.o.WorkerArgs...), "--job-id="+strconv.FormatInt(j.ID, 10), "--owner="+j.Owner, "--trace-file="+tracePath)
	cmd := exec.Command(s.o.WorkerBin, args...)
	setGroup(cmd)
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		f := j.job.Failure(reason.Transient(CodeChildSpawn, err), false)
		_, _ = finishJob(context.Background(), j, f)
		_ = tr.Fail(CodeChildSpawn, err.Error(), nil)
		s.reportJob(j, string(f.Kind), f.Code, f.Message)
		return
	}
	pid := cmd.Process.Pid
	if s.guard != nil {
		if err := s.guard.adopt(cmd); err != nil {
			s.o.Log.Warn().Err(err).Int64("job_id", j.ID).Int("pid", pid).Str("event", "child_guard_failed").Msg("child_guard_failed")
		}
	}
	_ = j.job.SetPID(context.Background(), pid)
	_ = j.job.SetStage(context.Background(), "child_running")
	var line string
	readDone := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if t := sc.Text(); len(t) > 0 && t[0] == '{' {
				line = t
			}
		}
		close(readDone)
	}()
	exited := make(chan error, 1)
	go func() { <-readDone; exited <- cmd.Wait() }()
	deadline := time.NewTimer(budget)
	defer deadline.Stop()
	tick := time.NewTicker(s.o.HeartbeatEvery)
	defer tick.Stop()
	killReason := ""
loop:
	for {
		select {
		case <-exited:
			break loop
		case <-deadline.C:
			killReason = CodeChildTimeout
			break loop
		case <-ctx.Done():
			// Shutdown: a child about to finish gets the grace period first.
			if !waitExit(exited, s.cfg.KillGrace()) {
				killReason = "shutdown"
			}
			break loop
		case <-tick.C:
			cancel, ok, err := heartbeatJob(context.Background(), s.o.Queue, j)
			if err != nil {
				continue // DB busy: the lease survives a missed beat
			}
			if cancel {
				killReason = CodeCancelled
				break loop
			}
			if !ok {
				// The row was deleted or cancelled by force (web delete
				// force=1): stop the child now, before it stores a result
				// the delete just removed.
				if st, owner, err := jobState(context.Background(), s.o.DB, j.ID); reason.Code(err) == CodeJobNotFound ||
					(err == nil && (st == "cancelled" || owner != j.Owner)) {
					killReason = "lost"
					break loop
				}
				// The child wrote its end state: it is about to exit; only
				// a child that lingers is killed.
				if !waitExit(exited, s.cfg.KillGrace()) {
					killReason = "lost"
				}
				break loop
			}
		}
	}
	if killReason == "" {
		var r ChildResult
		_ = json.Unmarshal([]byte(line), &r)
		s.count(r.Status)
		// A child that died without writing its end state (crash, OOM).
		if st, owner, err := jobState(context.Background(), s.o.DB, j.ID); err == nil && st == "running" && owner == j.Owner {
			f := j.job.Failure(reason.Transient(CodeChildNoResult, errors.New("child exited without result")), false)
			_, _ = finishJob(context.Background(), j, f)
			_ = tr.Fail(CodeChildNoResult, "child exited without result", nil)
			r.Status, r.Code, r.Error = string(f.Kind), f.Code, f.Message
		}
		s.reportJob(j, r.Status, r.Code, r.Error)
		return
	}
	s.mu.Lock()
	s.Stats.Killed++
	s.mu.Unlock()
	term := []map[string]any{{"method": "sigterm_group", "ok": signalGroup(pid, true) == nil}}
	grace := time.NewTimer(s.cfg.KillGrace())
	killFailed := false
	select {
	case <-exited:
	case <-grace.C:
		term = append(term, map[string]any{"method": "sigkill_group", "ok": signalGroup(pid, false) == nil})
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			killFailed = true
		}
	}
	grace.Stop()
	var f jobs.Ending
	switch {
	case killFailed:
		f = j.job.Failure(reason.New(CodeKillFailed, "child did not exit after SIGKILL"), true)
	case killReason == CodeCancelled:
		f = jobs.Cancelled("cancelled_by_parent")
	case killReason == "lost":
		// Nothing to finalise: the row is gone, cancelled by someone else
		// or finished by the child.
		_ = tr.Stage("child_lost_killed", map[string]any{"termination": term})
		s.o.JobsLog.Warn().Str("event", "killed").Int64("job_id", j.ID).Str("mode", string(j.Mode)).Int("pid", pid).Str("reason", killReason).
			Str("trace_file", tracePath).Interface("termination", term).Msg("killed")
		return
	case killReason == "shutdown":
		// Not the job's fault: give the attempt back.
		_, _ = finishJob(context.Background(), j, jobs.Released(jobs.CodeShutdownReleased, "released at service shutdown"))
		_ = tr.Fail("shutdown_released", "service stopped", map[string]any{"killed": true, "termination": term})
		return
	default:
		f = j.job.Failure(reason.Transient(CodeChildTimeout, fmt.Errorf("killed_by_parent_timeout after %s", budget)), false)
	}
	_, _ = finishJob(context.Background(), j, f)
	s.count(string(f.Kind))
	s.reportJob(j, string(f.Kind), f.Code, f.Message)
	_ = tr.Fail(cmp.Or(f.Code, CodeCancelled), f.Message, map[string]any{"killed": true, "kill_failed": killFailed, "termination": term, "budget_ms": budget.Milliseconds()})
	s.o.JobsLog.Warn().Str("event", "killed").Int64("job_id", j.ID).Str("mode", string(j.Mode)).Int("pid", pid).Str("reason", killReason).
		Str("status", string(f.Kind)).Str("error_code", f.Code).Str("trace_file", tracePath).Interface("termination", term).Msg("killed")
}

// waitExit reports whether the child exits within d.
func waitExit(exited <-chan error, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-exited:
		return true
	case <-t.C:
		return false
	}
}

// reportJob records a child run that failed (the job was retried or ended
// in error) in system_errors.jsonl; done and cancelled runs are not errors.
func (s *Service) reportJob(j *JobRow, status, code, msg string) {
	if s.o.SystemError == nil || status == "done" || status == "cancelled" || status == "released" {
		return
	}
	s.o.SystemError(cmp.Or(code, "ollama_job_failed"), map[string]any{"message": reason.Truncate(cmp.Or(msg, code, "failed"), 500),
		"job_id": j.ID, "job_type": j.Type, "mode": string(j.Mode), "attempt": j.Attempt, "status": status})
}

// reportRound records a failed service round (counts, claim).
func (s *Service) reportRound(code string, err error) {
	if s.o.SystemError == nil {
		return
	}
	s.o.SystemError(reason.CodeOr(err, code), map[string]any{"message": reason.Truncate(err.Error(), 500), "kind": code})
}

func (s *Service) count(status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch status {
	case "done":
		s.Stats.Done++
	case "retry":
		s.Stats.Retried++
	case "cancelled":
		s.Stats.Cancelled++
	default:
		s.Stats.Errors++
	}
}

// writeStatus writes the runtime heartbeat and global status from the DB,
// so the counts are real also on exit.
func (s *Service) writeStatus(ctx context.Context, state string, running bool) {
	if ctx.Err() != nil {
		ctx = context.Background()
	}
	s.mu.Lock()
	ids := make([]int64, 0, len(s.running))
	for id := range s.running {
		ids = append(ids, id)
	}
	st := s.Stats
	s.mu.Unlock()
	if state == "" {
		state = "idle"
		if len(ids) > 0 {
			state = "running"
		}
	}
	now := svtime.NowString(s.o.Clock)
	_ = writeRuntime(s.o.LogsDir, HeartbeatFile, RuntimeHeartbeat{TS: now, PID: os.Getpid(), Owner: "worker:ollama", State: state, CurrentJobs: ids, LastBatchTS: s.lastBatch})
	_ = workerstate.WriteHeartbeat(s.o.LogsDir, workerstate.Heartbeat{Service: ServiceName, PID: os.Getpid(), State: state,
		LastHeartbeatUTC: now, Processed: int64(st.Done + st.Errors), Errors: int64(st.Errors)})
	gs := GlobalStatus{TS: now, WorkerPID: os.Getpid(), WorkerRunning: running, LastBatchTS: s.lastBatch, Children: ids, Blockers: s.blockers}
	if c, err := Counts(ctx, s.o.DB); err == nil {
		gs.QueueQueued, gs.QueuePending, gs.QueueRunning, gs.ByMode = c.Queued, c.Queued, c.Running, c.ByMode
	}
	if s.down {
		msg := s.downMsg
		gs.LastError = &msg
		if gs.Blockers == nil {
			gs.Blockers = map[string]any{}
		}
		gs.Blockers[ollama.CodeOllamaDown] = true
	}
	_ = writeRuntime(s.o.LogsDir, GlobalStatusFile, gs)
}
