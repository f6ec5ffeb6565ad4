// Package db opens Supervisor's SQLite database and applies its migrations.
//
// Writers use Open: WAL, synchronous=NORMAL, foreign_keys=ON, a busy timeout
// and _txlock=immediate so every transaction takes the write lock at BEGIN
// (a deferred BEGIN that upgrades later is what produced "database is locked"
// in the original). Web reads use OpenReadOnly: query_only with a short busy
// timeout, so a busy database answers fast with ErrBusy instead of hanging a
// request.
package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// DriverName is the database/sql driver registered by this package: the
// mattn/go-sqlite3 driver plus Supervisor's SQL functions (sv_ts).
const DriverName = "sqlite3_supervisor"

// Defaults for Options.
const (
	DefaultBusyTimeout     = 5 * time.Second
	DefaultReadBusyTimeout = 250 * time.Millisecond
	DefaultMaxOpenConns    = 4
	DefaultMaxReadConns    = 8
)

// Reason codes for database errors.
const (
	CodeBusy        = "db_busy"
	CodeNotSQLite   = "db_not_sqlite"
	CodeOpenFailed  = "db_open_failed"
	CodeDirMissing  = "db_dir_missing"
	CodeDirReadOnly = "db_dir_not_writable"
	CodePathMissing = "db_path_missing"
	// CodeReadOnly: the database or its folder is on a read-only
	// filesystem (EROFS) or SQLite refuses writes (SQLITE_READONLY).
	CodeReadOnly = "db_read_only"
	// CodeDiskFull is reason.CodeDiskFull: SQLITE_FULL or ENOSPC.
	CodeDiskFull = reason.CodeDiskFull
)

// ErrDiskFull is wrapped by Classify into errors of a database whose disk
// is full (SQLITE_FULL), so callers can tell them from a full library disk.
var ErrDiskFull = errors.New("database disk is full")

// ErrBusy is returned (wrapped) when SQLite reports SQLITE_BUSY or
// SQLITE_LOCKED after the busy timeout.
var ErrBusy = errors.New("database is busy")

// registerOnce guards sql.Register, which panics when called twice for one
// name; driver registration is process-global by database/sql's design.
var registerOnce sync.Once

func registerDriver() {
	registerOnce.Do(func() {
		sql.Register(DriverName, &sqlite3.SQLiteDriver{
			ConnectHook: func(c *sqlite3.SQLiteConn) error {
				// Statement journals and temp b-trees in memory: once a
				// transaction's statement journal outgrew its 64 KiB spill
				// limit, every later statement of a batch import wrote its
				// undo pages to a /var/tmp file (~100 pwrite calls per
				// imported file).
				if err := connPragmas(c); err != nil {
					return err
				}
				// sv_ts normalises any legacy timestamp to UTC RFC 3339 and
				// leaves unparseable text as it is.
				if err := c.RegisterFunc("sv_ts", svTS, true); err != nil {
					return err
				}
				// sv_wordmatch: word-prefix matching of the catalog's
				// query terms (wordmatch.go); sv_hamming, sv_phash_band:
				// the similar: term (phashfunc.go).
				for name, fn := range map[string]any{"sv_wordmatch": svWordMatch, "sv_hamming": svHamming, "sv_phash_band": svPHashBand} {
					if err := c.RegisterFunc(name, fn, true); err != nil {
						return err
					}
				}
				return nil
			},
		})
	})
}

// svTS is the SQL function sv_ts. The driver passes SQL NULL to an `any`
// argument as a nil []byte; it must stay NULL (converting it to a string
// wrote the empty string into every NULL timestamp of an upgraded database).
func svTS(v any) any {
	switch x := v.(type) {
	case string:
		return svtime.Normalize(x)
	case []byte:
		if x == nil {
			return nil
		}
		return svtime.Normalize(string(x))
	}
	return v
}

// Options configures Open.
type Options struct {
	// Path of the SQLite file. Required.
	Path string
	// BusyTimeout is how long a statement waits for a lock (default 5 s).
	BusyTimeout time.Duration
	// MaxOpenConns bounds the pool (default 4 for writers, 8 for readers).
	// Writers may hold several connections: _txlock=immediate serialises
	// write transactions in SQLite itself, and a single connection would
	// deadlock a caller that reads while it iterates another result set.
	MaxOpenConns int
	// Create allows creating the parent folder and a new database file.
	Create bool
}

// Open opens the database for reading and writing.
func Open(ctx context.Context, opts Options) (*sql.DB, error) {
	return open(ctx, opts, false)
}

