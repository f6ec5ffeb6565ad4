package collections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/localsupervisor/supervisor/pkg/catalog"
	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

// members returns an album's media ids in their order.
func members(ctx context.Context, tx db.Execer, id int64) (ids []int64, pos map[int64]int64, err error) {
	rows, err := tx.QueryContext(ctx, `SELECT media_id, position FROM collection_media WHERE collection_id = ? ORDER BY position, media_id`, id)
	if err != nil {
		return nil, nil, fmt.Errorf("members of collection %d: %w", id, db.Classify(err))
	}
	defer rows.Close()
	pos = map[int64]int64{}
	for rows.Next() {
		var m, p int64
		if err := rows.Scan(&m, &p); err != nil {
			return nil, nil, fmt.Errorf("members of collection %d: %w", id, db.Classify(err))
		}
		ids = append(ids, m)
		pos[m] = p
	}
	return ids, pos, rows.Err()
}

// reorder applies a new order: positions become 1..n and only rows whose
// position changes are written.
func reorder(ctx context.Context, tx *sql.Tx, id int64, order []int64, old map[int64]int64) (int, error) {
	changed := 0
	for i, m := range order {
		if old[m] == int64(i+1) {
			continue
		}
		if _, err := tx.ExecContext(ctx, `UPDATE collection_media SET position = ? WHERE collection_id = ? AND media_id = ?`, i+1, id, m); err != nil {
			return changed, fmt.Errorf("reorder collection %d: %w", id, db.Classify(err))
		}
		changed++
	}
	return changed, nil
}

