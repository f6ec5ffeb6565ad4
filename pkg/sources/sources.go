// Package sources keeps the library sources: folders imported in place
// (import.mode in_place, the files stay where they are) or copied from
// (copy). A source is what the web UI may serve files from besides the
// LIBRARY roots, what the dashboard lists with its media count, and what
// the scan worker rescans on a schedule when it is watched.
//
// Decisions:
//   - RecordScan is the one function that records a source; pkg/scan calls
//     it from Importer.ScanPath, so a scan_path job and scan-path --now
//     record alike. move imports record nothing (the files end up in the
//     library and the folder is left empty).
//   - A single-file import records the file's folder: a source is a folder
//     (the unit a rescan walks and a watch follows), and the file must be
//     servable. A later rescan of that source walks the whole folder.
//   - Paths are stored cleaned and absolute, not symlink-resolved, exactly
//     as media.path is written, so "media below a source" is an index range
//     on media.path (library.PrefixRange). Serving resolves symlinks.
//   - Remove forgets catalogue rows only (media below the source, minus
//     those below another remaining source, and the source's scan_files
//     fingerprints); files are never deleted.
package sources

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/library"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// Reason codes returned by this package.
const (
	CodeNotFound    = "source_not_found"
	CodeScanRunning = "source_scan_running"
)

// Import modes that record a source (pkg/scan's ModeInPlace, ModeCopy).
const (
	ModeInPlace = "in_place"
	ModeCopy    = "copy"
)

// Scan states stored in last_scan_status.
const (
	StatusRunning   = "running"
	StatusDone      = "done"
	StatusError     = "error"
	StatusCancelled = "cancelled"
)

// Records reports whether an import in mode records its folder as a source.
func Records(mode string) bool { return mode == ModeInPlace || mode == ModeCopy }

// Source is one library_sources row.
type Source struct {
	ID             int64  `json:"id"`
	Path           string `json:"path"`
	Mode           string `json:"mode"`
	Watch          bool   `json:"watch"`
	AddedAt        string `json:"added_at"`
	LastScanAt     string `json:"last_scan_at,omitempty"`
	LastScanJobID  int64  `json:"last_scan_job_id,omitempty"`
	LastScanStatus string `json:"last_scan_status,omitempty"`
	WatchQueuedAt  string `json:"watch_queued_at,omitempty"`
}

// Folder returns the source folder a scan of root records: root itself
// when it is a folder, its parent when it is a file; cleaned and absolute.
func Folder(root string) (string, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return "", fmt.Errorf("source folder of %s: %w", root, err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("source folder of %s: %w", root, err)
	}
	if !st.IsDir() {
		abs = filepath.Dir(abs)
	}
	return abs, nil
}

// Scan is one scan event for RecordScan.
type Scan struct {
	// Root is the scanned folder or file (a file records its folder).
	Root string
	// Mode is the import mode; only in_place and copy record.
	Mode string
	// JobID is the scan_path job (0: scan-path --now).
	JobID int64
	// Status is StatusRunning when the scan starts, else how it ended.
	Status string
	At     time.Time
}

// RecordScan records a scan of a source: at its start (Status running) the
// source is inserted, or its mode updated, and at its end the outcome is
// stored. last_scan_at is the time of the latest event, so the watch
// scheduler counts a long scan from its end. It reports whether anything
// was recorded (false for move imports). The watch flag is never changed
// here.
func RecordScan(ctx context.Context, q db.Execer, s Scan) (bool, error) {
	if !Records(s.Mode) {
		return false, nil
	}
	dir, err := Folder(s.Root)
	if err != nil {
		return false, err
	}
	at := svtime.Format(s.At)
	var job any
	if s.JobID > 0 {
		job = s.JobID
	}
	_, err = q.ExecContext(ctx, `INSERT INTO library_sources(path, mode, watch, added_at, last_scan_at, last_scan_job_id, last_scan_status)
		VALUES (?, ?, 0, ?, ?, ?, ?)
		ON CONFLICT(path) DO UPDATE SET mode = excluded.mode, last_scan_at = excluded.last_scan_at,
			last_scan_job_id = excluded.last_scan_job_id, last_scan_status = excluded.last_scan_status`,
		dir, s.Mode, at, at, job, s.Status)
	if err != nil {
		return false, fmt.Errorf("record source %s: %w", dir, db.Classify(err))
	}
	return true, nil
}

const sourceCols = `id, path, mode, watch, added_at, COALESCE(last_scan_at, ''), COALESCE(last_scan_job_id, 0),
	COALESCE(last_scan_status, ''), COALESCE(watch_queued_at, '')`

func scanSource(row interface{ Scan(...any) error }) (Source, error) {
	var s Source
	var watch int
	err := row.Scan(&s.ID, &s.Path, &s.Mode, &watch, &s.AddedAt, &s.LastScanAt, &s.LastScanJobID, &s.LastScanStatus, &s.WatchQueuedAt)
	s.Watch = watch != 0
	return s, err
}

func query(ctx context.Context, q db.Execer, where string, args ...any) ([]Source, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+sourceCols+` FROM library_sources `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("list sources: %w", db.Classify(err))
	}
	defer rows.Close()
	var out []Source
	for rows.Next() {
		s, err := scanSource(rows)
		if err != nil {
			return nil, fmt.Errorf("list sources: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list sources: %w", db.Classify(err))
	}
	return out, nil
}

// List returns every source in path order.
func List(ctx context.Context, q db.Execer) ([]Source, error) {
	return query(ctx, q, `ORDER BY path`)
}

