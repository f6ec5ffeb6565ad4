//go:build cgo

package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"

	sqlite3 "github.com/mattn/go-sqlite3"
)

// connPragmas sets the per-connection pragmas the DSN cannot carry:
//   - temp_store=MEMORY: statement journals of multi-row writes spilled to
//     /var/tmp (about 100 pwrite calls per imported file).
//   - cache_size 32 MiB (default 2 MiB): an import touches random pages
//     of the hash indexes; beyond 2 MiB every batch re-read them from the
//     OS (an import of 40k files wrote 35 % slower per file than one of
//     20k). The cache fills only as pages are used.
//   - wal_autocheckpoint 16384 pages (64 MiB, default 1000): a page
//     written by many batches is copied into the database once per
//     checkpoint instead of once per 4 MiB of WAL.
func connPragmas(c *sqlite3.SQLiteConn) error {
	_, err := c.Exec("PRAGMA temp_store=MEMORY; PRAGMA cache_size=-32768; PRAGMA wal_autocheckpoint=16384", nil)
	return err
}

func sqliteCode(err error) (code, extended int, ok bool) {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return int(se.Code), int(se.ExtendedCode), true
	}
	return 0, 0, false
}

func onlineCopy(ctx context.Context, d *sql.DB, dest string) error {
	registerDriver()
	dst, err := sql.Open(DriverName, "file:"+filepath.ToSlash(dest))
	if err != nil {
		return err
	}
	defer dst.Close()
	dstConn, err := dst.Conn(ctx)
	if err != nil {
		return err
	}
	defer dstConn.Close()
	srcConn, err := d.Conn(ctx)
	if err != nil {
		return err
	}
	defer srcConn.Close()
	return dstConn.Raw(func(dc any) error {
		dsc, ok := dc.(*sqlite3.SQLiteConn)
		if !ok {
			return fmt.Errorf("unexpected driver connection %T", dc)
		}
		return srcConn.Raw(func(sc any) error {
			ssc, ok := sc.(*sqlite3.SQLiteConn)
			if !ok {
				return fmt.Errorf("unexpected driver connection %T", sc)
			}
			b, err := dsc.Backup("main", ssc, "main")
			if err != nil {
				return err
			}
			for {
				if err := ctx.Err(); err != nil {
					b.Close()
					return err
				}
				done, err := b.Step(1024)
				if err != nil {
					b.Close()
					return err
				}
				if done {
					break
				}
			}
			return b.Finish()
		})
	})
}
