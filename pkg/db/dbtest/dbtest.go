// Package dbtest gives tests a real, migrated SQLite database (the wtf
// MustOpenDB pattern). Import it only from _test.go files.
package dbtest

import (
	"context"
	"database/sql"
	_ "embed"
	"os"
	"path/filepath"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/db"
)

// Open creates the database at path (folders included) with the production
// DSN, applies every migration and closes it when the test ends.
func Open(tb testing.TB, path string) *sql.DB {
	tb.Helper()
	ctx := context.Background()
	d, err := db.Open(ctx, db.Options{Path: path, Create: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.Close() })
	if _, err := db.Migrate(ctx, d, db.MigrateOptions{}); err != nil {
		tb.Fatal(err)
	}
	return d
}

// LegacySchema is the original PHP system's DDL (DB/schema.sql after its
// migrations 001–018, with the legacy jobs.payload column), for tests that
// upgrade or refuse an original database.
//
//go:embed legacy_schema.sql
var LegacySchema string

// OpenLegacy creates a database in the original's shape at path (folders
// included, foreign keys off as the original ran), runs the extra
// statements on it, records the original's own migration row and closes
// it. It returns path.
func OpenLegacy(tb testing.TB, path string, stmts ...string) string {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tb.Fatal(err)
	}
	// db.Open registers the driver; the original's database is then
	// written directly, without Supervisor's connection setup.
	d, err := db.Open(context.Background(), db.Options{Path: filepath.Join(tb.TempDir(), "register.sqlite"), Create: true})
	if err != nil {
		tb.Fatal(err)
	}
	d.Close()
	raw, err := sql.Open(db.DriverName, "file:"+path+"?_foreign_keys=0")
	if err != nil {
		tb.Fatal(err)
	}
	defer raw.Close()
	all := append([]string{LegacySchema,
		`INSERT INTO schema_migrations (version, applied_at, description) VALUES ('001_init', '2024-01-01T10:00:00+01:00', 'php init')`}, stmts...)
	for _, s := range all {
		if _, err := raw.Exec(s); err != nil {
			tb.Fatalf("%v\n%s", err, s)
		}
	}
	return path
}