// OpenReadOnly opens a query-only handle with a short busy timeout (default
// 250 ms) for web requests.
func OpenReadOnly(ctx context.Context, opts Options) (*sql.DB, error) {
	if opts.BusyTimeout == 0 {
		opts.BusyTimeout = DefaultReadBusyTimeout
	}
	if opts.MaxOpenConns == 0 {
		opts.MaxOpenConns = DefaultMaxReadConns
	}
	opts.Create = false
	return open(ctx, opts, true)
}

// DSN builds the connection string for path.
func DSN(path string, busy time.Duration, readOnly bool) string {
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "NORMAL")
	q.Set("_busy_timeout", fmt.Sprint(busy.Milliseconds()))
	q.Set("_foreign_keys", "1")
	if readOnly {
		q.Set("_query_only", "1")
		// Web pages run the same few statements over and over (a list
		// page: the list, five batched card queries, the count, the
		// session); the driver keeps them prepared per connection
		// instead of parsing and planning each again.
		q.Set("_stmt_cache_size", "64")
	} else {
		q.Set("_txlock", "immediate")
	}
	q.Set("cache", "private")
	return "file:" + (&url.URL{Path: filepath.ToSlash(path)}).EscapedPath() + "?" + q.Encode()
}

func open(ctx context.Context, opts Options, readOnly bool) (*sql.DB, error) {
	registerDriver()
	if strings.TrimSpace(opts.Path) == "" {
		return nil, reason.New(CodePathMissing, "db.path is empty")
	}
	if opts.BusyTimeout == 0 {
		opts.BusyTimeout = DefaultBusyTimeout
	}
	if opts.MaxOpenConns == 0 {
		opts.MaxOpenConns = DefaultMaxOpenConns
	}
	if err := checkLocation(opts.Path, opts.Create && !readOnly); err != nil {
		return nil, err
	}
	d, err := sql.Open(DriverName, DSN(opts.Path, opts.BusyTimeout, readOnly))
	if err != nil {
		return nil, reason.Permanent(CodeOpenFailed, fmt.Errorf("open %s: %w", opts.Path, err))
	}
	d.SetMaxOpenConns(opts.MaxOpenConns)
	d.SetMaxIdleConns(opts.MaxOpenConns)
	d.SetConnMaxIdleTime(5 * time.Minute)
	// Touch the schema so "file is not a database" and permission problems
	// surface here, not in the first real query.
	var n int
	if err := d.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master").Scan(&n); err != nil {
		d.Close()
		if code, _, ok := sqliteCode(err); ok && (code == codeCantOpen || code == codeReadonly || code == codePerm) {
			// SQLite says only "unable to open database file" when it
			// cannot create the -wal/-shm files beside the database;
			// the folder tells the real cause.
			if derr := dirWritable(filepath.Dir(opts.Path), err); derr != nil {
				return nil, derr
			}
		}
		return nil, Classify(fmt.Errorf("open %s: %w", opts.Path, err))
	}
	return d, nil
}

func checkLocation(path string, create bool) error {
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			return reason.Permanent(CodeOpenFailed, fmt.Errorf("stat %s: %w", dir, err))
		}
		if !create {
			return reason.Permanent(CodeDirMissing, fmt.Errorf("database folder %s does not exist", dir))
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return notWritable(dir, err)
		}
	} else if !st.IsDir() {
		return reason.Permanent(CodeDirMissing, fmt.Errorf("%s is not a folder", dir))
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if !create {
			return reason.Permanent(CodeOpenFailed, fmt.Errorf("database %s does not exist (run init-db or migrate)", path))
		}
		// SQLite needs to create the file and its -wal/-shm beside it.
		return dirWritable(dir, nil)
	}
	return nil
}

