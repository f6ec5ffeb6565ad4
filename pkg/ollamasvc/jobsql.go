package ollamasvc

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/ollama"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// Reason codes of this package.
const (
	CodeBlockedByOllama = "blocked_by_ollama"
	CodeChildTimeout    = "timeout"
	CodeCancelled       = "cancelled"
	CodeKillFailed      = "kill_failed"
	CodeChildNoResult   = "child_no_result"
	CodeChildSpawn      = "child_spawn_failed"
	CodeMissingPrompts  = "missing_prompts"
	CodeMissingModels   = "missing_models"
	CodeJobNotFound     = "job_not_found"
	CodeLeaseLost       = "lease_lost"
)

// JobRow is the part of a claimed job the service and the child need.
type JobRow struct {
	ID          int64
	Type        string
	Mode        ollama.Mode
	MediaID     int64
	Attempt     int
	MaxAttempts int
	Owner       string
	Status      string
	Cancel      bool
}

func typesIn(types []string) string {
	q := make([]string, len(types))
	for i, t := range types {
		q[i] = "'" + strings.ReplaceAll(t, "'", "''") + "'"
	}
	return "(" + strings.Join(q, ",") + ")"
}

// depClause keeps a job waiting while a job of a mode it depends on is still
// queued or running for the same media with a smaller id, so prompt_recon
// and embed see their inputs even with several children at once.
func depClause() string {
	var parts []string
	for _, m := range JobModes() {
		deps := m.DependsOn()
		if len(deps) == 0 {
			continue
		}
		var dt []string
		for _, d := range deps {
			dt = append(dt, d.JobType())
		}
		parts = append(parts, fmt.Sprintf("(j.type = '%s' AND EXISTS (SELECT 1 FROM jobs d WHERE d.media_id = j.media_id AND d.id < j.id AND d.status IN ('queued','running') AND d.type IN %s))", m.JobType(), typesIn(dt)))
	}
	return "NOT (" + strings.Join(parts, " OR ") + ")"
}

// claimJob claims the oldest runnable Ollama job (priority, id) in one
// immediate transaction. maxAttempts caps jobs.max_attempts with the
// configured ollama.worker.max_retries.
func claimJob(ctx context.Context, d *sql.DB, clock svtime.Clock, owner string, mediaID int64, maxAttempts int) (*JobRow, error) {
	now := svtime.NowString(clock)
	filter := ""
	args := []any{owner, now, now, now, maxAttempts, now}
	if mediaID > 0 {
		filter = " AND j.media_id = ?"
		args = append(args, mediaID)
	}
	var j JobRow
	var media sql.NullInt64
	err := db.InTx(ctx, d, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `UPDATE jobs SET status = 'running', worker_owner = ?, worker_pid = NULL,
			started_at = ?, heartbeat_at = ?, updated_at = ?, attempts = attempts + 1, max_attempts = min(max_attempts, ?),
			cancel_requested = 0, finished_at = NULL, stage = 'claimed', stage_changed_at = NULL, progress_bits = 0, progress_bits_total = 1000
			WHERE id = (SELECT j.id FROM jobs j WHERE j.status = 'queued' AND j.type IN `+typesIn(JobTypes())+`
				AND (j.not_before IS NULL OR j.not_before <= ?)`+filter+` AND `+depClause()+`
				ORDER BY j.priority, j.id LIMIT 1)
			RETURNING id, type, media_id, attempts, max_attempts, worker_owner`, args...).
			Scan(&j.ID, &j.Type, &media, &j.Attempt, &j.MaxAttempts, &j.Owner)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, db.Classify(fmt.Errorf("claim ollama job: %w", err))
	}
	j.MediaID = media.Int64
	j.Mode, _ = ollama.ModeFromJobType(j.Type)
	j.Status = "running"
	return &j, nil
}

