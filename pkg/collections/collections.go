// Package collections keeps albums and saved searches in the original's
// collections/collection_media tables (schema 0001, columns added by 0310).
//
// A collection whose query is NULL is a manual album: its members are
// collection_media rows in a person's order (position, then media id). A
// collection with a query is a saved search: it has no member rows and is
// re-evaluated by the media list whenever it is opened. Both share one name
// space (collections.name is UNIQUE). Deleting a collection deletes its
// membership rows only (ON DELETE CASCADE from collections), never media;
// deleting a media removes its memberships (ON DELETE CASCADE from media).
//
// Writes run in one short BEGIN IMMEDIATE transaction (db.InTx on a writer
// handle) and leave an audit_log row like the other curation writes.
package collections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/query"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// Reason codes a person may see (pkg/web has a sentence with the next step
// for each).
const (
	CodeNotFound     = "collection_not_found"
	CodeNameTaken    = "collection_name_taken"
	CodeNameInvalid  = "collection_name_invalid"
	CodeDescTooLong  = "collection_description_too_long"
	CodeNotManual    = "collection_not_manual"
	CodeNotMember    = "collection_not_member"
	CodeQueryInvalid = "saved_query_invalid"
	CodeTooMany      = "collection_too_many_media"
	// CodeMediaMissing: adding an id without a media row is refused as a
	// whole, naming the ids.
	CodeMediaMissing = "collection_media_missing"
)

// Limits.
const (
	MaxNameRunes        = 100
	MaxDescriptionRunes = 2000
	// MaxBatch bounds the media ids of one add/remove/move, so one write
	// transaction stays short (the list's bulk bar sends at most 500).
	MaxBatch = 1000
)

// Collection is one row with its member count (0 for saved searches).
type Collection struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Query is the saved search's query text ("" for an album).
	Query     string `json:"query,omitempty"`
	Saved     bool   `json:"saved"`
	Count     int    `json:"count"`
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at,omitempty"`
}

// Actor says who writes, for the audit log.
type Actor struct {
	At  time.Time
	IP  string
	Key string // "session", "internal_key", "cli"
}

func (a Actor) audit(ctx context.Context, tx db.Execer, action string, id int64, details map[string]any) error {
	return media.Audit(ctx, tx, media.AuditEntry{Action: action, EntityType: "collection", EntityID: id, Details: details,
		ActorIP: a.IP, ActorKey: a.Key, At: a.At})
}

const selectCols = `c.id, c.name, COALESCE(c.description,''), COALESCE(c.query,''), c.query IS NOT NULL, c.created_at, COALESCE(c.updated_at,''),
	CASE WHEN c.query IS NULL THEN (SELECT count(*) FROM collection_media cm WHERE cm.collection_id = c.id) ELSE 0 END`

func scanOne(sc interface{ Scan(...any) error }) (Collection, error) {
	var c Collection
	err := sc.Scan(&c.ID, &c.Name, &c.Description, &c.Query, &c.Saved, &c.CreatedAt, &c.UpdatedAt, &c.Count)
	return c, err
}

// List returns every collection and saved search, by name.
func List(ctx context.Context, q db.Execer) ([]Collection, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+selectCols+` FROM collections c ORDER BY c.name COLLATE NOCASE, c.id`)
	if err != nil {
		return nil, fmt.Errorf("list collections: %w", db.Classify(err))
	}
	defer rows.Close()
	var out []Collection
	for rows.Next() {
		c, err := scanOne(rows)
		if err != nil {
			return nil, fmt.Errorf("list collections: %w", db.Classify(err))
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list collections: %w", db.Classify(err))
	}
	return out, nil
}

// AlbumNames returns up to limit album names by name, without counting
// members: the list page offers them to every admin page view.
func AlbumNames(ctx context.Context, q db.Execer, limit int) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT name FROM collections WHERE query IS NULL ORDER BY name COLLATE NOCASE LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("album names: %w", db.Classify(err))
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("album names: %w", db.Classify(err))
		}
		names = append(names, n)
	}
	return names, rows.Err()
}

