// Package media is the catalogue store: media rows, tags, media_meta,
// prompts and prompt_history, scan_results and the audit, import and
// consistency logs. Functions take a db.Execer (a *sql.DB or a *sql.Tx) so
// callers decide the transaction boundaries; time is always passed in so
// tests control it.
package media

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// Meta sources used by the importer and friends.
const (
	SourceImport  = "import"
	SourceScanner = "scanner"
	SourceWeb     = "web"
	SourceRawBlk  = "raw_block"
)

// MetaPair is one media_meta value to write.
type MetaPair struct {
	Source string
	Key    string
	Value  string
}

// GetMeta returns the current value of key for a media: the newest row
// (highest id) wins, whatever its source.
func GetMeta(ctx context.Context, q db.Execer, mediaID int64, key string) (string, bool, error) {
	var v sql.NullString
	err := q.QueryRowContext(ctx,
		`SELECT meta_value FROM media_meta WHERE media_id=? AND meta_key=? ORDER BY id DESC LIMIT 1`,
		mediaID, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("get meta %s: %w", key, db.Classify(err))
	}
	return v.String, true, nil
}

// AllMeta returns the current value of every key of a media.
func AllMeta(ctx context.Context, q db.Execer, mediaID int64) (map[string]string, error) {
	rows, err := q.QueryContext(ctx,
		`SELECT meta_key, meta_value FROM media_meta WHERE media_id=? ORDER BY id`, mediaID)
	if err != nil {
		return nil, fmt.Errorf("all meta: %w", db.Classify(err))
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k string
		var v sql.NullString
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		out[k] = v.String // later rows overwrite: newest wins
	}
	return out, rows.Err()
}

// SetMeta appends (source,key,value) unless the current value of key is
// already value; it reports whether a row was written. media_meta stays an
// append-only log, but unchanged values are never re-appended (the original
// duplicated every extracted key on every run).
func SetMeta(ctx context.Context, q db.Execer, mediaID int64, source, key, value string, now time.Time) (bool, error) {
	cur, ok, err := GetMeta(ctx, q, mediaID, key)
	if err != nil {
		return false, err
	}
	if ok && cur == value {
		return false, nil
	}
	if _, err := q.ExecContext(ctx,
		`INSERT INTO media_meta(media_id, source, meta_key, meta_value, created_at) VALUES (?,?,?,?,?)`,
		mediaID, source, key, value, svtime.Format(now)); err != nil {
		return false, fmt.Errorf("set meta %s: %w", key, db.Classify(err))
	}
	return true, nil
}

// SetMetaIfAbsent writes key only when the media has no value for it yet.
func SetMetaIfAbsent(ctx context.Context, q db.Execer, mediaID int64, source, key, value string, now time.Time) (bool, error) {
	_, ok, err := GetMeta(ctx, q, mediaID, key)
	if err != nil || ok {
		return false, err
	}
	return SetMeta(ctx, q, mediaID, source, key, value, now)
}

// SetMetaPairs writes many pairs with SetMeta semantics; when the same key
// occurs several times in pairs the last one wins. It returns the number of
// rows written.
func SetMetaPairs(ctx context.Context, q db.Execer, mediaID int64, pairs []MetaPair, now time.Time) (int, error) {
	if len(pairs) == 0 {
		return 0, nil
	}
	cur, err := AllMeta(ctx, q, mediaID)
	if err != nil {
		return 0, err
	}
	last := map[string]int{}
	for i, p := range pairs {
		last[p.Key] = i
	}
	n := 0
	for i, p := range pairs {
		if last[p.Key] != i {
			continue
		}
		if v, ok := cur[p.Key]; ok && v == p.Value {
			continue
		}
		if _, err := q.ExecContext(ctx,
			`INSERT INTO media_meta(media_id, source, meta_key, meta_value, created_at) VALUES (?,?,?,?,?)`,
			mediaID, p.Source, p.Key, p.Value, svtime.Format(now)); err != nil {
			return n, fmt.Errorf("set meta %s: %w", p.Key, db.Classify(err))
		}
		n++
	}
	return n, nil
}

// InsertNewMetaPairs writes pairs for a media that has no meta rows yet
// (one just inserted in the same transaction) with one multi-row INSERT:
// SetMetaPairs' read of the current values would find nothing, and the
// importer calls this hundreds of times per batch. When the same key occurs
// several times the last one wins, as in SetMetaPairs. It returns the
// number of rows written.
func InsertNewMetaPairs(ctx context.Context, q db.Execer, mediaID int64, pairs []MetaPair, now time.Time) (int, error) {
	return InsertNewMetaPairsMany(ctx, q, []MediaPairs{{MediaID: mediaID, Pairs: pairs}}, now)
}

// DeleteMeta removes every row of key (e.g. scan_stale after a good rescan).
func DeleteMeta(ctx context.Context, q db.Execer, mediaID int64, key string) error {
	_, err := q.ExecContext(ctx, `DELETE FROM media_meta WHERE media_id=? AND meta_key=?`, mediaID, key)
	return db.Classify(err)
}

// IncMetaInt adds delta to the integer value of key (missing or non-numeric
// counts as 0) and returns the new value. Call it inside a transaction when
// concurrent writers are possible: the read and the append must not
// interleave.
func IncMetaInt(ctx context.Context, q db.Execer, mediaID int64, source, key string, delta int64, now time.Time) (int64, error) {
	cur, _, err := GetMeta(ctx, q, mediaID, key)
	if err != nil {
		return 0, err
	}
	n, _ := strconv.ParseInt(cur, 10, 64)
	n += delta
	if _, err := SetMeta(ctx, q, mediaID, source, key, strconv.FormatInt(n, 10), now); err != nil {
		return 0, err
	}
	return n, nil
}

// Curation keys: a person marked the media as checked (reviewed) and when
// (Unix seconds).
const (
	MetaChecked   = "curation.checked"
	MetaCheckedAt = "curation.checked_at"
)

// SetChecked records a person's checked mark ("1") or its removal ("0")
// with its time; the detail page's toggle and a culling pass's keep both
// write it. Call it inside a transaction: the two keys belong together.
func SetChecked(ctx context.Context, q db.Execer, mediaID int64, checked bool, now time.Time) error {
	v := "0"
	if checked {
		v = "1"
	}
	if _, err := SetMeta(ctx, q, mediaID, SourceWeb, MetaChecked, v, now); err != nil {
		return err
	}
	_, err := SetMeta(ctx, q, mediaID, SourceWeb, MetaCheckedAt, strconv.FormatInt(now.Unix(), 10), now)
	return err
}
