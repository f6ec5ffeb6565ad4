package jobs

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// Job is one claimed job as a handler sees it. Its methods write to the row
// fenced by the claim's owner token and return ErrLeaseLost once the job is
// no longer this worker's.
type Job struct {
	ID           int64
	Type         string
	MediaID      *int64
	PromptID     *int64
	Payload      json.RawMessage
	ForgeRequest json.RawMessage
	// Attempt is 1 on the first run (jobs.attempts after the claim).
	Attempt     int
	MaxAttempts int
	// Owner is the claim's fence token "<worker>:<host>:<pid>:<random>".
	Owner     string
	CreatedAt time.Time

	q         *Queue
	log       zerolog.Logger
	completed atomic.Bool
}

// Decode unmarshals the payload into v; an empty payload leaves v untouched.
// Malformed JSON is a permanent error (retrying cannot fix it).
func (j *Job) Decode(v any) error {
	if len(j.Payload) == 0 {
		return nil
	}
	if err := json.Unmarshal(j.Payload, v); err != nil {
		return reason.Permanent(CodePayloadInvalid, fmt.Errorf("job %d payload: %w", j.ID, err))
	}
	return nil
}

// Logger returns a logger with job_id and job_type fields.
func (j *Job) Logger() zerolog.Logger { return j.log }

// Progress records progress_bits/progress_bits_total (Ollama uses 0..1000).
func (j *Job) Progress(ctx context.Context, bits, total int) error {
	return j.fenced(ctx, `progress_bits = ?, progress_bits_total = ?`, bits, total)
}

// SetStage records stage and stage_changed_at.
func (j *Job) SetStage(ctx context.Context, stage string) error {
	return j.fenced(ctx, `stage = ?, stage_changed_at = ?`, stage, svtime.NowString(j.q.clock))
}

// SavePayload replaces payload_json, e.g. a backfill cursor, so that a retry
// after a crash resumes from the checkpoint.
func (j *Job) SavePayload(ctx context.Context, v any) error {
	p, err := marshalNull(v)
	if err != nil {
		return reason.Permanent(CodePayloadInvalid, err)
	}
	if err := j.fenced(ctx, `payload_json = ?`, p); err != nil {
		return err
	}
	j.Payload = json.RawMessage(p.String)
	return nil
}

// CompleteTx marks the job done inside the caller's transaction, so the
// job's own DB side effects and its completion commit together (River's
// JobCompleteTx). It returns ErrLeaseLost when the job is no longer ours;
// the caller must then roll back. If the handler then returns nil, the Runner
// does not write the job again.
func (j *Job) CompleteTx(ctx context.Context, tx *sql.Tx, result any) error {
	if err := j.q.completeIn(ctx, tx, j, result); err != nil {
		return err
	}
	j.completed.Store(true)
	return nil
}

func (j *Job) fenced(ctx context.Context, set string, args ...any) error {
	args = append(args, svtime.NowString(j.q.clock), j.ID, j.Owner)
	var n int64
	err := db.InTx(ctx, j.q.db, func(tx *sql.Tx) error {
		rs, err := tx.ExecContext(ctx, `UPDATE jobs SET `+set+`, updated_at = ? WHERE id = ? AND status = 'running' AND worker_owner = ?`, args...)
		if err != nil {
			return err
		}
		n, _ = rs.RowsAffected()
		return nil
	})
	if err != nil {
		return db.Classify(fmt.Errorf("job %d update: %w", j.ID, err))
	}
	if n != 1 {
		return ErrLeaseLost
	}
	return nil
}

const jobColumns = `id, type, media_id, prompt_id, payload_json, forge_request_json, attempts, max_attempts, worker_owner, created_at`

func scanJob(sc interface{ Scan(...any) error }) (*Job, error) {
	var (
		j                  Job
		media, prompt      sql.NullInt64
		payload, forge     sql.NullString
		owner, createdText sql.NullString
	)
	if err := sc.Scan(&j.ID, &j.Type, &media, &prompt, &payload, &forge, &j.Attempt, &j.MaxAttempts, &owner, &createdText); err != nil {
		return nil, err
	}
	if media.Valid {
		j.MediaID = &media.Int64
	}
	if prompt.Valid {
		j.PromptID = &prompt.Int64
	}
	if payload.Valid {
		j.Payload = json.RawMessage(payload.String)
	}
	if forge.Valid {
		j.ForgeRequest = json.RawMessage(forge.String)
	}
	j.Owner = owner.String
	j.CreatedAt, _ = svtime.Parse(createdText.String)
	return &j, nil
}

// claim takes the next runnable job of the first type in order that has
// one. Each per-type UPDATE … RETURNING uses idx_jobs_claim
// (status, type, priority, id); all of them run inside one BEGIN IMMEDIATE
// transaction so no other process can claim between the check and the set.
func (q *Queue) claim(ctx context.Context, owner string, pid int, order []string, mediaID *int64) (*Job, error) {
	now := svtime.NowString(q.clock)
	var job *Job
	err := db.InTx(ctx, q.db, func(tx *sql.Tx) error {
		for _, typ := range order {
			args := []any{owner, pid, now, now, now, typ, now}
			filter := ""
			if mediaID != nil {
				filter = " AND media_id = ?"
				args = append(args, *mediaID)
			}
			row := tx.QueryRowContext(ctx, `UPDATE jobs SET status = 'running', worker_owner = ?, worker_pid = ?,
				started_at = ?, heartbeat_at = ?, updated_at = ?, attempts = attempts + 1,
				cancel_requested = 0, finished_at = NULL, stage = NULL, stage_changed_at = NULL
				WHERE id = (SELECT id FROM jobs WHERE status = 'queued' AND type = ?
					AND (not_before IS NULL OR not_before <= ?)`+filter+`
					ORDER BY priority, id LIMIT 1)
				RETURNING `+jobColumns, args...)
			j, err := scanJob(row)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return fmt.Errorf("claim %s: %w", typ, err)
			}
			job = j
			return nil
		}
		return nil
	})
	if err != nil {
		return nil, db.Classify(err)
	}
	if job != nil {
		job.q = q
	}
	return job, nil
}

