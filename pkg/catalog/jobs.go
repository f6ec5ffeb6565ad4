package catalog

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/db"
)

// JobQuery selects jobs for the job center and the detail page.
type JobQuery struct {
	MediaID  int64
	Statuses []string
	Types    []string
	// StuckBefore selects running jobs whose heartbeat (or start) is older
	// than this timestamp (svtime format).
	StuckBefore string
	// NewestFirst orders by updated/created desc (default: id desc).
	Limit int
}

// ListJobs lists jobs (newest first).
func ListJobs(ctx context.Context, q *sql.DB, jq JobQuery) ([]JobRow, error) {
	if jq.Limit <= 0 || jq.Limit > 500 {
		jq.Limit = 50
	}
	var conds []string
	var args []any
	if jq.MediaID > 0 {
		conds = append(conds, "media_id = ?")
		args = append(args, jq.MediaID)
	}
	in := func(col string, vals []string) {
		if len(vals) == 0 {
			return
		}
		conds = append(conds, col+" IN ("+strings.TrimSuffix(strings.Repeat("?,", len(vals)), ",")+")")
		for _, v := range vals {
			args = append(args, v)
		}
	}
	in("status", jq.Statuses)
	in("type", jq.Types)
	if jq.StuckBefore != "" {
		conds = append(conds, "status = 'running' AND COALESCE(heartbeat_at, started_at, created_at) < ?")
		args = append(args, jq.StuckBefore)
	}
	where := "1"
	if len(conds) > 0 {
		where = strings.Join(conds, " AND ")
	}
	args = append(args, jq.Limit)
	rows, err := q.QueryContext(ctx, `SELECT id, COALESCE(media_id,0), type, status, attempts, created_at,
		COALESCE(updated_at,''), COALESCE(started_at,''), COALESCE(finished_at,''), COALESCE(heartbeat_at,''),
		COALESCE(last_error_code,''), COALESCE(error_message,''), COALESCE(payload_json,''), COALESCE(stage,''),
		progress_bits, progress_bits_total, COALESCE(CASE WHEN json_valid(result_json) THEN json_extract(result_json, '$.warnings') END, ''),
		COALESCE(progress_json, ''), COALESCE(CASE WHEN json_valid(result_json) THEN json_extract(result_json, '$.result') END, '')
		FROM jobs WHERE `+where+` ORDER BY id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", db.Classify(err))
	}
	defer rows.Close()
	var out []JobRow
	for rows.Next() {
		var j JobRow
		if err := rows.Scan(&j.ID, &j.MediaID, &j.Type, &j.Status, &j.Attempts, &j.CreatedAt, &j.UpdatedAt, &j.StartedAt,
			&j.FinishedAt, &j.Heartbeat, &j.ErrorCode, &j.Error, &j.Payload, &j.Stage, &j.Progress, &j.ProgressOf, &j.Warnings,
			&j.Live, &j.Outcome); err != nil {
			return nil, fmt.Errorf("list jobs: %w", db.Classify(err))
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list jobs: %w", db.Classify(err))
	}
	return out, nil
}

// JobCounts are queue counts by status plus stuck running jobs.
type JobCounts struct {
	ByStatus map[string]int `json:"by_status"`
	Stuck    int            `json:"stuck"`
}

// CountJobs counts jobs per status; running jobs with a heartbeat older than
// stuckBefore count as stuck.
func CountJobs(ctx context.Context, q *sql.DB, stuckBefore string) (JobCounts, error) {
	// The live statuses are always present, 0 when empty: a poll then
	// tells "none left" apart from "not reported" (the dashboard showed
	// the last non-zero count of a drained queue forever).
	c := JobCounts{ByStatus: map[string]int{"queued": 0, "running": 0}}
	rows, err := q.QueryContext(ctx, "SELECT status, count(*) FROM jobs GROUP BY status")
	if err != nil {
		return c, fmt.Errorf("count jobs: %w", db.Classify(err))
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return c, fmt.Errorf("count jobs: %w", db.Classify(err))
		}
		c.ByStatus[s] = n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return c, fmt.Errorf("count jobs: %w", db.Classify(err))
	}
	err = q.QueryRowContext(ctx, `SELECT count(*) FROM jobs WHERE status = 'running'
		AND COALESCE(heartbeat_at, started_at, created_at) < ?`, stuckBefore).Scan(&c.Stuck)
	if err != nil {
		return c, fmt.Errorf("count stuck jobs: %w", db.Classify(err))
	}
	return c, nil
}
