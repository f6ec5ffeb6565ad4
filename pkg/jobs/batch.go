package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"time"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/jobs/workerstate"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// pendingDone is a job whose handler succeeded; its fenced completion is
// written in the transaction that claims the next jobs (one transaction per
// batch instead of one per job). Until then it stays running under our
// owner and the lease keeper heartbeats it.
type pendingDone struct {
	job    *Job
	result sql.NullString
}

// outPending: the handler succeeded and the completion is queued for the
// next claim transaction.
const outPending outcome = "pending"

// RunBatch recovers stuck jobs, then claims and runs jobs until limit jobs
// were processed (limit ≤ 0: no limit), the queue has no runnable job, or
// ctx is cancelled (SIGTERM: no new claims; the running job gets the grace
// period, prefetched jobs that did not start go back to queued without
// counting an attempt). It returns an error only for infrastructure
// failures; job failures are recorded on the jobs and counted in the
// Summary.
//
// Per claim transaction the Runner writes the completions of the jobs that
// succeeded since the last one and claims the next jobs (up to Prefetch
// while handlers are fast), so a stream of short jobs costs one write
// transaction per batch instead of two per job. Failures, retries, cancels
// and snoozes are written at once.
func (r *Runner) RunBatch(ctx context.Context, limit int) (Summary, error) {
	s := Summary{ByType: map[string]int{}, Batches: 1}
	rec, err := r.q.recoverStuck(ctx, r.o.Types, r.stopCause)
	if err != nil {
		return s, err
	}
	s.Recovered = len(rec)
	if r.stmts == nil {
		// Prepared here, outside any transaction: preparing on the pool
		// while a transaction holds a connection can wait for another one.
		if r.stmts, err = r.q.claimStmts(ctx, r.claimRequest(1)); err != nil {
			return s, err
		}
		if r.complete, err = r.q.stmts.Prepare(ctx, completeSQL); err != nil {
			return s, db.Classify(fmt.Errorf("prepare complete: %w", err))
		}
	}
	bg := context.WithoutCancel(ctx)
	stop := r.startKeeper(bg)
	defer stop()

	var held []*Job
	var runErr error
	for {
		if len(held) == 0 {
			if ctx.Err() != nil || (limit > 0 && s.Processed >= limit) {
				break
			}
			n := r.prefetch()
			if limit > 0 {
				n = min(n, limit-s.Processed)
			}
			held, err = r.flushAndClaim(bg, n, &s)
			if err != nil {
				runErr = err
				break
			}
			if len(held) == 0 {
				break
			}
		}
		if ctx.Err() != nil {
			break
		}
		job := held[0]
		held = held[1:]
		out, err := r.runOne(ctx, job)
		s.Processed++
		s.ByType[job.Type]++
		if out != outPending {
			r.tally(&s, out)
		}
		if err != nil {
			runErr = err
			break
		}
	}
	if err := r.flushEnd(bg, held, &s); err != nil && runErr == nil {
		runErr = err
	}
	return s, runErr
}

// claimRequest is the Runner's claim for n jobs with a fresh owner token.
// All jobs of one claim share the token: it is unique per claim
// transaction, and every fence also checks the job id. The jobs are held,
// not started: their attempt is counted by the first write after the
// handler started (completion, failure, lease keeper), so a kill -9 never
// charges an attempt to a job that did not run. A write per start would
// cost a transaction per job, the price prefetching avoids.
func (r *Runner) claimRequest(n int) ClaimRequest {
	return ClaimRequest{Owner: r.newOwner(), PID: r.pid, Types: r.o.Types, MediaID: r.o.MediaID, Filter: r.o.ClaimFilter, Limit: n, hold: true}
}

// prefetch is how many jobs to claim next: as many as fit into the
// prefetch budget at the recent average handler time, 1 while unknown.
func (r *Runner) prefetch() int {
	if r.o.Prefetch <= 1 || !r.avgSet {
		return 1
	}
	n := int(r.o.PrefetchBudget / max(r.avg, time.Microsecond))
	return max(1, min(n, r.o.Prefetch))
}

