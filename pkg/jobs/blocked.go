package jobs

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// MarkBlocked sets (on) or clears the marker code and msg on the queued
// jobs of types, without touching status, attempts or not_before: the
// queue shows why they wait while the service they need is down
// (blocked_by_ollama). Rows that already carry the marker (on) or carry
// another code (off) are left alone. It returns how many rows changed.
func (q *Queue) MarkBlocked(ctx context.Context, types []string, code, msg string, on bool) (int64, error) {
	if len(types) == 0 {
		return 0, nil
	}
	in := placeholders(len(types))
	var query string
	var args []any
	now := svtime.NowString(q.clock)
	if on {
		query = `UPDATE jobs SET last_error_code = ?, error_message = ?, updated_at = ?
			WHERE status = 'queued' AND type IN (` + in + `) AND COALESCE(last_error_code, '') <> ?`
		args = []any{code, msg, now}
	} else {
		query = `UPDATE jobs SET last_error_code = NULL, error_message = NULL, updated_at = ?
			WHERE status = 'queued' AND type IN (` + in + `) AND last_error_code = ?`
		args = []any{now}
	}
	for _, t := range types {
		args = append(args, t)
	}
	args = append(args, code)
	var n int64
	err := db.InTx(ctx, q.db, func(tx *sql.Tx) error {
		rs, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return err
		}
		n, _ = rs.RowsAffected()
		return nil
	})
	if err != nil {
		return 0, db.Classify(fmt.Errorf("mark %s: %w", code, err))
	}
	return n, nil
}
