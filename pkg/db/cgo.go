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

// connPragmas sets the per-connection pragmas the DSN cannot carry.
func connPragmas(c *sqlite3.SQLiteConn) error {
	_, err := c.Exec("PRAGMA temp_store=MEMORY", nil)
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