func (r *Runner) observe(d time.Duration) {
	if !r.avgSet {
		r.avg, r.avgSet = d, true
		return
	}
	// Moving average over ~8 jobs; one slow job pulls it up at once
	// (a slow job type stops prefetching immediately).
	r.avg = (r.avg*7 + d) / 8
	if d > r.avg*2 {
		r.avg = d
	}
}

// flushAndClaim writes pending completions and claims up to n jobs in one
// transaction. Busy errors are retried with short jittered pauses; the
// pending completions stay queued until a transaction commits.
func (r *Runner) flushAndClaim(ctx context.Context, n int, s *Summary) ([]*Job, error) {
	req := r.claimRequest(n)
	quota := r.plan(n)
	var claimed []*Job
	var lost []bool
	err := r.retryBusy(ctx, func(tx *sql.Tx) error {
		var err error
		if lost, err = r.writePending(ctx, tx); err != nil {
			return err
		}
		claimed, err = r.q.claimIn(ctx, tx, req, r.stmts, quota)
		return err
	})
	if err != nil {
		return nil, db.Classify(err)
	}
	r.settlePending(lost, s)
	r.liveMu.Lock()
	for _, j := range claimed {
		r.live[j.ID] = j
	}
	r.liveMu.Unlock()
	for _, j := range claimed {
		r.charge(j.Type)
		j.log = r.log.With().Int64("job_id", j.ID).Str("job_type", j.Type).Int("attempt", j.Attempt).Logger()
	}
	return claimed, nil
}

// flushEnd writes pending completions and gives held, never started jobs
// back (queued, attempt not counted) in one transaction.
func (r *Runner) flushEnd(ctx context.Context, held []*Job, s *Summary) error {
	if len(r.pending) == 0 && len(held) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var lost []bool
	var released int
	err := r.retryBusy(ctx, func(tx *sql.Tx) error {
		var err error
		if lost, err = r.writePending(ctx, tx); err != nil {
			return err
		}
		released, err = r.q.releaseIn(ctx, tx, held)
		return err
	})
	if err != nil {
		return db.Classify(fmt.Errorf("finish batch: %w", err))
	}
	r.settlePending(lost, s)
	s.Released += released
	r.drop(held...)
	return nil
}

// busyRetries bounds how often a batch transaction is retried after
// SQLITE_BUSY (each try already waited the connection's busy timeout) before
// RunBatch gives up: a long-running writer elsewhere (backup, migration)
// must not fail the worker's batch at the first timeout.
const busyRetries = 3

// retryBusy runs fn in a write transaction, retrying SQLITE_BUSY.
//
// Measured and rejected: a connection with a 2 ms busy timeout and quick
// jittered retries in Go (instead of SQLite's busy handler, which sleeps in
// growing steps up to 100 ms). With 4 worker processes on 2 cores it doubled
// the CPU per job (the pollers steal CPU from the lock holder) and lowered
// throughput; SQLite's own handler lets the holder finish its batch.
func (r *Runner) retryBusy(ctx context.Context, fn func(tx *sql.Tx) error) error {
	var err error
	for try := 0; try < busyRetries; try++ {
		err = db.InTx(ctx, r.q.db, fn)
		if err == nil || !db.IsBusy(err) || ctx.Err() != nil {
			return err
		}
		r.log.Warn().Err(err).Int("try", try+1).Msg("batch transaction busy; retrying")
		time.Sleep(time.Duration(1+rand.IntN(20)) * time.Millisecond)
	}
	return err
}

// writePending writes the fenced completions of r.pending inside tx and
// reports per job whether its fence was lost.
func (r *Runner) writePending(ctx context.Context, tx *sql.Tx) ([]bool, error) {
	if len(r.pending) == 0 {
		return nil, nil
	}
	st := tx.StmtContext(ctx, r.complete)
	defer st.Close()
	now := svtime.NowString(r.q.clock)
	lost := make([]bool, len(r.pending))
	for i, p := range r.pending {
		rs, err := st.ExecContext(ctx, p.result, p.job.startedAt(now), now, now, p.job.ID, p.job.Owner)
		if err != nil {
			return nil, fmt.Errorf("complete job %d: %w", p.job.ID, err)
		}
		n, _ := rs.RowsAffected()
		lost[i] = n != 1
	}
	return lost, nil
}

