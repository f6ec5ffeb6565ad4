package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// Row is a job as listed by jobs-admin and the web UI.
type Row struct {
	ID              int64  `json:"id"`
	Type            string `json:"type"`
	Status          string `json:"status"`
	MediaID         *int64 `json:"media_id"`
	Priority        int    `json:"priority"`
	Attempts        int    `json:"attempts"`
	MaxAttempts     int    `json:"max_attempts"`
	CancelRequested bool   `json:"cancel_requested"`
	LastErrorCode   string `json:"last_error_code,omitempty"`
	ErrorMessage    string `json:"error_message,omitempty"`
	CreatedAt       string `json:"created_at"`
	UpdatedAt       string `json:"updated_at,omitempty"`
	StartedAt       string `json:"started_at,omitempty"`
	FinishedAt      string `json:"finished_at,omitempty"`
	HeartbeatAt     string `json:"heartbeat_at,omitempty"`
	NotBefore       string `json:"not_before,omitempty"`
	WorkerOwner     string `json:"worker_owner,omitempty"`
	Stage           string `json:"stage,omitempty"`
	ProgressBits    int    `json:"progress_bits"`
	ProgressTotal   int    `json:"progress_bits_total"`
	Payload         string `json:"payload_json,omitempty"`
	Result          string `json:"result_json,omitempty"`
}

const rowColumns = `id, type, status, media_id, priority, attempts, max_attempts, cancel_requested,
	COALESCE(last_error_code,''), COALESCE(error_message,''), created_at, COALESCE(updated_at,''), COALESCE(started_at,''),
	COALESCE(finished_at,''), COALESCE(heartbeat_at,''), COALESCE(not_before,''), COALESCE(worker_owner,''), COALESCE(stage,''),
	progress_bits, progress_bits_total, COALESCE(payload_json,''), COALESCE(result_json,'')`

func scanRow(sc interface{ Scan(...any) error }) (Row, error) {
	var r Row
	var media sql.NullInt64
	err := sc.Scan(&r.ID, &r.Type, &r.Status, &media, &r.Priority, &r.Attempts, &r.MaxAttempts, &r.CancelRequested,
		&r.LastErrorCode, &r.ErrorMessage, &r.CreatedAt, &r.UpdatedAt, &r.StartedAt, &r.FinishedAt, &r.HeartbeatAt,
		&r.NotBefore, &r.WorkerOwner, &r.Stage, &r.ProgressBits, &r.ProgressTotal, &r.Payload, &r.Result)
	if media.Valid {
		r.MediaID = &media.Int64
	}
	return r, err
}

