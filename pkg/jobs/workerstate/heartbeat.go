package workerstate

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// HeartbeatSchema identifies the heartbeat file format shared by every
// worker and service (v2 was the original scan worker's; v3 keeps
// started_at_utc stable across writes and adds counters).
const HeartbeatSchema = "sv.worker.heartbeat.v3"

// Heartbeat states.
const (
	StateStarting = "starting"
	StateRunning  = "running"
	StateIdle     = "idle"
	StateError    = "error"
	StateStopped  = "stopped"
)

// Heartbeat is the content of LOGS/<service>.heartbeat.json.
type Heartbeat struct {
	Schema           string         `json:"schema"`
	Service          string         `json:"service"`
	PID              int            `json:"pid"`
	State            string         `json:"state"`
	StartedAtUTC     string         `json:"started_at_utc"`
	LastHeartbeatUTC string         `json:"last_heartbeat_utc"`
	CurrentJobID     *int64         `json:"current_job_id"`
	Processed        int64          `json:"processed"`
	Errors           int64          `json:"errors"`
	Extra            map[string]any `json:"extra,omitempty"`
}

// HeartbeatPath is LOGS/<service>.heartbeat.json.
func HeartbeatPath(logsDir, service string) string {
	return filepath.Join(logsDir, safeName(service)+".heartbeat.json")
}

// WriteHeartbeat writes hb atomically, filling Schema.
func WriteHeartbeat(logsDir string, hb Heartbeat) error {
	hb.Schema = HeartbeatSchema
	return WriteJSONAtomic(HeartbeatPath(logsDir, hb.Service), hb)
}

// ReadHeartbeat reads LOGS/<service>.heartbeat.json. It returns
// os.ErrNotExist (wrapped) when there is none.
func ReadHeartbeat(logsDir, service string) (Heartbeat, error) {
	var hb Heartbeat
	b, err := os.ReadFile(HeartbeatPath(logsDir, service))
	if err != nil {
		return hb, err
	}
	if err := json.Unmarshal(b, &hb); err != nil {
		return hb, fmt.Errorf("heartbeat %s: %w", service, err)
	}
	return hb, nil
}

// Service status values for health pages.
const (
	StatusBusy    = "busy"    // running a job (state running/starting)
	StatusAlive   = "alive"   // running, idle or backing off after an error
	StatusStale   = "stale"   // heartbeat too old or lock not held
	StatusStopped = "stopped" // stopped cleanly
	StatusMissing = "missing" // never wrote a heartbeat
)

// ServiceStatus is the health view of one worker or service.
type ServiceStatus struct {
	Service          string `json:"service"`
	Running          bool   `json:"running"`
	Status           string `json:"status"`
	State            string `json:"state,omitempty"`
	ReasonCode       string `json:"reason_code"`
	LockHeld         bool   `json:"lock_held"`
	PID              int    `json:"pid,omitempty"`
	LastHeartbeatUTC string `json:"last_heartbeat_utc,omitempty"`
	AgeSeconds       int64  `json:"age_seconds,omitempty"`
	CurrentJobID     *int64 `json:"current_job_id,omitempty"`
	Processed        int64  `json:"processed"`
	Errors           int64  `json:"errors"`
}

// ServiceState decides whether a service is running: its worker lock is
// held by some process AND its heartbeat file is fresh (≤ fresh old) and not
// "stopped". A PID alone never counts.
func ServiceState(logsDir, service string, now time.Time, fresh time.Duration) ServiceStatus {
	st := ServiceStatus{Service: service}
	held, lerr := LockHeld(logsDir, service)
	st.LockHeld = held && lerr == nil
	hb, err := ReadHeartbeat(logsDir, service)
	switch {
	case errors.Is(err, os.ErrNotExist):
		st.Status, st.ReasonCode = StatusMissing, "no_heartbeat"
		return st
	case err != nil:
		st.Status, st.ReasonCode = StatusStale, "heartbeat_file_invalid"
		return st
	}
	st.State, st.PID, st.LastHeartbeatUTC = hb.State, hb.PID, hb.LastHeartbeatUTC
	st.CurrentJobID, st.Processed, st.Errors = hb.CurrentJobID, hb.Processed, hb.Errors
	t, perr := time.Parse(tsLayout, hb.LastHeartbeatUTC)
	if perr != nil {
		st.Status, st.ReasonCode = StatusStale, "heartbeat_file_invalid"
		return st
	}
	st.AgeSeconds = int64(now.Sub(t) / time.Second)
	switch {
	case hb.State == StateStopped:
		st.Status, st.ReasonCode = StatusStopped, "heartbeat_stopped"
	case now.Sub(t) > fresh:
		st.Status, st.ReasonCode = StatusStale, "heartbeat_file_stale"
	case !st.LockHeld:
		st.Status, st.ReasonCode = StatusStale, "lock_inactive"
	case hb.State == StateRunning || hb.State == StateStarting:
		st.Running, st.Status, st.ReasonCode = true, StatusBusy, "heartbeat_file_active"
	default:
		st.Running, st.Status, st.ReasonCode = true, StatusAlive, "heartbeat_file_active"
	}
	return st
}
