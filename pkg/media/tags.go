package media

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

// Tag reason codes.
const (
	CodeTagLocked   = "tag_locked"
	CodeTagNotFound = "tag_not_found"
	CodeTagInvalid  = "tag_invalid"
)

// DefaultTagType is the type of plain string tags.
const DefaultTagType = "content"

// TagInput is one tag to attach to a media.
type TagInput struct {
	Name       string
	Type       string
	Confidence float64
}

// MediaTag is one tag of a media as the UI shows it.
type MediaTag struct {
	TagID      int64
	Name       string
	Type       string
	Confidence float64
	Locked     bool
}

// NormalizeTags trims names, defaults the type, drops confidence ≤ 0 and
// dedupes by lower(name)|lower(type) keeping the highest confidence, in
// first-seen order.
func NormalizeTags(in []TagInput) []TagInput {
	idx := map[string]int{}
	var out []TagInput
	for _, t := range in {
		t.Name = strings.TrimSpace(t.Name)
		t.Type = strings.TrimSpace(t.Type)
		if t.Type == "" {
			t.Type = DefaultTagType
		}
		if t.Name == "" || t.Confidence <= 0 {
			continue
		}
		k := strings.ToLower(t.Name) + "|" + strings.ToLower(t.Type)
		if i, ok := idx[k]; ok {
			if t.Confidence > out[i].Confidence {
				out[i].Confidence = t.Confidence
			}
			continue
		}
		idx[k] = len(out)
		out = append(out, t)
	}
	return out
}

// tagID returns the id of (name,type), creating the tag.
func tagID(ctx context.Context, q db.Execer, name, typ string) (int64, error) {
	if _, err := q.ExecContext(ctx, `INSERT OR IGNORE INTO tags(name, type, locked) VALUES (?,?,0)`, name, typ); err != nil {
		return 0, fmt.Errorf("insert tag: %w", db.Classify(err))
	}
	var id int64
	if err := q.QueryRowContext(ctx, `SELECT id FROM tags WHERE name=? AND type=?`, name, typ).Scan(&id); err != nil {
		return 0, fmt.Errorf("tag id: %w", db.Classify(err))
	}
	return id, nil
}

// UpsertTags attaches tags (normalised first) to a media as unlocked rows;
// an existing locked row keeps its confidence. It returns the rows written.
func UpsertTags(ctx context.Context, q db.Execer, mediaID int64, tags []TagInput) (int, error) {
	n := 0
	for _, t := range NormalizeTags(tags) {
		id, err := tagID(ctx, q, t.Name, t.Type)
		if err != nil {
			return n, err
		}
		res, err := q.ExecContext(ctx, `INSERT INTO media_tags(media_id, tag_id, confidence, locked) VALUES (?,?,?,0)
			ON CONFLICT(media_id, tag_id) DO UPDATE SET confidence=excluded.confidence WHERE media_tags.locked=0`,
			mediaID, id, t.Confidence)
		if err != nil {
			return n, fmt.Errorf("upsert media_tag: %w", db.Classify(err))
		}
		a, _ := res.RowsAffected()
		n += int(a)
	}
	return n, nil
}

// ReplaceScannerTags is what a rescan does: delete every unlocked tag of the
// media, then upsert tags. Locked (manual) tags are never replaced.
func ReplaceScannerTags(ctx context.Context, q db.Execer, mediaID int64, tags []TagInput) (int, error) {
	if _, err := q.ExecContext(ctx, `DELETE FROM media_tags WHERE media_id=? AND locked=0`, mediaID); err != nil {
		return 0, fmt.Errorf("clear tags: %w", db.Classify(err))
	}
	return UpsertTags(ctx, q, mediaID, tags)
}

// AddTag is the manual "add" operation: confidence defaults to 1.0, lock
// marks the row protected; an existing locked row keeps its confidence
// (lock can still be set).
func AddTag(ctx context.Context, q db.Execer, mediaID int64, name, typ string, confidence float64, lock bool) (int64, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return 0, reason.New(CodeTagInvalid, "tag name is empty")
	}
	if typ == "" {
		typ = DefaultTagType
	}
	if confidence <= 0 {
		confidence = 1.0
	}
	id, err := tagID(ctx, q, name, typ)
	if err != nil {
		return 0, err
	}
	l := 0
	if lock {
		l = 1
	}
	_, err = q.ExecContext(ctx, `INSERT INTO media_tags(media_id, tag_id, confidence, locked) VALUES (?,?,?,?)
		ON CONFLICT(media_id, tag_id) DO UPDATE SET
			confidence = CASE WHEN media_tags.locked=1 THEN media_tags.confidence ELSE excluded.confidence END,
			locked = MAX(media_tags.locked, excluded.locked)`,
		mediaID, id, confidence, l)
	if err != nil {
		return 0, fmt.Errorf("add tag: %w", db.Classify(err))
	}
	return id, nil
}

// RemoveTag detaches a tag; a locked tag is refused with tag_locked.
func RemoveTag(ctx context.Context, q db.Execer, mediaID, tagID int64) error {
	var locked int
	err := q.QueryRowContext(ctx, `SELECT locked FROM media_tags WHERE media_id=? AND tag_id=?`, mediaID, tagID).Scan(&locked)
	if errors.Is(err, sql.ErrNoRows) {
		return reason.Newf(CodeTagNotFound, "media %d has no tag %d", mediaID, tagID)
	}
	if err != nil {
		return db.Classify(err)
	}
	if locked == 1 {
		return reason.Newf(CodeTagLocked, "tag %d of media %d is locked", tagID, mediaID)
	}
	_, err = q.ExecContext(ctx, `DELETE FROM media_tags WHERE media_id=? AND tag_id=? AND locked=0`, mediaID, tagID)
	return db.Classify(err)
}

// LockTag sets or clears the lock of a media's tag.
func LockTag(ctx context.Context, q db.Execer, mediaID, tagID int64, locked bool) error {
	l := 0
	if locked {
		l = 1
	}
	res, err := q.ExecContext(ctx, `UPDATE media_tags SET locked=? WHERE media_id=? AND tag_id=?`, l, mediaID, tagID)
	if err != nil {
		return db.Classify(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return reason.Newf(CodeTagNotFound, "media %d has no tag %d", mediaID, tagID)
	}
	return nil
}

// Tags lists a media's tags, locked first, then by confidence.
func Tags(ctx context.Context, q db.Execer, mediaID int64) ([]MediaTag, error) {
	rows, err := q.QueryContext(ctx, `SELECT t.id, t.name, t.type, mt.confidence, mt.locked
		FROM media_tags mt JOIN tags t ON t.id=mt.tag_id WHERE mt.media_id=?
		ORDER BY mt.locked DESC, mt.confidence DESC, t.name`, mediaID)
	if err != nil {
		return nil, db.Classify(err)
	}
	defer rows.Close()
	var out []MediaTag
	for rows.Next() {
		var m MediaTag
		var l int
		if err := rows.Scan(&m.TagID, &m.Name, &m.Type, &m.Confidence, &l); err != nil {
			return nil, err
		}
		m.Locked = l == 1
		out = append(out, m)
	}
	return out, rows.Err()
}