// loadJob reads one job row.
func loadJob(ctx context.Context, d *sql.DB, id int64) (*JobRow, error) {
	var j JobRow
	var media sql.NullInt64
	var owner sql.NullString
	err := d.QueryRowContext(ctx, `SELECT id, type, media_id, attempts, max_attempts, worker_owner, status, cancel_requested FROM jobs WHERE id = ?`, id).
		Scan(&j.ID, &j.Type, &media, &j.Attempt, &j.MaxAttempts, &owner, &j.Status, &j.Cancel)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, reason.Permanent(CodeJobNotFound, fmt.Errorf("job %d not found", id))
	}
	if err != nil {
		return nil, db.Classify(fmt.Errorf("load job %d: %w", id, err))
	}
	j.MediaID = media.Int64
	j.Owner = owner.String
	var ok bool
	if j.Mode, ok = ollama.ModeFromJobType(j.Type); !ok {
		return nil, reason.Permanent("job_type_unknown", fmt.Errorf("job %d has type %s, not an ollama job", id, j.Type))
	}
	return &j, nil
}

// fenced runs an UPDATE guarded by id + running + owner; false = lost.
func fenced(ctx context.Context, d *sql.DB, clock svtime.Clock, j *JobRow, set string, args ...any) (bool, error) {
	args = append(args, svtime.NowString(clock), j.ID, j.Owner)
	var n int64
	err := db.InTx(ctx, d, func(tx *sql.Tx) error {
		rs, err := tx.ExecContext(ctx, `UPDATE jobs SET `+set+`, updated_at = ? WHERE id = ? AND status = 'running' AND worker_owner = ?`, args...)
		if err != nil {
			return err
		}
		n, _ = rs.RowsAffected()
		return nil
	})
	if err != nil {
		return false, db.Classify(fmt.Errorf("update job %d: %w", j.ID, err))
	}
	return n == 1, nil
}

// heartbeatJob refreshes heartbeat_at and reports cancel_requested; ok=false
// means the job is no longer running under this owner.
func heartbeatJob(ctx context.Context, d *sql.DB, clock svtime.Clock, j *JobRow) (cancel, ok bool, err error) {
	err = db.InTx(ctx, d, func(tx *sql.Tx) error {
		e := tx.QueryRowContext(ctx, `UPDATE jobs SET heartbeat_at = ? WHERE id = ? AND status = 'running' AND worker_owner = ? RETURNING cancel_requested`,
			svtime.NowString(clock), j.ID, j.Owner).Scan(&cancel)
		if errors.Is(e, sql.ErrNoRows) {
			return nil
		}
		if e == nil {
			ok = true
		}
		return e
	})
	return cancel, ok, db.Classify(err)
}

