package supervise

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/localsupervisor/supervisor/pkg/config"
	"github.com/localsupervisor/supervisor/pkg/jobs/workerstate"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtest"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// waitFor polls cond with a bounded deadline; it asserts an outcome, never
// a duration.
func waitFor(t *testing.T, what string, s *Supervisor, cond func([]State) bool) []State {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st := s.States()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; states %+v", what, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive probes pid with signal 0 (written through os.Process so the file
// also vets for Windows, where the probe always says "gone").
func alive(pid int) bool {
	p, err := os.FindProcess(pid)
	return err == nil && p.Signal(syscall.Signal(0)) == nil
}

func kill(t *testing.T, pid int) {
	t.Helper()
	p, err := os.FindProcess(pid)
	if err == nil {
		err = p.Kill() // SIGKILL on Unix
	}
	if err != nil {
		t.Fatal(err)
	}
}

func TestSuperviseRestartAndStop(t *testing.T) {
	bin := svtest.BuildBinary(t, "./pkg/supervise/internal/fakeworker")
	logs := t.TempDir()
	s, err := New(Options{Log: zerolog.Nop(), MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		Grace: 300 * time.Millisecond, Specs: []Spec{
			{Name: "scan", Path: bin, Args: []string{"--loop"}},
			// Ignores SIGTERM: shutdown must fall back to kill. Its
			// heartbeat says the SIGTERM handler is installed.
			{Name: "media", Path: bin, Args: []string{"--loop", "--ignore-term", "--logs", logs, "--service", "media"}},
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	// Closed after the result so the deferred receive never blocks twice.
	go func() { done <- s.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	st := waitFor(t, "both running", s, func(st []State) bool { return st[0].Running() && st[1].Running() })
	oldPID, otherPID := st[0].PID, st[1].PID
	kill(t, oldPID)
	st = waitFor(t, "scan restarted", s, func(st []State) bool {
		return st[0].Running() && st[0].PID != oldPID && st[0].Restarts >= 1
	})
	if !strings.Contains(st[0].LastExit, "killed") {
		t.Errorf("last exit %q, want the kill signal", st[0].LastExit)
	}
	if st[1].Restarts != 0 || st[1].PID != otherPID {
		t.Errorf("media was disturbed: %+v", st[1])
	}
	newPID := st[0].PID
	// Only a worker that has installed its handler ignores SIGTERM; one
	// still starting (slow under -race) died of it instead of the kill.
	waitFor(t, "media ignores SIGTERM", s, func([]State) bool {
		hb, err := workerstate.ReadHeartbeat(logs, "media")
		return err == nil && hb.PID == otherPID
	})

	cancel()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	for _, x := range s.States() {
		if x.State != StateStopped || x.PID != 0 {
			t.Errorf("after shutdown: %+v", x)
		}
	}
	for _, pid := range []int{newPID, otherPID} {
		if alive(pid) {
			t.Errorf("pid %d still alive after shutdown", pid)
		}
	}
	if got := s.States()[1].LastExit; !strings.Contains(got, "killed") {
		t.Errorf("SIGTERM-ignoring worker exit %q, want killed after grace", got)
	}
	// A just-restarted worker may get SIGTERM before its handler is
	// installed ("signal: terminated"); either way it must not need a kill.
	if got := s.States()[0].LastExit; got != "exit status 0" && got != "signal: terminated" {
		t.Errorf("well-behaved worker exit %q, want it to end on SIGTERM", got)
	}
}

func TestSuperviseBackoffOnStartFailure(t *testing.T) {
	s, err := New(Options{Log: zerolog.Nop(), MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond,
		Specs: []Spec{{Name: "scan", Path: filepath.Join(t.TempDir(), "nope")}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	st := waitFor(t, "repeated start attempts", s, func(st []State) bool { return st[0].Restarts >= 3 })
	cancel()
	<-done
	if !strings.HasPrefix(st[0].LastError, "start failed") {
		t.Errorf("last error %q", st[0].LastError)
	}
	if s.States()[0].State != StateStopped {
		t.Errorf("state after cancel %q", s.States()[0].State)
	}
}

func TestNewRejectsBadSpecs(t *testing.T) {
	for name, specs := range map[string][]Spec{
		"no path":   {{Name: "scan"}},
		"no name":   {{Path: "/bin/true"}},
		"duplicate": {{Name: "a", Path: "/bin/true"}, {Name: "a", Path: "/bin/true"}},
	} {
		if _, err := New(Options{Specs: specs}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestFindAndSpecs(t *testing.T) {
	binDir, exeDir := t.TempDir(), t.TempDir()
	mk := func(dir, name string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	inBin := mk(binDir, "scan-worker")
	mk(exeDir, "scan-worker")
	beside := mk(exeDir, "media-worker")
	t.Setenv("PATH", t.TempDir())
	cases := []struct {
		name, want, code string
	}{
		{"scan", inBin, ""},              // bin_dir wins over beside-webui
		{"scan-worker", inBin, ""},       // full binary name accepted
		{"media", beside, ""},            // beside the webui executable
		{"forge", "", CodeBinaryMissing}, // nowhere
	}
	for _, c := range cases {
		got, err := Find(c.name, binDir, exeDir)
		if c.code != "" {
			if reason.Code(err) != c.code {
				t.Errorf("%s: err %v, want %s", c.name, err, c.code)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s: %q %v, want %q", c.name, got, err, c.want)
		}
	}
	cfg := &config.Config{ConfigPath: "/etc/sv/config.json", BaseDir: "/srv/sv"}
	cfg.Workers.BinDir = binDir
	cfg.Workers.Supervise = []string{"scan", " ", "media"}
	specs, err := SpecsFromConfig(cfg, exeDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != 2 || specs[0].Path != inBin || specs[1].Path != beside ||
		strings.Join(specs[0].Args, " ") != "--loop --config=/etc/sv/config.json" || specs[0].Dir != "/srv/sv" {
		t.Fatalf("specs %+v", specs)
	}
	if specs[0].Service != "scan_worker" || specs[1].Service != "media_worker" {
		t.Fatalf("services %q %q", specs[0].Service, specs[1].Service)
	}
	// A relative bin_dir resolves against the base directory, not the
	// working directory.
	cfg.BaseDir, cfg.Workers.BinDir = filepath.Dir(binDir), filepath.Base(binDir)
	if specs, err := SpecsFromConfig(cfg, exeDir); err != nil || specs[0].Path != inBin {
		t.Fatalf("relative bin_dir: %+v %v", specs, err)
	}
	// forge and ollama run only while their service is enabled: listed
	// (as the embedded defaults do) but disabled, they are not started
	// and not looked up.
	// (as the embedded defaults switch them off; the decision is the
	// modules', modules.Modules.Enabled, the same the web's actions use)
	cfg.Forge, cfg.Ollama = []byte(`{"enabled": false}`), []byte(`{"enabled": false}`)
	cfg.Workers.Supervise = []string{"forge", "ollama"}
	if specs, err := SpecsFromConfig(cfg, exeDir); err != nil || len(specs) != 0 {
		t.Fatalf("disabled services: %+v %v", specs, err)
	}
	cfg.Forge = []byte(`{"enabled": true, "base_url": "http://127.0.0.1:7860"}`)
	cfg.Workers.Supervise = []string{"forge"}
	if _, err := SpecsFromConfig(cfg, exeDir); reason.Code(err) != CodeBinaryMissing {
		t.Fatalf("missing binary: %v", err)
	}
	// forge-worker also runs ComfyUI regenerations: comfyui.enabled alone
	// supervises it (#22).
	cfg.Forge, cfg.ComfyUI = []byte(`{"enabled": false}`), []byte(`{"enabled": true}`)
	if _, err := SpecsFromConfig(cfg, exeDir); reason.Code(err) != CodeBinaryMissing {
		t.Fatalf("comfyui only: %v", err)
	}
}

func TestLookupNames(t *testing.T) {
	cases := []struct{ name, bin, service, args string }{
		{"scan", "scan-worker", "scan_worker", "--loop"},
		{"scan-worker", "scan-worker", "scan_worker", "--loop"},
		{"scan_worker", "scan-worker", "scan_worker", "--loop"},
		{"media", "media-worker", "media_worker", "--loop"},
		{"forge", "forge-worker", "forge_worker", "--loop"},
		{"library_rename", "library-rename-worker", "library_rename_worker", "--loop"},
		{"rename", "library-rename-worker", "library_rename_worker", "--loop"},
		{"library-rename-worker", "library-rename-worker", "library_rename_worker", "--loop"},
		// ollama-service runs until stopped and has no --loop flag;
		// ollama-worker is its one-job child, never supervised.
		{"ollama", "ollama-service", "ollama_service", ""},
		{"ollama-service", "ollama-service", "ollama_service", ""},
		{"custom", "custom-worker", "custom_worker", "--loop"},
		{"ollama-worker", "ollama-worker", "ollama_worker", "--loop"}, // a full name is taken as given
		{"Scan-Worker.exe", "scan-worker", "scan_worker", "--loop"},
	}
	for _, c := range cases {
		w := lookup(c.name)
		if w.bin != c.bin || w.service != c.service || strings.Join(w.args, " ") != c.args {
			t.Errorf("%s: %+v, want %s %s %q", c.name, w, c.bin, c.service, c.args)
		}
		if ServiceName(c.name) != c.service {
			t.Errorf("%s: ServiceName %q", c.name, ServiceName(c.name))
		}
	}
}

// TestStatesHeartbeat: States reads each worker's heartbeat at call time,
// so a heartbeat older than Fresh shows stale on the next poll even while
// the process is up.
func TestStatesHeartbeat(t *testing.T) {
	logs := t.TempDir()
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := &svtime.FixedClock{T: start}
	s, err := New(Options{Log: zerolog.Nop(), Clock: clock, LogsDir: logs, Fresh: time.Minute, Specs: []Spec{
		{Name: "scan", Path: "/bin/true", Service: "scan_worker"},
		{Name: "media", Path: "/bin/true", Service: "media_worker"},
		{Name: "x", Path: "/bin/true"}, // no service: no heartbeat reported
	}})
	if err != nil {
		t.Fatal(err)
	}
	lock, err := workerstate.AcquireLock(logs, "scan_worker", start, []string{"scan-worker"})
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	if err := workerstate.WriteHeartbeat(logs, workerstate.Heartbeat{Service: "scan_worker", PID: 7, State: workerstate.StateIdle,
		StartedAtUTC: svtime.Format(start), LastHeartbeatUTC: svtime.Format(start)}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name         string
		advance      time.Duration
		scan, reason string
		age          int64
	}{
		{"fresh", 0, workerstate.StatusAlive, "heartbeat_file_active", 0},
		{"at the threshold", time.Minute, workerstate.StatusAlive, "heartbeat_file_active", 60},
		{"past the threshold", time.Minute + time.Second, workerstate.StatusStale, "heartbeat_file_stale", 61},
	}
	for _, c := range cases {
		clock.T = start.Add(c.advance)
		st := s.States()
		if st[0].Heartbeat != c.scan || st[0].HeartbeatReason != c.reason || st[0].HeartbeatAge != c.age ||
			st[0].LastHeartbeatUTC != svtime.Format(start) || st[0].Service != "scan_worker" || st[0].HeartbeatPID != 7 {
			t.Errorf("%s: scan %+v", c.name, st[0])
		}
		if st[1].Heartbeat != workerstate.StatusMissing {
			t.Errorf("%s: media without a heartbeat file: %+v", c.name, st[1])
		}
		if st[2].Heartbeat != "" {
			t.Errorf("%s: worker without service reports %q", c.name, st[2].Heartbeat)
		}
	}
}

// BenchmarkStates is the cost /health.php and every dashboard poll pay
// for the supervised list: five workers, each heartbeat read and its lock
// probed.
func BenchmarkStates(b *testing.B) {
	logs := b.TempDir()
	now := time.Now()
	var specs []Spec
	for _, n := range []string{"scan", "media", "forge", "library_rename", "ollama"} {
		svc := ServiceName(n)
		specs = append(specs, Spec{Name: n, Path: "/bin/true", Service: svc})
		l, err := workerstate.AcquireLock(logs, svc, now, []string{n})
		if err != nil {
			b.Fatal(err)
		}
		defer l.Release()
		if err := workerstate.WriteHeartbeat(logs, workerstate.Heartbeat{Service: svc, PID: 1, State: workerstate.StateIdle,
			StartedAtUTC: svtime.Format(now), LastHeartbeatUTC: svtime.Format(now)}); err != nil {
			b.Fatal(err)
		}
	}
	s, err := New(Options{Log: zerolog.Nop(), LogsDir: logs, Specs: specs})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if st := s.States(); st[4].Heartbeat != workerstate.StatusAlive {
			b.Fatalf("%+v", st[4])
		}
	}
}

// TestSuperviseRestartsHungWorker: a live worker whose own heartbeat went
// stale is stopped and restarted; one that keeps its heartbeat fresh, or
// one that writes none, is left alone.
func TestSuperviseRestartsHungWorker(t *testing.T) {
	bin := svtest.BuildBinary(t, "./pkg/supervise/internal/fakeworker")
	logs := t.TempDir()
	s, err := New(Options{Log: zerolog.Nop(), MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		Grace: 2 * time.Second, LogsDir: logs, Fresh: 2 * time.Second, Specs: []Spec{
			{Name: "scan", Service: "scan_worker", Path: bin, Args: []string{"--loop", "--logs=" + logs, "--service=scan_worker", "--hung"}},
			{Name: "media", Service: "media_worker", Path: bin, Args: []string{"--loop", "--logs=" + logs, "--service=media_worker"}},
			{Name: "forge", Service: "forge_worker", Path: bin, Args: []string{"--loop"}},
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	st := waitFor(t, "hung worker restarted twice", s, func(st []State) bool { return st[0].Restarts >= 2 })
	if !strings.Contains(st[0].LastExit, "hung") {
		t.Errorf("last exit %q, want the hung reason", st[0].LastExit)
	}
	// The healthy and the heartbeat-less worker ran through all of it.
	for _, x := range st[1:] {
		if x.Restarts != 0 || !x.Running() {
			t.Errorf("%s was disturbed: %+v", x.Name, x)
		}
	}
}
