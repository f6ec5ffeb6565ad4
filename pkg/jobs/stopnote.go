package jobs

import (
	"strconv"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/jobs/workerstate"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

// A Runner that stops because the database cannot be written (its disk is
// full) cannot record that on its running job either. It leaves a stop
// note in its heartbeat file (LOGS, often another disk) instead: the
// reason code and the owner prefix of its process. Stuck recovery, which
// later takes the job back, records that code rather than a bare "worker
// gone", so the job says why it was interrupted.

// stopNoteKey is the heartbeat Extra key of the stop note.
const stopNoteKey = "stopped_on"

// stopNote is why a worker process stopped with jobs still running.
type stopNote struct {
	// Owner is the worker_owner prefix of the process ("worker:host:pid:").
	Owner   string
	Code    string
	Message string
	// JobID is the job whose write failed.
	JobID int64
}

// fatalWrite reports whether err means this process cannot write the
// database any more, so the Runner must stop instead of claiming more
// jobs whose writes would fail the same way.
func fatalWrite(err error) bool { return err != nil && db.IsFull(err) }

// ownerPrefix is the worker_owner prefix of every claim of one process.
func ownerPrefix(worker, host string, pid int) string {
	return worker + ":" + host + ":" + strconv.Itoa(pid) + ":"
}

// noteStop writes the stop note into the heartbeat file (state error).
func (r *Runner) noteStop(job *Job, err error) {
	msg := reason.Truncate(err.Error(), 200)
	r.mu.Lock()
	if r.hb.Extra == nil {
		r.hb.Extra = map[string]any{}
	}
	r.hb.Extra[stopNoteKey] = map[string]any{"owner": ownerPrefix(r.o.Worker, r.host, r.pid),
		"reason_code": reason.CodeOr(err, CodeHandlerFailed), "message": msg, "job_id": job.ID}
	r.mu.Unlock()
	id := job.ID
	r.beat(workerstate.StateError, &id, true)
}

// readStopNote returns the stop note of a heartbeat, if it has one.
func readStopNote(hb workerstate.Heartbeat) (stopNote, bool) {
	m, ok := hb.Extra[stopNoteKey].(map[string]any)
	if !ok {
		return stopNote{}, false
	}
	n := stopNote{}
	n.Owner, _ = m["owner"].(string)
	n.Code, _ = m["reason_code"].(string)
	n.Message, _ = m["message"].(string)
	if id, ok := m["job_id"].(float64); ok {
		n.JobID = int64(id)
	}
	return n, n.Owner != "" && n.Code != ""
}

// stopCause returns the stop note that explains a stuck job of owner: the
// one this Runner read from its previous heartbeat at Start (its own file
// is overwritten by then), else the one in the heartbeat of the worker
// named in owner.
func (r *Runner) stopCause(owner string) (stopNote, bool) {
	if r.prevStop.Owner != "" && strings.HasPrefix(owner, r.prevStop.Owner) {
		return r.prevStop, true
	}
	parts := strings.Split(owner, ":")
	if len(parts) < 4 {
		return stopNote{}, false
	}
	worker := strings.Join(parts[:len(parts)-3], ":")
	if worker == r.o.Worker {
		return stopNote{}, false // our own file is this process's now
	}
	hb, err := workerstate.ReadHeartbeat(r.o.LogsDir, worker)
	if err != nil {
		return stopNote{}, false
	}
	if n, ok := readStopNote(hb); ok && strings.HasPrefix(owner, n.Owner) {
		return n, true
	}
	return stopNote{}, false
}
