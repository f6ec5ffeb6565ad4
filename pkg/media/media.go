package media

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/library"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// Media reason codes.
const (
	CodeNotFound      = "media_not_found"
	CodeInvalidRating = "invalid_rating"
	CodeMoveFailed    = "media_move_failed"
)

// Status values of media.status.
const (
	StatusActive  = "active"
	StatusMissing = "missing"
)

// Media is one media row (the columns the Go code uses).
type Media struct {
	ID         int64
	Path       string
	Type       string
	Source     string
	Width      *int64
	Height     *int64
	Duration   *float64
	FPS        *float64
	Filesize   *int64
	Hash       string
	CreatedAt  string
	ImportedAt string
	Rating     int
	HasNSFW    bool
	ParentID   *int64
	Status     string
	IsDeleted  bool
	DeletedAt  string
}

const mediaCols = `id, path, type, source, width, height, duration, fps, filesize, COALESCE(hash,''),
	COALESCE(created_at,''), imported_at, rating, has_nsfw, parent_media_id, status, is_deleted, COALESCE(deleted_at,'')`

func scanMedia(row interface{ Scan(...any) error }) (*Media, error) {
	var m Media
	var w, h, size, parent sql.NullInt64
	var dur, fps sql.NullFloat64
	var nsfw, del int
	if err := row.Scan(&m.ID, &m.Path, &m.Type, &m.Source, &w, &h, &dur, &fps, &size, &m.Hash,
		&m.CreatedAt, &m.ImportedAt, &m.Rating, &nsfw, &parent, &m.Status, &del, &m.DeletedAt); err != nil {
		return nil, err
	}
	if w.Valid {
		m.Width = &w.Int64
	}
	if h.Valid {
		m.Height = &h.Int64
	}
	if size.Valid {
		m.Filesize = &size.Int64
	}
	if parent.Valid {
		m.ParentID = &parent.Int64
	}
	if dur.Valid {
		m.Duration = &dur.Float64
	}
	if fps.Valid {
		m.FPS = &fps.Float64
	}
	m.HasNSFW = nsfw == 1
	m.IsDeleted = del == 1
	return &m, nil
}

