package web

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/launch"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

// TestWorkerLauncher spawns a real (shell script) worker through pkg/launch:
// arguments and the config flag arrive, the status file is written, a second
// spawn inside the cooldown is "busy", and a missing binary is an error with
// a reason code.
func TestWorkerLauncher(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("shell script worker")
	}
	dir := t.TempDir()
	logs := filepath.Join(dir, "LOGS")
	out := filepath.Join(dir, "args.txt")
	script := filepath.Join(dir, "scan-worker")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"$@\" > "+out+".tmp && mv "+out+".tmp "+out+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var asked []string
	l := WorkerLauncher{Find: func(w string) (string, error) {
		asked = append(asked, w)
		if w == "scan-worker" {
			return script, nil
		}
		return "", errors.New("not found")
	}, LogsDir: logs, Dir: dir, ExtraArgs: []string{"--config=/x/config.json"}, Now: func() time.Time { return now }}

	st, err := l.Spawn(context.Background(), "scan-worker", []string{"--limit=5"})
	if err != nil || st != launch.StatusStartedUnverified {
		t.Fatalf("spawn: %q %v", st, err)
	}
	deadline := time.Now().Add(20 * time.Second)
	var got []byte
	for time.Now().Before(deadline) {
		if got, err = os.ReadFile(out); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if strings.TrimSpace(string(got)) != "--limit=5 --config=/x/config.json" {
		t.Fatalf("worker got args %q (%v)", got, err)
	}
	last, err := launch.ReadLast(logs, "scan-worker")
	if err != nil || last.Status != launch.StatusStartedUnverified || last.RequestedBy != "web" || last.Command[0] != script {
		t.Fatalf("status file %+v %v", last, err)
	}
	if st, err := l.Spawn(context.Background(), "scan-worker", nil); err != nil || st != launch.StatusBusy {
		t.Fatalf("second spawn in cooldown: %q %v", st, err)
	}
	st, err = l.Spawn(context.Background(), "media-worker", nil)
	if err == nil || reason.Code(err) != launch.CodeBinaryMissing || st != launch.StatusConfigFailed {
		t.Fatalf("missing binary: %q %v", st, err)
	}
	if strings.Join(asked, ",") != "scan-worker,scan-worker,media-worker" {
		t.Fatalf("lookups %v", asked)
	}
}
