package main_test

import (
	"bufio"
	"database/sql"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gofrs/flock"
	_ "github.com/mattn/go-sqlite3"

	"github.com/localsupervisor/supervisor/pkg/db/dbtest"
	"github.com/localsupervisor/supervisor/pkg/svtest"
)

// holdEnv makes the test binary a stand-in for a running original PHP
// worker: it flocks the named file and holds it until its stdin closes.
const holdEnv = "SV_TEST_HOLD_ORIGINAL_LOCK"

func TestMain(m *testing.M) {
	if p := os.Getenv(holdEnv); p != "" {
		holdLock(p)
		return
	}
	os.Exit(m.Run())
}

// holdLock locks p the way the original's sv_try_acquire_worker_lock
// does (exclusive non-blocking flock on the lock file itself, held for the
// process lifetime).
func holdLock(p string) {
	fl := flock.New(p, flock.SetFlag(os.O_CREATE|os.O_RDWR))
	if ok, err := fl.TryLock(); err != nil || !ok {
		fmt.Println("lock failed:", err)
		os.Exit(1)
	}
	fmt.Println("locked")
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// startOriginalWorker starts the stand-in holding p and returns the
// function that stops it (and with it the lock).
func startOriginalWorker(t *testing.T, p string) (stop func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), holdEnv+"="+p)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "locked" {
		t.Fatalf("stand-in worker: %q", line)
	}
	done := false
	stop = func() {
		if done {
			return
		}
		done = true
		in.Close()
		_ = cmd.Wait()
	}
	t.Cleanup(stop)
	return stop
}

// TestOriginalWorkerBlocksMigrateAndIsLeftAlone: while an original PHP
// worker holds LOGS/scan_worker.lock.json, migrate refuses with
// workers_running naming that file; scan-worker on the not yet migrated
// database refuses with db_needs_migrate before touching the queue; and
// after a forced migrate, scan-worker reports already_running and leaves
// the PHP worker's lock file where it is (it used to move it aside as
// stale and run beside it). Once the PHP worker has stopped, its leftover
// file is an ordinary stale lock.
func TestOriginalWorkerBlocksMigrateAndIsLeftAlone(t *testing.T) {
	migrateBin := svtest.BuildBinary(t, "./cmd/migrate")
	workerBin := svtest.BuildBinary(t, "./cmd/scan-worker")
	base := t.TempDir()
	env := []string{"SV_CONFIG=", "SV_BASE="}
	dbPath := dbtest.OpenLegacy(t, filepath.Join(base, "DB", "local.sqlite"),
		`INSERT INTO jobs (id, media_id, type, status, created_at, forge_request_json)
		 VALUES (1, 0, 'scan_path', 'queued', '2024-03-02T08:00:00+01:00', '{"path":"/nonexistent/in","limit":null}')`)
	logs := filepath.Join(base, "LOGS")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	lockPath := filepath.Join(logs, "scan_worker.lock.json")
	php := fmt.Sprintf(`{"pid":%d,"started_at_utc":"2024-03-02T08:00:00Z","last_heartbeat_utc":"2024-03-02T08:00:05Z","service":"scan_worker","command_hash":"ab12"}`, os.Getpid())
	if err := os.WriteFile(lockPath, []byte(php), 0o644); err != nil {
		t.Fatal(err)
	}
	stop := startOriginalWorker(t, lockPath)

	query := func(q string) string {
		t.Helper()
		d, err := sql.Open("sqlite3", dbPath)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		var s string
		if err := d.QueryRow(q).Scan(&s); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return s
	}
	migrated := `SELECT count(*) FROM schema_migrations WHERE version = '0001_original_schema'`

	r := svtest.RunBinary(t, base, env, migrateBin)
	if r.Code != 1 || !strings.Contains(r.Stderr, "workers_running") || !strings.Contains(r.Stderr, "scan_worker.lock.json") {
		t.Fatalf("migrate under a running PHP worker: exit %d\nstdout %s\nstderr %s", r.Code, r.Stdout, r.Stderr)
	}
	if n := query(migrated); n != "0" {
		t.Fatal("the refused migrate changed the database")
	}

	// Issue #17 item 8: one clear refusal naming the next step.
	r = svtest.RunBinary(t, base, env, workerBin, "--limit=1")
	if r.Code != 1 || !strings.Contains(r.Stderr, "db_needs_migrate") || !strings.Contains(r.Stderr, "bin/migrate") || strings.Contains(r.Stderr, "no such column") {
		t.Fatalf("scan-worker on the original database: exit %d\nstderr %s", r.Code, r.Stderr)
	}

	r = svtest.RunBinary(t, base, env, migrateBin, "--force")
	if r.Code != 0 {
		t.Fatalf("migrate --force: exit %d\n%s", r.Code, r.Stderr)
	}
	r = svtest.RunBinary(t, base, env, workerBin, "--limit=1")
	if r.Code != 0 || !strings.Contains(r.Stdout, "already_running") || !strings.Contains(r.Stdout, "scan_worker.lock.json") {
		t.Fatalf("scan-worker beside a running PHP worker: exit %d\nstdout %s\nstderr %s", r.Code, r.Stdout, r.Stderr)
	}
	if st := query(`SELECT status||'|'||attempts FROM jobs WHERE id = 1`); st != "queued|0" {
		t.Fatalf("scan-worker beside a running PHP worker touched the queue: job 1 %s", st)
	}
	stale, _ := filepath.Glob(lockPath + ".stale-*")
	if len(stale) != 0 {
		t.Fatalf("the PHP worker's live lock was moved aside: %v", stale)
	}

	stop()
	if b, err := os.ReadFile(lockPath); err != nil || string(b) != php {
		t.Fatalf("PHP lock file changed: %q (%v)", b, err)
	}
	if r := svtest.RunBinary(t, base, env, migrateBin); r.Code != 0 {
		t.Fatalf("migrate after the PHP worker stopped: exit %d\n%s", r.Code, r.Stderr)
	}
	svtest.RunBinary(t, base, env, workerBin, "--limit=1")
	if stale, _ := filepath.Glob(lockPath + ".stale-*"); len(stale) != 1 {
		t.Fatalf("the stopped PHP worker's lock was not quarantined: %v", stale)
	}
}
