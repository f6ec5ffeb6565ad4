package cliapp_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/cliapp"
	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/jobs/workerstate"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

// TestMigrateOnStartRefusesUnderRunningWorkers: binaries that migrate on
// start apply pending migrations only while no worker holds its lock, and
// a held lock never blocks a start with nothing pending.
func TestMigrateOnStartRefusesUnderRunningWorkers(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	logs := filepath.Join(dir, "LOGS")
	d, err := db.Open(ctx, db.Options{Path: filepath.Join(dir, "sv.sqlite"), Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()

	lock, err := workerstate.AcquireLock(logs, "scan_worker", time.Now(), []string{"scan-worker", "--loop"})
	if err != nil {
		t.Fatal(err)
	}
	err = cliapp.MigrateUnlessWorkersRun(ctx, d, logs)
	if reason.Code(err) != cliapp.CodeWorkersRunning {
		t.Fatalf("pending migrations under a held lock: want %s, got %v", cliapp.CodeWorkersRunning, err)
	}
	if st, _ := db.Status(ctx, d); len(st.Pending) == 0 {
		t.Fatal("the refused start migrated anyway")
	}

	lock.Release()
	if err := cliapp.MigrateUnlessWorkersRun(ctx, d, logs); err != nil {
		t.Fatalf("no worker running: %v", err)
	}
	if st, _ := db.Status(ctx, d); len(st.Pending) != 0 {
		t.Fatalf("still pending: %v", st.Pending)
	}

	// Up to date: a running worker does not block the next start.
	if _, err := workerstate.AcquireLock(logs, "scan_worker", time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	if err := cliapp.MigrateUnlessWorkersRun(ctx, d, logs); err != nil {
		t.Fatalf("nothing pending, worker running: %v", err)
	}
}