// Paths returns every source path (the web UI's serving check).
func Paths(ctx context.Context, q db.Execer) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT path FROM library_sources`)
	if err != nil {
		return nil, fmt.Errorf("source paths: %w", db.Classify(err))
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, fmt.Errorf("source paths: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// Get returns one source.
func Get(ctx context.Context, q db.Execer, id int64) (Source, error) {
	s, err := scanSource(q.QueryRowContext(ctx, `SELECT `+sourceCols+` FROM library_sources WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return s, reason.Newf(CodeNotFound, "source %d not found", id)
	}
	if err != nil {
		return s, fmt.Errorf("get source %d: %w", id, db.Classify(err))
	}
	return s, nil
}

// MediaCount counts the media rows whose path lies below dir: one range
// over idx_media_path (covering, no table access), never a LIKE scan.
func MediaCount(ctx context.Context, q db.Execer, dir string) (int, error) {
	lo, hi := library.PrefixRange(dir)
	var n int
	if err := q.QueryRowContext(ctx, `SELECT count(*) FROM media WHERE path >= ? AND path < ?`, lo, hi).Scan(&n); err != nil {
		return 0, fmt.Errorf("count media below %s: %w", dir, db.Classify(err))
	}
	return n, nil
}

// SetWatch turns the scheduled rescan of a source on or off.
func SetWatch(ctx context.Context, q db.Execer, id int64, watch bool) error {
	w := 0
	if watch {
		w = 1
	}
	res, err := q.ExecContext(ctx, `UPDATE library_sources SET watch = ? WHERE id = ?`, w, id)
	if err != nil {
		return fmt.Errorf("set watch of source %d: %w", id, db.Classify(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return reason.Newf(CodeNotFound, "source %d not found", id)
	}
	return nil
}

// RemoveResult says what Remove forgot.
type RemoveResult struct {
	Source     Source `json:"source"`
	MediaRows  int    `json:"media_forgotten"`
	ScanFiles  int    `json:"scan_files_forgotten"`
	KeptNested int    `json:"nested_sources_kept"`
}

// forgetBatch bounds one Remove transaction (media rows and their
// cascaded children), so the write lock is held briefly.
const forgetBatch = 500

// Remove forgets a source: the media rows below it (through media.Forget,
// so tags, meta, prompts and jobs go with them), except media below
// another source nested inside it, which stays; its scan_files
// fingerprints, so a re-import examines the files afresh; and the source
// row. Files are never deleted. A source with a queued or running scan is
// refused (CodeScanRunning): the scan would catalogue the files again.
// Media rows go in short transactions first and the source row last, so an
// interrupted Remove leaves a source that a second Remove finishes.
func Remove(ctx context.Context, d *sql.DB, id int64, now time.Time) (RemoveResult, error) {
	var res RemoveResult
	src, err := Get(ctx, d, id)
	if err != nil {
		return res, err
	}
	res.Source = src
	var live int
	if err := d.QueryRowContext(ctx, `SELECT count(*) FROM jobs WHERE dedupe_key = ? AND status IN ('queued','running')`,
		"scan_path:"+src.Path).Scan(&live); err != nil {
		return res, fmt.Errorf("remove source %d: %w", id, db.Classify(err))
	}
	if live > 0 {
		return res, reason.Newf(CodeScanRunning, "a scan of %s is queued or running", src.Path)
	}
	// Stop the watch first so the scheduler queues no scan meanwhile.
	if _, err := d.ExecContext(ctx, `UPDATE library_sources SET watch = 0 WHERE id = ?`, id); err != nil {
		return res, fmt.Errorf("remove source %d: %w", id, db.Classify(err))
	}
	lo, hi := library.PrefixRange(src.Path)
	where := `path >= ? AND path < ?`
	args := []any{lo, hi}
	others, err := query(ctx, d, `WHERE path > ? AND path < ? AND id <> ?`, lo, hi, id)
	if err != nil {
		return res, err
	}
	for _, o := range others {
		olo, ohi := library.PrefixRange(o.Path)
		where += ` AND NOT (path >= ? AND path < ?)`
		args = append(args, olo, ohi)
	}
	res.KeptNested = len(others)
	for {
		n := 0
		err := db.InTx(ctx, d, func(tx *sql.Tx) error {
			ids, err := mediaIDs(ctx, tx, where, append(args, forgetBatch)...)
			if err != nil {
				return err
			}
			n, err = media.Forget(ctx, tx, ids)
			return err
		})
		if err != nil {
			return res, fmt.Errorf("remove source %d: %w", id, err)
		}
		res.MediaRows += n
		if n == 0 {
			break
		}
	}
	err = db.InTx(ctx, d, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, `DELETE FROM scan_files WHERE `+where, args...)
		if err != nil {
			return db.Classify(err)
		}
		n, _ := r.RowsAffected()
		res.ScanFiles = int(n)
		if _, err := tx.ExecContext(ctx, `DELETE FROM library_sources WHERE id = ?`, id); err != nil {
			return db.Classify(err)
		}
		return media.Audit(ctx, tx, media.AuditEntry{Action: "source_removed", EntityType: "source", EntityID: id,
			Details: map[string]any{"path": src.Path, "mode": src.Mode, "media_forgotten": res.MediaRows,
				"scan_files_forgotten": res.ScanFiles, "nested_sources_kept": res.KeptNested, "files_deleted": 0}, At: now})
	})
	if err != nil {
		return res, fmt.Errorf("remove source %d: %w", id, err)
	}
	return res, nil
}

func mediaIDs(ctx context.Context, q db.Execer, where string, args ...any) ([]int64, error) {
	rows, err := q.QueryContext(ctx, `SELECT id FROM media WHERE `+where+` LIMIT ?`, args...)
	if err != nil {
		return nil, db.Classify(err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