// selection checks that every id is a member and returns them as a set.
func selection(order []int64, mediaIDs []int64) (map[int64]bool, error) {
	sel := make(map[int64]bool, len(mediaIDs))
	for _, m := range mediaIDs {
		sel[m] = true
	}
	var missing []int64
	for m := range sel {
		if !slices.Contains(order, m) {
			missing = append(missing, m)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return nil, errNotMember(missing)
	}
	return sel, nil
}

func errNotMember(ids []int64) error {
	return reason.Newf(CodeNotMember, "media %v are not in this collection", ids).With("media_ids", ids)
}

// rearrange runs place over an album's order and the selected members
// (all of which must be members) and writes the order it returns.
func rearrange(ctx context.Context, d *sql.DB, id int64, mediaIDs []int64, by Actor, details map[string]any,
	place func(order []int64, sel map[int64]bool) []int64) error {
	if err := checkBatch(mediaIDs); err != nil {
		return err
	}
	return write(ctx, d, id, by, "collection_move", func(tx *sql.Tx, c Collection) (map[string]any, error) {
		if err := manual(c); err != nil {
			return nil, err
		}
		order, old, err := members(ctx, tx, id)
		if err != nil {
			return nil, err
		}
		sel, err := selection(order, mediaIDs)
		if err != nil {
			return nil, err
		}
		n, err := reorder(ctx, tx, id, place(order, sel), old)
		details["media_ids"], details["changed"] = mediaIDs, n
		return details, err
	})
}

// MoveTo moves the given members, keeping their relative order, so the
// first of them lands at 1-based position to (to <= 0 or past the end:
// the end).
func MoveTo(ctx context.Context, d *sql.DB, id int64, mediaIDs []int64, to int, by Actor) error {
	return rearrange(ctx, d, id, mediaIDs, by, map[string]any{"to": to}, func(order []int64, sel map[int64]bool) []int64 {
		var moved, rest []int64
		for _, m := range order {
			if sel[m] {
				moved = append(moved, m)
			} else {
				rest = append(rest, m)
			}
		}
		at := to - 1
		if to <= 0 || at > len(rest) {
			at = len(rest)
		}
		return slices.Concat(rest[:at], moved, rest[at:])
	})
}

// Shift moves each given member delta places (negative: towards the start);
// a member stops at the edge or behind another moved member, so a block of
// selected members moves together.
func Shift(ctx context.Context, d *sql.DB, id int64, mediaIDs []int64, delta int, by Actor) error {
	return rearrange(ctx, d, id, mediaIDs, by, map[string]any{"delta": delta}, func(order []int64, sel map[int64]bool) []int64 {
		for range min(max(delta, -delta), len(order)) {
			if delta < 0 {
				for i := 1; i < len(order); i++ {
					if sel[order[i]] && !sel[order[i-1]] {
						order[i-1], order[i] = order[i], order[i-1]
					}
				}
			} else {
				for i := len(order) - 2; i >= 0; i-- {
					if sel[order[i]] && !sel[order[i+1]] {
						order[i], order[i+1] = order[i+1], order[i]
					}
				}
			}
		}
		return order
	})
}

// ItemsPage is one page of an album in its order. Cursors are (position,
// media id) in catalog.Cursor's Key and ID.
type ItemsPage struct {
	Cards      []catalog.Card
	Next, Prev *catalog.Cursor
}

// Items returns one keyset page of an album (pg.After/pg.Before as in the
// list; neither: the first page). Adult media are left out unless adult.
func Items(ctx context.Context, q *sql.DB, id int64, pg catalog.Page, adult bool) (ItemsPage, error) {
	if pg.Limit <= 0 || pg.Limit > 500 {
		pg.Limit = catalog.PageSize
	}
	where := `cm.collection_id = ?`
	args := []any{id}
	if !adult {
		where += ` AND m.has_nsfw = 0`
	}
	order, reverse := "ASC", false
	switch {
	case pg.After != nil:
		where += ` AND (cm.position, cm.media_id) > (?, ?)`
		args = append(args, pg.After.Key, pg.After.ID)
	case pg.Before != nil:
		where += ` AND (cm.position, cm.media_id) < (?, ?)`
		args = append(args, pg.Before.Key, pg.Before.ID)
		order, reverse = "DESC", true
	}
	rows, err := q.QueryContext(ctx, `SELECT cm.media_id, cm.position FROM collection_media cm JOIN media m ON m.id = cm.media_id
		WHERE `+where+` ORDER BY cm.position `+order+`, cm.media_id `+order+` LIMIT ?`, append(args, pg.Limit+1)...)
	if err != nil {
		return ItemsPage{}, fmt.Errorf("collection %d page: %w", id, db.Classify(err))
	}
	var keys []catalog.Cursor
	for rows.Next() {
		var c catalog.Cursor
		if err := rows.Scan(&c.ID, &c.Key); err != nil {
			rows.Close()
			return ItemsPage{}, fmt.Errorf("collection %d page: %w", id, db.Classify(err))
		}
		keys = append(keys, c)
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return ItemsPage{}, fmt.Errorf("collection %d page: %w", id, db.Classify(err))
	}
	rows.Close()
	more := len(keys) > pg.Limit
	if more {
		keys = keys[:pg.Limit]
	}
	if reverse {
		slices.Reverse(keys)
	}
	var res ItemsPage
	if len(keys) > 0 {
		first, last := keys[0], keys[len(keys)-1]
		switch {
		case reverse:
			res.Next = &last
			if more {
				res.Prev = &first
			}
		case pg.After != nil:
			res.Prev = &first
			if more {
				res.Next = &last
			}
		case more:
			res.Next = &last
		}
	}
	ids := make([]int64, len(keys))
	for i, k := range keys {
		ids[i] = k.ID
	}
	res.Cards, err = catalog.CardsByID(ctx, q, ids)
	return res, err
}

// Neighbours returns the media before and after mediaID in an album's order
// (0 when there is none), so the detail page opened from an album steps
// through the album; member is false when mediaID is not in it. Adult
// media are skipped unless adult.
func Neighbours(ctx context.Context, q db.Execer, id, mediaID int64, adult bool) (prev, next int64, member bool, err error) {
	var pos int64
	err = q.QueryRowContext(ctx, `SELECT position FROM collection_media WHERE collection_id = ? AND media_id = ?`, id, mediaID).Scan(&pos)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, fmt.Errorf("album neighbours: %w", db.Classify(err))
	}
	gate := ""
	if !adult {
		gate = ` AND m.has_nsfw = 0`
	}
	one := func(cmp, dir string) (int64, error) {
		var n int64
		err := q.QueryRowContext(ctx, `SELECT cm.media_id FROM collection_media cm JOIN media m ON m.id = cm.media_id
			WHERE cm.collection_id = ? AND (cm.position, cm.media_id) `+cmp+` (?, ?)`+gate+`
			ORDER BY cm.position `+dir+`, cm.media_id `+dir+` LIMIT 1`, id, pos, mediaID).Scan(&n)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, nil
		}
		if err != nil {
			return 0, fmt.Errorf("album neighbours: %w", db.Classify(err))
		}
		return n, nil
	}
	if prev, err = one("<", "DESC"); err != nil {
		return 0, 0, true, err
	}
	next, err = one(">", "ASC")
	return prev, next, true, err
}
