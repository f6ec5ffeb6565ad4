package ollamasvc

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/localsupervisor/supervisor/pkg/jobs/workerstate"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// Runtime file names under LOGS/runtime.
const (
	HeartbeatFile    = "ollama_worker_heartbeat.json"
	GlobalStatusFile = "ollama_global_status.json"
	SpawnLastFile    = "ollama_worker_spawn.last.json"
	// ServiceName names the service lock/heartbeat (LOGS/ollama_service.*).
	ServiceName = "ollama_service"
)

// RuntimeDir is LOGS/runtime.
func RuntimeDir(logsDir string) string { return filepath.Join(logsDir, "runtime") }

// GlobalStatus is LOGS/runtime/ollama_global_status.json.
type GlobalStatus struct {
	TS            string         `json:"ts_utc"`
	QueuePending  int            `json:"queue_pending"`
	QueueQueued   int            `json:"queue_queued"`
	QueueRunning  int            `json:"queue_running"`
	ByMode        map[string]int `json:"queue_by_mode,omitempty"`
	WorkerPID     int            `json:"worker_pid"`
	WorkerRunning bool           `json:"worker_running"`
	LastError     *string        `json:"last_error"`
	Blockers      map[string]any `json:"blockers,omitempty"`
	LastBatchTS   string         `json:"last_batch_ts,omitempty"`
	Children      []int64        `json:"running_job_ids,omitempty"`
}

// RuntimeHeartbeat is LOGS/runtime/ollama_worker_heartbeat.json.
type RuntimeHeartbeat struct {
	TS          string  `json:"ts_utc"`
	PID         int     `json:"pid"`
	Owner       string  `json:"owner"`
	State       string  `json:"state"`
	CurrentJobs []int64 `json:"current_job_ids"`
	LastBatchTS string  `json:"last_batch_ts,omitempty"`
}

// ReadGlobalStatus reads the status file (no DB).
func ReadGlobalStatus(logsDir string) (GlobalStatus, error) {
	var s GlobalStatus
	b, err := os.ReadFile(filepath.Join(RuntimeDir(logsDir), GlobalStatusFile))
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(b, &s)
}

func writeRuntime(logsDir, name string, v any) error {
	dir := RuntimeDir(logsDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return workerstate.WriteJSONAtomic(filepath.Join(dir, name), v)
}

// Trace is one job attempt's trace file LOGS/ollama_raw/<Ymd>/job_<id>_<mode>_a<n>.json,
// rewritten at every stage and finalised on success, error, timeout or cancel.
type Trace struct {
	path  string
	clock svtime.Clock
	mu    sync.Mutex
	last  time.Time
	data  map[string]any
}

// TracePath returns the trace file of a job attempt.
func TracePath(logsDir string, day time.Time, jobID int64, mode string, attempt int) string {
	return filepath.Join(logsDir, "ollama_raw", day.UTC().Format("20060102"), fmt.Sprintf("job_%d_%s_a%d.json", jobID, mode, attempt))
}

// OpenTrace loads an existing trace (the child's) or starts a new one.
func OpenTrace(path string, clock svtime.Clock) *Trace {
	t := &Trace{path: path, clock: clock, data: map[string]any{}, last: clock.Now()}
	if b, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(b, &t.data)
	}
	if _, ok := t.data["stage_history"]; !ok {
		t.data["stage_history"] = []any{}
	}
	t.data["trace_file"] = path
	return t
}

// Set merges fields.
func (t *Trace) Set(kv map[string]any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, v := range kv {
		t.data[k] = v
	}
}

// Stage appends a stage with the time since the previous one and saves.
func (t *Trace) Stage(stage string, extra map[string]any) error {
	t.mu.Lock()
	now := t.clock.Now()
	h, _ := t.data["stage_history"].([]any)
	h = append(h, map[string]any{"ts": svtime.Format(now), "stage": stage, "dur_ms": now.Sub(t.last).Milliseconds(), "extra": extra})
	t.data["stage_history"] = h
	t.data["stage_current"] = stage
	t.data["ts"] = svtime.Format(now)
	t.last = now
	t.mu.Unlock()
	return t.Save()
}

// Fail finalises the trace with an error.
func (t *Trace) Fail(code, msg string, extra map[string]any) error {
	t.mu.Lock()
	t.data["stage_at_fail"] = t.data["stage_current"]
	t.data["error_code"] = code
	t.data["error_message"] = msg
	for k, v := range extra {
		t.data[k] = v
	}
	t.mu.Unlock()
	return t.Stage("final_"+code, nil)
}

// Save writes the trace atomically.
func (t *Trace) Save() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := os.MkdirAll(filepath.Dir(t.path), 0o755); err != nil {
		return err
	}
	return workerstate.WriteJSONAtomic(t.path, t.data)
}

// Path returns the file path.
func (t *Trace) Path() string { return t.path }
