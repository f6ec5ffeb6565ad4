package db_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/db"
)

// TestConnectionPragmas checks the per-connection settings every pooled
// connection gets (DSN parameters and the connect hook), on writer and
// reader handles, with two connections held at once.
func TestConnectionPragmas(t *testing.T) {
	ctx := context.Background()
	w, path := openFresh(t)
	r, err := db.OpenReadOnly(ctx, db.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cases := []struct {
		pragma string
		want   int
	}{
		{"temp_store", 2}, // MEMORY: statement journals never hit /var/tmp
		{"foreign_keys", 1},
		{"synchronous", 1},            // NORMAL
		{"cache_size", -32768},        // 32 MiB: the import's hash-index pages stay cached
		{"wal_autocheckpoint", 16384}, // 64 MiB of WAL between checkpoints
	}
	for name, d := range map[string]*sql.DB{"writer": w, "reader": r} {
		c1, err := d.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		c2, err := d.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i, conn := range []*sql.Conn{c1, c2} {
			for _, c := range cases {
				var got int
				if err := conn.QueryRowContext(ctx, "PRAGMA "+c.pragma).Scan(&got); err != nil {
					t.Fatal(err)
				}
				if got != c.want {
					t.Errorf("%s conn %d: %s = %d, want %d", name, i, c.pragma, got, c.want)
				}
			}
		}
		c1.Close()
		c2.Close()
	}
}
