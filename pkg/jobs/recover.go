package jobs

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/jobs/workerstate"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// Recovered describes one job taken back by stuck recovery.
type Recovered struct {
	JobID      int64  `json:"job_id"`
	Type       string `json:"type"`
	Owner      string `json:"owner"`
	ReasonCode string `json:"reason_code"`
	NewStatus  string `json:"new_status"`
	Attempts   int    `json:"attempts"`
	// Started is false for a job the dead worker held without a recorded
	// start: it went back to queued without spending an attempt.
	Started bool `json:"started"`
	// Progressed: a started job of a Resumable type whose durable progress
	// advanced during the crashed run; its attempt was given back.
	Progressed bool `json:"progressed,omitempty"`
}

// RecoverStuck takes back running jobs of the given types (all types when
// empty) whose heartbeat is older than their type's lease, or whose owner
// process is gone on this host. A job with attempts left goes back to queued
// with backoff; otherwise it ends as error. A started job of a Resumable
// type whose progress_bits advanced since its claim (progress_mark) goes
// back to queued at once with its attempt given back (stuck_progressed):
// it crashed, but it is not crash-looping, and only crashes without
// progress count toward max_attempts. A job with cancel_requested ends as
// cancelled. Every recovery increments jobs.recoveries and is audited
// (job_stuck_recovered). It is the rescuer's runOnce and runs before every
// batch.
//
// The probe is a plain read of the running rows (idx_jobs_claim, a handful
// of rows): only when it finds a candidate does RecoverStuck take the write
// lock, and each write re-checks the row (owner, heartbeat, cancel flag) so a
// heartbeat that arrives between probe and write keeps the job alive.
func (q *Queue) RecoverStuck(ctx context.Context, types []string) ([]Recovered, error) {
	return q.recoverStuck(ctx, types, nil)
}

