package jobs

import (
	"errors"
	"fmt"
	"time"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

// Reason codes written by the queue (jobs.last_error_code, typed errors).
const (
	CodeQueueFullTotal  = "queue_full_total"
	CodeQueueFullType   = "queue_full_type"
	CodeQueueFullMedia  = "queue_full_media"
	CodeUnknownType     = "job_type_unknown"
	CodeNotFound        = "job_not_found"
	CodeInvalidState    = "job_invalid_state"
	CodeRequeueConflict = "job_requeue_conflict"
	CodeStuckHeartbeat  = "stuck_heartbeat_timeout"
	CodeStuckWorkerGone = "stuck_worker_gone"
	// CodeStuckNotStarted: stuck recovery gave back a job a dead worker had
	// claimed (prefetched) but not started as far as the database knows;
	// no attempt was spent. Its next run counts the attempt before the
	// handler starts, in case it was running and is what killed the worker.
	CodeStuckNotStarted = "stuck_not_started"
	// CodeStuckProgressed: stuck recovery took back a started job of a
	// Resumable type whose durable progress advanced during the crashed
	// run; its attempt was given back and it was re-queued without
	// backoff. Like stuck_not_started, its next run counts the attempt
	// before the handler starts.
	CodeStuckProgressed    = "stuck_progressed"
	CodeCancelled          = "cancelled"
	CodePanic              = "job_panic"
	CodeHandlerFailed      = "job_failed"
	CodeNoHandler          = "job_no_handler"
	CodeShutdownReleased   = "shutdown_released"
	CodeLeaseLost          = "lease_lost"
	CodePayloadInvalid     = "job_payload_invalid"
	CodeLockBusy           = "lock_busy"
	CodeLockOpenFailed     = "lock_open_failed"
	CodeLockWriteFailed    = "lock_write_failed"
	CodeLogRootUnavailable = "log_root_unavailable"
)

// ErrLeaseLost is returned by Job methods when the job is no longer running
// under this worker's claim (recovered, cancelled, deleted). The handler
// should stop; its result will be discarded.
var ErrLeaseLost = reason.New(CodeLeaseLost, "job is no longer owned by this worker")

// errCancelRequested is the context cause when an operator cancels a
// running job; errShutdown when the worker stops and the grace period ends.
var (
	errCancelRequested = errors.New("cancel requested")
	errShutdown        = errors.New("worker shutting down")
)

// SnoozeError asks the Runner to put the job back to queued for After
// without counting the attempt (River's JobSnooze). Create it with Snooze.
type SnoozeError struct{ After time.Duration }

func (e *SnoozeError) Error() string { return fmt.Sprintf("snooze %s", e.After) }

// Snooze returns an error that re-queues the job after d without burning an
// attempt, e.g. when an external service asked to come back later.
func Snooze(d time.Duration) error { return &SnoozeError{After: d} }

// IsQueueFull reports whether err is an enqueue refused by a queue cap
// (queue_full_total, queue_full_type or queue_full_media).
func IsQueueFull(err error) bool {
	switch reason.Code(err) {
	case CodeQueueFullTotal, CodeQueueFullType, CodeQueueFullMedia:
		return true
	}
	return false
}