// Get returns one job; code job_not_found when it does not exist.
func (q *Queue) Get(ctx context.Context, id int64) (Row, error) {
	r, err := scanRow(q.db.QueryRowContext(ctx, `SELECT `+rowColumns+` FROM jobs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, reason.Newf(CodeNotFound, "job %d not found", id)
	}
	if err != nil {
		return r, db.Classify(fmt.Errorf("get job %d: %w", id, err))
	}
	return r, nil
}

// ListFilter selects jobs for List.
type ListFilter struct {
	Types    []string
	Statuses []string
	MediaID  *int64
	// OlderThan keeps jobs created before now-OlderThan.
	OlderThan time.Duration
	// Limit caps the rows (default 100).
	Limit int
}

// List returns jobs newest first.
func (q *Queue) List(ctx context.Context, f ListFilter) ([]Row, error) {
	where, args := q.filterSQL(f.Types, f.Statuses, f.MediaID, f.OlderThan, "created_at")
	if f.Limit <= 0 {
		f.Limit = 100
	}
	rows, err := q.db.QueryContext(ctx, `SELECT `+rowColumns+` FROM jobs`+where+` ORDER BY id DESC LIMIT ?`, append(args, f.Limit)...)
	if err != nil {
		return nil, db.Classify(fmt.Errorf("list jobs: %w", err))
	}
	defer rows.Close()
	var out []Row
	for rows.Next() {
		r, err := scanRow(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (q *Queue) filterSQL(types, statuses []string, media *int64, older time.Duration, tsCol string) (string, []any) {
	var conds []string
	var args []any
	if len(types) > 0 {
		conds = append(conds, `type IN (`+placeholders(len(types))+`)`)
		for _, t := range types {
			args = append(args, t)
		}
	}
	if len(statuses) > 0 {
		conds = append(conds, `status IN (`+placeholders(len(statuses))+`)`)
		for _, s := range statuses {
			args = append(args, s)
		}
	}
	if media != nil {
		conds = append(conds, `media_id = ?`)
		args = append(args, *media)
	}
	if older > 0 {
		conds = append(conds, `COALESCE(`+tsCol+`, created_at) <= ?`)
		args = append(args, svtime.Format(q.clock.Now().Add(-older)))
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// CancelResult says what Cancel did.
type CancelResult struct {
	JobID int64 `json:"job_id"`
	// Status is "cancelled" for a queued job, "cancel_requested" for a
	// running one (the Runner ends it cancelled).
	Status string `json:"status"`
}

// Cancel cancels a queued job at once and asks a running one to stop
// (cancel_requested=1; the Runner cancels the handler's context). Finished
// jobs give job_invalid_state. Audited as job_cancel.
func (q *Queue) Cancel(ctx context.Context, id int64) (CancelResult, error) {
	res := CancelResult{JobID: id}
	now := svtime.NowString(q.clock)
	err := db.InTx(ctx, q.db, func(tx *sql.Tx) error {
		var status string
		if err := tx.QueryRowContext(ctx, `SELECT status FROM jobs WHERE id = ?`, id).Scan(&status); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return reason.Newf(CodeNotFound, "job %d not found", id)
			}
			return err
		}
		switch status {
		case StatusQueued:
			res.Status = StatusCancelled
			if _, err := tx.ExecContext(ctx, `UPDATE jobs SET status = 'cancelled', cancelled_at = ?, finished_at = ?, updated_at = ?,
				last_error_code = 'cancelled', error_message = 'Canceled by operator' WHERE id = ? AND status = 'queued'`, now, now, now, id); err != nil {
				return err
			}
		case StatusRunning:
			res.Status = "cancel_requested"
			if _, err := tx.ExecContext(ctx, `UPDATE jobs SET cancel_requested = 1, updated_at = ? WHERE id = ? AND status = 'running'`, now, id); err != nil {
				return err
			}
		default:
			return reason.Newf(CodeInvalidState, "job %d is %s", id, status)
		}
		return audit(ctx, tx, now, "job_cancel", id, map[string]any{"from_status": status, "result": res.Status})
	})
	if err != nil {
		return res, db.Classify(err)
	}
	return res, nil
}

// Requeue puts a finished job (done, error, cancelled) back to queued with a
// fresh attempt budget. If another live job holds the same dedupe key the
// error is job_requeue_conflict.
func (q *Queue) Requeue(ctx context.Context, id int64) error {
	now := svtime.NowString(q.clock)
	err := db.InTx(ctx, q.db, func(tx *sql.Tx) error {
		rs, err := tx.ExecContext(ctx, `UPDATE jobs SET status = 'queued', attempts = 0, not_before = NULL, cancel_requested = 0,
			cancelled_at = NULL, finished_at = NULL, error_message = NULL, last_error_code = NULL, result_json = NULL,
			forge_response_json = NULL, worker_owner = NULL, worker_pid = NULL, progress_bits = 0, recoveries = 0, updated_at = ?
			WHERE id = ? AND status IN ('done','error','cancelled')`, now, id)
		if err != nil {
			if db.IsUniqueViolation(err) {
				return reason.Newf(CodeRequeueConflict, "job %d: another live job has the same dedupe key", id)
			}
			return err
		}
		if n, _ := rs.RowsAffected(); n != 1 {
			return q.stateErr(ctx, tx, id, "requeue")
		}
		return audit(ctx, tx, now, "job_requeue", id, nil)
	})
	return db.Classify(err)
}

// Delete removes a finished job (done, error, cancelled), re-checking the
// status inside the transaction.
func (q *Queue) Delete(ctx context.Context, id int64) error {
	now := svtime.NowString(q.clock)
	err := db.InTx(ctx, q.db, func(tx *sql.Tx) error {
		rs, err := tx.ExecContext(ctx, `DELETE FROM jobs WHERE id = ? AND status IN ('done','error','cancelled')`, id)
		if err != nil {
			return err
		}
		if n, _ := rs.RowsAffected(); n != 1 {
			return q.stateErr(ctx, tx, id, "delete")
		}
		return audit(ctx, tx, now, "job_delete", id, nil)
	})
	return db.Classify(err)
}

func (q *Queue) stateErr(ctx context.Context, tx *sql.Tx, id int64, op string) error {
	var status string
	if err := tx.QueryRowContext(ctx, `SELECT status FROM jobs WHERE id = ?`, id).Scan(&status); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return reason.Newf(CodeNotFound, "job %d not found", id)
		}
		return err
	}
	return reason.Newf(CodeInvalidState, "cannot %s job %d: status is %s", op, id, status)
}

// PruneOptions selects jobs to delete.
type PruneOptions struct {
	// Types limits the prune (empty: all types). Use Registry.Group for
	// --group.
	Types []string
	// Statuses to prune (default done, error, cancelled). Running or queued
	// jobs are only touched with Force.
	Statuses []string
	// OlderThan keeps jobs updated within this duration.
	OlderThan time.Duration
	// KeepLast keeps the newest N matching jobs per type.
	KeepLast int
	// DryRun counts without writing anything.
	DryRun bool
	// Force also handles matched queued/running jobs: queued ones are
	// cancelled and deleted; running ones get cancel_requested and are
	// deleted by a later prune once the Runner has ended them.
	Force bool
}

// PruneResult reports a prune.
type PruneResult struct {
	Matched         int            `json:"matched_count"`
	Deleted         int            `json:"deleted_count"`
	CancelRequested int            `json:"updated_count"`
	BlockedRunning  int            `json:"blocked_running_count"`
	ByStatus        map[string]int `json:"by_status"`
	ByType          map[string]int `json:"by_type"`
	DryRun          bool           `json:"dry_run"`
}

// Prune deletes finished jobs in chunks of 500 per transaction, re-checking
// status in each DELETE, and audits jobs_pruned (unless DryRun).
func (q *Queue) Prune(ctx context.Context, o PruneOptions) (PruneResult, error) {
	res := PruneResult{DryRun: o.DryRun, ByStatus: map[string]int{}, ByType: map[string]int{}}
	if len(o.Statuses) == 0 {
		o.Statuses = []string{StatusDone, StatusError, StatusCancelled}
	}
	where, args := q.filterSQL(o.Types, o.Statuses, nil, o.OlderThan, "updated_at")
	query := `SELECT id, type, status FROM jobs` + where
	if o.KeepLast > 0 {
		query = `SELECT id, type, status FROM (SELECT id, type, status,
			row_number() OVER (PARTITION BY type ORDER BY id DESC) AS rn FROM jobs` + where + `) WHERE rn > ?`
		args = append(args, o.KeepLast)
	}
	rows, err := q.db.QueryContext(ctx, query+` ORDER BY id`, args...)
	if err != nil {
		return res, db.Classify(fmt.Errorf("prune select: %w", err))
	}
	var ids, running []int64
	for rows.Next() {
		var id int64
		var typ, st string
		if err := rows.Scan(&id, &typ, &st); err != nil {
			rows.Close()
			return res, err
		}
		res.Matched++
		res.ByStatus[st]++
		res.ByType[typ]++
		switch {
		case st == StatusRunning && !o.Force:
			res.BlockedRunning++
		case st == StatusRunning:
			running = append(running, id)
		case st == StatusQueued && !o.Force:
			res.BlockedRunning++
		default:
			ids = append(ids, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return res, err
	}
	if o.DryRun {
		return res, nil
	}
	now := svtime.NowString(q.clock)
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(start+500, len(ids))]
		cargs := make([]any, len(chunk))
		for i, id := range chunk {
			cargs[i] = id
		}
		statuses := `'done','error','cancelled'`
		if o.Force {
			statuses += `,'queued'`
		}
		err := db.InTx(ctx, q.db, func(tx *sql.Tx) error {
			rs, err := tx.ExecContext(ctx, `DELETE FROM jobs WHERE id IN (`+placeholders(len(chunk))+`) AND status IN (`+statuses+`)`, cargs...)
			if err != nil {
				return err
			}
			n, _ := rs.RowsAffected()
			res.Deleted += int(n)
			return nil
		})
		if err != nil {
			return res, db.Classify(fmt.Errorf("prune delete: %w", err))
		}
	}
	for _, id := range running {
		if _, err := q.Cancel(ctx, id); err == nil {
			res.CancelRequested++
		}
	}
	err = db.InTx(ctx, q.db, func(tx *sql.Tx) error {
		return audit(ctx, tx, now, "jobs_pruned", 0, map[string]any{
			"types": o.Types, "statuses": o.Statuses, "older_than_seconds": int64(o.OlderThan / time.Second), "keep_last": o.KeepLast,
			"force": o.Force, "candidates_total": res.Matched, "deleted_total": res.Deleted, "cancel_requested": res.CancelRequested,
			"by_status": res.ByStatus, "by_type": res.ByType,
		})
	})
	return res, db.Classify(err)
}

// Stats summarises the queue for jobs-admin stats and the web UI.
type Stats struct {
	Counts       map[string]map[string]int `json:"counts"`
	OldestQueued string                    `json:"oldest_queued_at,omitempty"`
	Stuck        []Row                     `json:"stuck"`
}

// Stats counts jobs per type and status, finds the oldest queued job and
// lists running jobs whose heartbeat is older than their lease (what the
// next recovery would take back).
func (q *Queue) Stats(ctx context.Context) (Stats, error) {
	st := Stats{Counts: map[string]map[string]int{}}
	rows, err := q.db.QueryContext(ctx, `SELECT type, status, count(*) FROM jobs GROUP BY type, status`)
	if err != nil {
		return st, db.Classify(fmt.Errorf("stats: %w", err))
	}
	for rows.Next() {
		var t, s string
		var n int
		if err := rows.Scan(&t, &s, &n); err != nil {
			rows.Close()
			return st, err
		}
		if st.Counts[t] == nil {
			st.Counts[t] = map[string]int{}
		}
		st.Counts[t][s] = n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return st, db.Classify(fmt.Errorf("stats: %w", err))
	}
	var oldest sql.NullString
	if err := q.db.QueryRowContext(ctx, `SELECT min(created_at) FROM jobs WHERE status = 'queued'`).Scan(&oldest); err != nil {
		return st, db.Classify(err)
	}
	st.OldestQueued = oldest.String
	running, err := q.List(ctx, ListFilter{Statuses: []string{StatusRunning}, Limit: 10000})
	if err != nil {
		return st, err
	}
	now := q.clock.Now()
	for _, r := range running {
		t, ok := svtime.Parse(r.HeartbeatAt)
		if !ok || now.Sub(t) > q.leaseFor(r.Type) {
			st.Stuck = append(st.Stuck, r)
		}
	}
	return st, nil
}
