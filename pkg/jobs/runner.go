package jobs

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/localsupervisor/supervisor/pkg/jobs/workerstate"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

// Handler runs one job. Its result is stored in result_json when it
// returns nil. Errors: reason.Permanent (or any *reason.Error of kind
// permanent) fails the job at once; anything else is retried with backoff
// until max_attempts; Snooze(d) re-queues without counting the attempt. The
// context is cancelled when an operator cancels the job, when the lease is
// lost, or when the shutdown grace period ends.
type Handler func(ctx context.Context, job *Job) (result any, err error)

// RunnerOptions configures NewRunner.
type RunnerOptions struct {
	// Queue is the job table API. Required.
	Queue *Queue
	// Worker names the lock and heartbeat files (LOGS/<Worker>.lock.json,
	// LOGS/<Worker>.heartbeat.json) and prefixes the claim owner. Required.
	Worker string
	// Types lists the job types this worker claims, highest priority first.
	// Required.
	Types []string
	// Handlers maps every type in Types to its handler. Required.
	Handlers map[string]Handler
	// LogsDir is where lock and heartbeat files live. Required.
	LogsDir string
	// Logger receives runner events (default: disabled).
	Logger zerolog.Logger
	// MediaID restricts claims to one media (--media-id).
	MediaID *int64
	// Argv is hashed into the lock file's command_hash (default os.Args).
	Argv []string
	// HeartbeatInterval overrides Config.HeartbeatSeconds (tests).
	HeartbeatInterval time.Duration
	// Grace overrides Config.ShutdownGraceSeconds.
	Grace time.Duration
	// Abandon is how long after the grace period the Runner still waits for
	// a handler that ignores its context before releasing the job anyway
	// (default 5 s).
	Abandon time.Duration
	// ClaimFilter restricts claims per type in SQL, so jobs this worker
	// would refuse are never claimed (scan-worker --path: scan_path jobs
	// whose payload path is outside the prefix stay queued, attempts 0).
	ClaimFilter ClaimFilterFunc
	// OnFailure, when set, is told about every run the Runner ended as a
	// retry or an error (a handler error or panic); snoozed, released and
	// cancelled runs are not failures. The worker command records them in
	// system_errors.jsonl.
	OnFailure func(j *Job, err error)
	// Prefetch is the most jobs claimed per transaction (default 16; 1
	// disables prefetching). The Runner only prefetches while handlers are
	// fast: it claims about PrefetchBudget / (average handler time) jobs, so
	// a held job waits at most ~PrefetchBudget before it starts.
	Prefetch int
	// PrefetchBudget bounds how long prefetched jobs wait (default 20 ms).
	PrefetchBudget time.Duration
}

// Summary counts what a batch or loop did.
type Summary struct {
	Processed int            `json:"processed"`
	Done      int            `json:"done"`
	Errors    int            `json:"error"`
	Retried   int            `json:"retried"`
	Snoozed   int            `json:"snoozed"`
	Cancelled int            `json:"cancelled"`
	Released  int            `json:"released"`
	Lost      int            `json:"lost"`
	Recovered int            `json:"recovered"`
	Batches   int            `json:"batches"`
	ByType    map[string]int `json:"by_type"`
}

func (s *Summary) add(o Summary) {
	s.Processed += o.Processed
	s.Done += o.Done
	s.Errors += o.Errors
	s.Retried += o.Retried
	s.Snoozed += o.Snoozed
	s.Cancelled += o.Cancelled
	s.Released += o.Released
	s.Lost += o.Lost
	s.Recovered += o.Recovered
	s.Batches += o.Batches
	for k, v := range o.ByType {
		if s.ByType == nil {
			s.ByType = map[string]int{}
		}
		s.ByType[k] += v
	}
}

// Runner claims and runs jobs for one worker process. Use Start before
// RunBatch/RunLoop and Close at the end. A Runner runs one job at a time;
// run several processes for parallelism.
type Runner struct {
	q        *Queue
	o        RunnerOptions
	log      zerolog.Logger
	host     string
	pid      int
	interval time.Duration
	grace    time.Duration

	wrr []int // smooth weighted round robin credit per type

	// Hot-path state, used by the RunBatch goroutine only.
	stmts    []claimStmt   // prepared claim statements, one per type
	complete *sql.Stmt     // prepared fenced completion
	pending  []pendingDone // successful jobs whose completion is not written yet
	avg      time.Duration // moving average of handler run time
	avgSet   bool

	// live holds every job this Runner has claimed and not yet finished in
	// the database (held, running, pending completion); the lease keeper
	// heartbeats all of them.
	liveMu sync.Mutex
	live   map[int64]*Job
	cur    *int64

	// prevStop is the stop note of the previous process of this worker,
	// read at Start before the new heartbeat replaces it.
	prevStop stopNote

	mu        sync.Mutex
	lock      *workerstate.Lock
	hb        workerstate.Heartbeat
	lastWrite time.Time
	lastTouch time.Time
}

