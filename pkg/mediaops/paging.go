package mediaops

import (
	"context"

	"github.com/localsupervisor/supervisor/pkg/db"
)

// pageIDs runs query (first "?" for the last id seen, starting after
// start, then args; selecting only id, ORDER BY id LIMIT 500, as the callers write it) page
// by page and hands each page to fn.
// Each page is read completely and its cursor closed before fn runs, so no
// read transaction stays open while fn enqueues or touches files. It stops
// when a page is empty or fn says stop.
func pageIDs(ctx context.Context, q db.Execer, query string, start int64, args []any, fn func(ids []int64) (stop bool, err error)) error {
	last := start
	for {
		rows, err := q.QueryContext(ctx, query, append([]any{last}, args...)...)
		if err != nil {
			return db.Classify(err)
		}
		var ids []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return db.Classify(err)
		}
		if len(ids) == 0 {
			return nil
		}
		last = ids[len(ids)-1]
		if stop, err := fn(ids); err != nil || stop {
			return err
		}
	}
}
