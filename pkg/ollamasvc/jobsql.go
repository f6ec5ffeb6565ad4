package ollamasvc

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/ollama"
	"github.com/localsupervisor/supervisor/pkg/reason"
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

// waitFor keeps a job queued while a job of a mode it depends on is still
// queued or running for the same media with a smaller id, so prompt_recon
// and embed see their inputs even with several children at once.
func waitFor(typ string) jobs.ClaimFilter {
	m, _ := ollama.ModeFromJobType(typ)
	var f jobs.ClaimFilter
	for _, d := range m.DependsOn() {
		f.WaitFor = append(f.WaitFor, d.JobType())
	}
	return f
}

// claimJob claims the oldest runnable Ollama job over all modes (priority,
// id) through the shared queue, skipping jobs whose inputs are still being
// produced (waitFor). maxAttempts caps jobs.max_attempts (the configured
// ollama.worker.max_retries); the stage and the 0..1000 progress scale are
// what the dashboard shows.
func claimJob(ctx context.Context, q *jobs.Queue, owner string, mediaID int64, maxAttempts int) (*JobRow, error) {
	js, err := q.Claim(ctx, claimRequest(owner, mediaID, maxAttempts))
	if err != nil {
		return nil, fmt.Errorf("claim ollama job: %w", err)
	}
	if len(js) == 0 {
		return nil, nil
	}
	return newJobRow(js[0]) // cannot fail: the claim is restricted to JobTypes
}

// claimRequest is claimJob's request.
func claimRequest(owner string, mediaID int64, maxAttempts int) jobs.ClaimRequest {
	req := jobs.ClaimRequest{Owner: owner, Types: JobTypes(), Mixed: true, Limit: 1, Filter: waitFor,
		CapAttempts: max(maxAttempts, 1), Stage: "claimed", ProgressTotal: 1000}
	if mediaID > 0 {
		req.MediaID = &mediaID
	}
	return req
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

// decide turns an attempt's error into the job's end through the queue's
// one retry rule (jobs.Job.Failure). What Ollama knows on top: a
// parse_error retries only once (a second answer without JSON will not
// improve) and too_large_for_vision never does.
func decide(j *JobRow, err error) jobs.Ending {
	if err == nil {
		return jobs.Done(nil)
	}
	code := reason.Code(err)
	final := code == ollama.CodeTooLargeForVision || code == ollama.CodeParseError && j.Attempt >= 2
	return j.job.Failure(err, final)
}

// finishJob writes e to the job row, fenced by owner, with the stage and
// progress the dashboard shows for it. ok=false: the job is no longer ours.
func finishJob(ctx context.Context, j *JobRow, e jobs.Ending) (bool, error) {
	switch e.Kind {
	case jobs.EndDone:
		e.Stage, e.ProgressDone = "done", true
	case jobs.EndRetry:
		e.Stage = "retry_wait"
	case jobs.EndCancelled:
		e.Stage, e.ProgressDone = "child_cancel", true
	case jobs.EndError:
		e.Stage, e.ProgressDone = stageFor(e.Code), true
	}
	err := j.job.End(ctx, e)
	if errors.Is(err, jobs.ErrLeaseLost) {
		return false, nil
	}
	return err == nil, err
}

// stageFor is the stage of a failure that has its own ("": keep the last).
func stageFor(code string) string {
	switch code {
	case CodeChildTimeout:
		return "child_timeout"
	case CodeKillFailed:
		return "child_kill_failed"
	}
	return ""
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
