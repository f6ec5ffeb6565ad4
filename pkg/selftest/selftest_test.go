package selftest_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/config"
	"github.com/localsupervisor/supervisor/pkg/ollama"
	"github.com/localsupervisor/supervisor/pkg/scanner"
	"github.com/localsupervisor/supervisor/pkg/selftest"
	"github.com/localsupervisor/supervisor/pkg/svtest"
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