// Get returns one collection by id.
func Get(ctx context.Context, q db.Execer, id int64) (Collection, error) {
	c, err := scanOne(q.QueryRowContext(ctx, `SELECT `+selectCols+` FROM collections c WHERE c.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return c, reason.Newf(CodeNotFound, "no collection with id %d", id).With("collection_id", id)
	}
	if err != nil {
		return c, fmt.Errorf("collection %d: %w", id, db.Classify(err))
	}
	return c, nil
}

// Resolve finds a collection by its exact name, else (for a number) by id.
// Names are never all digits (ValidateName), so the two cannot collide.
func Resolve(ctx context.Context, q db.Execer, ref string) (Collection, error) {
	ref = strings.TrimSpace(ref)
	if id, err := strconv.ParseInt(ref, 10, 64); err == nil {
		return Get(ctx, q, id)
	}
	c, err := scanOne(q.QueryRowContext(ctx, `SELECT `+selectCols+` FROM collections c WHERE c.name = ?`, ref))
	if errors.Is(err, sql.ErrNoRows) {
		return c, reason.Newf(CodeNotFound, "no collection named %q", ref).With("name", ref)
	}
	if err != nil {
		return c, fmt.Errorf("collection %q: %w", ref, db.Classify(err))
	}
	return c, nil
}

// OfMedia returns the albums (not saved searches) a media belongs to, by name.
func OfMedia(ctx context.Context, q db.Execer, mediaID int64) ([]Collection, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+selectCols+` FROM collection_media m JOIN collections c ON c.id = m.collection_id
		WHERE m.media_id = ? ORDER BY c.name COLLATE NOCASE, c.id`, mediaID)
	if err != nil {
		return nil, fmt.Errorf("collections of media %d: %w", mediaID, db.Classify(err))
	}
	defer rows.Close()
	var out []Collection
	for rows.Next() {
		c, err := scanOne(rows)
		if err != nil {
			return nil, fmt.Errorf("collections of media %d: %w", mediaID, db.Classify(err))
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// ValidateName trims a name and checks it: 1–100 characters, no control
// characters, not only digits (a number names a collection by id).
func ValidateName(name string) (string, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return "", reason.New(CodeNameInvalid, "the name is empty")
	case !utf8.ValidString(name) || utf8.RuneCountInString(name) > MaxNameRunes:
		return "", reason.Newf(CodeNameInvalid, "the name is longer than %d characters", MaxNameRunes)
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return "", reason.New(CodeNameInvalid, "the name contains a control character")
	case strings.IndexFunc(name, func(r rune) bool { return r < '0' || r > '9' }) < 0:
		return "", reason.New(CodeNameInvalid, "the name is only digits (a number stands for a collection id)")
	}
	return name, nil
}

func validDescription(s string) (string, error) {
	s = strings.TrimSpace(s)
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > MaxDescriptionRunes {
		return "", reason.Newf(CodeDescTooLong, "the description is longer than %d characters", MaxDescriptionRunes)
	}
	return s, nil
}

// ValidateQuery checks a saved search's query text: not empty and within
// the query language's size limit. (Its syntax is the list's business: a
// query that no longer parses shows the list's own error when opened.)
func ValidateQuery(q string) (string, error) {
	q = strings.TrimSpace(q)
	switch {
	case q == "":
		return "", reason.New(CodeQueryInvalid, "the query is empty")
	case len(q) > query.MaxQueryBytes:
		return "", reason.Newf(query.CodeTooLong, "the query is longer than %d bytes", query.MaxQueryBytes)
	}
	return q, nil
}

// nameFree fails with CodeNameTaken when another collection (not except)
// has the name, compared without case: "Favourites" and "favourites"
// would be indistinguishable in a list.
func nameFree(ctx context.Context, tx db.Execer, name string, except int64) error {
	var other int64
	err := tx.QueryRowContext(ctx, `SELECT id FROM collections WHERE name = ? COLLATE NOCASE AND id <> ? LIMIT 1`, name, except).Scan(&other)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check name: %w", db.Classify(err))
	}
	return reason.Newf(CodeNameTaken, "a collection named %q exists already", name).With("name", name).With("collection_id", other)
}

// Create makes an album (query "") or a saved search.
func Create(ctx context.Context, d *sql.DB, name, description, savedQuery string, by Actor) (Collection, error) {
	name, err := ValidateName(name)
	if err != nil {
		return Collection{}, err
	}
	if description, err = validDescription(description); err != nil {
		return Collection{}, err
	}
	var qv any // NULL: an album
	if savedQuery != "" {
		q, err := ValidateQuery(savedQuery)
		if err != nil {
			return Collection{}, err
		}
		qv = q
	}
	now := svtime.Format(by.At)
	var id int64
	err = db.InTx(ctx, d, func(tx *sql.Tx) error {
		if err := nameFree(ctx, tx, name, 0); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO collections(name, description, created_at, updated_at, query) VALUES (?,?,?,?,?)`,
			name, nullIfEmpty(description), now, now, qv)
		if err != nil {
			if db.IsUniqueViolation(err) {
				return reason.Newf(CodeNameTaken, "a collection named %q exists already", name).With("name", name)
			}
			return fmt.Errorf("create collection: %w", db.Classify(err))
		}
		id, _ = res.LastInsertId()
		action := "collection_create"
		if qv != nil {
			action = "saved_search_create"
		}
		return by.audit(ctx, tx, action, id, map[string]any{"name": name, "query": qv})
	})
	if err != nil {
		return Collection{}, err
	}
	return Get(ctx, d, id)
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// write runs fn for an existing collection in one transaction, bumps its
// updated_at and writes the audit row.
func write(ctx context.Context, d *sql.DB, id int64, by Actor, action string, fn func(tx *sql.Tx, c Collection) (map[string]any, error)) error {
	return db.InTx(ctx, d, func(tx *sql.Tx) error { return writeTx(ctx, tx, id, by, action, fn) })
}

