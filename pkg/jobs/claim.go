package jobs

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
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
	// Recoveries is how often stuck recovery took this job back from a
	// dead or silent worker (0: it never crashed a worker). Handlers may
	// work more cautiously after a crash (the importer commits smaller
	// batches).
	Recoveries int

	q         *Queue
	log       zerolog.Logger
	completed atomic.Bool
	priority  int
	// lastCode is last_error_code at claim time (CodeStuckNotStarted marks a
	// job a crashed worker held, and perhaps had started).
	lastCode string
	// marked: the row counts this run's attempt (started_at set). Claims
	// outside the Runner are marked at once; the Runner's held claims when
	// the start is written. began is the handler's start (unix ns, 0: not
	// started).
	marked atomic.Bool
	began  atomic.Int64

	// Set by the Runner's lease keeper for held jobs: lost means the row is
	// no longer ours, cancelReq that an operator asked to stop it. abort
	// cancels the handler's context while the job runs.
	lost      atomic.Bool
	cancelReq atomic.Bool
	abortMu   sync.Mutex
	abort     context.CancelCauseFunc
}

// startedAt is the handler's start time as stored text, or now if it has
// not started.
func (j *Job) startedAt(now string) string {
	if ns := j.began.Load(); ns != 0 {
		return svtime.Format(time.Unix(0, ns))
	}
	return now
}

// setAbort installs (or with nil removes) the running handler's cancel func.
func (j *Job) setAbort(f context.CancelCauseFunc) {
	j.abortMu.Lock()
	j.abort = f
	j.abortMu.Unlock()
}

