// Package cliapp is the shared bootstrap of every Supervisor binary: the
// common flags, config loading, logging, database opening (optionally with
// migrations), signal handling and the mapping of errors to exit codes
// (0 success, 1 failure, 2 findings/pending).
package cliapp

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/localsupervisor/supervisor/pkg/config"
	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/logging"
	"github.com/localsupervisor/supervisor/pkg/modules"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtime"
	"github.com/localsupervisor/supervisor/pkg/version"
)

// Exit codes shared by all binaries.
const (
	ExitOK       = 0
	ExitFailure  = 1
	ExitFindings = 2
)

// Flags are the flags every binary has.
func Flags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "config", Usage: "config file (default $SV_CONFIG, else CONFIG/config.json, else embedded defaults)", EnvVars: []string{"SV_CONFIG"}},
		&cli.BoolFlag{Name: "json", Usage: "print the summary as JSON"},
	}
}

// Options says what a binary needs from Setup.
type Options struct {
	// Service names the log file LOGS/<service>.jsonl.
	Service string
	// NeedDB opens the writer database handle.
	NeedDB bool
	// CurrentSchema: the binary reads and writes the current schema (the
	// workers, jobs-admin, consistency checks). A missing database is
	// created with it, as webui does; an outdated one is refused with
	// CodeNeedsMigrate naming the command to run. Binaries that must work
	// on any schema (db-status, db-backup) leave it off.
	CurrentSchema bool
	// CreateDB allows creating a missing database file (init-db, migrate, webui).
	CreateDB bool
	// Migrate applies pending migrations after opening.
	Migrate bool
	// BusyTimeout overrides db.busy_timeout_ms.
	BusyTimeout time.Duration
	// ThroughputGC lets the garbage collector run less often (GOGC 400
	// under a 512 MiB soft limit, unless set in the environment): for
	// batch processes such as the importer.
	ThroughputGC bool
}

// Env is what a command gets.
type Env struct {
	// Service is Options.Service (the log file name).
	Service string
	Config  *config.Config
	Modules modules.Modules
	DB      *sql.DB
	Logs    *logging.Set
	Log     zerolog.Logger
	Clock   svtime.Clock
	Stdout  io.Writer
	Stderr  io.Writer
	JSON    bool
}

// Setup loads the config and opens logs and (optionally) the database.
func Setup(c *cli.Context, opts Options) (*Env, error) {
	cfg, err := config.Load(config.LoadOptions{Path: c.String("config")})
	if err != nil {
		return nil, err
	}
	return SetupWith(c.Context, cfg, opts, c.App.Writer, c.App.ErrWriter, c.Bool("json"))
}

// SetupWith is Setup with an already loaded config (tests, webui).
func SetupWith(ctx context.Context, cfg *config.Config, opts Options, stdout, stderr io.Writer, jsonOut bool) (*Env, error) {
	if opts.ThroughputGC {
		tuneThroughputGC(os.Getenv)
	}
	if stdout == nil {
		stdout = os.Stdout
	}
	if stderr == nil {
		stderr = os.Stderr
	}
	mods, err := modules.Load(cfg)
	if err != nil {
		return nil, err
	}
	logs, err := logging.NewSet(logging.Options{Dir: cfg.Paths.Logs, Version: version.Version,
		MaxSizeMB: cfg.Logging.MaxSizeMB, MaxBackups: cfg.Logging.MaxBackups, Console: consoleWriter(cfg)})
	if err != nil {
		return nil, reason.Permanent("log_root_unavailable", err)
	}
	env := &Env{Service: opts.Service, Config: cfg, Modules: mods, Logs: logs, Log: logs.Logger(opts.Service), Clock: svtime.SystemClock{},
		Stdout: stdout, Stderr: stderr, JSON: jsonOut}
	if opts.NeedDB || opts.Migrate {
		busy := opts.BusyTimeout
		if busy == 0 {
			busy = time.Duration(cfg.DB.BusyTimeoutMS) * time.Millisecond
		}
		// Every binary that needs the database works on a fresh base the
		// way webui does: a missing database is created with its schema
		// (nothing else can be using it yet). An existing one is migrated
		// only by binaries that migrate on start; the workers refuse an
		// outdated one with the command that fixes it instead of failing
		// later on a missing column.
		fresh := opts.CurrentSchema && !dbExists(cfg.DB.Path)
		d, err := db.Open(ctx, db.Options{Path: cfg.DB.Path, BusyTimeout: busy, Create: opts.CreateDB || opts.Migrate || fresh})
		if err != nil {
			env.Report(err)
			logs.Close()
			return nil, err
		}
		env.DB = d
		switch {
		case opts.Migrate || fresh:
			err = MigrateUnlessWorkersRun(ctx, d, cfg.Paths.Logs)
		case opts.CurrentSchema:
			err = requireMigrated(ctx, d, cfg)
		}
		if err != nil {
			env.Close()
			return nil, err
		}
	}
	return env, nil
}

