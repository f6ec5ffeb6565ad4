package web

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/jobs/workerstate"
	"github.com/localsupervisor/supervisor/pkg/supervise"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// TestDashboardPollServices: the dashboard's poll JSON lists the services
// whose heartbeat files exist (the Go workers' names, not only the spec's),
// judges them with the configured freshness, and a heartbeat that ages
// past it is reported stale by the next poll; the supervised workers ride
// along, and the page carries the elements app.js re-renders from them.
func TestDashboardPollServices(t *testing.T) {
	f := newFixture(t)
	f.srv.freshness = 30 * time.Second
	clock := f.srv.clock.(*svtime.FixedClock)
	logs := f.cfg.Paths.Logs
	if err := os.MkdirAll(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	lock, err := workerstate.AcquireLock(logs, "media_worker", clock.T, []string{"media-worker"})
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	if err := workerstate.WriteHeartbeat(logs, workerstate.Heartbeat{Service: "media_worker", PID: os.Getpid(),
		State: "idle", LastHeartbeatUTC: svtime.Format(clock.T)}); err != nil {
		t.Fatal(err)
	}
	f.srv.supervised = fakeSupervised{{Name: "media-worker", State: supervise.StateRunning, PID: 7}}
	c := f.client()
	c.hdr.Set("X-Internal-Key", testKey)
	poll := func() Health {
		t.Helper()
		rec := c.do("GET", "/api/dashboard", nil)
		var out struct {
			OK   bool `json:"ok"`
			Data struct {
				Health Health `json:"health"`
			} `json:"data"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || !out.OK {
			t.Fatalf("poll: %d %s", rec.Code, rec.Body.String())
		}
		return out.Data.Health
	}
	h := poll()
	if h.FreshnessSeconds != 30 {
		t.Fatalf("freshness %d, want the configured 30", h.FreshnessSeconds)
	}
	mw, ok := h.Services["media_worker"]
	if !ok || !mw.Running || mw.Status != workerstate.StatusAlive {
		t.Fatalf("media_worker in poll: %+v (present %v)", mw, ok)
	}
	if _, ok := h.Services["media_service"]; !ok {
		t.Fatal("the spec's service names are no longer listed")
	}
	if len(h.Supervised) != 1 || h.Supervised[0].PID != 7 {
		t.Fatalf("supervised in poll: %+v", h.Supervised)
	}
	clock.T = clock.T.Add(31 * time.Second) // older than jobs.fresh_seconds, younger than the old 180 s
	if mw := poll().Services["media_worker"]; mw.Running || mw.Status != workerstate.StatusStale {
		t.Fatalf("aged heartbeat: %+v, want stale", mw)
	}
	page := c.do("GET", "/index.php", nil).Body.String()
	for _, want := range []string{`id="services"`, `data-service="media_worker"`, `id="supervised-box"`, `data-worker="media-worker"`} {
		if !strings.Contains(page, want) {
			t.Errorf("dashboard lacks %s", want)
		}
	}
	js, err := assetsFS.ReadFile("static/app.js")
	if err != nil || !strings.Contains(string(js), "renderServices(h.services); renderSupervised(h.supervised);") {
		t.Fatal("app.js no longer renders services/supervised from the poll")
	}
}
