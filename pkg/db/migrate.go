package db

import (
	"bufio"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtime"
	"github.com/localsupervisor/supervisor/schema"
)

// Reason codes for migration errors.
const (
	CodeMigrationFailed   = "migration_failed"
	CodeMigrationChecksum = "migration_checksum_mismatch"
	CodeMigrationInvalid  = "migration_invalid"
)

// Migration is one numbered schema step.
type Migration struct {
	// Version is the file name without ".sql", e.g. "0001_original_schema".
	Version string
	// Description comes from the "-- description:" first line.
	Description string
	// Checksum is the hex SHA-256 of the file content.
	Checksum string
	// SQL is the file content.
	SQL string
}

var migrationName = regexp.MustCompile(`^(\d{4})_[a-z0-9_]+\.sql$`)

// LoadMigrations reads and orders the migrations in fsys (schema.FS when nil).
func LoadMigrations(fsys fs.FS) ([]Migration, error) {
	if fsys == nil {
		fsys = schema.FS
	}
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	out := make([]Migration, 0, len(names))
	seen := map[string]string{}
	for _, n := range names {
		m := migrationName.FindStringSubmatch(n)
		if m == nil {
			return nil, reason.Newf(CodeMigrationInvalid, "migration file %s is not named NNNN_name.sql", n)
		}
		if prev, dup := seen[m[1]]; dup {
			return nil, reason.Newf(CodeMigrationInvalid, "migrations %s and %s share number %s", prev, n, m[1])
		}
		seen[m[1]] = n
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		mig := Migration{Version: strings.TrimSuffix(n, ".sql"), Checksum: hex.EncodeToString(sum[:]), SQL: string(b)}
		first, _, _ := strings.Cut(mig.SQL, "\n")
		if d, ok := strings.CutPrefix(strings.TrimSpace(first), "-- description:"); ok {
			mig.Description = strings.TrimSpace(d)
		}
		out = append(out, mig)
	}
	return out, nil
}

// MigrateOptions configures Migrate.
type MigrateOptions struct {
	// DryRun lists what would be applied and writes nothing.
	DryRun bool
	// Migrations overrides the embedded set (tests).
	Migrations []Migration
	// Clock stamps applied_at (default system clock).
	Clock svtime.Clock
}

// MigrateResult says what Migrate did.
type MigrateResult struct {
	Applied []string `json:"applied"`
	Skipped []string `json:"skipped"`
	Pending []string `json:"pending"`
	DryRun  bool     `json:"dry_run"`
}

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    version TEXT NOT NULL UNIQUE,
    applied_at TEXT NOT NULL,
    description TEXT,
    version_hash TEXT
)`

// Migrate applies pending migrations in order, each in its own immediate
// transaction that re-checks schema_migrations first, so two concurrent
// migrate processes apply every migration exactly once. A migration that
// fails is rolled back completely and named in the error. An applied
// migration whose file changed is an error, never a silent re-run.
func Migrate(ctx context.Context, d *sql.DB, opts MigrateOptions) (MigrateResult, error) {
	res := MigrateResult{DryRun: opts.DryRun}
	migs := opts.Migrations
	if migs == nil {
		var err error
		if migs, err = LoadMigrations(nil); err != nil {
			return res, err
		}
	}
	clock := opts.Clock
	if clock == nil {
		clock = svtime.SystemClock{}
	}
	if opts.DryRun {
		applied, err := appliedVersions(ctx, d)
		if err != nil {
			return res, err
		}
		for _, m := range migs {
			h, ok := applied[m.Version]
			switch {
			case !ok:
				res.Pending = append(res.Pending, m.Version)
			case h != "" && h != m.Checksum:
				return res, checksumErr(m)
			default:
				res.Skipped = append(res.Skipped, m.Version)
			}
		}
		return res, nil
	}

	conn, err := d.Conn(ctx)
	if err != nil {
		return res, Classify(err)
	}
	defer conn.Close()
	// Table rebuilds (DROP + RENAME) need foreign keys off; the pragma is a
	// no-op inside a transaction, so it is set on the connection first.
	if _, err := conn.ExecContext(ctx, "PRAGMA foreign_keys=OFF"); err != nil {
		return res, Classify(err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA foreign_keys=ON")

	if err := inConnTx(ctx, conn, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, createMigrationsTable); err != nil {
			return err
		}
		return ensureColumn(ctx, tx, "schema_migrations", "version_hash", "TEXT")
	}); err != nil {
		return res, Classify(fmt.Errorf("prepare schema_migrations: %w", err))
	}

	for _, m := range migs {
		applied := false
		err := inConnTx(ctx, conn, func(tx *sql.Tx) error {
			var hash sql.NullString
			err := tx.QueryRowContext(ctx, `SELECT version_hash FROM schema_migrations WHERE version = ?`, m.Version).Scan(&hash)
			if err == nil {
				if hash.String != "" && hash.String != m.Checksum {
					return checksumErr(m)
				}
				return nil
			}
			if err != sql.ErrNoRows {
				return err
			}
			if err := execMigration(ctx, tx, m.SQL); err != nil {
				return reason.Permanent(CodeMigrationFailed, fmt.Errorf("migration %s failed (rolled back, database unchanged): %w", m.Version, err))
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at, description, version_hash) VALUES (?, ?, ?, ?)`,
				m.Version, svtime.NowString(clock), m.Description, m.Checksum); err != nil {
				return err
			}
			applied = true
			return nil
		})
		if err != nil {
			return res, Classify(err)
		}
		if applied {
			res.Applied = append(res.Applied, m.Version)
		} else {
			res.Skipped = append(res.Skipped, m.Version)
		}
	}
	return res, nil
}