// Final is how one attempt of a job ended.
type Final struct {
	// Status is done, retry, error or cancelled.
	Status    string          `json:"status"`
	Code      string          `json:"error_code,omitempty"`
	Message   string          `json:"error,omitempty"`
	NotBefore string          `json:"not_before,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
}

// decide turns an attempt's error into done/retry/error. Transient errors
// retry while attempts remain; parse_error retries only once (a second
// answer without JSON will not improve); timeouts retry like transients.
func decide(cfg ollama.Config, clock svtime.Clock, j *JobRow, err error) Final {
	if err == nil {
		return Final{Status: "done"}
	}
	code := reason.CodeOr(err, "unexpected")
	msg := reason.Truncate(strings.ReplaceAll(err.Error(), "\n", " "), 240)
	retry := reason.KindOf(err) != reason.KindPermanent && j.Attempt < j.MaxAttempts
	if code == ollama.CodeParseError && j.Attempt >= 2 {
		retry = false
	}
	if code == ollama.CodeTooLargeForVision {
		retry = false
	}
	if retry {
		return Final{Status: "retry", Code: code, Message: msg, NotBefore: svtime.Format(clock.Now().Add(cfg.JobBackoff(j.Attempt)))}
	}
	return Final{Status: "error", Code: code, Message: msg}
}

// finishJob writes f to the job row, fenced by owner. ok=false: lost.
func finishJob(ctx context.Context, d *sql.DB, clock svtime.Clock, j *JobRow, f Final) (bool, error) {
	now := svtime.NowString(clock)
	switch f.Status {
	case "done":
		var res any
		if len(f.Result) > 0 {
			res = string(f.Result)
		}
		return fenced(ctx, d, clock, j, `status = 'done', result_json = ?, error_message = NULL, last_error_code = NULL, finished_at = ?, stage = 'done', progress_bits = 1000`, res, now)
	case "retry":
		return fenced(ctx, d, clock, j, `status = 'queued', not_before = ?, last_error_code = ?, error_message = ?, worker_pid = NULL, stage = 'retry_wait'`, f.NotBefore, f.Code, f.Message)
	case "cancelled":
		return fenced(ctx, d, clock, j, `status = 'cancelled', cancelled_at = ?, finished_at = ?, last_error_code = 'cancelled', error_message = ?, stage = 'child_cancel', progress_bits = 1000`, now, now, cmp.Or(f.Message, "cancel_requested"))
	default:
		return fenced(ctx, d, clock, j, `status = 'error', finished_at = ?, last_error_code = ?, error_message = ?, progress_bits = 1000, stage = COALESCE(?, stage)`, now, f.Code, f.Message, stageFor(f.Code))
	}
}

func stageFor(code string) any {
	switch code {
	case CodeChildTimeout:
		return "child_timeout"
	case CodeKillFailed:
		return "child_kill_failed"
	}
	return nil
}

// QueueCounts are the Ollama queue counts of the status files.
type QueueCounts struct {
	Queued  int            `json:"queue_queued"`
	Running int            `json:"queue_running"`
	ByMode  map[string]int `json:"by_mode"`
}

// Counts reads the queued/running counts of Ollama jobs.
func Counts(ctx context.Context, d *sql.DB) (QueueCounts, error) {
	c := QueueCounts{ByMode: map[string]int{}}
	rows, err := d.QueryContext(ctx, `SELECT type, status, COUNT(*) FROM jobs WHERE status IN ('queued','running') AND type IN `+typesIn(JobTypes())+` GROUP BY type, status`)
	if err != nil {
		return c, db.Classify(fmt.Errorf("ollama queue counts: %w", err))
	}
	defer rows.Close()
	for rows.Next() {
		var typ, st string
		var n int
		if err := rows.Scan(&typ, &st, &n); err != nil {
			return c, err
		}
		if st == "queued" {
			c.Queued += n
			c.ByMode[strings.TrimPrefix(typ, ollama.JobTypePrefix)] += n
		} else {
			c.Running += n
		}
	}
	return c, rows.Err()
}

// queuedModes lists the modes with runnable-or-waiting queued jobs.
func queuedModes(ctx context.Context, d *sql.DB) ([]ollama.Mode, error) {
	c, err := Counts(ctx, d)
	if err != nil {
		return nil, err
	}
	var out []ollama.Mode
	for _, m := range JobModes() {
		if c.ByMode[string(m)] > 0 {
			out = append(out, m)
		}
	}
	return out, nil
}

// markBlocked sets or clears the blocked_by_ollama marker on queued jobs
// without touching attempts or status.
func markBlocked(ctx context.Context, d *sql.DB, clock svtime.Clock, blocked bool) (int64, error) {
	var q string
	args := []any{svtime.NowString(clock)}
	if blocked {
		q = `UPDATE jobs SET last_error_code = 'blocked_by_ollama', error_message = 'Ollama down', updated_at = ? WHERE status = 'queued' AND type IN ` + typesIn(JobTypes()) + ` AND COALESCE(last_error_code, '') <> 'blocked_by_ollama'`
	} else {
		q = `UPDATE jobs SET last_error_code = NULL, error_message = NULL, updated_at = ? WHERE status = 'queued' AND type IN ` + typesIn(JobTypes()) + ` AND last_error_code = 'blocked_by_ollama'`
	}
	var n int64
	err := db.InTx(ctx, d, func(tx *sql.Tx) error {
		rs, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return err
		}
		n, _ = rs.RowsAffected()
		return nil
	})
	return n, db.Classify(err)
}
