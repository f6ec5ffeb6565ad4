//go:build !cgo

package db

import (
	"context"
	"database/sql"
	"errors"

	sqlite3 "github.com/mattn/go-sqlite3"
)

// Without cgo mattn/go-sqlite3 is a stub that fails every Open; these keep
// the package compiling for cross builds (GOOS=windows go build ./...).

func connPragmas(*sqlite3.SQLiteConn) error { return nil }

func sqliteCode(error) (code, extended int, ok bool) { return 0, 0, false }

func onlineCopy(context.Context, *sql.DB, string) error {
	return errors.New("db-backup needs a cgo build of Supervisor")
}