// writeTx is write inside the caller's transaction.
func writeTx(ctx context.Context, tx *sql.Tx, id int64, by Actor, action string, fn func(tx *sql.Tx, c Collection) (map[string]any, error)) error {
	c, err := Get(ctx, tx, id)
	if err != nil {
		return err
	}
	details, err := fn(tx, c)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE collections SET updated_at = ? WHERE id = ?`, svtime.Format(by.At), id); err != nil {
		return fmt.Errorf("touch collection %d: %w", id, db.Classify(err))
	}
	return by.audit(ctx, tx, action, id, details)
}

// Rename gives a collection a new name.
func Rename(ctx context.Context, d *sql.DB, id int64, newName string, by Actor) error {
	name, err := ValidateName(newName)
	if err != nil {
		return err
	}
	return write(ctx, d, id, by, "collection_rename", func(tx *sql.Tx, c Collection) (map[string]any, error) {
		if err := nameFree(ctx, tx, name, id); err != nil {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE collections SET name = ? WHERE id = ?`, name, id); err != nil {
			if db.IsUniqueViolation(err) {
				return nil, reason.Newf(CodeNameTaken, "a collection named %q exists already", name).With("name", name)
			}
			return nil, fmt.Errorf("rename collection %d: %w", id, db.Classify(err))
		}
		return map[string]any{"from": c.Name, "to": name}, nil
	})
}

// Describe sets (or, with "", clears) the description.
func Describe(ctx context.Context, d *sql.DB, id int64, text string, by Actor) error {
	text, err := validDescription(text)
	if err != nil {
		return err
	}
	return write(ctx, d, id, by, "collection_describe", func(tx *sql.Tx, _ Collection) (map[string]any, error) {
		if _, err := tx.ExecContext(ctx, `UPDATE collections SET description = ? WHERE id = ?`, nullIfEmpty(text), id); err != nil {
			return nil, fmt.Errorf("describe collection %d: %w", id, db.Classify(err))
		}
		return map[string]any{"description": text}, nil
	})
}

