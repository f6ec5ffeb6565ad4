//go:build unix

// The acceptance test signals processes (SIGKILL a worker, SIGTERM webui),
// so it runs on Unix; Windows stops supervised workers with a kill.

package main_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/cliapp"
	"github.com/localsupervisor/supervisor/pkg/jobs/workerstate"
	"github.com/localsupervisor/supervisor/pkg/supervise"
	"github.com/localsupervisor/supervisor/pkg/svtest"
	"github.com/localsupervisor/supervisor/pkg/web"
)

// deadline bounds every poll; it is generous because the machine is
// shared, and it only limits how long a failure takes to show.
const deadline = 60 * time.Second

// site is a temporary installation: binaries in bin/, config, DB and LOGS
// under base.
type site struct {
	base, bin, logs, config string
}

func newSite(t *testing.T, supervised []string, pkgs ...string) site {
	t.Helper()
	s := site{base: t.TempDir()}
	s.bin = filepath.Join(s.base, "bin")
	s.logs = filepath.Join(s.base, "LOGS")
	if err := os.MkdirAll(s.bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range pkgs {
		built := svtest.BuildBinary(t, p)
		if err := os.Link(built, filepath.Join(s.bin, filepath.Base(built))); err != nil {
			t.Fatal(err)
		}
	}
	cfg := map[string]any{
		"db":      map[string]any{"path": "DB/local.sqlite"},
		"logging": map[string]any{"console": false},
		// Heartbeats every second so the test sees fresh ones soon.
		"jobs": map[string]any{"heartbeat_seconds": 1},
		"workers": map[string]any{"supervise": supervised, "bin_dir": "bin",
			"scan": map[string]any{"sleep_ms": 200}, "media": map[string]any{"sleep_ms": 200}},
	}
	b, _ := json.Marshal(cfg)
	s.config = filepath.Join(s.base, "CONFIG", "config.json")
	os.MkdirAll(filepath.Dir(s.config), 0o755)
	if err := os.WriteFile(s.config, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// webui is a running webui process.
type webui struct {
	cmd    *exec.Cmd
	url    string
	key    string
	stderr *svtest.SyncBuffer
	exited chan error
}

var listenRe = regexp.MustCompile(`webui listening on (\S+)`)
var keyRe = regexp.MustCompile(`one-time key for this run: (\S+)`)

func startWebui(t *testing.T, s site) *webui {
	t.Helper()
	w := &webui{stderr: &svtest.SyncBuffer{}, exited: make(chan error, 1)}
	w.cmd = exec.Command(filepath.Join(s.bin, "webui"), "--config="+s.config, "--addr=127.0.0.1:0")
	w.cmd.Dir = s.base
	w.cmd.Env = append(os.Environ(), "SV_CONFIG=", "SV_BASE=")
	w.cmd.Stderr = w.stderr
	out, err := w.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		io.Copy(io.Discard, out)
		w.exited <- w.cmd.Wait()
	}()
	t.Cleanup(func() {
		// Only on failure paths is anything still alive here.
		_ = w.cmd.Process.Kill()
	})
	timeout := time.After(deadline)
	for w.url == "" || w.key == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("webui ended before listening\n%s", w.stderr)
			}
			if m := listenRe.FindStringSubmatch(l); m != nil {
				w.url = m[1]
			}
			if m := keyRe.FindStringSubmatch(l); m != nil {
				w.key = m[1]
			}
		case <-timeout:
			t.Fatalf("webui did not print its URL\n%s", w.stderr)
		}
	}
	go func() {
		for range lines {
		}
	}()
	return w
}

func (w *webui) get(t *testing.T, path string, admin bool) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", w.url+path, nil)
	if admin {
		req.Header.Set("X-Internal-Key", w.key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v\n%s", path, err, w.stderr)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (w *webui) health(t *testing.T) web.Health {
	t.Helper()
	_, b := w.get(t, "/health.php", false)
	var h web.Health
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatalf("health: %v: %s", err, b)
	}
	return h
}

