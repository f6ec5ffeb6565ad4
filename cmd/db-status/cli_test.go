package main_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/svtest"
)

// TestDBCommandsOnEmptyFolder runs the real binaries the way the README
// does: init-db, migrate, db-status on an empty folder with embedded
// defaults, twice, then against a database missing a migration.
func TestDBCommandsOnEmptyFolder(t *testing.T) {
	bins := map[string]string{}
	for _, b := range []string{"init-db", "migrate", "db-status", "db-backup"} {
		bins[b] = svtest.BuildBinary(t, "./cmd/"+b)
	}
	dir := t.TempDir()
	env := []string{"SV_CONFIG=", "SV_BASE="}
	for round := 0; round < 2; round++ {
		for _, b := range []string{"init-db", "migrate", "db-status"} {
			r := svtest.RunBinary(t, dir, env, bins[b])
			if r.Code != 0 {
				t.Fatalf("round %d %s exit %d\n%s\n%s", round, b, r.Code, r.Stdout, r.Stderr)
			}
		}
	}
	dbPath := filepath.Join(dir, "DB", "local.sqlite")
	if _, err := os.Stat(dbPath); err != nil {
		t.Fatal(err)
	}
	r := svtest.RunBinary(t, dir, env, bins["migrate"], "--json")
	if r.Code != 0 || !strings.Contains(r.Stdout, `"applied":null`) {
		t.Fatalf("second migrate not a no-op: %s", r.Stdout)
	}
	r = svtest.RunBinary(t, dir, env, bins["db-backup"])
	if r.Code != 0 || !strings.Contains(r.Stdout, "restore:") {
		t.Fatalf("db-backup: %d %s %s", r.Code, r.Stdout, r.Stderr)
	}

	// A database that lacks the last migration: db-status exits 2.
	other := t.TempDir()
	ctx := context.Background()
	d, err := db.Open(ctx, db.Options{Path: filepath.Join(other, "DB", "local.sqlite"), Create: true})
	if err != nil {
		t.Fatal(err)
	}
	migs, _ := db.LoadMigrations(nil)
	if _, err := db.Migrate(ctx, d, db.MigrateOptions{Migrations: migs[:len(migs)-1]}); err != nil {
		t.Fatal(err)
	}
	d.Close()
	r = svtest.RunBinary(t, other, env, bins["db-status"], "--json")
	if r.Code != 2 || !strings.Contains(r.Stdout, migs[len(migs)-1].Version) {
		t.Fatalf("db-status on incomplete DB: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	// A broken config is exit 1 with the key named.
	bad := filepath.Join(other, "bad.json")
	os.WriteFile(bad, []byte(`{"db":{"nope":1}}`), 0o644)
	r = svtest.RunBinary(t, other, env, bins["db-status"], "--config="+bad)
	if r.Code != 1 || !strings.Contains(r.Stderr, `"nope"`) {
		t.Fatalf("bad config: exit %d %s", r.Code, r.Stderr)
	}
}
