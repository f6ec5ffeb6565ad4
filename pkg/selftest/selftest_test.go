package selftest_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/config"
	"github.com/localsupervisor/supervisor/pkg/jobs/workerstate"
	"github.com/localsupervisor/supervisor/pkg/ollama"
	"github.com/localsupervisor/supervisor/pkg/scanner"
	"github.com/localsupervisor/supervisor/pkg/selftest"
	"github.com/localsupervisor/supervisor/pkg/svtest"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

func load(t *testing.T) *config.Config {
	cfg, err := config.Load(config.LoadOptions{WorkDir: t.TempDir(), Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func statuses(rep *selftest.Report) map[string]string {
	m := map[string]string{}
	for _, c := range rep.Checks {
		m[c.Name] = c.Status
	}
	return m
}

func TestSelftestFullRun(t *testing.T) {
	svtest.RequireTool(t, "ffmpeg")
	cfg := load(t)
	rep := selftest.Run(context.Background(), selftest.Options{Config: cfg})
	st := statuses(rep)
	for _, name := range []string{"logs_writable", "database", "wal", "ffmpeg", "import_image", "import_video",
		"metadata_image", "metadata_video", "thumbnail_image", "thumbnail_video", "integrity_image", "integrity_video",
		"hash_image", "hash_video"} {
		if st[name] != selftest.StatusOK {
			t.Errorf("%s = %q; report %+v", name, st[name], rep.Checks)
		}
	}
	if rep.Failed() || rep.Degraded() {
		t.Fatalf("report not clean: %+v", rep.Checks)
	}
}

func TestSelftestWithoutFFmpegIsDegraded(t *testing.T) {
	cfg := load(t)
	cfg.Tools.FFmpeg = "/nonexistent/ffmpeg"
	rep := selftest.Run(context.Background(), selftest.Options{Config: cfg})
	st := statuses(rep)
	if st["ffmpeg"] != selftest.StatusMissing || st["import_image"] != selftest.StatusOK || rep.Failed() || !rep.Degraded() {
		t.Fatalf("want degraded with image checks ok: %+v", rep.Checks)
	}
}

func TestSelftestServiceReachability(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(404) }))
	defer up.Close()
	cfg := load(t)
	cfg.Tools.FFmpeg = "/nonexistent/ffmpeg"
	sc := scanner.DefaultConfig()
	sc.Enabled, sc.BaseURL, sc.Token = true, up.URL, "t"
	oc := ollama.DefaultConfig()
	oc.Enabled, oc.BaseURL = true, "http://127.0.0.1:1" // nothing listens on port 1
	rep := selftest.Run(context.Background(), selftest.Options{Config: cfg, Scanner: sc, Ollama: oc})
	st := statuses(rep)
	if st["scanner"] != selftest.StatusOK || st["ollama"] != selftest.StatusMissing || st["forge"] != selftest.StatusSkipped {
		t.Fatalf("services: %+v", rep.Checks)
	}
	sc.Token = ""
	rep = selftest.Run(context.Background(), selftest.Options{Config: cfg, Scanner: sc})
	if statuses(rep)["scanner"] != selftest.StatusFail || !strings.Contains(rep.Checks[len(rep.Checks)-3].Detail+rep.Checks[len(rep.Checks)-2].Detail+rep.Checks[len(rep.Checks)-1].Detail, "scanner") {
		t.Fatalf("misconfigured scanner must fail: %+v", rep.Checks)
	}
}

// TestHeartbeats: each heartbeat in LOGS is reported as health judges it.
func TestHeartbeats(t *testing.T) {
	logs := t.TempDir()
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	if c := selftest.Heartbeats(logs, now, time.Minute); len(c) != 1 || c[0].Status != selftest.StatusSkipped {
		t.Fatalf("empty logs: %+v", c)
	}
	beats := []struct {
		svc, state string
		age        time.Duration
		lock       bool
		want       string
	}{
		{"scan_worker", workerstate.StateIdle, 10 * time.Second, true, selftest.StatusOK},
		{"media_worker", workerstate.StateIdle, 2 * time.Minute, true, selftest.StatusMissing}, // stale
		{"forge_worker", workerstate.StateRunning, time.Second, false, selftest.StatusMissing}, // lock gone: died
		{"ollama_service", workerstate.StateStopped, time.Hour, false, selftest.StatusSkipped}, // clean stop
	}
	for _, b := range beats {
		if b.lock {
			l, err := workerstate.AcquireLock(logs, b.svc, now, []string{b.svc})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Release()
		}
		if err := workerstate.WriteHeartbeat(logs, workerstate.Heartbeat{Service: b.svc, PID: 1, State: b.state,
			StartedAtUTC: svtime.Format(now.Add(-b.age)), LastHeartbeatUTC: svtime.Format(now.Add(-b.age))}); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]selftest.Check{}
	for _, c := range selftest.Heartbeats(logs, now, time.Minute) {
		got[c.Name] = c
	}
	if len(got) != len(beats) {
		t.Fatalf("checks %+v", got)
	}
	for _, b := range beats {
		if c := got["heartbeat_"+b.svc]; c.Status != b.want {
			t.Errorf("%s: %+v, want %s", b.svc, c, b.want)
		}
	}
	if d := got["heartbeat_media_worker"].Detail; !strings.Contains(d, "heartbeat_file_stale") || !strings.Contains(d, "120s ago") {
		t.Errorf("stale detail %q", d)
	}
}
