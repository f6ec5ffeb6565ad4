package web

import (
	"context"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/ollama"
	"github.com/localsupervisor/supervisor/pkg/ollamasvc"
)

// spawnRecorder records every process the server would start, through
// either path: the generic worker Launcher and the Ollama autostart.
type spawnRecorder struct {
	mu       sync.Mutex
	workers  []string
	services []ollamasvc.AutostartOptions
}

func (r *spawnRecorder) Spawn(_ context.Context, worker string, _ []string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.workers = append(r.workers, worker)
	return "started", nil
}

func (r *spawnRecorder) autostart(_ context.Context, o ollamasvc.AutostartOptions) ollamasvc.SpawnResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.services = append(r.services, o)
	return ollamasvc.SpawnResult{Status: "started"}
}

// TestDetailOllamaAnalyzeStartsService: the detail page's analyze action
// enqueues an Ollama job for this media only and autostarts ollama-service
// (with its --batch arguments), never a bare ollama-worker.
func TestDetailOllamaAnalyzeStartsService(t *testing.T) {
	f := newFixture(t, ServiceOllama)
	f.cfg.Workers.WebSpawnEnabled = true
	rec := &spawnRecorder{}
	svcBin := filepath.Join(f.base, "bin", "ollama-service")
	q := jobs.NewQueue(jobs.QueueOptions{DB: f.db, Clock: f.srv.clock, Config: jobs.DefaultConfig()})
	s, err := New(Options{Config: f.cfg, DB: f.db, ReadDB: f.srv.rdb, Log: zerolog.Nop(), Clock: f.srv.clock, Jobs: q,
		JobAdmin: JobAdminAdapter{Q: q}, Launcher: rec,
		ExtraRoutes: OllamaRoutes(OllamaOptions{Config: ollama.DefaultConfig(), Jobs: jobs.DefaultConfig(),
			LogsDir: filepath.Join(f.base, "LOGS"), ServiceBin: svcBin, ServiceArgs: []string{"--config=x.yaml"},
			Autostart: rec.autostart})})
	if err != nil {
		t.Fatal(err)
	}
	f.srv, f.h = s, s.Handler()
	c := f.client()
	c.login()
	c.hdr.Set("Accept", "application/json")
	id := strconv.FormatInt(f.imgID, 10)
	resp := c.post("/media_view.php?id="+id, url.Values{"action": {"ollama_analyze"}, "media_id": {id}, "mode": {"title"}}, true)
	if resp.Code != 200 {
		t.Fatalf("analyze: %d %s", resp.Code, resp.Body.String())
	}
	var n int
	var mid int64
	if err := f.db.QueryRow(`SELECT count(*), COALESCE(MAX(media_id), 0) FROM jobs WHERE type = 'ollama_title'`).Scan(&n, &mid); err != nil {
		t.Fatal(err)
	}
	var other int
	f.db.QueryRow(`SELECT count(*) FROM jobs WHERE type LIKE 'ollama%' AND type <> 'ollama_title'`).Scan(&other)
	if n != 1 || mid != f.imgID || other != 0 {
		t.Fatalf("jobs: %d ollama_title for media %d (+%d others), want 1 for %d; %s", n, mid, other, f.imgID, resp.Body.String())
	}
	if len(rec.workers) != 0 {
		t.Fatalf("spawned workers %v through the generic launcher; Ollama jobs belong to ollama-service", rec.workers)
	}
	if len(rec.services) != 1 || rec.services[0].ServiceBin != svcBin || rec.services[0].Pending == 0 {
		t.Fatalf("autostart calls %+v, want one of %s with pending jobs", rec.services, svcBin)
	}
	if args := strings.Join(rec.services[0].Args, " "); !strings.Contains(args, "--config=x.yaml") || !strings.Contains(args, "--batch=") {
		t.Fatalf("service args %q", args)
	}
	if !strings.Contains(resp.Body.String(), `"status":"queued"`) {
		t.Fatalf("response %s", resp.Body.String())
	}
	// An unknown mode is refused before anything is enqueued or started.
	resp = c.post("/media_view.php?id="+id, url.Values{"action": {"ollama_analyze"}, "media_id": {id}, "mode": {"nope"}}, true)
	if resp.Code == 200 || len(rec.services) != 1 {
		t.Fatalf("bad mode: %d, %d autostarts", resp.Code, len(rec.services))
	}
}
