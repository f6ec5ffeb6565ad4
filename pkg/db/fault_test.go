package db_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtest"
)

func TestClassifyNamesFullAndReadOnly(t *testing.T) {
	cases := []struct {
		name string
		err  error
		code string
		full bool
	}{
		{"sqlite full", fmt.Errorf("commit: %w", sqlite3.Error{Code: 13}), db.CodeDiskFull, true},
		{"sqlite full under another code", reason.Wrap(sqlite3.Error{Code: 13}, "db_error", reason.KindUnknown), db.CodeDiskFull, true},
		{"sqlite read-only", sqlite3.Error{Code: 8}, db.CodeReadOnly, false},
		{"erofs", fmt.Errorf("write: %w", syscall.EROFS), db.CodeReadOnly, false},
		{"busy", sqlite3.Error{Code: 5}, db.CodeBusy, false},
		{"other", errors.New("boom"), "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := db.Classify(c.err)
			if got := reason.Code(err); got != c.code {
				t.Fatalf("code %q, want %q (%v)", got, c.code, err)
			}
			if db.IsFull(err) != c.full {
				t.Fatalf("IsFull = %v, want %v", !c.full, c.full)
			}
			if c.full && (reason.KindOf(err) != reason.KindTransient || !errors.Is(err, db.ErrDiskFull)) {
				t.Fatalf("full: want transient wrapping ErrDiskFull, got %v", err)
			}
			if c.full && db.Classify(err) != err {
				t.Fatal("classifying twice wraps twice")
			}
		})
	}
}

// TestWriteOnFullDiskIsDiskFull fills a database on a 1 MiB tmpfs with
// real writes: the failing write must classify as disk_full.
func TestWriteOnFullDiskIsDiskFull(t *testing.T) {
	dir := svtest.MountTmpfs(t, 1<<20)
	ctx := context.Background()
	d, err := db.Open(ctx, db.Options{Path: filepath.Join(dir, "full.sqlite"), Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Exec(`CREATE TABLE blobs (b BLOB)`); err != nil {
		t.Fatal(err)
	}
	blob := make([]byte, 64<<10)
	var werr error
	for i := 0; i < 64 && werr == nil; i++ {
		werr = db.InTx(ctx, d, func(tx *sql.Tx) error {
			_, err := tx.Exec(`INSERT INTO blobs VALUES (?)`, blob)
			return err
		})
	}
	if werr == nil {
		t.Fatal("4 MiB fit on a 1 MiB filesystem")
	}
	if err := db.Classify(werr); reason.Code(err) != db.CodeDiskFull || !db.IsFull(err) {
		t.Fatalf("want disk_full, got %q: %v", reason.Code(err), err)
	}
}

// TestOpenOnReadOnlyFolderSaysReadOnly opens an existing database whose
// folder is mounted read-only (root ignores mode 0555, a read-only mount
// it cannot): SQLite says "unable to open database file"; Open must say
// read-only and name the folder.
func TestOpenOnReadOnlyFolderSaysReadOnly(t *testing.T) {
	dir := svtest.MountTmpfs(t, 4<<20)
	ctx := context.Background()
	path := filepath.Join(dir, "local.sqlite")
	d, err := db.Open(ctx, db.Options{Path: path, Create: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Exec(`CREATE TABLE t (x)`); err != nil {
		t.Fatal(err)
	}
	d.Close()
	svtest.RemountReadOnly(t, dir)
	for _, c := range []struct {
		name string
		open func(context.Context, db.Options) (*sql.DB, error)
	}{{"writer", db.Open}, {"reader", db.OpenReadOnly}} {
		t.Run(c.name, func(t *testing.T) {
			d, err := c.open(ctx, db.Options{Path: path})
			if err == nil {
				// A reader may manage without -shm writes; a writer never.
				d.Close()
				if c.name == "writer" {
					t.Fatal("opened a database on a read-only filesystem for writing")
				}
				return
			}
			t.Logf("%s: %v", c.name, err)
			if reason.Code(err) != db.CodeReadOnly {
				t.Fatalf("code %q, want %q: %v", reason.Code(err), db.CodeReadOnly, err)
			}
			if msg := err.Error(); !strings.Contains(msg, "read-only") || !strings.Contains(msg, dir) {
				t.Fatalf("message must say read-only and name %s: %s", dir, msg)
			}
		})
	}
}
