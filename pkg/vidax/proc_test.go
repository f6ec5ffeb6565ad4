//go:build !windows

package vidax

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/jobs/workerstate"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtest"
)

// fakeComfy builds the fake ComfyUI (the go build cache makes every build
// after the first cheap).
func fakeComfy(t *testing.T) string {
	t.Helper()
	return svtest.BuildBinary(t, "./pkg/vidax/testdata/fakecomfy")
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitFile waits for the fake's address file (written once it handles
// SIGTERM), bounded by the test's context rather than a wall-clock check.
func waitFile(t *testing.T, p string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		if _, err := os.Stat(p); err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s never appeared", p)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func newProc(t *testing.T, args ...string) (*Process, string) {
	t.Helper()
	root := t.TempDir()
	addr := freeAddr(t)
	addrFile := filepath.Join(root, "addr")
	cmd := append([]string{fakeComfy(t), "--listen", addr, "--addr-file", addrFile}, args...)
	return &Process{Layout: Layout{Root: root}, Comfy: ComfyConfig{Command: cmd, WorkingDir: root, URL: "http://" + addr + "/"},
		Grace: 300 * time.Millisecond, EarlyExit: 100 * time.Millisecond}, addrFile
}

func TestProcessStartStatusStop(t *testing.T) {
	ctx := context.Background()
	p, addrFile := newProc(t)
	st, already, err := p.Start(ctx)
	if err != nil || already || !st.Running || st.PID <= 0 {
		t.Fatalf("start: %+v already=%v err=%v", st, already, err)
	}
	waitFile(t, addrFile)
	b, err := os.ReadFile(p.StatePath())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"started_at"`) || !strings.Contains(string(b), `"working_dir"`) {
		t.Fatalf("state file %s", b)
	}
	s := p.Status(ctx, true)
	if !s.Running || s.PID != st.PID || s.Responding == nil || !*s.Responding {
		t.Fatalf("status %+v", s)
	}
	if _, already, err := p.Start(ctx); err != nil || !already {
		t.Fatalf("second start: already=%v err=%v", already, err)
	}
	stopped, err := p.Stop(ctx)
	if err != nil || !stopped {
		t.Fatalf("stop: %v %v", stopped, err)
	}
	if workerstate.ProcessAlive(st.PID) {
		t.Fatal("ComfyUI still alive after stop")
	}
	if s := p.Status(ctx, false); s.Running {
		t.Fatalf("running after stop: %+v", s)
	}
	if _, err := os.Stat(p.StatePath()); !os.IsNotExist(err) {
		t.Fatalf("state file left: %v", err)
	}
	errLog, _ := os.ReadFile(p.LogPaths().Stderr)
	outLog, _ := os.ReadFile(p.LogPaths().Stdout)
	if !strings.Contains(string(errLog), "SIGTERM: shutting down") || !strings.Contains(string(outLog), "GET /system_stats") {
		t.Fatalf("logs: out %q err %q", outLog, errLog)
	}
	if stopped, err := p.Stop(ctx); err != nil || stopped {
		t.Fatalf("stop when stopped: %v %v", stopped, err)
	}
}

func TestProcessStopKillsWhenTermIgnored(t *testing.T) {
	ctx := context.Background()
	p, addrFile := newProc(t, "--ignore-term")
	st, _, err := p.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitFile(t, addrFile)
	stopped, err := p.Stop(ctx)
	if err != nil || !stopped {
		t.Fatalf("stop: %v %v", stopped, err)
	}
	if workerstate.ProcessAlive(st.PID) {
		t.Fatal("still alive after the kill")
	}
	errLog, _ := os.ReadFile(p.LogPaths().Stderr)
	if !strings.Contains(string(errLog), "SIGTERM ignored") {
		t.Fatalf("the fake never saw SIGTERM before the kill: %q", errLog)
	}
}

func TestProcessStartFailures(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		cmd     func(t *testing.T) []string
		dir     string
		code    string
		message string
	}{
		{"exits at once", func(t *testing.T) []string { return []string{fakeComfy(t), "--exit"} }, "", CodeStartFailed, "torch"},
		{"no such command", func(*testing.T) []string { return []string{"/nonexistent/python3", "main.py"} }, "", CodeStartFailed, "comfyui.command"},
		{"empty command", func(*testing.T) []string { return nil }, "", CodeConfigInvalid, "comfyui.command"},
		{"bad working dir", func(t *testing.T) []string { return []string{fakeComfy(t)} }, "/nonexistent/comfyui", CodeStartFailed, "workingDir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &Process{Layout: Layout{Root: t.TempDir()}, Comfy: ComfyConfig{Command: tt.cmd(t), WorkingDir: tt.dir}}
			_, _, err := p.Start(ctx)
			if reason.Code(err) != tt.code || !strings.Contains(err.Error(), tt.message) {
				t.Fatalf("err %v, want %s mentioning %q", err, tt.code, tt.message)
			}
			if s := p.Status(ctx, false); s.Running {
				t.Fatalf("running: %+v", s)
			}
		})
	}
}

// A state file whose pid now belongs to another program (a recycled pid,
// here the test itself) is not "running", and stop does not kill it.
func TestProcessRecycledPID(t *testing.T) {
	p := &Process{Layout: Layout{Root: t.TempDir()}}
	if err := os.MkdirAll(p.Layout.Dir(), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := workerstate.WriteJSONAtomic(p.StatePath(), ProcState{PID: os.Getpid(), Command: []string{"python", "main.py"}}); err != nil {
		t.Fatal(err)
	}
	if s := p.Status(context.Background(), false); s.Running {
		t.Fatalf("recycled pid seen as ComfyUI: %+v", s)
	}
	if stopped, err := p.Stop(context.Background()); err != nil || stopped {
		t.Fatalf("stop of a recycled pid: %v %v", stopped, err)
	}
}

func TestProcessRotatesLogsAtStart(t *testing.T) {
	ctx := context.Background()
	p, addrFile := newProc(t)
	p.MaxLogBytes, p.KeepLogs = 100, 3
	logs := p.LogPaths()
	if err := os.MkdirAll(p.Layout.Dir(), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(path, s string) {
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(logs.Stdout, strings.Repeat("x", 100))
	write(logs.Stdout+".1", "old1")
	write(logs.Stdout+".2", "old2")
	write(logs.Stdout+".3", "old3")
	write(logs.Stderr, "small")
	if _, _, err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitFile(t, addrFile)
	defer p.Stop(ctx)
	want := map[string]string{".1": strings.Repeat("x", 100), ".2": "old1", ".3": "old2"}
	for suf, w := range want {
		b, _ := os.ReadFile(logs.Stdout + suf)
		if string(b) != w {
			t.Fatalf("%s = %q, want %q", suf, b, w)
		}
	}
	if _, err := os.Stat(logs.Stdout + ".4"); !os.IsNotExist(err) {
		t.Fatal("kept more than 3 backups")
	}
	if _, err := os.Stat(logs.Stderr + ".1"); !os.IsNotExist(err) {
		t.Fatal("rotated a small log")
	}
	if b, _ := os.ReadFile(logs.Stderr); !strings.HasPrefix(string(b), "small") {
		t.Fatalf("small log not appended to: %q", b)
	}
}

// A restarted vidax (a new Process over the same state folder) finds the
// running ComfyUI through the state file and can stop it.
func TestProcessAdoptedAfterRestart(t *testing.T) {
	ctx := context.Background()
	p, addrFile := newProc(t)
	st, _, err := p.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitFile(t, addrFile)
	again := &Process{Layout: p.Layout, Comfy: p.Comfy, Grace: p.Grace}
	if s := again.Status(ctx, false); !s.Running || s.PID != st.PID {
		t.Fatalf("restarted vidax sees %+v", s)
	}
	if _, already, err := again.Start(ctx); err != nil || !already {
		t.Fatalf("restarted vidax started a second ComfyUI: %v %v", already, err)
	}
	if stopped, err := again.Stop(ctx); err != nil || !stopped {
		t.Fatalf("stop: %v %v", stopped, err)
	}
	if s := p.Status(ctx, false); s.Running {
		t.Fatalf("still running: %+v", s)
	}
}