// settlePending accounts the written completions and forgets them.
func (r *Runner) settlePending(lost []bool, s *Summary) {
	for i, p := range r.pending {
		out := outDone
		if lost[i] {
			out = outLost
			p.job.log.Warn().Str("outcome", string(out)).Msg("job finished")
		} else {
			p.job.log.Info().Str("outcome", string(out)).Msg("job finished")
		}
		r.tally(s, out)
		r.drop(p.job)
	}
	r.pending = r.pending[:0]
}

func (r *Runner) tally(s *Summary, out outcome) {
	var errs int64
	switch out {
	case outDone:
		s.Done++
	case outError:
		s.Errors++
		errs = 1
	case outRetry:
		s.Retried++
		errs = 1
	case outSnoozed:
		s.Snoozed++
	case outCancelled:
		s.Cancelled++
	case outReleased:
		s.Released++
	case outLost:
		s.Lost++
	}
	r.count(1, errs)
}

// drop removes finished jobs from the lease keeper's set.
func (r *Runner) drop(js ...*Job) {
	r.liveMu.Lock()
	for _, j := range js {
		delete(r.live, j.ID)
	}
	r.liveMu.Unlock()
}

type handlerResult struct {
	result any
	err    error
}

// runOne runs the handler of one held job and writes or queues its outcome.
func (r *Runner) runOne(ctx context.Context, job *Job) (outcome, error) {
	if job.lost.Load() {
		// Recovered or deleted while it waited in the prefetch buffer.
		r.drop(job)
		job.log.Warn().Str("outcome", string(outLost)).Msg("job lost before it started")
		return outLost, nil
	}
	id := job.ID
	r.liveMu.Lock()
	r.cur = &id
	r.liveMu.Unlock()
	r.beat(workerstate.StateRunning, &id, false)
	defer func() {
		r.liveMu.Lock()
		r.cur = nil
		r.liveMu.Unlock()
	}()

	var hr handlerResult
	var cause error
	if job.cancelReq.Load() {
		hr, cause = handlerResult{err: errCancelRequested}, errCancelRequested
	} else {
		job.began.Store(r.q.clock.Now().UnixNano())
		if (job.lastCode == CodeStuckNotStarted || job.lastCode == CodeStuckProgressed) && !job.marked.Load() {
			// A crashed worker held this job and may have been running
			// it: it may be what crashes workers. Count this attempt
			// before the handler runs, so such a job cannot run forever
			// (a Resumable run that advances gets it back on recovery).
			if err := r.retryBusy(ctx, func(tx *sql.Tx) error { return r.q.markStarted(ctx, tx, job) }); err != nil {
				return outLost, db.Classify(err)
			}
			job.marked.Store(true)
		}
		start := time.Now()
		hr, cause = r.invoke(ctx, job)
		r.observe(time.Since(start))
	}
	if hr.err == nil {
		if job.completed.Load() {
			r.drop(job)
			job.log.Info().Str("outcome", string(outDone)).Msg("job finished")
			return outDone, nil
		}
		res, err := marshalNull(hr.result)
		if err == nil {
			r.pending = append(r.pending, pendingDone{job: job, result: res})
			return outPending, nil
		}
		hr.err = reason.Permanent(CodePayloadInvalid, fmt.Errorf("job %d result: %w", job.ID, err))
	}
	// A handler that failed because the database disk is full records
	// that cause (disk_full) and stops the batch: every later write fails
	// the same way.
	dbFull := fatalWrite(hr.err)
	if dbFull {
		hr.err = db.Classify(hr.err)
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	out, err := r.q.finish(fctx, job, nil, hr.err, cause)
	r.drop(job)
	if r.o.OnFailure != nil && (out == outRetry || out == outError) {
		r.o.OnFailure(job, hr.err)
	}
	job.log.Warn().AnErr("job_error", hr.err).Str("reason_code", reason.Code(hr.err)).Str("outcome", string(out)).Msg("job finished")
	if fatalWrite(err) {
		// The job row could not be written: it stays running until
		// stuck recovery takes it back, which reads this note.
		r.noteStop(job, err)
		job.log.Error().Err(err).Str("reason_code", reason.Code(err)).Msg("job result not recorded: database disk full")
	}
	if err == nil && dbFull {
		err = hr.err
	}
	return out, err
}

// invoke runs the handler in its own goroutine (a panic fails only the job)
// and enforces the shutdown grace period. It returns the handler's result
// and the cause its context was cancelled with (nil if it was not).
func (r *Runner) invoke(ctx context.Context, job *Job) (handlerResult, error) {
	// The handler's context is detached from ctx: a shutdown signal must
	// not cancel the job at once but only after the grace period.
	hctx, hcancel := context.WithCancelCause(context.WithoutCancel(ctx))
	defer hcancel(nil)
	job.setAbort(hcancel)
	defer job.setAbort(nil)
	// The keeper may have flagged the job before the abort func was set.
	if job.lost.Load() {
		hcancel(ErrLeaseLost)
	} else if job.cancelReq.Load() {
		hcancel(errCancelRequested)
	}
	resCh := make(chan handlerResult, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				job.log.Error().Interface("panic", p).Str("stack", string(debug.Stack())).Msg("job handler panicked")
				resCh <- handlerResult{err: reason.Permanent(CodePanic, fmt.Errorf("panic: %v", p))}
			}
		}()
		res, err := r.o.Handlers[job.Type](hctx, job)
		resCh <- handlerResult{res, err}
	}()
	parentDone := ctx.Done()
	var graceC, abandonC <-chan time.Time
	for {
		select {
		case hr := <-resCh:
			var cause error
			if hctx.Err() != nil {
				cause = context.Cause(hctx)
			}
			if hr.err != nil && cause == nil && errors.Is(hr.err, ErrLeaseLost) {
				cause = ErrLeaseLost
			}
			return hr, cause
		case <-parentDone:
			parentDone = nil
			graceC = time.After(r.grace)
		case <-graceC:
			graceC = nil
			hcancel(errShutdown)
			abandonC = time.After(r.o.Abandon)
		case <-abandonC:
			job.log.Warn().Msg("handler ignored shutdown; releasing job")
			return handlerResult{err: errShutdown}, errShutdown
		}
	}
}