// waitHealth polls /health.php until cond holds; it asserts an outcome,
// never a duration.
func (w *webui) waitHealth(t *testing.T, what string, cond func(web.Health) bool) web.Health {
	t.Helper()
	end := time.Now().Add(deadline)
	for {
		h := w.health(t)
		if cond(h) {
			return h
		}
		if time.Now().After(end) {
			b, _ := json.MarshalIndent(h, "", " ")
			t.Fatalf("timed out waiting for %s; health %s\nwebui stderr:\n%s", what, b, w.stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// fresh: the process runs and its heartbeat is fresh and its own (right
// after a restart the file is still the predecessor's).
func fresh(st supervise.State) bool {
	return st.Running() && st.HeartbeatPID == st.PID &&
		(st.Heartbeat == workerstate.StatusAlive || st.Heartbeat == workerstate.StatusBusy)
}

func alive(pid int) bool { return pid > 0 && syscall.Kill(pid, 0) == nil }

// TestWebuiSupervisesRealWorkers is the acceptance test of issue 10: the
// real webui runs the real scan-worker and media-worker, restarts one that
// is killed, reports it in /health.php, and takes both down with it.
func TestWebuiSupervisesRealWorkers(t *testing.T) {
	s := newSite(t, []string{"scan", "media"}, "./cmd/webui", "./cmd/scan-worker", "./cmd/media-worker", "./cmd/migrate")
	w := startWebui(t, s)

	h := w.waitHealth(t, "both workers running with fresh heartbeats", func(h web.Health) bool {
		return len(h.Supervised) == 2 && fresh(h.Supervised[0]) && fresh(h.Supervised[1]) &&
			h.Services["scan_worker"].Running && h.OK
	})
	scan, media := h.Supervised[0], h.Supervised[1]
	if scan.Name != "scan" || scan.Service != "scan_worker" || media.Name != "media" || media.Service != "media_worker" {
		t.Fatalf("supervised %+v", h.Supervised)
	}
	// The pid health reports is the one holding the worker lock.
	if li, err := workerstate.ReadLock(s.logs, "scan_worker"); err != nil || li.PID != scan.PID {
		t.Fatalf("scan lock %+v %v, health pid %d", li, err, scan.PID)
	}

	t.Run("migrate refuses while the workers hold their locks", func(t *testing.T) {
		for _, c := range []struct {
			flags   []string
			refused bool
		}{
			{nil, true},
			{[]string{"--dry-run"}, false}, // writes nothing, so it may look
			{[]string{"--force"}, false},
		} {
			r := s.migrate(t, c.flags...)
			refused := r.Code != 0 && strings.Contains(r.Stderr, "workers_running") &&
				strings.Contains(r.Stderr, "media_worker") && strings.Contains(r.Stderr, "scan_worker")
			if refused != c.refused || (!c.refused && r.Code != 0) {
				t.Errorf("migrate %v with workers running: exit %d, want refused=%v\n%s%s", c.flags, r.Code, c.refused, r.Stdout, r.Stderr)
			}
		}
	})

	if err := syscall.Kill(scan.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	h = w.waitHealth(t, "scan-worker restarted", func(h web.Health) bool {
		st := h.Supervised[0]
		return fresh(st) && st.PID != scan.PID && st.Restarts >= 1
	})
	if got := h.Supervised[0].LastExit; !strings.Contains(got, "killed") {
		t.Errorf("health last_exit %q, want the kill", got)
	}
	if li, err := workerstate.ReadLock(s.logs, "scan_worker"); err != nil || li.PID != h.Supervised[0].PID {
		t.Errorf("restarted scan-worker does not hold the lock: %+v %v, health pid %d", li, err, h.Supervised[0].PID)
	}
	if m := h.Supervised[1]; m.PID != media.PID || m.Restarts != 0 {
		t.Errorf("media-worker was disturbed: %+v", m)
	}
	pids := []int{h.Supervised[0].PID, h.Supervised[1].PID}

	t.Run("stale heartbeat shows on the next poll", func(t *testing.T) {
		staleHeartbeat(t, w, s.logs)
	})

	if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-w.exited:
		if err != nil {
			t.Fatalf("webui exit after SIGTERM: %v\n%s", err, w.stderr)
		}
	case <-time.After(deadline):
		t.Fatalf("webui did not exit after SIGTERM\n%s", w.stderr)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("worker pid %d outlived webui", pid)
		}
	}
	// They were stopped, not killed: each wrote its final heartbeat and
	// released its lock.
	for _, svc := range []string{"scan_worker", "media_worker"} {
		hb, err := workerstate.ReadHeartbeat(s.logs, svc)
		if err != nil || hb.State != workerstate.StateStopped {
			t.Errorf("%s final heartbeat %+v %v", svc, hb, err)
		}
	}
	if held := cliapp.HeldWorkerLocks(s.logs); len(held) != 0 {
		t.Errorf("locks still held after shutdown: %v", held)
	}
	// The documented upgrade step: with the workers stopped, migrate runs.
	if r := s.migrate(t); r.Code != 0 || !strings.Contains(r.Stdout, "migrate ok") {
		t.Errorf("migrate after shutdown: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}

func (s site) migrate(t *testing.T, flags ...string) svtest.RunResult {
	t.Helper()
	return svtest.RunBinary(t, s.base, []string{"SV_CONFIG=", "SV_BASE="}, filepath.Join(s.bin, "migrate"), append([]string{"--config=" + s.config}, flags...)...)
}

// staleHeartbeat plays a service (not supervised, so nothing rewrites its
// file) that holds its lock: a fresh heartbeat shows running, and the very
// next request after the file went older than the threshold shows stale,
// in /health.php and in the dashboard's service list. The server computes
// health per request, so one polling interval is the upper bound.
func staleHeartbeat(t *testing.T, w *webui, logs string) {
	const svc = "ollama_service"
	now := time.Now()
	lock, err := workerstate.AcquireLock(logs, svc, now, []string{"test"})
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	write := func(at time.Time) {
		t.Helper()
		err := workerstate.WriteHeartbeat(logs, workerstate.Heartbeat{Service: svc, PID: os.Getpid(), State: workerstate.StateIdle,
			StartedAtUTC: workerstate.Format(now), LastHeartbeatUTC: workerstate.Format(at)})
		if err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name   string
		at     time.Time
		status string
		reason string
	}{
		{"fresh", time.Now(), workerstate.StatusAlive, "heartbeat_file_active"},
		// Far beyond the 180 s threshold so no clock skew matters.
		{"stale", time.Now().Add(-30 * time.Minute), workerstate.StatusStale, "heartbeat_file_stale"},
		{"fresh again", time.Now(), workerstate.StatusAlive, "heartbeat_file_active"},
	}
	for _, c := range cases {
		write(c.at)
		got := w.health(t).Services[svc]
		if got.Status != c.status || got.ReasonCode != c.reason || got.Running != (c.status != workerstate.StatusStale) {
			t.Errorf("%s: health %+v, want %s/%s", c.name, got, c.status, c.reason)
		}
		code, page := w.get(t, "/index.php", true)
		want := `<li class="svc-` + c.status + `" data-service="` + svc + `">` + svc + ": " + c.status
		if code != http.StatusOK || !bytes.Contains(page, []byte(want)) {
			t.Errorf("%s: dashboard (status %d) lacks %q", c.name, code, want)
		}
	}
}
