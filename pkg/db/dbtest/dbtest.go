// Package dbtest gives tests a real, migrated SQLite database (the wtf
// MustOpenDB pattern). Import it only from _test.go files.
package dbtest

import (
	"context"
	"database/sql"
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
