package main_test

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/mattn/go-sqlite3"

	"github.com/localsupervisor/supervisor/pkg/svtest"
)

// TestBinariesOnFreshAndOutdatedBase: on a fresh base (no config, no DB
// folder) scan-path and scan-worker create the database with its schema as
// webui does, instead of failing db_dir_missing until init-db is run; on a
// database whose schema is older than the binary's, a worker refuses with
// db_needs_migrate and names the command to run, instead of failing later
// on "no such column".
func TestBinariesOnFreshAndOutdatedBase(t *testing.T) {
	workerBin := svtest.BuildBinary(t, "./cmd/scan-worker")
	pathBin := svtest.BuildBinary(t, "./cmd/scan-path")
	env := []string{"SV_CONFIG=", "SV_BASE="}

	t.Run("fresh base", func(t *testing.T) {
		base := t.TempDir()
		inbox := filepath.Join(base, "inbox")
		pngFile(t, filepath.Join(inbox, "a.png"), 1)
		if r := svtest.RunBinary(t, base, env, pathBin, "--path="+inbox, "--mode=in_place"); r.Code != 0 {
			t.Fatalf("scan-path on a fresh base: exit %d\n%s", r.Code, r.Stderr)
		}
		if r := svtest.RunBinary(t, base, env, workerBin, "--limit=5"); r.Code != 0 {
			t.Fatalf("scan-worker: exit %d\n%s", r.Code, r.Stderr)
		}
		d, err := sql.Open("sqlite3", filepath.Join(base, "DB", "local.sqlite"))
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		var n int
		if err := d.QueryRow(`SELECT COUNT(*) FROM media`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("media %d %v", n, err)
		}
	})
	t.Run("fresh base, worker first", func(t *testing.T) {
		base := t.TempDir()
		if r := svtest.RunBinary(t, base, env, workerBin, "--limit=1"); r.Code != 0 {
			t.Fatalf("scan-worker on a fresh base: exit %d\n%s", r.Code, r.Stderr)
		}
	})
	t.Run("outdated base", func(t *testing.T) {
		base := t.TempDir()
		pngFile(t, filepath.Join(base, "x.png"), 1) // any file; the worker must stop before touching it
		if r := svtest.RunBinary(t, base, env, pathBin, "--path="+base, "--mode=in_place"); r.Code != 0 {
			t.Fatalf("scan-path: exit %d\n%s", r.Code, r.Stderr)
		}
		// Pretend the newest migration has not run yet.
		d, err := sql.Open("sqlite3", filepath.Join(base, "DB", "local.sqlite"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Exec(`DELETE FROM schema_migrations WHERE version = (SELECT MAX(version) FROM schema_migrations)`); err != nil {
			t.Fatal(err)
		}
		d.Close()
		r := svtest.RunBinary(t, base, env, workerBin, "--limit=1")
		if r.Code != 1 || !strings.Contains(r.Stderr, "db_needs_migrate") || !strings.Contains(r.Stderr, "migrate") {
			t.Fatalf("outdated schema: exit %d, stderr %q", r.Code, r.Stderr)
		}
		if _, err := os.Stat(filepath.Join(base, "x.png")); err != nil {
			t.Fatal(err)
		}
	})
}
