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
	"github.com/localsupervisor/supervisor/pkg/jobs"
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
	CodeJobNotFound     = jobs.CodeNotFound  // the job row is gone
	CodeLeaseLost       = jobs.CodeLeaseLost // the job no longer runs under this owner
)

// JobRow is a claimed Ollama job: the shared queue's handle (pkg/jobs),
// whose every write is fenced by id + running + the claim's owner token,
// plus the Ollama view of the row.
type JobRow struct {
	ID          int64
	Type        string
	Mode        ollama.Mode
	MediaID     int64
	Attempt     int
	MaxAttempts int
	Owner       string
	job         *jobs.Job
}

func newJobRow(j *jobs.Job) (*JobRow, error) {
	m, ok := ollama.ModeFromJobType(j.Type)
	if !ok {
		return nil, reason.Permanent("job_type_unknown", fmt.Errorf("job %d has type %s, not an ollama job", j.ID, j.Type))
	}
	r := &JobRow{ID: j.ID, Type: j.Type, Mode: m, Attempt: j.Attempt, MaxAttempts: j.MaxAttempts, Owner: j.Owner, job: j}
	if j.MediaID != nil {
		r.MediaID = *j.MediaID
	}
	return r, nil
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

// claimSet is what an Ollama claim adds to the shared claim: the
// configured ollama.worker.max_retries caps max_attempts, and the stage and
// 0..1000 progress scale the dashboard shows.
const claimSet = `max_attempts = min(max_attempts, ?), stage = 'claimed', progress_bits = 0, progress_bits_total = 1000`

// claimJob claims the oldest runnable Ollama job over all modes (priority,
// id) through the shared queue, skipping jobs whose inputs are still being
// produced (depClause). maxAttempts caps jobs.max_attempts.
func claimJob(ctx context.Context, q *jobs.Queue, owner string, mediaID int64, maxAttempts int) (*JobRow, error) {
	req := jobs.ClaimRequest{Owner: owner, Types: JobTypes(), Mixed: true, Limit: 1,
		Filter: func(string) jobs.ClaimFilter { return jobs.ClaimFilter{Where: depClause()} },
		Set:    claimSet, SetArgs: []any{maxAttempts}}
	if mediaID > 0 {
		req.MediaID = &mediaID
	}
	js, err := q.Claim(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("claim ollama job: %w", err)
	}
	if len(js) == 0 {
		return nil, nil
	}
	return newJobRow(js[0]) // cannot fail: the claim is restricted to JobTypes
}

// attachJob is the child's handle for the job its service claimed: it
// fails with lease_lost unless the row is running under owner.
func attachJob(ctx context.Context, q *jobs.Queue, id int64, owner string) (*JobRow, error) {
	j, err := q.Attach(ctx, id, owner)
	if err != nil {
		return nil, err
	}
	return newJobRow(j)
}

// update runs a fenced UPDATE of the job's row; false = the job is no
// longer ours (deleted, cancelled by force, recovered by someone else).
func (j *JobRow) update(ctx context.Context, set string, args ...any) (bool, error) {
	err := j.job.Update(ctx, set, args...)
	if errors.Is(err, jobs.ErrLeaseLost) {
		return false, nil
	}
	return err == nil, err
}

// heldIn fails with jobs.ErrLeaseLost unless the job still runs under
// this owner, checked inside the caller's write transaction (the fence of
// the result store: check and write commit together).
func (j *JobRow) heldIn(ctx context.Context, tx *sql.Tx) error {
	err := j.job.HeldTx(ctx, tx)
	if reason.Code(err) == jobs.CodeNotFound {
		return jobs.ErrLeaseLost // a force-deleted row: the same "not ours any more" for the store
	}
	return err
}

// heartbeatJob refreshes the lease and reports cancel_requested; ok=false
// means the job is no longer running under this owner.
func heartbeatJob(ctx context.Context, q *jobs.Queue, j *JobRow) (cancel, ok bool, err error) {
	ls, err := q.Heartbeat(ctx, j.job)
	if err != nil {
		return false, false, err
	}
	return ls[0].CancelRequested, ls[0].Held, nil
}

// jobState reads status and owner of a job (for the service's checks of a
// child's end state); code job_not_found when the row is gone.
func jobState(ctx context.Context, d *sql.DB, id int64) (status, owner string, err error) {
	var o sql.NullString
	err = d.QueryRowContext(ctx, `SELECT status, worker_owner FROM jobs WHERE id = ?`, id).Scan(&status, &o)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", reason.Permanent(CodeJobNotFound, fmt.Errorf("job %d not found", id))
	}
	if err != nil {
		return "", "", db.Classify(fmt.Errorf("load job %d: %w", id, err))
	}
	return status, o.String, nil
}

// Final is how one attempt of a job ended.
type Final struct {
	// Status is done, retry, error, cancelled or released.
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
func finishJob(ctx context.Context, clock svtime.Clock, j *JobRow, f Final) (bool, error) {
	now := svtime.NowString(clock)
	switch f.Status {
	case "done":
		var res any
		if len(f.Result) > 0 {
			res = string(f.Result)
		}
		return j.update(ctx, `status = 'done', result_json = ?, error_message = NULL, last_error_code = NULL, finished_at = ?, stage = 'done', progress_bits = 1000`, res, now)
	case "retry":
		return j.update(ctx, `status = 'queued', not_before = ?, last_error_code = ?, error_message = ?, worker_pid = NULL, stage = 'retry_wait'`, f.NotBefore, f.Code, f.Message)
	case "cancelled":
		return j.update(ctx, `status = 'cancelled', cancelled_at = ?, finished_at = ?, last_error_code = 'cancelled', error_message = ?, stage = 'child_cancel', progress_bits = 1000`, now, now, cmp.Or(f.Message, "cancel_requested"))
	case "released":
		// Not the job's fault (service shutdown): the attempt is given back.
		return j.update(ctx, `status = 'queued', attempts = max(attempts - 1, 0), worker_pid = NULL, last_error_code = ?, error_message = ?`, jobs.CodeShutdownReleased, f.Message)
	default:
		return j.update(ctx, `status = 'error', finished_at = ?, last_error_code = ?, error_message = ?, progress_bits = 1000, stage = COALESCE(?, stage)`, now, f.Code, f.Message, stageFor(f.Code))
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
