// Package workercmd builds a worker binary's command line from a Spec: the
// shared flags (--limit, --loop, --sleep-ms, --max-minutes, --max-batches,
// --media-id, --instance, --config, --json), config/DB/log bootstrap through
// pkg/cliapp, the jobs.Runner with its lock and heartbeat files, SIGTERM/
// SIGINT handling (no new claims, grace for the running job, heartbeat
// "stopped", exit 0), the one-line summary and the exit codes. Each worker's
// main.go is then a Spec and a call to Main.
package workercmd

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/localsupervisor/supervisor/pkg/cliapp"
	"github.com/localsupervisor/supervisor/pkg/config"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// Env is what a worker's Setup gets to build its handlers.
type Env struct {
	// Config is the loaded configuration (nil with a custom Bootstrap that
	// has none).
	Config *config.Config
	DB     *sql.DB
	Log    zerolog.Logger
	Clock  svtime.Clock
	Queue  *jobs.Queue
	// LogsDir is the logs root (lock and heartbeat files).
	LogsDir string
	// CLI gives access to ExtraFlags.
	CLI *cli.Context
}

// Base is what a Bootstrap provides.
type Base struct {
	Config  *config.Config
	DB      *sql.DB
	Log     zerolog.Logger
	Clock   svtime.Clock
	LogsDir string
	Jobs    jobs.Config
	Stdout  io.Writer
	JSON    bool
	// Registry, when set, overrides Spec.Registry.
	Registry *jobs.Registry
	// Tune adjusts the Runner options (tests shorten intervals).
	Tune func(*jobs.RunnerOptions)
	// Report records an error that ends the worker in the logs (nil:
	// not recorded beyond stderr).
	Report func(error)
	// SystemError records a failed job or batch in system_errors.jsonl
	// (cliapp.Env.SystemError; nil: not recorded there).
	SystemError func(code string, fields map[string]any)
	// Close releases DB and logs.
	Close func()
}

// Spec describes one worker binary.
type Spec struct {
	// Name is the binary name (scan-worker).
	Name string
	// ThroughputGC: see cliapp.Options (batch workers such as the
	// importer).
	ThroughputGC bool
	// Usage is the one-line help.
	Usage string
	// Worker names lock/heartbeat files (scan_worker); --instance=X makes
	// it "<Worker>@X" so several processes of one worker can run.
	Worker string
	// Types are the claimed job types, highest priority first.
	Types []string
	// DefaultLimit is the per-batch limit without --limit (default 50).
	DefaultLimit int
	// DefaultSleepMS is the --loop idle pause without --sleep-ms; when 0 the
	// SleepFromConfig function or 1500 ms applies.
	DefaultSleepMS int
	// SleepFromConfig reads the pause from the config (workers.scan.sleep_ms).
	SleepFromConfig func(*config.Config) int
	// Registry overrides jobs.DefaultRegistry().
	Registry *jobs.Registry
	// Setup builds the handlers for Types. Its cleanup (may be nil) runs at
	// exit.
	Setup func(ctx context.Context, env *Env) (map[string]jobs.Handler, func(), error)
	// Locked, when set, runs once the worker holds its lock, before the
	// first claim: work that only the one running instance should do (the
	// media worker's queue top-up), not a second instance that exits
	// already_running. Its stop (may be nil) runs at exit.
	Locked func(ctx context.Context, env *Env) (stop func())
	// ClaimFilter, when set, returns the Runner's claim filter (nil: none)
	// from the worker's flags, e.g. scan-worker --path: jobs the worker
	// would refuse are then never claimed and keep their attempts.
	ClaimFilter func(env *Env) jobs.ClaimFilterFunc
	// ExtraFlags are added to the shared ones.
	ExtraFlags []cli.Flag
	// Bootstrap replaces the default config/DB/log bootstrap (tests).
	Bootstrap func(c *cli.Context) (*Base, error)
}

