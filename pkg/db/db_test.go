package db_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

func openFresh(tb testing.TB) (*sql.DB, string) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "DB", "local.sqlite")
	d, err := db.Open(context.Background(), db.Options{Path: path, Create: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.Close() })
	return d, path
}

func TestMigrateFreshThenNoop(t *testing.T) {
	ctx := context.Background()
	d, _ := openFresh(t)
	res, err := db.Migrate(ctx, d, db.MigrateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	migs, _ := db.LoadMigrations(nil)
	if len(res.Applied) != len(migs) {
		t.Fatalf("applied %v, want all %d", res.Applied, len(migs))
	}
	res2, err := db.Migrate(ctx, d, db.MigrateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res2.Applied) != 0 || len(res2.Skipped) != len(migs) {
		t.Fatalf("second run applied %v skipped %v", res2.Applied, res2.Skipped)
	}
	rep, err := db.Status(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("status not ok: %+v", rep)
	}
	for _, table := range []string{"media", "tags", "media_tags", "scan_results", "prompts", "prompt_history", "jobs",
		"ollama_results", "ollama_vectors", "media_lifecycle_events", "collections", "collection_media", "import_log",
		"consistency_log", "audit_log", "media_meta", "schema_migrations"} {
		var n int
		if err := d.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type='table' AND name=?`, table).Scan(&n); err != nil || n != 1 {
			t.Errorf("table %s missing (%v)", table, err)
		}
	}
	// Path jobs use NULL media_id now and foreign keys are enforced.
	if _, err := d.Exec(`INSERT INTO jobs (media_id, type, status, created_at) VALUES (NULL, 'scan_path', 'queued', ?)`, svtime.Format(time.Now())); err != nil {
		t.Fatalf("path job with NULL media_id: %v", err)
	}
	if _, err := d.Exec(`INSERT INTO jobs (media_id, type, status, created_at) VALUES (999, 'rescan_media', 'queued', 'x')`); err == nil {
		t.Fatal("foreign keys not enforced: job for missing media inserted")
	}
}

func TestStatusReportsPendingAndMissing(t *testing.T) {
	ctx := context.Background()
	d, _ := openFresh(t)
	migs, _ := db.LoadMigrations(nil)
	if _, err := db.Migrate(ctx, d, db.MigrateOptions{Migrations: migs[:1]}); err != nil {
		t.Fatal(err)
	}
	rep, err := db.Status(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || len(rep.Pending) != len(migs)-1 {
		t.Fatalf("want %d pending, got %+v", len(migs)-1, rep)
	}
	if len(rep.MissingColumns["jobs"]) == 0 {
		t.Fatalf("missing jobs columns not reported: %+v", rep.MissingColumns)
	}
}

func TestMigrationFailureRollsBack(t *testing.T) {
	ctx := context.Background()
	d, _ := openFresh(t)
	migs := []db.Migration{
		{Version: "0001_ok", SQL: "CREATE TABLE a (x INTEGER);", Checksum: "1"},
		{Version: "0002_bad", SQL: "CREATE TABLE b (x INTEGER);\nINSERT INTO nope VALUES (1);", Checksum: "2"},
	}
	_, err := db.Migrate(ctx, d, db.MigrateOptions{Migrations: migs})
	if err == nil || !strings.Contains(err.Error(), "0002_bad") || reason.Code(err) != db.CodeMigrationFailed {
		t.Fatalf("want migration_failed naming 0002_bad, got %v", err)
	}
	var n int
	d.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name='b'`).Scan(&n)
	if n != 0 {
		t.Fatal("table b of the failed migration survived")
	}
	d.QueryRow(`SELECT count(*) FROM schema_migrations WHERE version='0002_bad'`).Scan(&n)
	if n != 0 {
		t.Fatal("failed migration recorded")
	}
}

func TestChangedMigrationIsError(t *testing.T) {
	ctx := context.Background()
	d, _ := openFresh(t)
	m := []db.Migration{{Version: "0001_x", SQL: "CREATE TABLE a (x INTEGER);", Checksum: "aaa"}}
	if _, err := db.Migrate(ctx, d, db.MigrateOptions{Migrations: m}); err != nil {
		t.Fatal(err)
	}
	m[0].Checksum = "bbb"
	_, err := db.Migrate(ctx, d, db.MigrateOptions{Migrations: m})
	if reason.Code(err) != db.CodeMigrationChecksum {
		t.Fatalf("want checksum mismatch, got %v", err)
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	ctx := context.Background()
	d, _ := openFresh(t)
	res, err := db.Migrate(ctx, d, db.MigrateOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Pending) == 0 {
		t.Fatal("dry run lists no pending migrations")
	}
	var n int
	d.QueryRow(`SELECT count(*) FROM sqlite_master`).Scan(&n)
	if n != 0 {
		t.Fatalf("dry run created %d objects", n)
	}
}

func TestConcurrentMigrateAppliesOnce(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.sqlite")
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := db.Open(ctx, db.Options{Path: path, Create: true, BusyTimeout: 30 * time.Second})
			if err != nil {
				errs <- err
				return
			}
			defer d.Close()
			_, err = db.Migrate(ctx, d, db.MigrateOptions{})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	d, _ := db.Open(ctx, db.Options{Path: path})
	defer d.Close()
	migs, _ := db.LoadMigrations(nil)
	var n int
	d.QueryRow(`SELECT count(*) FROM schema_migrations`).Scan(&n)
	if n != len(migs) {
		t.Fatalf("schema_migrations has %d rows, want %d", n, len(migs))
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	notDB := filepath.Join(dir, "text.sqlite")
	os.WriteFile(notDB, []byte(strings.Repeat("this is not a database\n", 100)), 0o644)
	roDir := filepath.Join(dir, "ro")
	os.Mkdir(roDir, 0o555)
	cases := []struct {
		name string
		opts db.Options
		code string
	}{
		{"empty path", db.Options{}, db.CodePathMissing},
		{"missing folder without create", db.Options{Path: filepath.Join(dir, "nope", "x.sqlite")}, db.CodeDirMissing},
		{"not sqlite", db.Options{Path: notDB}, db.CodeNotSQLite},
	}
	if os.Geteuid() != 0 { // root ignores directory permissions
		cases = append(cases, struct {
			name string
			opts db.Options
			code string
		}{"read-only folder", db.Options{Path: filepath.Join(roDir, "x.sqlite"), Create: true}, db.CodeDirReadOnly})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := db.Open(ctx, c.opts)
			if err == nil {
				d.Close()
				t.Fatal("expected error")
			}
			if got := reason.Code(err); got != c.code {
				t.Fatalf("code %q, want %q (%v)", got, c.code, err)
			}
		})
	}
}

func TestReadOnlyBusyIsTyped(t *testing.T) {
	ctx := context.Background()
	d, path := openFresh(t)
	if _, err := db.Migrate(ctx, d, db.MigrateOptions{}); err != nil {
		t.Fatal(err)
	}
	r, err := db.OpenReadOnly(ctx, db.Options{Path: path, BusyTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Exec(`INSERT INTO consistency_log (check_name, severity, created_at) VALUES ('x','info','t')`); err == nil {
		t.Fatal("read-only handle accepted a write")
	}
	// WAL readers never wait for writers, so busy is shown on a second
	// writer with a short timeout while the first holds the write lock.
	w2, err := db.Open(ctx, db.Options{Path: path, BusyTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	tx, err := d.BeginTx(ctx, nil) // BEGIN IMMEDIATE
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	err = db.InTx(ctx, w2, func(tx *sql.Tx) error { return nil })
	if !db.IsBusy(err) || reason.Code(err) != db.CodeBusy || !errors.Is(err, db.ErrBusy) || reason.KindOf(err) != reason.KindTransient {
		t.Fatalf("want typed transient busy, got %v", err)
	}
}

func TestBackupIsConsistentAndPruned(t *testing.T) {
	ctx := context.Background()
	d, path := openFresh(t)
	if _, err := db.Migrate(ctx, d, db.MigrateOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		d.Exec(`INSERT INTO media (path, type, source, imported_at, hash) VALUES (?, 'image', 'import', 't', ?)`, fmt.Sprint("/p/", i), fmt.Sprint(i))
	}
	dir := filepath.Join(t.TempDir(), "BACKUPS")
	clock := &svtime.FixedClock{T: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	var last db.BackupResult
	for i := 0; i < 3; i++ {
		res, err := db.Backup(ctx, d, db.BackupOptions{Dir: dir, Keep: 2, SourcePath: path, Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		last = res
		clock.Advance(time.Minute)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "supervisor_*.sqlite"))
	if len(files) != 2 {
		t.Fatalf("kept %d backups, want 2", len(files))
	}
	for _, p := range []string{last.File, last.Gzip, last.Meta} {
		if _, err := os.Stat(p); err != nil {
			t.Fatal(err)
		}
	}
	b, err := db.Open(ctx, db.Options{Path: last.File})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var n int
	if err := b.QueryRow(`SELECT count(*) FROM media`).Scan(&n); err != nil || n != 50 {
		t.Fatalf("backup has %d media (%v), want 50", n, err)
	}
}
