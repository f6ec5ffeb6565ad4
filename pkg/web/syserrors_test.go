package web

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/logging"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// TestSystemErrorsPanel: a failed worker job (written the way workercmd
// writes it) and the server's own 5xx responses land in
// system_errors.jsonl, rate-limited per code, and the dashboard panel
// shows them.
func TestSystemErrorsPanel(t *testing.T) {
	f := newFixture(t)
	clock := &svtime.FixedClock{T: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	logs, err := logging.NewSet(logging.Options{Dir: f.cfg.Paths.Logs, Console: io.Discard, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	r, err := db.OpenReadOnly(context.Background(), db.Options{Path: f.cfg.DB.Path})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	srv, err := New(Options{Config: f.cfg, DB: f.db, ReadDB: r, Log: zerolog.Nop(), Clock: clock,
		SystemError: func(code string, fields map[string]any) { logs.SystemError("webui", code, fields) },
		ExtraRoutes: func(mux *http.ServeMux, _ *Server) {
			mux.HandleFunc("GET /test/panic", func(http.ResponseWriter, *http.Request) { panic("test panic") })
			mux.HandleFunc("GET /test/unavailable", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
		}})
	if err != nil {
		t.Fatal(err)
	}
	f.srv, f.h = srv, srv.Handler()

	// A worker's failed job, as workercmd records it.
	logs.SystemError("scan_worker", "probe_failed", map[string]any{"message": "job 7: ffprobe exited 1", "job_id": 7})

	c := f.client()
	for i := 0; i < 3; i++ {
		if rec := c.do("GET", "/test/panic", nil); rec.Code != http.StatusInternalServerError {
			t.Fatalf("panic route: %d", rec.Code)
		}
	}
	if rec := c.do("GET", "/test/unavailable", nil); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("503 route: %d", rec.Code)
	}
	if rec := c.do("GET", "/no/such/page", nil); rec.Code != http.StatusNotFound {
		t.Fatalf("404: %d", rec.Code)
	}
	b, err := os.ReadFile(filepath.Join(f.cfg.Paths.Logs, "system_errors.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	// worker line, one 500 (three within the window), one 503; no 404.
	if len(lines) != 3 {
		t.Fatalf("%d system_errors lines, want 3 (rate limit per code, no 4xx):\n%s", len(lines), b)
	}
	if !strings.Contains(lines[1], `"service":"webui"`) || !strings.Contains(lines[1], `"status":500`) || !strings.Contains(lines[1], `"request":"GET /test/panic"`) {
		t.Fatalf("500 line: %s", lines[1])
	}
	if !strings.Contains(lines[2], `"reason_code":"http_503"`) {
		t.Fatalf("503 line: %s", lines[2])
	}

	c.login()
	page := c.do("GET", "/index.php", nil)
	if page.Code != http.StatusOK {
		t.Fatalf("dashboard: %d", page.Code)
	}
	i := strings.Index(page.Body.String(), `id="syserrors"`)
	if i < 0 {
		t.Fatal("dashboard has no system errors panel")
	}
	panel := page.Body.String()[i:]
	panel = panel[:strings.Index(panel, "</section>")]
	for _, want := range []string{"scan_worker", "probe_failed", "job 7: ffprobe exited 1", "webui", "http_503"} {
		if !strings.Contains(panel, want) {
			t.Errorf("panel lacks %q:\n%s", want, panel)
		}
	}
}