// Flags returns the shared worker flags.
func Flags(defLimit int) []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: "limit", Usage: "jobs per batch; without --loop the worker exits after this many or when the queue is empty", Value: defLimit},
		&cli.BoolFlag{Name: "loop", Usage: "service mode: keep running, sleep when idle"},
		&cli.IntFlag{Name: "sleep-ms", Usage: "idle pause in --loop mode (default from config)"},
		&cli.Float64Flag{Name: "max-minutes", Usage: "stop --loop after this many minutes (0 = never)"},
		&cli.IntFlag{Name: "max-batches", Usage: "stop --loop after this many batches (0 = never)"},
		&cli.Int64Flag{Name: "media-id", Usage: "only claim jobs of this media"},
		&cli.StringFlag{Name: "instance", Usage: "run an additional instance with its own lock (<worker>@<instance>)"},
	}
}

// App builds the urfave/cli App for spec.
func App(spec Spec) *cli.App {
	if spec.DefaultLimit <= 0 {
		spec.DefaultLimit = 50
	}
	flags := append(cliapp.Flags(), Flags(spec.DefaultLimit)...)
	flags = append(flags, spec.ExtraFlags...)
	return &cli.App{
		Name:   spec.Name,
		Usage:  spec.Usage,
		Flags:  flags,
		Action: func(c *cli.Context) error { return run(c, spec) },
	}
}

// Main runs the worker with os.Args and returns the exit code.
func Main(spec Spec) int { return cliapp.Run(App(spec), os.Args) }

func defaultBootstrap(spec Spec) func(c *cli.Context) (*Base, error) {
	return func(c *cli.Context) (*Base, error) {
		env, err := cliapp.Setup(c, cliapp.Options{Service: spec.Worker, NeedDB: true, CurrentSchema: true, ThroughputGC: spec.ThroughputGC})
		if err != nil {
			return nil, err
		}
		return &Base{Config: env.Config, DB: env.DB, Log: env.Log, Clock: env.Clock, LogsDir: env.Config.Paths.Logs,
			Jobs: env.Modules.Jobs, Stdout: env.Stdout, JSON: env.JSON, Close: env.Close, Report: env.Report, SystemError: env.SystemError}, nil
	}
}