func consoleWriter(cfg *config.Config) io.Writer {
	if !cfg.Logging.Console {
		return io.Discard
	}
	return nil // logging decides: stderr when it is a terminal
}

// Report records an error that ends the process in LOGS/<service>.jsonl
// and, rate-limited, in LOGS/system_errors.jsonl, so a failure such as a
// full or read-only database disk is named in the logs and not only on
// stderr (Run prints it there).
func (e *Env) Report(err error) {
	if err == nil || e.Logs == nil {
		return
	}
	code := reason.CodeOr(err, "error")
	msg := reason.Truncate(err.Error(), 500)
	logging.Event(&e.Log, zerolog.ErrorLevel, "fatal_error").Str("reason_code", code).Msg(msg)
	fields := map[string]any{"message": msg}
	if e.Config != nil {
		fields["db_path"] = e.Config.DB.Path
	}
	e.SystemError(code, fields)
}

// SystemError records a failure of this process (a failed job or batch, a
// server error) in LOGS/system_errors.jsonl under its service, rate-limited
// per (service, code) (logging.Set.SystemError); the dashboard lists these.
func (e *Env) SystemError(code string, fields map[string]any) {
	if e.Logs == nil {
		return
	}
	e.Logs.SystemError(e.Service, code, fields)
}

// Close releases the database and log files.
func (e *Env) Close() {
	if e.DB != nil {
		e.DB.Close()
	}
	if e.Logs != nil {
		e.Logs.Close()
	}
}

// Summary prints a one-line summary, or v as JSON with --json.
func (e *Env) Summary(line string, v any) {
	if e.JSON {
		b, err := json.Marshal(v)
		if err != nil {
			fmt.Fprintln(e.Stderr, "summary:", err)
			return
		}
		fmt.Fprintln(e.Stdout, string(b))
		return
	}
	fmt.Fprintln(e.Stdout, line)
}

// PrintJSON prints v as indented JSON on stdout (a verb's --json answer).
func (e *Env) PrintJSON(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	fmt.Fprintln(e.Stdout, string(b))
	return nil
}

// FindingsError makes a command exit 2 with a message.
type FindingsError struct{ Msg string }

func (f *FindingsError) Error() string { return f.Msg }

// Findings returns an error that exits 2.
func Findings(msg string) error { return &FindingsError{Msg: msg} }

// ExitCode maps an error to the process exit code.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var f *FindingsError
	if errors.As(err, &f) {
		return ExitFindings
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	return ExitFailure
}

// Run runs app with a context cancelled on SIGINT/SIGTERM and returns the
// exit code; main calls os.Exit(cliapp.Run(app, os.Args)).
func Run(app *cli.App, args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	app.Version = version.Version
	app.HideHelpCommand = true
	app.ExitErrHandler = func(*cli.Context, error) {} // exit codes are ours
	if app.ErrWriter == nil {
		app.ErrWriter = os.Stderr
	}
	if len(app.Commands) > 0 {
		normalizeSharedFlags(app)
		args = hoistSharedFlags(args)
	}
	err := app.RunContext(ctx, args)
	if err != nil {
		var f *FindingsError
		// An exit without text (cli.Exit("", code)) has said its piece on
		// stdout already; a bare "error: " line only alarms (ollama-worker's
		// failed jobs printed one into the service console each).
		if msg := err.Error(); !errors.As(err, &f) && msg != "" {
			if code := reason.Code(err); code != "" {
				if fields := reason.FieldsOf(err); len(fields) > 0 {
					b, _ := json.Marshal(fields)
					msg += " " + string(b)
				}
			}
			fmt.Fprintln(app.ErrWriter, "error:", msg)
		}
	}
	return ExitCode(err)
}

// CodeNeedsMigrate refuses to work on a database whose schema is older
// than this version's.
const CodeNeedsMigrate = "db_needs_migrate"

// dbExists reports whether the database file exists (a path SQLite treats
// as in-memory or a URI counts as existing: never created here).
func dbExists(p string) bool {
	if p == "" || p == ":memory:" || strings.HasPrefix(p, "file:") {
		return true
	}
	_, err := os.Stat(p)
	return !errors.Is(err, fs.ErrNotExist)
}

// requireMigrated fails with CodeNeedsMigrate, naming the command to run,
// when migrations are pending.
func requireMigrated(ctx context.Context, d *sql.DB, cfg *config.Config) error {
	plan, err := db.Migrate(ctx, d, db.MigrateOptions{DryRun: true})
	if err != nil {
		return err
	}
	if len(plan.Pending) == 0 {
		return nil
	}
	cmd := "bin/migrate"
	if cfg.ConfigPath != "" {
		cmd += " --config=" + cfg.ConfigPath
	}
	return reason.Newf(CodeNeedsMigrate, "the database %s needs %d migrations (%s) before this version can use it: stop the workers, back it up (bin/db-backup), then run `%s` (or `go run ./cmd/migrate`); starting webui also migrates it",
		cfg.DB.Path, len(plan.Pending), strings.Join(plan.Pending, ", "), cmd).With("pending", plan.Pending)
}