// Delete removes a collection and its membership rows; media stay.
func Delete(ctx context.Context, d *sql.DB, id int64, by Actor) error {
	return db.InTx(ctx, d, func(tx *sql.Tx) error {
		c, err := Get(ctx, tx, id)
		if err != nil {
			return err
		}
		// Explicitly, not only by the cascade: a database written by the
		// original may run with foreign keys off on another connection.
		if _, err := tx.ExecContext(ctx, `DELETE FROM collection_media WHERE collection_id = ?`, id); err != nil {
			return fmt.Errorf("delete collection %d: %w", id, db.Classify(err))
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM collections WHERE id = ?`, id); err != nil {
			return fmt.Errorf("delete collection %d: %w", id, db.Classify(err))
		}
		return by.audit(ctx, tx, "collection_delete", id, map[string]any{"name": c.Name, "count": c.Count, "query": c.Query})
	})
}

func checkBatch(ids []int64) error {
	if len(ids) == 0 {
		return reason.New(CodeNotMember, "no media ids given")
	}
	if len(ids) > MaxBatch {
		return reason.Newf(CodeTooMany, "%d media ids at once; at most %d", len(ids), MaxBatch)
	}
	return nil
}

func manual(c Collection) error {
	if c.Saved {
		return reason.Newf(CodeNotManual, "%q is a saved search: its media are whatever its query finds", c.Name).With("collection_id", c.ID)
	}
	return nil
}

// AddResult counts an Add.
type AddResult struct {
	Added   int `json:"added"`
	Already int `json:"already"`
}

// Add appends media to an album in the given order (members already in it
// keep their place). An id without a media row refuses the whole call.
func Add(ctx context.Context, d *sql.DB, id int64, mediaIDs []int64, by Actor) (res AddResult, err error) {
	err = db.InTx(ctx, d, func(tx *sql.Tx) error {
		res, err = AddTx(ctx, tx, id, mediaIDs, by)
		return err
	})
	return res, err
}

// AddTx is Add inside the caller's transaction (a bulk job commits each
// chunk with its checkpoint).
func AddTx(ctx context.Context, tx *sql.Tx, id int64, mediaIDs []int64, by Actor) (AddResult, error) {
	var res AddResult
	if err := checkBatch(mediaIDs); err != nil {
		return res, err
	}
	err := writeTx(ctx, tx, id, by, "collection_add", func(tx *sql.Tx, c Collection) (map[string]any, error) {
		if err := manual(c); err != nil {
			return nil, err
		}
		var missing []int64
		for _, m := range mediaIDs {
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM media WHERE id = ?`, m).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				missing = append(missing, m)
			} else if err != nil {
				return nil, fmt.Errorf("add to collection %d: %w", id, db.Classify(err))
			}
		}
		if len(missing) > 0 {
			return nil, reason.Newf(CodeMediaMissing, "no media with id %v", missing).With("media_ids", missing)
		}
		var pos int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(position), 0) FROM collection_media WHERE collection_id = ?`, id).Scan(&pos); err != nil {
			return nil, fmt.Errorf("add to collection %d: %w", id, db.Classify(err))
		}
		now := svtime.Format(by.At)
		for _, m := range mediaIDs {
			r, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO collection_media(collection_id, media_id, position, added_at) VALUES (?,?,?,?)`,
				id, m, pos+1, now)
			if err != nil {
				return nil, fmt.Errorf("add to collection %d: %w", id, db.Classify(err))
			}
			if n, _ := r.RowsAffected(); n == 1 {
				pos++
				res.Added++
			} else {
				res.Already++
			}
		}
		return map[string]any{"media_ids": mediaIDs, "added": res.Added}, nil
	})
	return res, err
}

// Remove takes media out of an album; it returns how many were members.
func Remove(ctx context.Context, d *sql.DB, id int64, mediaIDs []int64, by Actor) (removed int, err error) {
	err = db.InTx(ctx, d, func(tx *sql.Tx) error {
		removed, err = RemoveTx(ctx, tx, id, mediaIDs, by)
		return err
	})
	return removed, err
}

// RemoveTx is Remove inside the caller's transaction.
func RemoveTx(ctx context.Context, tx *sql.Tx, id int64, mediaIDs []int64, by Actor) (int, error) {
	if err := checkBatch(mediaIDs); err != nil {
		return 0, err
	}
	removed := 0
	err := writeTx(ctx, tx, id, by, "collection_remove", func(tx *sql.Tx, c Collection) (map[string]any, error) {
		if err := manual(c); err != nil {
			return nil, err
		}
		for _, m := range mediaIDs {
			r, err := tx.ExecContext(ctx, `DELETE FROM collection_media WHERE collection_id = ? AND media_id = ?`, id, m)
			if err != nil {
				return nil, fmt.Errorf("remove from collection %d: %w", id, db.Classify(err))
			}
			n, _ := r.RowsAffected()
			removed += int(n)
		}
		return map[string]any{"media_ids": mediaIDs, "removed": removed}, nil
	})
	return removed, err
}
