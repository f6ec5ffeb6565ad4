package jobs

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/db"
)

// The enqueue path works set-wise: one dedupe lookup and one per-media
// count per chunk of keys/media and multi-row INSERTs, instead of up to
// three statements per request. An import queues two follow-up jobs per
// new media inside its single-writer transaction, where the per-row
// statements cost more CPU than the import's own writes.

// txQuerier is the part of *sql.Tx the set-wise helpers use.
type txQuerier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// inSQL is head + "(?,?,…)" with n placeholders + tail.
func inSQL(head string, n int, tail string) string {
	return head + "(" + strings.Repeat("?,", n-1) + "?)" + tail
}

// queryChunks runs head+IN(chunk)+tail for args in chunks of at most
// db.MaxParams and hands every row to scan.
func queryChunks(ctx context.Context, tx txQuerier, head, tail string, args []any, scan func(*sql.Rows) error) error {
	for len(args) > 0 {
		part := args[:min(len(args), db.MaxParams)]
		args = args[len(part):]
		rows, err := tx.QueryContext(ctx, inSQL(head, len(part), tail), part...)
		if err != nil {
			return err
		}
		for rows.Next() {
			if err := scan(rows); err != nil {
				rows.Close()
				return err
			}
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

// The set-wise reads, completed by "(?,…)" (and a tail).
const (
	// The status term repeats the partial index's WHERE verbatim so
	// idx_jobs_dedupe_live applies. INDEXED BY because, for a long IN
	// list, the planner preferred idx_jobs_claim (status IN 2 values) and
	// walked every live job; the index is the dedupe's own invariant.
	liveDedupeSQL = `SELECT dedupe_key, id FROM jobs INDEXED BY idx_jobs_dedupe_live WHERE status IN ('queued','running') AND dedupe_key IN `
	// idx_jobs_media finds the few jobs of each media. The unary + keeps
	// the status term off idx_jobs_claim (status, …): without statistics
	// the planner preferred it and scanned every queued job per chunk.
	mediaCountSQL  = `SELECT type, media_id, count(*) FROM jobs WHERE +status = 'queued' AND media_id IN `
	mediaCountTail = ` GROUP BY type, media_id`
)

// liveDedupe returns the live (queued or running) job of every dedupe key
// of preps that has one. idx_jobs_dedupe_live is unique, so a key maps to
// at most one job.
func liveDedupe(ctx context.Context, tx txQuerier, preps []preparedEnqueue) (map[string]int64, error) {
	seen := map[string]bool{}
	var keys []any
	for _, p := range preps {
		if p.key.Valid && !seen[p.key.String] {
			seen[p.key.String] = true
			keys = append(keys, p.key.String)
		}
	}
	live := make(map[string]int64)
	err := queryChunks(ctx, tx, liveDedupeSQL, ``, keys,
		func(rows *sql.Rows) error {
			var k string
			var id int64
			if err := rows.Scan(&k, &id); err != nil {
				return err
			}
			live[k] = id
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("dedupe lookup: %w", err)
	}
	return live, nil
}

// loadMediaCounts sets c.perMedia for every (type, media) of reqs to its
// queued count; pairs without queued jobs stay absent (count 0). The
// counts are read before any insert of this call, which equals counting
// each pair just before its first request: an insert of a pair always
// follows its count.
func (c *queueCounts) loadMediaCounts(ctx context.Context, tx txQuerier, reqs []EnqueueRequest) error {
	seen := map[int64]bool{}
	types := map[string]bool{}
	var ids []any
	for _, r := range reqs {
		if r.MediaID == nil {
			continue
		}
		types[r.Type] = true
		if !seen[*r.MediaID] {
			seen[*r.MediaID] = true
			ids = append(ids, *r.MediaID)
		}
	}
	err := queryChunks(ctx, tx, mediaCountSQL, mediaCountTail, ids,
		func(rows *sql.Rows) error {
			var k mediaKey
			var n int
			if err := rows.Scan(&k.typ, &k.id, &n); err != nil {
				return err
			}
			if types[k.typ] {
				c.perMedia[k] = n
			}
			return nil
		})
	if err != nil {
		return fmt.Errorf("count media queue: %w", err)
	}
	return nil
}

// jobInsertHead is the column list of one enqueued job row; jobInsertCols
// values per row (status and attempts are bound, so one tuple shape fits
// db.ValuesSQL).
const (
	jobInsertHead = `INSERT INTO jobs (media_id, prompt_id, type, status, priority, attempts, max_attempts,
		dedupe_key, not_before, created_at, updated_at, payload_json, forge_request_json) VALUES `
	jobInsertCols = 13
)

// insertJobs inserts the requests idx (indexes into reqs/preps, in request
// order) with multi-row INSERTs and returns their ids in the same order.
// RETURNING's order is unspecified, but jobs.id is AUTOINCREMENT and the
// transaction holds the write lock, so the ids of one statement grow in
// VALUES order and the sorted ids are the rows' ids.
func (q *Queue) insertJobs(ctx context.Context, tx *sql.Tx, reqs []EnqueueRequest, preps []preparedEnqueue, idx []int, now string) ([]int64, error) {
	per := db.MaxParams / jobInsertCols
	ids := make([]int64, 0, len(idx))
	args := make([]any, 0, jobInsertCols*min(len(idx), per))
	for len(idx) > 0 {
		part := idx[:min(len(idx), per)]
		idx = idx[len(part):]
		args = args[:0]
		for _, i := range part {
			r, p := reqs[i], preps[i]
			args = append(args, nullInt(r.MediaID), nullInt(r.PromptID), r.Type, StatusQueued, p.prio, 0, p.spec.MaxAttempts,
				p.key, p.notBefore, now, now, p.payload, p.forge)
		}
		got, err := q.insertReturning(ctx, tx, len(part), args)
		if err != nil {
			return nil, err
		}
		ids = append(ids, got...)
	}
	return ids, nil
}

// insertReturning runs one multi-row INSERT of n rows. The statement of a
// full chunk is cached per Queue (every large enqueue uses it); other
// sizes are prepared for this statement only, so the cache stays small.
func (q *Queue) insertReturning(ctx context.Context, tx *sql.Tx, n int, args []any) ([]int64, error) {
	query := db.ValuesSQL(jobInsertHead, jobInsertCols, n, ` RETURNING id`)
	var ex db.Execer = tx
	if n == db.MaxParams/jobInsertCols {
		ex = q.stmts.In(tx)
	}
	ids, err := db.InsertReturningIDs(ctx, ex, query, args, n)
	if err != nil {
		return nil, fmt.Errorf("insert jobs: %w", err)
	}
	return ids, nil
}
