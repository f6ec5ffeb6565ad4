package cliapp

import (
	"context"
	"database/sql"
	"path/filepath"
	"sort"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/jobs/workerstate"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

// HeldWorkerLocks lists the workers whose OS lock is held by a live process
// right now. Workers describe themselves in LOGS/<worker>.lock.json; the
// kernel lock itself is taken by workerstate on a separate file, so the
// decision is delegated to workerstate.LockHeld. The original PHP workers
// flock their lock files themselves; a held one is listed by file name.
func HeldWorkerLocks(logsDir string) []string {
	matches, _ := filepath.Glob(filepath.Join(logsDir, "*.lock.json"))
	var held []string
	for _, m := range matches {
		svc := strings.TrimSuffix(filepath.Base(m), ".lock.json")
		if ok, err := workerstate.LockHeld(logsDir, svc); err == nil && ok {
			held = append(held, svc)
		}
	}
	for _, name := range workerstate.OriginalLockFiles() {
		if ok, err := workerstate.FileLockHeld(filepath.Join(logsDir, name)); err == nil && ok {
			held = append(held, "original PHP worker holding LOGS/"+name)
		}
	}
	sort.Strings(held)
	return held
}

// CodeWorkersRunning refuses a migration while workers hold their locks:
// a worker of the old version would keep writing to tables the migration
// changes under it.
const CodeWorkersRunning = "workers_running"

// MigrateUnlessWorkersRun applies pending migrations for binaries that
// migrate on start (webui, scan-path, …), with the same guard as the
// migrate command: pending migrations and a held worker lock refuse with
// CodeWorkersRunning (stop the workers, or run `migrate --force`). With
// nothing pending it only checks the recorded migrations, so a running
// worker never blocks an ordinary start.
func MigrateUnlessWorkersRun(ctx context.Context, d *sql.DB, logsDir string) error {
	// A dry run only reads schema_migrations; db.Status would also build
	// the whole expected schema in memory, on every start.
	plan, err := db.Migrate(ctx, d, db.MigrateOptions{DryRun: true})
	if err != nil {
		return err
	}
	if len(plan.Pending) > 0 {
		if held := HeldWorkerLocks(logsDir); len(held) > 0 {
			return reason.Newf(CodeWorkersRunning, "%d migrations pending while workers are running (%s); stop them, or run migrate --force",
				len(plan.Pending), strings.Join(held, ", ")).With("workers", held).With("pending", plan.Pending)
		}
	}
	_, err = db.Migrate(ctx, d, db.MigrateOptions{})
	return err
}