// Get loads one media; a missing row is media_not_found.
func Get(ctx context.Context, q db.Execer, id int64) (*Media, error) {
	m, err := scanMedia(q.QueryRowContext(ctx, `SELECT `+mediaCols+` FROM media WHERE id=?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, reason.Newf(CodeNotFound, "media %d not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get media %d: %w", id, db.Classify(err))
	}
	return m, nil
}

// GetByHash loads the media with an MD5 hash; (nil, nil) when there is none.
func GetByHash(ctx context.Context, q db.Execer, hash string) (*Media, error) {
	m, err := scanMedia(q.QueryRowContext(ctx, `SELECT `+mediaCols+` FROM media WHERE hash=?`, strings.ToLower(hash)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("media by hash: %w", db.Classify(err))
	}
	return m, nil
}

// ActiveAt loads the newest active media whose file is path; (nil, nil)
// when there is none. One path has one active media (the in-place
// importer updates it when the file's content changes).
func ActiveAt(ctx context.Context, q db.Execer, path string) (*Media, error) {
	m, err := scanMedia(q.QueryRowContext(ctx, `SELECT `+mediaCols+` FROM media WHERE path=? AND status='active' ORDER BY id DESC LIMIT 1`, path))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("media at path: %w", db.Classify(err))
	}
	return m, nil
}

// Reactivate sets a missing media whose file is back to active, unless
// another active media has its path meanwhile (an in-place file replaced
// by other content): one path, one active media. It reports whether the
// row changed.
func Reactivate(ctx context.Context, q db.Execer, id int64) (bool, error) {
	r, err := q.ExecContext(ctx, `UPDATE media SET status='active' WHERE id=? AND status='missing'
		AND NOT EXISTS (SELECT 1 FROM media o WHERE o.path=media.path AND o.status='active' AND o.id<>media.id)`, id)
	if err != nil {
		return false, fmt.Errorf("reactivate media %d: %w", id, db.Classify(err))
	}
	n, _ := r.RowsAffected()
	return n > 0, nil
}

// NewMedia is what Insert writes.
type NewMedia struct {
	Path     string
	Type     string
	Source   string
	Width    int
	Height   int
	Duration float64
	FPS      float64
	Filesize int64
	Hash     string
	// FileMTime is the file's modification time (media.created_at, like
	// the original, but UTC RFC 3339).
	FileMTime time.Time
	Rating    int
	HasNSFW   bool
	ParentID  int64
}

func nullInt(v int64) any {
	if v == 0 {
		return nil
	}
	return v
}

func nullFloat(v float64) any {
	if v == 0 {
		return nil
	}
	return v
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Insert adds a media row and returns its id. A duplicate hash surfaces as a
// unique violation (db.IsUniqueViolation).
func Insert(ctx context.Context, q db.Execer, m NewMedia, now time.Time) (int64, error) {
	res, err := q.ExecContext(ctx, mediaInsertCols+`(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`, m.insertArgs(svtime.Format(now))...)
	if err != nil {
		return 0, fmt.Errorf("insert media: %w", db.Classify(err))
	}
	return res.LastInsertId()
}

// SetRating sets media.rating (0 unrated, 1 safe, 2 questionable, 3 explicit).
func SetRating(ctx context.Context, q db.Execer, id int64, rating int) error {
	if rating < 0 || rating > 3 {
		return reason.Newf(CodeInvalidRating, "rating %d is not 0..3", rating)
	}
	return updateOne(ctx, q, id, `UPDATE media SET rating=? WHERE id=?`, rating, id)
}

// SetStatus sets media.status (active/missing).
func SetStatus(ctx context.Context, q db.Execer, id int64, status string) error {
	return updateOne(ctx, q, id, `UPDATE media SET status=? WHERE id=?`, status, id)
}

// SoftDelete flags a media deleted (is_deleted=1, deleted_at=now); the file
// and rows stay.
func SoftDelete(ctx context.Context, q db.Execer, id int64, now time.Time) error {
	return updateOne(ctx, q, id, `UPDATE media SET is_deleted=1, deleted_at=COALESCE(deleted_at, ?) WHERE id=?`, svtime.Format(now), id)
}

// Restore undoes SoftDelete.
func Restore(ctx context.Context, q db.Execer, id int64) error {
	return updateOne(ctx, q, id, `UPDATE media SET is_deleted=0, deleted_at=NULL WHERE id=?`, id)
}

func updateOne(ctx context.Context, q db.Execer, id int64, stmt string, args ...any) error {
	res, err := q.ExecContext(ctx, stmt, args...)
	if err != nil {
		return fmt.Errorf("update media %d: %w", id, db.Classify(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return reason.Newf(CodeNotFound, "media %d not found", id)
	}
	return nil
}

// Forget removes media rows from the catalogue and nothing else: every
// child row goes with them through the schema's ON DELETE CASCADE (tags,
// meta, prompts, prompt history, scan and Ollama results, collections,
// jobs), variants keep their file with parent_media_id set to NULL, and
// no file is touched. It returns how many rows were removed. Callers keep
// ids short (hundreds) so the transaction stays short.
func Forget(ctx context.Context, q db.Execer, ids []int64) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	res, err := q.ExecContext(ctx, `DELETE FROM media WHERE id IN (?`+strings.Repeat(",?", len(ids)-1)+`)`, args...)
	if err != nil {
		return 0, fmt.Errorf("forget %d media: %w", len(ids), db.Classify(err))
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// HardDelete removes the media row (children cascade) and then its file
// when the file lies inside roots (files outside the library are never
// deleted). The row goes first: a crash in between leaves an untracked file
// that consistency checks can find, never a row pointing at nothing.
func HardDelete(ctx context.Context, d *sql.DB, roots []string, id int64, now time.Time) (removedFile bool, err error) {
	var path string
	err = db.InTx(ctx, d, func(tx *sql.Tx) error {
		m, err := Get(ctx, tx, id)
		if err != nil {
			return err
		}
		path = m.Path
		if _, err := Forget(ctx, tx, []int64{id}); err != nil {
			return err
		}
		return Audit(ctx, tx, AuditEntry{Action: "media_hard_delete", EntityType: "media", EntityID: id,
			Details: map[string]any{"path": path}, At: now})
	})
	if err != nil {
		return false, err
	}
	if _, in := library.Inside(roots, path); !in {
		return false, nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		_ = ConsistencyLog(ctx, d, "hard_delete_file", "warning", fmt.Sprintf("media %d: %v", id, err), now)
		return false, reason.Transient(CodeMoveFailed, err)
	}
	return true, nil
}

// MetaNSFWManual is the media_meta key of a person's 18+/safe decision
// ("1" adult, "0" safe), written by SetNSFW. It wins over every automatic
// verdict: rescan and Ollama's nsfw_classify leave has_nsfw (and so the
// file's root) alone while it exists (NSFWDecision, NoNSFWDecisionSQL).
const MetaNSFWManual = "nsfw.manual"

// NoNSFWDecisionSQL is an SQL condition true when the media whose id is
// the single bound parameter has no manual NSFW decision; automatic
// writers of has_nsfw put it in their UPDATE's WHERE so the check and the
// write are one statement.
const NoNSFWDecisionSQL = `NOT EXISTS (SELECT 1 FROM media_meta WHERE media_id = ? AND meta_key = '` + MetaNSFWManual + `')`

// NSFWDecision returns the manual NSFW decision of a media, if a person
// made one.
func NSFWDecision(ctx context.Context, q db.Execer, id int64) (hasNSFW, decided bool, err error) {
	v, ok, err := GetMeta(ctx, q, id, MetaNSFWManual)
	if err != nil || !ok {
		return false, false, err
	}
	return v == "1", true, nil
}

// SetNSFW records a person's decision: sets has_nsfw, remembers it as
// MetaNSFWManual so no automatic verdict undoes it, and moves the file to
// its canonical path under the matching root. Files outside the library
// roots are flagged but never moved. Order: move file, then update the row; if the update fails the file
// is moved back (compensation). It returns the (possibly new) path.
func SetNSFW(ctx context.Context, d *sql.DB, roots library.Roots, id int64, hasNSFW bool, now time.Time) (string, error) {
	m, err := Get(ctx, d, id)
	if err != nil {
		return "", err
	}
	newPath := m.Path
	if _, in := library.Inside(roots.All(), m.Path); in && m.Hash != "" {
		dst, err := library.Destination(roots, m.Type, hasNSFW, m.Hash, filepath.Ext(m.Path))
		if err != nil {
			return "", err
		}
		if dst != m.Path {
			if _, err := os.Stat(dst); err == nil {
				// Same hash already at the destination: content is
				// identical, so drop the old copy after the commit.
			} else if err := library.MoveFile(m.Path, dst); err != nil {
				return "", reason.Transient(CodeMoveFailed, err)
			}
			newPath = dst
		}
	}
	err = db.InTx(ctx, d, func(tx *sql.Tx) error {
		if err := updateOne(ctx, tx, id, `UPDATE media SET has_nsfw=?, path=?, status='active' WHERE id=?`, boolInt(hasNSFW), newPath, id); err != nil {
			return err
		}
		if _, err := SetMeta(ctx, tx, id, SourceWeb, MetaNSFWManual, strconv.Itoa(boolInt(hasNSFW)), now); err != nil {
			return err
		}
		return Audit(ctx, tx, AuditEntry{Action: "media_nsfw_toggle", EntityType: "media", EntityID: id,
			Details: map[string]any{"has_nsfw": hasNSFW, "path_before": m.Path, "path_after": newPath}, At: now})
	})
	if err != nil {
		if newPath != m.Path {
			if _, statErr := os.Stat(m.Path); errors.Is(statErr, os.ErrNotExist) {
				if mvErr := library.MoveFile(newPath, m.Path); mvErr != nil {
					_ = ConsistencyLog(ctx, d, "nsfw_toggle_compensation", "error",
						fmt.Sprintf("media %d: file at %s, row says %s: %v", id, newPath, m.Path, mvErr), now)
				}
			}
		}
		return "", err
	}
	if newPath != m.Path {
		if _, statErr := os.Stat(m.Path); statErr == nil {
			_ = os.Remove(m.Path)
		}
	}
	return newPath, nil
}

// UnlockNSFW removes a person's 18+/safe decision, so the next automatic
// verdict (rescan, Ollama nsfw_classify) decides has_nsfw and the file's
// root again. has_nsfw and the file stay as they are until then: unlocking
// is not a decision. It reports whether there was a decision to remove;
// the audit row names the decision that was lifted.
func UnlockNSFW(ctx context.Context, d *sql.DB, id int64, now time.Time) (bool, error) {
	var had bool
	err := db.InTx(ctx, d, func(tx *sql.Tx) error {
		v, ok, err := NSFWDecision(ctx, tx, id)
		if err != nil || !ok {
			return err
		}
		had = true
		if err := DeleteMeta(ctx, tx, id, MetaNSFWManual); err != nil {
			return err
		}
		return Audit(ctx, tx, AuditEntry{Action: "media_nsfw_unlock", EntityType: "media", EntityID: id,
			Details: map[string]any{"has_nsfw_decided": v}, At: now})
	})
	return had, err
}

// ScanResult is one scan_results row.
type ScanResult struct {
	MediaID   int64
	Scanner   string
	RunAt     time.Time
	NSFWScore *float64
	Flags     []string
	RawJSON   []byte
}

// InsertScanResult appends a scan_results row.
func InsertScanResult(ctx context.Context, q db.Execer, r ScanResult) (int64, error) {
	var flags any
	if len(r.Flags) > 0 {
		flags = jsonString(r.Flags)
	}
	var score any
	if r.NSFWScore != nil {
		score = *r.NSFWScore
	}
	res, err := q.ExecContext(ctx, `INSERT INTO scan_results(media_id, scanner, run_at, nsfw_score, flags, raw_json) VALUES (?,?,?,?,?,?)`,
		r.MediaID, r.Scanner, svtime.Format(r.RunAt), score, flags, nullStr(string(r.RawJSON)))
	if err != nil {
		return 0, fmt.Errorf("insert scan_result: %w", db.Classify(err))
	}
	return res.LastInsertId()
}