// NewRunner validates the options and builds a Runner.
func NewRunner(o RunnerOptions) (*Runner, error) {
	if o.Queue == nil || o.Worker == "" || len(o.Types) == 0 || o.LogsDir == "" {
		return nil, errors.New("jobs: RunnerOptions needs Queue, Worker, Types and LogsDir")
	}
	for _, t := range o.Types {
		if _, ok := o.Queue.reg.Spec(t); !ok {
			return nil, reason.Newf(CodeUnknownType, "unknown job type %q", t)
		}
		if o.Handlers[t] == nil {
			return nil, reason.Newf(CodeNoHandler, "no handler for job type %q", t)
		}
	}
	if o.Argv == nil {
		o.Argv = os.Args
	}
	if o.Abandon <= 0 {
		o.Abandon = 5 * time.Second
	}
	if o.Prefetch <= 0 {
		o.Prefetch = 16
	}
	if o.PrefetchBudget <= 0 {
		o.PrefetchBudget = 20 * time.Millisecond
	}
	r := &Runner{q: o.Queue, o: o, log: o.Logger.With().Str("worker", o.Worker).Logger(), pid: os.Getpid(), wrr: make([]int, len(o.Types)), live: map[int64]*Job{}}
	r.host, _ = os.Hostname()
	r.interval = o.HeartbeatInterval
	if r.interval <= 0 {
		r.interval = time.Duration(r.q.cfg.HeartbeatSeconds) * time.Second
	}
	r.grace = o.Grace
	if r.grace <= 0 {
		r.grace = time.Duration(r.q.cfg.ShutdownGraceSeconds) * time.Second
	}
	return r, nil
}

// Start takes the worker lock and writes the "starting" heartbeat. When
// another live process holds the lock the error carries reason code
// lock_busy (callers treat that as "already running", exit 0).
func (r *Runner) Start() error {
	now := r.q.clock.Now()
	l, err := workerstate.AcquireLock(r.o.LogsDir, r.o.Worker, now, r.o.Argv)
	if err != nil {
		var we *workerstate.Error
		if errors.As(err, &we) {
			return &reason.Error{Code: we.Code, Kind: reason.KindPermanent, Err: err}
		}
		return err
	}
	if q := l.Quarantined(); q != "" {
		r.log.Warn().Str("quarantined", q).Msg("stale worker lock moved aside")
	}
	if prev, err := workerstate.ReadHeartbeat(r.o.LogsDir, r.o.Worker); err == nil {
		r.prevStop, _ = readStopNote(prev)
	}
	r.mu.Lock()
	r.lock = l
	ts := workerstate.Format(now)
	r.hb = workerstate.Heartbeat{Service: r.o.Worker, PID: r.pid, State: workerstate.StateStarting, StartedAtUTC: ts}
	r.mu.Unlock()
	r.beat(workerstate.StateStarting, nil, true)
	return nil
}

// Close writes the "stopped" heartbeat and releases the lock.
func (r *Runner) Close() error {
	r.beat(workerstate.StateStopped, nil, true)
	r.mu.Lock()
	l := r.lock
	r.lock = nil
	r.mu.Unlock()
	if l != nil {
		return l.Release()
	}
	return nil
}

// beat updates the heartbeat file (at most once a second unless forced or
// the state changed: a file write per job would cap throughput) and the
// lock's last_heartbeat_utc (at most every 5 s).
func (r *Runner) beat(state string, jobID *int64, force bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lock == nil {
		return
	}
	now := r.q.clock.Now()
	// Only a state change forces a write: current_job_id may lag by up to a
	// second, which keeps the file write off the per-job hot path.
	changed := r.hb.State != state
	r.hb.State, r.hb.CurrentJobID = state, jobID
	if !force && !changed && time.Since(r.lastWrite) < time.Second {
		return
	}
	r.lastWrite = time.Now()
	r.hb.LastHeartbeatUTC = workerstate.Format(now)
	if err := workerstate.WriteHeartbeat(r.o.LogsDir, r.hb); err != nil {
		r.log.Error().Err(err).Msg("write heartbeat file")
	}
	if force || time.Since(r.lastTouch) >= 5*time.Second {
		r.lastTouch = time.Now()
		if err := r.lock.Touch(now); err != nil {
			r.log.Error().Err(err).Msg("touch worker lock")
		}
	}
}

func (r *Runner) count(processed, errs int64) {
	r.mu.Lock()
	r.hb.Processed += processed
	r.hb.Errors += errs
	r.mu.Unlock()
}