// signal records a lease-keeper finding and cancels a running handler.
func (j *Job) signal(cause error) {
	if errors.Is(cause, ErrLeaseLost) {
		j.lost.Store(true)
	} else {
		j.cancelReq.Store(true)
	}
	j.abortMu.Lock()
	if j.abort != nil {
		j.abort(cause)
	}
	j.abortMu.Unlock()
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

// AdvanceTx adds n units of durable progress to progress_bits inside the
// caller's transaction, the one that commits that work, so the count never
// runs ahead of what a crash keeps. Resumable job types call it; stuck
// recovery gives back the attempt of a crashed run that advanced (see
// TypeSpec.Resumable). It returns ErrLeaseLost when the job is no longer
// ours (the caller decides whether its work still stands).
func (j *Job) AdvanceTx(ctx context.Context, tx *sql.Tx, n int) error {
	return j.fencedTx(ctx, tx, "progress", `progress_bits = progress_bits + ?`, n)
}

// fencedTx is fenced inside the caller's transaction: it sets set (with
// args) on the job's row while this claim holds it, else ErrLeaseLost.
func (j *Job) fencedTx(ctx context.Context, tx *sql.Tx, what, set string, args ...any) error {
	args = append(args, svtime.NowString(j.q.clock), j.ID, j.Owner)
	rs, err := tx.ExecContext(ctx, `UPDATE jobs SET `+set+`, updated_at = ?
		WHERE id = ? AND status = 'running' AND worker_owner = ?`, args...)
	if err != nil {
		return db.Classify(fmt.Errorf("job %d %s: %w", j.ID, what, err))
	}
	if k, _ := rs.RowsAffected(); k != 1 {
		return ErrLeaseLost
	}
	return nil
}

// ReportProgress stores v as the job's live progress (progress_json, shown
// by the job center while the job runs). Callers throttle it: every call is
// a short write transaction.
func (j *Job) ReportProgress(ctx context.Context, v any) error {
	p, err := marshalNull(v)
	if err != nil {
		return err
	}
	return j.fenced(ctx, `progress_json = ?`, p)
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

// SavePayloadTx replaces payload_json inside the caller's transaction, the
// one that commits the work the new payload records (a chunked job's
// checkpoint), so a crash keeps both or neither. It returns ErrLeaseLost
// when the job is no longer ours; the caller must then roll back.
func (j *Job) SavePayloadTx(ctx context.Context, tx *sql.Tx, v any) error {
	p, err := marshalNull(v)
	if err != nil {
		return reason.Permanent(CodePayloadInvalid, err)
	}
	return j.fencedTx(ctx, tx, "payload", `payload_json = ?`, p)
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

// HeldTx reports whether the job is still running under this claim's owner,
// read inside the caller's transaction, so a consumer can check the fence
// and write its own rows in one transaction (a write that must not land
// for a job that was recovered or cancelled meanwhile). It returns nil when
// held, ErrLeaseLost (lease_lost) when the row is no longer running under
// the owner, and a job_not_found error when the row is gone.
func (j *Job) HeldTx(ctx context.Context, tx *sql.Tx) error {
	var st string
	var owner sql.NullString
	err := tx.QueryRowContext(ctx, `SELECT status, worker_owner FROM jobs WHERE id = ?`, j.ID).Scan(&st, &owner)
	if errors.Is(err, sql.ErrNoRows) {
		return reason.Newf(CodeNotFound, "job %d not found", j.ID)
	}
	if err != nil {
		return db.Classify(fmt.Errorf("job %d lease check: %w", j.ID, err))
	}
	if st != StatusRunning || owner.String != j.Owner {
		return ErrLeaseLost
	}
	return nil
}

// SetPID records the process that runs the job (worker_pid), e.g. the
// child a service started for it.
func (j *Job) SetPID(ctx context.Context, pid int) error {
	return j.fenced(ctx, `worker_pid = ?`, pid)
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

// EndKind says how one run of a job ends.
type EndKind string

// End kinds. The values are the words consumers report (ollama-worker's
// result line).
const (
	// EndDone: status done with the result.
	EndDone EndKind = "done"
	// EndRetry: queued again after a backoff; the attempt is spent.
	EndRetry EndKind = "retry"
	// EndError: status error, no attempt left or not retryable.
	EndError EndKind = "error"
	// EndCancelled: status cancelled (an operator asked).
	EndCancelled EndKind = "cancelled"
	// EndReleased: queued again at once with the attempt given back, for
	// an end that is not the job's fault (shutdown, a dead parent).
	EndReleased EndKind = "released"
	// EndBlocked: queued again until NotBefore with the attempt given back
	// (a snooze: the job could not run yet).
	EndBlocked EndKind = "blocked"
)

// Ending is a decided end of one run; Job.End writes it. Build one with
// Done, Job.Failure (the one retry rule: retry with backoff or error),
// Released, Cancelled or Blocked, then add what the consumer shows.
type Ending struct {
	Kind EndKind
	// Code and Message go to last_error_code/error_message (retry, error,
	// released, blocked; an empty Code keeps the row's for blocked).
	Code, Message string
	// NotBefore is when a retried or blocked job may run again.
	NotBefore time.Time
	// Result is stored in result_json (done; json.RawMessage kept as is).
	Result any
	// Stage, when set, is written to stage (the dashboard's last step).
	Stage string
	// ProgressDone sets progress_bits to progress_bits_total.
	ProgressDone bool
}

// Done ends a run successfully with result.
func Done(result any) Ending { return Ending{Kind: EndDone, Result: result} }

// Released gives the job back to the queue at once without spending the
// attempt: the run ended for a reason that is not the job's.
func Released(code, msg string) Ending { return Ending{Kind: EndReleased, Code: code, Message: msg} }

// Cancelled ends a run an operator cancelled (msg: default cancel_requested).
func Cancelled(msg string) Ending {
	return Ending{Kind: EndCancelled, Code: CodeCancelled, Message: cmp.Or(msg, "cancel_requested")}
}

// Blocked puts the job back until until without spending the attempt.
func Blocked(code, msg string, until time.Time) Ending {
	return Ending{Kind: EndBlocked, Code: code, Message: msg, NotBefore: until}
}

// Failure is the queue's one retry rule for a run that failed with err:
// a transient or unclassified error is retried after the backoff
// (Config.RetryBaseMS doubling up to RetryCapMS, with jitter) while
// attempts remain; a permanent error, the last attempt, or final (the
// consumer knows another try cannot help) ends the job as error. The code
// is err's reason code (default job_failed).
func (j *Job) Failure(err error, final bool) Ending {
	e := Ending{Kind: EndError, Code: reason.CodeOr(err, CodeHandlerFailed), Message: reason.Truncate(sanitize(err.Error()), 240)}
	// Transient and unclassified errors are retried: most unexpected
	// failures (I/O, timeouts) go away, and max_attempts bounds the loop.
	if !final && reason.KindOf(err) != reason.KindPermanent && j.Attempt < j.MaxAttempts {
		e.Kind, e.NotBefore = EndRetry, j.q.clock.Now().Add(j.q.backoff(j.Attempt))
	}
	return e
}

// End writes e to the job's row, fenced by id + running + this claim's
// owner, in its own transaction. It returns ErrLeaseLost when the job is no
// longer ours. Consumers outside the Runner end every job they claimed with
// End (or CompleteTx, Queue.Release).
func (j *Job) End(ctx context.Context, e Ending) error {
	err := db.InTx(ctx, j.q.db, func(tx *sql.Tx) error { return j.q.endIn(ctx, tx, j, e) })
	if err == nil && e.Kind == EndDone {
		j.completed.Store(true)
	}
	return err
}

// endIn writes e inside ex. Every kind but done and released counts the
// attempt of a held job whose start was not written yet if its handler
// ran (a cancel before the start does not); released and blocked give a
// counted attempt back. SET expressions all read the old row.
func (q *Queue) endIn(ctx context.Context, ex db.Execer, j *Job, e Ending) error {
	now := svtime.NowString(q.clock)
	var (
		set  string
		args []any
	)
	msg := reason.Truncate(sanitize(e.Message), 240)
	switch e.Kind {
	case EndDone:
		res, err := marshalNull(e.Result)
		if err != nil {
			return reason.Permanent(CodePayloadInvalid, fmt.Errorf("job %d result: %w", j.ID, err))
		}
		set = completeSet
		args = []any{res, j.startedAt(now), now}
	case EndCancelled:
		set = `status = 'cancelled', cancelled_at = ?, finished_at = ?, last_error_code = ?, error_message = ?`
		args = []any{now, now, cmp.Or(e.Code, CodeCancelled), cmp.Or(msg, "cancel_requested")}
	case EndError:
		set = `status = 'error', finished_at = ?, last_error_code = ?, error_message = ?`
		args = []any{now, e.Code, msg}
	case EndRetry:
		set = `status = 'queued', worker_pid = NULL, not_before = ?, last_error_code = ?, error_message = ?`
		args = []any{svtime.Format(e.NotBefore), e.Code, msg}
	case EndReleased, EndBlocked:
		var nb any
		if e.Kind == EndBlocked {
			nb = svtime.Format(e.NotBefore)
		}
		set = `status = 'queued', attempts = max(attempts - (started_at IS NOT NULL), 0), worker_pid = NULL, not_before = ?`
		args = []any{nb}
		if e.Code != "" {
			set += `, last_error_code = ?, error_message = ?`
			args = append(args, e.Code, msg)
		}
	default:
		return fmt.Errorf("job %d: unknown end %q", j.ID, e.Kind)
	}
	if e.Kind == EndCancelled || e.Kind == EndError || e.Kind == EndRetry {
		set += `, attempts = attempts + (started_at IS NULL AND ?), started_at = COALESCE(started_at, ?)`
		ran := j.began.Load() != 0
		var st any
		if ran {
			st = j.startedAt(now)
		}
		args = append(args, ran, st)
	}
	if e.Stage != "" {
		set += `, stage = ?, stage_changed_at = ?`
		args = append(args, e.Stage, now)
	}
	if e.ProgressDone {
		set += `, progress_bits = progress_bits_total`
	}
	args = append(args, now, j.ID, j.Owner)
	rs, err := ex.ExecContext(ctx, `UPDATE jobs SET `+set+`, updated_at = ? WHERE id = ? AND status = 'running' AND worker_owner = ?`, args...)
	if err != nil {
		return db.Classify(fmt.Errorf("end job %d (%s): %w", j.ID, e.Kind, err))
	}
	if n, _ := rs.RowsAffected(); n != 1 {
		return ErrLeaseLost
	}
	return nil
}

// completeSet counts the attempt of a held job whose start was not written
// yet (started_at IS NULL): a completion proves the handler ran. Its
// arguments are result, started_at and finished_at.
const completeSet = `status = 'done', result_json = ?, error_message = NULL, last_error_code = NULL,
	attempts = attempts + (started_at IS NULL), started_at = COALESCE(started_at, ?), finished_at = ?`

// completeSQL is completeSet as one fenced statement (the Runner's batch
// writer prepares it once).
const completeSQL = `UPDATE jobs SET ` + completeSet + `, updated_at = ? WHERE id = ? AND status = 'running' AND worker_owner = ?`

func (q *Queue) completeIn(ctx context.Context, ex db.Execer, j *Job, result any) error {
	return q.endIn(ctx, ex, j, Done(result))
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

// finish writes the terminal or retry state for a handler run (fenced;
// a lost fence reports outLost).
func (q *Queue) finish(ctx context.Context, j *Job, result any, herr error, cause error) (outcome, error) {
	if herr == nil && j.completed.Load() {
		return outDone, nil
	}
	var e Ending
	var snooze *SnoozeError
	switch {
	case herr == nil:
		e = Done(result)
	case errors.Is(cause, errCancelRequested):
		e = Cancelled("")
	case errors.Is(cause, errShutdown):
		// Not the job's fault: give the attempt back (if it was counted).
		e = Released(CodeShutdownReleased, "released at worker shutdown")
	case errors.As(herr, &snooze):
		e = Blocked("", "", q.clock.Now().Add(snooze.After))
	default:
		e = j.Failure(herr, false)
	}
	err := db.InTx(ctx, q.db, func(tx *sql.Tx) error { return q.endIn(ctx, tx, j, e) })
	if errors.Is(err, ErrLeaseLost) {
		return outLost, nil
	}
	out := map[EndKind]outcome{EndDone: outDone, EndRetry: outRetry, EndError: outError, EndCancelled: outCancelled,
		EndReleased: outReleased, EndBlocked: outSnoozed}[e.Kind]
	if err != nil {
		return out, fmt.Errorf("finish job %d: %w", j.ID, err)
	}
	return out, nil
}

// sanitize keeps error messages on one line.
func sanitize(s string) string {
	s = strings.ReplaceAll(s, "\r", " ")
	return strings.ReplaceAll(s, "\n", " ")
}