// recoverStuck is RecoverStuck with a lookup of why a dead owner stopped
// (nil: none): a job whose worker left a stop note gets that reason code
// (disk_full) instead of stuck_worker_gone or stuck_heartbeat_timeout.
func (q *Queue) recoverStuck(ctx context.Context, types []string, cause func(owner string) (stopNote, bool)) ([]Recovered, error) {
	host, _ := os.Hostname()
	now := q.clock.Now()
	nowS := svtime.Format(now)
	cands, err := q.stuckCandidates(ctx, types, now, host)
	if err != nil {
		return nil, db.Classify(fmt.Errorf("recover stuck jobs: %w", err))
	}
	if len(cands) == 0 {
		return nil, nil
	}
	notes := map[int64]string{}
	if cause != nil {
		for i, c := range cands {
			// A job the stopped worker only held (start not written)
			// gets the note only if it is the job whose write failed.
			if n, ok := cause(c.owner); ok && (!c.unstarted || n.JobID == c.id) {
				cands[i].code = n.Code
				notes[c.id] = reason.Truncate("recovered after the worker stopped ("+c.code+"): "+n.Message, 240)
			}
		}
	}
	var out []Recovered
	err = db.InTx(ctx, q.db, func(tx *sql.Tx) error {
		out = out[:0]
		for _, c := range cands {
			spec, _ := q.reg.Spec(c.typ)
			progressed := !c.unstarted && spec.Resumable && c.progress > c.mark
			r := Recovered{JobID: c.id, Type: c.typ, Owner: c.owner, ReasonCode: c.code, Attempts: c.attempts, Started: !c.unstarted, Progressed: progressed}
			var set string
			var sargs []any
			switch {
			case c.cancel:
				r.NewStatus = StatusCancelled
				set = `status = 'cancelled', cancelled_at = ?, finished_at = ?, last_error_code = 'cancelled', error_message = 'cancel_requested'`
				sargs = []any{nowS, nowS}
			case c.unstarted:
				// Claimed (prefetched) by the dead worker, start never
				// written: back at once, attempt not spent.
				r.NewStatus = StatusQueued
				set = `status = 'queued', worker_owner = NULL, worker_pid = NULL, heartbeat_at = NULL, not_before = NULL,
					last_error_code = ?, error_message = ?`
				sargs = []any{CodeStuckNotStarted, "recovered: claimed but not started (" + c.code + ")"}
				if note, ok := notes[c.id]; ok {
					// Its handler ran and failed on the noted cause (the
					// failure could not be written): not a crash.
					sargs = []any{c.code, note}
				}
			case progressed:
				// Work was committed since the claim: give the attempt
				// back and retry at once; the next run counts it again
				// before its handler starts (runOne), so a run that
				// then crashes without progress still spends it.
				r.NewStatus = StatusQueued
				r.Attempts = max(c.attempts-1, 0)
				set = `status = 'queued', attempts = max(attempts - 1, 0), not_before = NULL, last_error_code = ?, error_message = ?`
				sargs = []any{CodeStuckProgressed, cmp.Or(notes[c.id], fmt.Sprintf("recovered: %s", c.code)) +
					fmt.Sprintf(" after progress %d -> %d (attempt not counted)", c.mark, c.progress)}
			case c.attempts < c.max:
				r.NewStatus = StatusQueued
				set = `status = 'queued', not_before = ?, last_error_code = ?, error_message = ?`
				sargs = []any{svtime.Format(now.Add(q.backoff(c.attempts))), c.code, cmp.Or(notes[c.id], "recovered: "+c.code)}
			default:
				r.NewStatus = StatusError
				set = `status = 'error', finished_at = ?, last_error_code = ?, error_message = ?`
				sargs = []any{nowS, c.code, cmp.Or(notes[c.id], c.code)}
			}
			sargs = append(sargs, nowS, c.id, c.owner, c.beat, c.cancel, c.unstarted, c.progress)
			rs, err := tx.ExecContext(ctx, `UPDATE jobs SET `+set+`, recoveries = recoveries + 1, updated_at = ? WHERE id = ? AND status = 'running'
				AND COALESCE(worker_owner, '') = ? AND COALESCE(heartbeat_at, updated_at, started_at, created_at) = ? AND cancel_requested = ?
				AND (started_at IS NULL) = ? AND progress_bits = ?`, sargs...)
			if err != nil {
				return err
			}
			if n, _ := rs.RowsAffected(); n != 1 {
				continue
			}
			if err := audit(ctx, tx, nowS, "job_stuck_recovered", c.id, map[string]any{
				"type": c.typ, "owner": c.owner, "reason_code": c.code, "new_status": r.NewStatus,
				"attempts": c.attempts, "max_attempts": c.max, "heartbeat_at": c.beat, "checked_at": nowS,
				"started": !c.unstarted, "attempt_spent": !c.unstarted && !c.cancel && !progressed,
				"progressed": progressed, "progress_mark": c.mark, "progress": c.progress,
			}); err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, db.Classify(fmt.Errorf("recover stuck jobs: %w", err))
	}
	for _, r := range out {
		q.log.Warn().Int64("job_id", r.JobID).Str("type", r.Type).Str("reason_code", r.ReasonCode).
			Str("new_status", r.NewStatus).Str("owner", r.Owner).Msg("stuck job recovered")
	}
	return out, nil
}

type stuckCand struct {
	id                     int64
	typ, owner, beat, code string
	attempts, max          int
	cancel                 bool
	unstarted              bool // started_at IS NULL: held, start not written
	progress, mark         int  // progress_bits now and at the claim
}

// stuckCandidates reads the running jobs (outside any transaction) and
// returns those whose lease expired or whose owner process is gone.
func (q *Queue) stuckCandidates(ctx context.Context, types []string, now time.Time, host string) ([]stuckCand, error) {
	query := `SELECT id, type, attempts, max_attempts, cancel_requested, COALESCE(worker_owner, ''),
		COALESCE(heartbeat_at, updated_at, started_at, created_at), started_at IS NULL, progress_bits, progress_mark
		FROM jobs WHERE status = 'running'`
	var args []any
	if len(types) > 0 {
		query += ` AND type IN (` + placeholders(len(types)) + `)`
		for _, t := range types {
			args = append(args, t)
		}
	}
	rows, err := q.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []stuckCand
	for rows.Next() {
		var c stuckCand
		if err := rows.Scan(&c.id, &c.typ, &c.attempts, &c.max, &c.cancel, &c.owner, &c.beat, &c.unstarted, &c.progress, &c.mark); err != nil {
			return nil, err
		}
		beat, ok := svtime.Parse(c.beat)
		switch {
		case !ok || now.Sub(beat) > q.reg.lease(c.typ, q.cfg):
			c.code = CodeStuckHeartbeat
		case ownerGone(c.owner, host):
			c.code = CodeStuckWorkerGone
		default:
			continue
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// ownerGone reports whether the owner token names a process on this host
// that no longer exists. A reused PID looks alive, which only delays
// recovery until the lease expires; it never recovers a live job.
func ownerGone(owner, host string) bool {
	parts := strings.Split(owner, ":")
	if len(parts) < 4 {
		return false
	}
	// The worker name may itself contain ':'; host, pid, token are the tail.
	h, pidS := parts[len(parts)-3], parts[len(parts)-2]
	if h != host {
		return false
	}
	pid, err := strconv.Atoi(pidS)
	if err != nil || pid <= 0 {
		return false
	}
	if pid == os.Getpid() {
		return false
	}
	return !workerstate.ProcessAlive(pid)
}

func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?,", n-1) + "?"
}

// leaseFor exposes the effective lease of a type (jobs-admin stats).
func (q *Queue) leaseFor(typ string) time.Duration { return q.reg.lease(typ, q.cfg) }