func run(c *cli.Context, spec Spec) error {
	boot := spec.Bootstrap
	if boot == nil {
		boot = defaultBootstrap(spec)
	}
	base, err := boot(c)
	if err != nil {
		return err
	}
	if base.Close != nil {
		defer base.Close()
	}
	if base.Stdout == nil {
		base.Stdout = c.App.Writer
	}
	if base.Clock == nil {
		base.Clock = svtime.SystemClock{}
	}
	worker := spec.Worker
	if inst := c.String("instance"); inst != "" {
		worker += "@" + inst
	}
	reg := spec.Registry
	if base.Registry != nil {
		reg = base.Registry
	}
	q := jobs.NewQueue(jobs.QueueOptions{DB: base.DB, Clock: base.Clock, Config: base.Jobs, Registry: reg, Logger: base.Log})
	env := &Env{Config: base.Config, DB: base.DB, Log: base.Log, Clock: base.Clock, Queue: q, LogsDir: base.LogsDir, CLI: c}
	handlers, cleanup, err := spec.Setup(c.Context, env)
	if err != nil {
		return err
	}
	if cleanup != nil {
		defer cleanup()
	}
	ro := jobs.RunnerOptions{Queue: q, Worker: worker, Types: spec.Types, Handlers: handlers, OnFailure: reportFailure(base.SystemError), LogsDir: base.LogsDir, Logger: base.Log}
	if spec.ClaimFilter != nil {
		ro.ClaimFilter = spec.ClaimFilter(env)
	}
	// --media-id restricts in the claim query (j.media_id = ?), so jobs of
	// other media are never claimed either.
	if c.IsSet("media-id") {
		id := c.Int64("media-id")
		ro.MediaID = &id
	}
	if base.Tune != nil {
		base.Tune(&ro)
	}
	r, err := jobs.NewRunner(ro)
	if err != nil {
		return err
	}
	if err := r.Start(); err != nil {
		if reason.Code(err) == jobs.CodeLockBusy {
			// Another instance is doing the work: not a failure (exit 0).
			summary(base, c, fmt.Sprintf("%s: already_running (%v)", worker, err), map[string]any{"worker": worker, "status": "already_running"})
			return nil
		}
		return err
	}
	defer r.Close()
	if spec.Locked != nil {
		if stop := spec.Locked(c.Context, env); stop != nil {
			defer stop()
		}
	}
	base.Log.Info().Int("pid", os.Getpid()).Int("limit", c.Int("limit")).Bool("loop", c.Bool("loop")).Msg(spec.Worker + "_started")

	var s jobs.Summary
	if c.Bool("loop") {
		sleep := c.Int("sleep-ms")
		if sleep <= 0 && spec.SleepFromConfig != nil && base.Config != nil {
			sleep = spec.SleepFromConfig(base.Config)
		}
		if sleep <= 0 {
			sleep = spec.DefaultSleepMS
		}
		if sleep <= 0 {
			sleep = 1500
		}
		sleep = max(sleep, 100)
		s, err = r.RunLoop(c.Context, jobs.LoopOptions{BatchLimit: c.Int("limit"), Sleep: time.Duration(sleep) * time.Millisecond,
			MaxDuration: time.Duration(c.Float64("max-minutes") * float64(time.Minute)), MaxBatches: c.Int("max-batches"),
			OnBatchError: func(err error) { reportBatch(base.SystemError, err) }})
	} else {
		s, err = r.RunBatch(c.Context, c.Int("limit"))
	}
	line := fmt.Sprintf("%s: processed=%d done=%d error=%d retried=%d snoozed=%d cancelled=%d released=%d recovered=%d batches=%d",
		worker, s.Processed, s.Done, s.Errors, s.Retried, s.Snoozed, s.Cancelled, s.Released, s.Recovered, s.Batches)
	summary(base, c, line, map[string]any{"worker": worker, "summary": s, "ok": err == nil})
	if err != nil && base.Report != nil {
		base.Report(err)
	}
	return err
}

func summary(base *Base, c *cli.Context, line string, v any) {
	env := cliapp.Env{Stdout: base.Stdout, Stderr: c.App.ErrWriter, JSON: base.JSON || c.Bool("json")}
	env.Summary(line, v)
}

// Codes of system_errors.jsonl lines for failures without a reason code of
// their own (a handler panic carries jobs.CodePanic).
const (
	CodeJobFailed   = "job_failed"
	CodeBatchFailed = "batch_failed"
)

// reportFailure records in system_errors.jsonl (rate-limited per worker
// and code there) every job run the Runner ended as a failure, whether it
// is retried or ends in error. Runs ended by their context (shutdown,
// cancel request) or snoozed are not failures of the system. report nil:
// nothing to record.
func reportFailure(report func(code string, fields map[string]any)) func(*jobs.Job, error) {
	if report == nil {
		return nil
	}
	return func(j *jobs.Job, err error) {
		report(reason.CodeOr(err, CodeJobFailed), map[string]any{"message": reason.Truncate(err.Error(), 500), "kind": CodeJobFailed,
			"job_id": j.ID, "job_type": j.Type, "attempt": j.Attempt, "max_attempts": j.MaxAttempts})
	}
}

// reportBatch records a failed batch of a --loop worker (the loop goes on).
func reportBatch(report func(code string, fields map[string]any), err error) {
	if report == nil {
		return
	}
	report(reason.CodeOr(err, CodeBatchFailed), map[string]any{"message": reason.Truncate(err.Error(), 500), "kind": CodeBatchFailed})
}
