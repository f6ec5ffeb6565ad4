package catalog

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/localsupervisor/supervisor/pkg/db"
)

// A selection is "every media the list's filter matches" taken as a whole
// (the bulk bar's "select all matching"): it is walked in id order in
// chunks, whatever the list's sort, so a run that stops can resume after
// the last id it finished. The conditions are the list's own (Filter.Where,
// the text condition as the pending-aware id set), so the selection is
// exactly what the list shows. upto bounds the walk to the media that
// existed when the person chose (media imported later are not swept in).

// SelectionIDs returns up to limit ids of media matching f with after < id
// <= upto, ascending. now is the unix time relative dates resolve against
// (the moment of the selection, so a resumed walk means the same thing).
func SelectionIDs(ctx context.Context, q db.Execer, f Filter, now, after, upto int64, limit int) ([]int64, error) {
	where, args := f.Where(now)
	ids, err := db.QueryIDs(ctx, q, "SELECT m.id FROM media m WHERE ("+where+") AND m.id > ? AND m.id <= ? ORDER BY m.id LIMIT ?",
		append(args, after, upto, limit)...)
	if err != nil {
		return nil, fmt.Errorf("selection ids: %w", err)
	}
	return ids, nil
}

// SelectionCount counts the media matching f with after < id <= upto,
// without the list's cap (a bulk job's progress needs the real total).
func SelectionCount(ctx context.Context, q db.Execer, f Filter, now, after, upto int64) (int, error) {
	where, args := f.Where(now)
	var n int
	err := q.QueryRowContext(ctx, "SELECT count(*) FROM media m WHERE ("+where+") AND m.id > ? AND m.id <= ?",
		append(args, after, upto)...).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("selection count: %w", db.Classify(err))
	}
	return n, nil
}

// MaxMediaID is the highest media id (0 for an empty catalogue): the upper
// bound of a selection made now.
func MaxMediaID(ctx context.Context, q db.Execer) (int64, error) {
	var id sql.NullInt64
	if err := q.QueryRowContext(ctx, "SELECT MAX(id) FROM media").Scan(&id); err != nil {
		return 0, fmt.Errorf("max media id: %w", db.Classify(err))
	}
	return id.Int64, nil
}
