// Command testworker is the worker binary the pkg/jobs multi-process tests
// build into a temp dir. It runs the real workercmd/Runner stack against a
// database given by --db; its handler records every committed execution in
// test_executions in the same transaction as the job's completion.
package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtime"
	"github.com/localsupervisor/supervisor/pkg/workercmd"
)

type payload struct {
	SleepMS   int    `json:"sleep_ms"`
	Fail      string `json:"fail"` // transient | permanent
	Panic     bool   `json:"panic"`
	IgnoreCtx bool   `json:"ignore_ctx"`
}

func main() {
	spec := workercmd.Spec{
		Name:   "testworker",
		Worker: "test_worker",
		Types:  []string{"test_exec"},
		Setup:  setup,
		ExtraFlags: []cli.Flag{
			&cli.StringFlag{Name: "db", Required: true},
			&cli.StringFlag{Name: "logs", Required: true},
			&cli.IntFlag{Name: "lease-ms", Value: 3000},
			&cli.IntFlag{Name: "heartbeat-ms", Value: 500},
			&cli.IntFlag{Name: "grace-ms", Value: 2000},
			&cli.IntFlag{Name: "max-attempts", Value: 3},
			&cli.BoolFlag{Name: "noop", Usage: "handler returns at once without recording (claim+complete benchmark)"},
			&cli.BoolFlag{Name: "record-starts", Usage: "handler appends its job id to LOGS/starts-<pid>.txt before it does anything else (attempts ≤ starts checks)"},
		},
		Bootstrap: func(c *cli.Context) (*workercmd.Base, error) {
			d, err := db.Open(c.Context, db.Options{Path: c.String("db")})
			if err != nil {
				return nil, err
			}
			cfg := jobs.DefaultConfig()
			cfg.RetryBaseMS, cfg.RetryCapMS = 100, 500
			log := zerolog.New(os.Stderr).With().Timestamp().Int("pid", os.Getpid()).Logger().Level(zerolog.WarnLevel)
			reg := jobs.NewRegistry(jobs.TypeSpec{Name: "test_exec", Group: "test",
				Lease: time.Duration(c.Int("lease-ms")) * time.Millisecond, MaxAttempts: c.Int("max-attempts")})
			return &workercmd.Base{DB: d, Registry: reg, Log: log, Clock: svtime.SystemClock{}, LogsDir: c.String("logs"), Jobs: cfg,
				Tune: func(o *jobs.RunnerOptions) {
					o.HeartbeatInterval = time.Duration(c.Int("heartbeat-ms")) * time.Millisecond
					o.Grace = time.Duration(c.Int("grace-ms")) * time.Millisecond
					o.Abandon = time.Second
				},
				Close: func() { d.Close() }}, nil
		},
	}
	os.Exit(workercmd.Main(spec))
}

func setup(_ context.Context, env *workercmd.Env) (map[string]jobs.Handler, func(), error) {
	if env.CLI.Bool("noop") {
		return map[string]jobs.Handler{"test_exec": func(context.Context, *jobs.Job) (any, error) { return nil, nil }}, nil, nil
	}
	// Starts go to a per-process append-only file, not to the DB: a kill -9
	// between the Runner counting the attempt and this record must be as
	// unlikely as possible, and one write(2) is microseconds where a
	// contended SQLite commit can wait many milliseconds. The page cache
	// keeps the line across kill -9.
	var starts *os.File
	if env.CLI.Bool("record-starts") {
		if err := os.MkdirAll(env.CLI.String("logs"), 0o755); err != nil {
			return nil, nil, err
		}
		f, err := os.OpenFile(filepath.Join(env.CLI.String("logs"), fmt.Sprintf("starts-%d.txt", os.Getpid())), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return nil, nil, err
		}
		starts = f
	}
	h := func(ctx context.Context, job *jobs.Job) (any, error) {
		if starts != nil {
			if _, err := fmt.Fprintf(starts, "%d %d\n", job.ID, job.Attempt); err != nil {
				return nil, err
			}
		}
		var p payload
		if err := job.Decode(&p); err != nil {
			return nil, err
		}
		if p.Panic {
			panic("boom")
		}
		if p.SleepMS > 0 {
			t := time.NewTimer(time.Duration(p.SleepMS) * time.Millisecond)
			if p.IgnoreCtx {
				<-t.C
			} else {
				select {
				case <-t.C:
				case <-ctx.Done():
					return nil, context.Cause(ctx)
				}
			}
		}
		switch p.Fail {
		case "transient":
			return nil, reason.Transient("test_transient", errors.New("try again"))
		case "permanent":
			return nil, reason.New("test_permanent", "never works")
		}
		err := db.InTx(ctx, env.DB, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO test_executions (job_id, attempt, pid) VALUES (?, ?, ?)`, job.ID, job.Attempt, os.Getpid()); err != nil {
				return err
			}
			return job.CompleteTx(ctx, tx, map[string]int{"pid": os.Getpid()})
		})
		return nil, err
	}
	var closeStarts func()
	if starts != nil {
		closeStarts = func() { starts.Close() }
	}
	return map[string]jobs.Handler{"test_exec": h}, closeStarts, nil
}
