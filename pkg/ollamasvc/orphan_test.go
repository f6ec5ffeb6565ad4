//go:build linux

package ollamasvc

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/ollama"
	"github.com/localsupervisor/supervisor/pkg/ollama/ollamatest"
)

// TestKilledServiceTakesChildAlong (issue #17 item 21b): the real
// ollama-service runs a caption job whose request the fake Ollama answers
// only after ten minutes. After kill -9 of the service its ollama-worker
// child must end too (parent-death signal) and give its job back instead of
// keeping it running until the request ends, and nothing on the console is
// a bare "error: " line.
func TestKilledServiceTakesChildAlong(t *testing.T) {
	r := newRig(t, func(c *ollama.Config) { c.Worker.MaxSecondsVision = 900 })
	r.fake.SetSlowDelay(10 * time.Minute)
	r.fake.SetFault(ollamatest.FaultSlow, -1, "/api/generate")
	sum := r.enqueue(t, EnqueueOptions{Modes: []ollama.Mode{ollama.ModeCaption}, MediaID: r.addImage(t)})
	jobID := sum.JobIDs[0]

	// A file, not a pipe: the orphaned child keeps writing to it, and
	// Wait on a pipe would wait for the child too.
	stderr, err := os.Create(filepath.Join(r.dir, "service.stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	svc := exec.Command(serviceBin, "--config="+r.cfgPath, "--worker-bin="+workerBin, "--sleep-ms=20")
	svc.Stdout, svc.Stderr = stderr, stderr
	if err := svc.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = svc.Process.Kill(); _ = svc.Wait() }()

	var child int
	poll(t, "the child's request to start", func() bool {
		row := r.job(t, jobID)
		if row.Status != jobs.StatusRunning || row.Stage != "request" {
			return false
		}
		var pid int
		err := r.db.QueryRow(`SELECT COALESCE(worker_pid, 0) FROM jobs WHERE id = ?`, jobID).Scan(&pid)
		child = pid
		return err == nil && pid > 0 && pid != svc.Process.Pid
	})
	// Without the fix the child outlives the test: end it at cleanup.
	defer func() { _ = syscall.Kill(child, syscall.SIGKILL) }()

	if err := svc.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = svc.Wait()

	poll(t, "the child to end", func() bool { return !alive(child) })
	poll(t, "the job to leave running", func() bool { return r.job(t, jobID).Status != jobs.StatusRunning })
	row := r.job(t, jobID)
	if row.Status != jobs.StatusQueued || row.LastErrorCode != jobs.CodeShutdownReleased || row.Attempts != 0 {
		t.Fatalf("job after the service died: %+v, want queued, %s, attempt given back", row, jobs.CodeShutdownReleased)
	}
	b, _ := os.ReadFile(stderr.Name())
	for _, l := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(l) == "error:" {
			t.Fatalf("bare error line on the service console:\n%s", b)
		}
	}
	if bytes.Contains(b, []byte("panic")) {
		t.Fatalf("panic on the console:\n%s", b)
	}
}

// poll waits for cond with a generous bound (the machine may be loaded;
// this checks that it happens, not how fast).
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// alive reports whether pid runs; a zombie (exited, not yet reaped by its
// new parent) counts as gone.
func alive(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}