// heartbeat refreshes the lease. ok=false means the job is no longer ours.
func (q *Queue) heartbeat(ctx context.Context, j *Job) (cancel bool, ok bool, err error) {
	now := svtime.NowString(q.clock)
	err = db.InTx(ctx, q.db, func(tx *sql.Tx) error {
		e := tx.QueryRowContext(ctx, `UPDATE jobs SET heartbeat_at = ? WHERE id = ? AND status = 'running' AND worker_owner = ? RETURNING cancel_requested`,
			now, j.ID, j.Owner).Scan(&cancel)
		if errors.Is(e, sql.ErrNoRows) {
			return nil
		}
		if e != nil {
			return e
		}
		ok = true
		return nil
	})
	return cancel, ok, db.Classify(err)
}

func (q *Queue) completeIn(ctx context.Context, ex db.Execer, j *Job, result any) error {
	res, err := marshalNull(result)
	if err != nil {
		return reason.Permanent(CodePayloadInvalid, fmt.Errorf("job %d result: %w", j.ID, err))
	}
	now := svtime.NowString(q.clock)
	rs, err := ex.ExecContext(ctx, `UPDATE jobs SET status = 'done', result_json = ?, error_message = NULL, last_error_code = NULL,
		finished_at = ?, updated_at = ? WHERE id = ? AND status = 'running' AND worker_owner = ?`, res, now, now, j.ID, j.Owner)
	if err != nil {
		return db.Classify(fmt.Errorf("complete job %d: %w", j.ID, err))
	}
	if n, _ := rs.RowsAffected(); n != 1 {
		return ErrLeaseLost
	}
	return nil
}

// outcome is what the Runner decided to do with a finished handler run.
type outcome string

const (
	outDone      outcome = "done"
	outError     outcome = "error"
	outRetry     outcome = "retry"
	outSnoozed   outcome = "snoozed"
	outCancelled outcome = "cancelled"
	outReleased  outcome = "released"
	outLost      outcome = "lost"
)

// finish writes the terminal or retry state for a handler run. Every branch
// is fenced by id + running + owner; a lost fence reports outLost.
func (q *Queue) finish(ctx context.Context, j *Job, result any, herr error, cause error) (outcome, error) {
	if herr == nil {
		if j.completed.Load() {
			return outDone, nil
		}
		err := db.InTx(ctx, q.db, func(tx *sql.Tx) error { return q.completeIn(ctx, tx, j, result) })
		if errors.Is(err, ErrLeaseLost) {
			return outLost, nil
		}
		return outDone, err
	}
	now := q.clock.Now()
	nowS := svtime.Format(now)
	var (
		out  outcome
		set  string
		args []any
	)
	code := reason.CodeOr(herr, CodeHandlerFailed)
	msg := reason.Truncate(sanitize(herr.Error()), 240)
	var snooze *SnoozeError
	switch {
	case errors.Is(cause, errCancelRequested):
		out = outCancelled
		set = `status = 'cancelled', cancelled_at = ?, finished_at = ?, last_error_code = 'cancelled', error_message = 'cancel_requested'`
		args = []any{nowS, nowS}
	case errors.Is(cause, errShutdown):
		// Not the job's fault: give the attempt back.
		out = outReleased
		set = `status = 'queued', attempts = max(attempts - 1, 0), not_before = NULL, last_error_code = ?, error_message = ?`
		args = []any{CodeShutdownReleased, "released at worker shutdown"}
	case errors.As(herr, &snooze):
		out = outSnoozed
		set = `status = 'queued', attempts = max(attempts - 1, 0), not_before = ?`
		args = []any{svtime.Format(now.Add(snooze.After))}
	case reason.KindOf(herr) == reason.KindPermanent || j.Attempt >= j.MaxAttempts:
		out = outError
		set = `status = 'error', finished_at = ?, last_error_code = ?, error_message = ?`
		args = []any{nowS, code, msg}
	default:
		// Transient and unclassified errors are retried: most unexpected
		// failures (I/O, timeouts) go away, and max_attempts bounds the loop.
		out = outRetry
		set = `status = 'queued', not_before = ?, last_error_code = ?, error_message = ?`
		args = []any{svtime.Format(now.Add(q.backoff(j.Attempt))), code, msg}
	}
	args = append(args, nowS, j.ID, j.Owner)
	var n int64
	err := db.InTx(ctx, q.db, func(tx *sql.Tx) error {
		rs, err := tx.ExecContext(ctx, `UPDATE jobs SET `+set+`, updated_at = ? WHERE id = ? AND status = 'running' AND worker_owner = ?`, args...)
		if err != nil {
			return err
		}
		n, _ = rs.RowsAffected()
		return nil
	})
	if err != nil {
		return out, db.Classify(fmt.Errorf("finish job %d: %w", j.ID, err))
	}
	if n != 1 {
		return outLost, nil
	}
	return out, nil
}

// sanitize keeps error messages on one line.
func sanitize(s string) string {
	s = strings.ReplaceAll(s, "\r", " ")
	return strings.ReplaceAll(s, "\n", " ")
}