// order returns the claim order for the next job: the type with the most
// round-robin credit first, then the rest in declared priority order.
// Smooth weighted round robin (as nginx): every claim adds each type's
// weight to its credit and the claimed type pays the total back, so over
// time each type with work gets claims in proportion to its weight and no
// type starves; credit is capped so an idle type cannot bank a burst.
func (r *Runner) order() []string {
	best := r.best(r.wrr)
	out := make([]string, 0, len(r.o.Types))
	out = append(out, r.o.Types[best])
	for i, t := range r.o.Types {
		if i != best {
			out = append(out, t)
		}
	}
	return out
}

// best is the type index with the most credit after this round's weight.
func (r *Runner) best(credit []int) int {
	best := 0
	for i := range r.o.Types {
		if credit[i]+r.weight(i) > credit[best]+r.weight(best) {
			best = i
		}
	}
	return best
}

func (r *Runner) weight(i int) int {
	s, _ := r.q.reg.Spec(r.o.Types[i])
	return s.Weight
}

func (r *Runner) charge(typ string) {
	for i, t := range r.o.Types {
		if t == typ {
			r.chargeIdx(r.wrr, i)
			return
		}
	}
}

func (r *Runner) chargeIdx(credit []int, idx int) {
	total := 0
	for i := range r.o.Types {
		total += r.weight(i)
	}
	for i := range r.o.Types {
		credit[i] += r.weight(i)
		if i == idx {
			credit[i] -= total
		}
		if credit[i] > total {
			credit[i] = total
		}
	}
}

// plan splits n claim slots over the types as n rounds of the weighted
// round robin would (on a copy of the credit; charge happens per claimed
// job).
func (r *Runner) plan(n int) []int {
	credit := append([]int(nil), r.wrr...)
	quota := make([]int, len(r.o.Types))
	for range n {
		b := r.best(credit)
		quota[b]++
		r.chargeIdx(credit, b)
	}
	return quota
}

func (r *Runner) newOwner() string { return newOwner(r.o.Worker, r.host, r.pid) }

// LoopOptions configures RunLoop.
type LoopOptions struct {
	// BatchLimit is the per-batch job limit (default 50).
	BatchLimit int
	// Sleep is the idle pause between empty batches (default 1.5 s).
	Sleep time.Duration
	// MaxDuration ends the loop after this long (0: never).
	MaxDuration time.Duration
	// MaxBatches ends the loop after this many batches (0: never).
	MaxBatches int
	// OnBatchError, when set, is told about every batch that failed (the
	// loop goes on); the worker command records it in system_errors.jsonl.
	OnBatchError func(error)
}

// RunLoop is service mode: recover, run a batch, continue at once when it
// did work, else write an idle heartbeat and sleep (in ≤5 s slices that
// refresh the heartbeat). It never exits because it is idle; it returns when
// ctx is cancelled or a Max* bound is reached. Batch errors are logged, the
// heartbeat shows "error" during the back-off, and the loop continues.
func (r *Runner) RunLoop(ctx context.Context, lo LoopOptions) (Summary, error) {
	if lo.BatchLimit <= 0 {
		lo.BatchLimit = 50
	}
	if lo.Sleep <= 0 {
		lo.Sleep = 1500 * time.Millisecond
	}
	var deadline <-chan time.Time
	if lo.MaxDuration > 0 {
		t := time.NewTimer(lo.MaxDuration)
		defer t.Stop()
		deadline = t.C
	}
	var total Summary
	for {
		if ctx.Err() != nil {
			return total, nil
		}
		select {
		case <-deadline:
			return total, nil
		default:
		}
		s, err := r.RunBatch(ctx, lo.BatchLimit)
		total.add(s)
		state := workerstate.StateIdle
		if err != nil {
			r.log.Error().Err(err).Str("reason_code", reason.Code(err)).Msg("batch_exception")
			state = workerstate.StateError
			if lo.OnBatchError != nil {
				lo.OnBatchError(err)
			}
		}
		if fatalWrite(err) {
			// A full database disk does not go away by itself; the
			// worker exits so its supervisor (or the operator) sees it.
			return total, err
		}
		if lo.MaxBatches > 0 && total.Batches >= lo.MaxBatches {
			return total, nil
		}
		if err == nil && s.Processed > 0 {
			continue
		}
		r.beat(state, nil, true)
		end := time.Now().Add(lo.Sleep)
		for {
			left := time.Until(end)
			if left <= 0 {
				break
			}
			slice := min(left, 5*time.Second)
			select {
			case <-ctx.Done():
				return total, nil
			case <-deadline:
				return total, nil
			case <-time.After(slice):
			}
			r.beat(state, nil, true)
		}
		select {
		case <-deadline:
			return total, nil
		default:
		}
	}
}