// dirWritable creates and removes a probe file in dir and returns nil when
// that works, else the reason the database cannot be written there (cause,
// when not nil, is the SQLite error that made the caller look).
func dirWritable(dir string, cause error) error {
	probe, err := os.CreateTemp(dir, ".sv-write-probe-*")
	if err != nil {
		if cause != nil {
			err = fmt.Errorf("%w (sqlite: %v)", err, cause)
		}
		return notWritable(dir, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	return nil
}

// notWritable names why the database folder dir cannot be written and
// what to do: a read-only filesystem (db_read_only), a full disk
// (disk_full) or missing permissions (db_dir_not_writable).
func notWritable(dir string, err error) error {
	switch {
	case reason.IsReadOnlyFS(err):
		return &reason.Error{Code: CodeReadOnly, Kind: reason.KindPermanent, Err: err,
			Msg: fmt.Sprintf("the database folder %s is on a read-only filesystem: remount it read-write, or set db.path to a writable folder", dir)}
	case reason.IsDiskFull(err):
		return &reason.Error{Code: CodeDiskFull, Kind: reason.KindTransient, Err: fmt.Errorf("%w: %w", ErrDiskFull, err),
			Msg: fmt.Sprintf("the disk holding the database folder %s is full: free space there, then run it again", dir)}
	}
	return &reason.Error{Code: CodeDirReadOnly, Kind: reason.KindPermanent, Err: err,
		Msg: fmt.Sprintf("the database folder %s is not writable by this user: fix its permissions, or set db.path to a writable folder", dir)}
}

// Classify maps SQLite errors to reason-coded errors: busy/locked →
// transient db_busy wrapping ErrBusy; full → transient disk_full wrapping
// ErrDiskFull; read-only → db_read_only; "not a database" → db_not_sqlite.
// Other errors are returned unchanged.
func Classify(err error) error {
	if err == nil {
		return nil
	}
	if IsBusy(err) {
		return &reason.Error{Code: CodeBusy, Kind: reason.KindTransient, Err: fmt.Errorf("%w: %w", ErrBusy, err)}
	}
	if IsFull(err) {
		if errors.Is(err, ErrDiskFull) && reason.Code(err) == CodeDiskFull {
			return err
		}
		return &reason.Error{Code: CodeDiskFull, Kind: reason.KindTransient, Err: fmt.Errorf("%w: %w", ErrDiskFull, err),
			Msg: "the disk holding the database is full: free space on it (or move db.path to a bigger disk), then run again; interrupted jobs are taken back and retried"}
	}
	if code, _, ok := sqliteCode(err); ok {
		switch code {
		case codeNotADB:
			return reason.Permanent(CodeNotSQLite, fmt.Errorf("not an SQLite database: %w", err))
		case codeReadonly:
			return &reason.Error{Code: CodeReadOnly, Kind: reason.KindPermanent, Err: err,
				Msg: "the database is read-only: check that its folder is writable and not mounted read-only"}
		case codeCantOpen, codePerm:
			return reason.Permanent(CodeOpenFailed, err)
		}
	}
	if reason.IsReadOnlyFS(err) {
		return &reason.Error{Code: CodeReadOnly, Kind: reason.KindPermanent, Err: err,
			Msg: "the database is on a read-only filesystem: remount it read-write, or set db.path to a writable folder"}
	}
	return err
}

// IsFull reports whether err is a write the database's disk had no room
// for: SQLITE_FULL, or ErrDiskFull from Classify.
func IsFull(err error) bool {
	if errors.Is(err, ErrDiskFull) {
		return true
	}
	code, _, ok := sqliteCode(err)
	return ok && code == codeFull
}

// IsBusy reports whether err is SQLITE_BUSY or SQLITE_LOCKED.
func IsBusy(err error) bool {
	if errors.Is(err, ErrBusy) {
		return true
	}
	code, _, ok := sqliteCode(err)
	return ok && (code == codeBusy || code == codeLocked)
}

// IsUniqueViolation reports whether err is a UNIQUE or PRIMARY KEY
// constraint failure.
func IsUniqueViolation(err error) bool {
	_, ext, ok := sqliteCode(err)
	return ok && (ext == extConstraintUnique || ext == extConstraintPrimaryKey)
}

// SQLite result codes (sqlite3.h); spelled out so the package also builds
// without cgo (GOOS=windows cross builds), where the driver is a stub.
const (
	codePerm     = 3
	codeBusy     = 5
	codeLocked   = 6
	codeReadonly = 8
	codeFull     = 13
	codeCantOpen = 14
	codeNotADB   = 26

	extConstraintPrimaryKey = 19 | 6<<8
	extConstraintUnique     = 19 | 8<<8
)

// InTx runs fn in one transaction (BEGIN IMMEDIATE on writer handles),
// committing when fn returns nil and rolling back otherwise.
func InTx(ctx context.Context, d *sql.DB, fn func(tx *sql.Tx) error) (err error) {
	tx, err := d.BeginTx(ctx, nil)
	if err != nil {
		return Classify(fmt.Errorf("begin: %w", err))
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
		if err != nil {
			if rbErr := tx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
				err = fmt.Errorf("%w (rollback: %v)", err, rbErr)
			}
		}
	}()
	if err = fn(tx); err != nil {
		return err
	}
	if err = tx.Commit(); err != nil {
		return Classify(fmt.Errorf("commit: %w", err))
	}
	return nil
}

// Execer is satisfied by *sql.DB, *sql.Tx and *sql.Conn.
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}