func checksumErr(m Migration) error {
	return reason.Newf(CodeMigrationChecksum, "migration %s was changed after it was applied (checksum differs); restore the original file or add a new migration", m.Version)
}

func inConnTx(ctx context.Context, conn *sql.Conn, fn func(*sql.Tx) error) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// execMigration runs a migration's SQL, interpreting the sv: directive lines
// in file order (see package schema).
func execMigration(ctx context.Context, tx *sql.Tx, text string) error {
	var chunk strings.Builder
	flush := func() error {
		s := strings.TrimSpace(chunk.String())
		chunk.Reset()
		if s == "" {
			return nil
		}
		_, err := tx.ExecContext(ctx, s)
		return err
	}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		dir, ok := strings.CutPrefix(strings.TrimSpace(line), "-- sv:")
		if !ok {
			chunk.WriteString(line)
			chunk.WriteByte('\n')
			continue
		}
		if err := flush(); err != nil {
			return err
		}
		f := strings.Fields(dir)
		switch {
		case len(f) >= 4 && f[0] == "ensure-column":
			if err := ensureColumn(ctx, tx, f[1], f[2], strings.Join(f[3:], " ")); err != nil {
				return err
			}
		case len(f) == 4 && f[0] == "copy-column-if-exists":
			has, err := hasColumn(ctx, tx, f[1], f[2])
			if err != nil {
				return err
			}
			if has {
				q := fmt.Sprintf(`UPDATE %q SET %q = %q WHERE (%q IS NULL OR %q = '') AND %q IS NOT NULL`, f[1], f[3], f[2], f[3], f[3], f[2])
				if _, err := tx.ExecContext(ctx, q); err != nil {
					return err
				}
			}
		default:
			return reason.Newf(CodeMigrationInvalid, "unknown directive %q", dir)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return flush()
}

func hasColumn(ctx context.Context, q Execer, table, column string) (bool, error) {
	cols, err := tableColumns(ctx, q, table)
	if err != nil {
		return false, err
	}
	_, ok := cols[column]
	return ok, nil
}

func ensureColumn(ctx context.Context, q Execer, table, column, def string) error {
	has, err := hasColumn(ctx, q, table, column)
	if err != nil || has {
		return err
	}
	_, err = q.ExecContext(ctx, fmt.Sprintf(`ALTER TABLE %q ADD COLUMN %q %s`, table, column, def))
	return err
}

func tableColumns(ctx context.Context, q Execer, table string) (map[string]bool, error) {
	rows, err := q.QueryContext(ctx, fmt.Sprintf(`PRAGMA table_info(%q)`, table))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols := map[string]bool{}
	for rows.Next() {
		var (
			cid, notnull, pk int
			name, typ        string
			dflt             sql.NullString
		)
		if err := rows.Scan(&cid, &name, &typ, &notnull, &dflt, &pk); err != nil {
			return nil, err
		}
		cols[name] = true
	}
	return cols, rows.Err()
}

func appliedVersions(ctx context.Context, q Execer) (map[string]string, error) {
	out := map[string]string{}
	var n int
	if err := q.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type='table' AND name='schema_migrations'`).Scan(&n); err != nil {
		return nil, Classify(err)
	}
	if n == 0 {
		return out, nil
	}
	cols, err := tableColumns(ctx, q, "schema_migrations")
	if err != nil {
		return nil, err
	}
	query := `SELECT version, '' FROM schema_migrations`
	if cols["version_hash"] {
		query = `SELECT version, COALESCE(version_hash, '') FROM schema_migrations`
	}
	rows, err := q.QueryContext(ctx, query)
	if err != nil {
		return nil, Classify(err)
	}
	defer rows.Close()
	for rows.Next() {
		var v, h string
		if err := rows.Scan(&v, &h); err != nil {
			return nil, err
		}
		out[v] = h
	}
	return out, rows.Err()
}