// startKeeper runs the lease keeper until the returned stop is called: every
// heartbeat interval it refreshes heartbeat_at of all live jobs in one
// transaction, flags lost and cancel-requested jobs (cancelling a running
// handler's context) and refreshes the heartbeat file.
func (r *Runner) startKeeper(ctx context.Context) (stop func()) {
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(r.interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				r.keep(ctx)
			}
		}
	}()
	return func() {
		close(done)
		<-exited
	}
}

func (r *Runner) keep(ctx context.Context) {
	r.liveMu.Lock()
	js := make([]*Job, 0, len(r.live))
	for _, j := range r.live {
		js = append(js, j)
	}
	cur := r.cur
	r.liveMu.Unlock()
	if len(js) > 0 {
		ls, err := r.q.Heartbeat(ctx, js...)
		if err != nil {
			r.log.Error().Err(err).Msg("job heartbeat failed")
		}
		var unmarked []*Job
		for i, l := range ls {
			switch {
			case !l.Held:
				js[i].signal(ErrLeaseLost)
			case l.CancelRequested:
				js[i].signal(errCancelRequested)
			}
			if l.Held && js[i].began.Load() != 0 && !js[i].marked.Load() {
				unmarked = append(unmarked, js[i])
			}
		}
		// A handler that runs longer than a heartbeat gets its attempt
		// counted now rather than at its end, which narrows the window in
		// which a crash requeues a started job without counting it.
		if len(unmarked) > 0 {
			if err := db.InTx(ctx, r.q.db, func(tx *sql.Tx) error { return r.q.markStarted(ctx, tx, unmarked...) }); err != nil {
				r.log.Error().Err(err).Msg("mark jobs started failed")
			} else {
				for _, j := range unmarked {
					j.marked.Store(true)
				}
			}
		}
	}
	r.beat(workerstate.StateRunning, cur, false)
}
