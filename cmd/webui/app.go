package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/localsupervisor/supervisor/pkg/catalog/ftsindex"
	"github.com/localsupervisor/supervisor/pkg/cliapp"
	"github.com/localsupervisor/supervisor/pkg/comfyjob"
	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/forgejob"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/launch"
	"github.com/localsupervisor/supervisor/pkg/probe"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/supervise"
	"github.com/localsupervisor/supervisor/pkg/thumb"
	"github.com/localsupervisor/supervisor/pkg/version"
	"github.com/localsupervisor/supervisor/pkg/web"
)

// Main is webui's wiring: from a bootstrapped cliapp.Env (writer database
// created and migrated) Run builds every dependency of the web server —
// the read handle, the thumbnail cache, the job queue, the worker
// supervisor, the Forge and Ollama pages — serves until ctx ends and
// stops them in reverse order. pkg/web only takes these dependencies.
type Main struct {
	Env *cliapp.Env
	// Addr overrides config web.addr ("127.0.0.1:0" in tests).
	Addr string
	// Bins is the folder the worker binaries are found in (workerDir).
	Bins string
	// Out receives the "listening" line and the one-time admin key.
	Out io.Writer
}

// Run serves the web UI until ctx is cancelled (SIGTERM). Supervised
// workers stop only after the server has shut down, so a job a request
// just enqueued still finds a worker.
func (m *Main) Run(ctx context.Context) error {
	env := m.Env
	sup, err := newSupervisor(env, m.Bins)
	if err != nil {
		return err
	}
	wctx, cancelWorkers := context.WithCancel(context.Background())
	supDone := make(chan struct{})
	go func() { defer close(supDone); _ = sup.Run(wctx) }()
	defer func() { cancelWorkers(); <-supDone }()
	// Follow-up spawns (a job queued while its worker exited) end with
	// the workers.
	respawner := launch.NewRespawner(wctx)
	defer respawner.Close()

	oneTime := ensureAdminKey(env)
	srv, closeSrv, err := m.server(ctx, sup, respawner)
	if err != nil {
		return err
	}
	defer closeSrv()
	// Background writers stop after the server has shut down, so the
	// last requests' clicks are still recorded.
	bctx, stopBackground := context.WithCancel(context.Background())
	var background sync.WaitGroup
	defer func() { stopBackground(); background.Wait() }()
	// Media imported or changed by the workers (imports, Ollama titles,
	// prompt edits, a legacy import) are only marked for the text index;
	// fold them in the background in short batches. Searches are exact
	// either way.
	background.Go(func() {
		ftsindex.Run(bctx, env.DB, 3*time.Second, ftsindex.DefaultBatch, func(err error) {
			env.Log.Warn().Err(err).Str("event", "fts_fold_failed").Msg("text index fold failed; retrying")
		})
	})
	// The web's own writes that requests only queue (detail-view clicks,
	// session cleanup).
	background.Go(func() { srv.Run(bctx) })
	return m.listen(ctx, srv.Handler(), oneTime)
}

// ensureAdminKey returns the one-time admin key it set when none is
// configured, else "".
func ensureAdminKey(env *cliapp.Env) string {
	cfg := env.Config
	if strings.TrimSpace(cfg.Security.InternalAPIKey) != "" {
		return ""
	}
	// No key configured: admin rights would be unreachable (loopback is
	// not admin). A random per-process key is printed to the console of
	// the person who started the server, like a notebook token.
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (crypto/rand documents it)
	oneTime := hex.EncodeToString(b)
	cfg.Security.InternalAPIKey = oneTime
	return oneTime
}

// server builds the web server and its dependencies; closeFn releases
// what it opened.
func (m *Main) server(ctx context.Context, sup web.Supervised, respawner *launch.Respawner) (srv *web.Server, closeFn func(), err error) {
	env := m.Env
	cfg := env.Config
	readBusy := time.Duration(cfg.DB.ReadBusyTimeoutMS) * time.Millisecond
	rdb, err := db.OpenReadOnly(ctx, db.Options{Path: cfg.DB.Path, BusyTimeout: readBusy})
	if err != nil {
		return nil, nil, fmt.Errorf("open read handle: %w", err)
	}
	// Requests write through their own handle with a short busy timeout
	// (db.web_busy_timeout_ms): an action that meets a worker's long write
	// answers "busy, try again" instead of hanging for the workers' 5 s.
	wdb, err := db.Open(ctx, db.Options{Path: cfg.DB.Path, BusyTimeout: cfg.DB.WebBusyTimeout()})
	if err != nil {
		rdb.Close()
		return nil, nil, fmt.Errorf("open request writer: %w", err)
	}
	closeFn = func() { wdb.Close(); rdb.Close() }
	gen, err := thumb.New(thumb.Options{CacheDir: cfg.Resolve(cfg.Paths.ThumbCache), MaxPixels: cfg.Import.MaxPixels,
		FFmpeg: &probe.FFmpeg{Path: cfg.Tools.FFmpeg}, MaxBytes: max(cfg.Web.ThumbCacheMaxMB, 0) << 20,
		Decode: probe.NewDecodeBudget(cfg.Import.MaxPixels)})
	if err != nil {
		closeFn()
		return nil, nil, fmt.Errorf("thumbnail cache: %w", err)
	}
	q := jobs.NewQueue(jobs.QueueOptions{DB: wdb, Clock: env.Clock, Config: env.Modules.Jobs, Logger: env.Log})
	forgeRoutes, forgeSection := m.forge(wdb, q)
	srv, err = web.New(web.Options{Config: cfg, DB: wdb, ReadDB: rdb, Log: env.Log, Clock: env.Clock,
		Thumbs: web.ThumbAdapter{G: gen}, Jobs: q, JobAdmin: web.JobAdminAdapter{Q: q}, Launcher: launcher(cfg, m.Bins, respawner),
		Version: version.Version, Supervised: sup, Freshness: time.Duration(env.Modules.Jobs.FreshSeconds) * time.Second,
		// Ollama pages: the service binary is found like other workers.
		// The Ollama routes add their own detail panel.
		ExtraRoutes: web.ChainRoutes(web.OllamaRoutes(web.OllamaOptions{Config: env.Modules.Ollama, Jobs: env.Modules.Jobs,
			LogsDir: cfg.Paths.Logs, ServiceBin: findOrEmpty(cfg, m.Bins, "ollama-service"),
			ServiceArgs: configArgs(cfg)}), forgeRoutes),
		DetailSections: []web.DetailSection{forgeSection}, SystemError: env.SystemError})
	if err != nil {
		closeFn()
		return nil, nil, err
	}
	return srv, closeFn, nil
}

// forge wires the Forge panel from the loaded config. A broken forge
// section or recipes file disables the panel with a warning instead of
// stopping the whole web UI; the returned values are then no-ops.
func (m *Main) forge(wdb *sql.DB, q *jobs.Queue) (routes func(mux *http.ServeMux, s *web.Server), section web.DetailSection) {
	env := m.Env
	svc, err := forgejob.FromConfig(env.Config, wdb, q, env.Clock, env.Log)
	if err != nil {
		env.Log.Warn().Err(err).Str("reason_code", reason.Code(err)).Msg("forge panel disabled")
		return nil, func(context.Context, *http.Request, int64) (template.HTML, error) { return "", nil }
	}
	f := web.NewForge(web.ForgeOptions{Service: svc})
	// ComfyUI regeneration shares the forgejob service (previews, accept,
	// discard); its panel shows only for media with an embedded workflow.
	cs, err := comfyjob.FromConfig(env.Config, wdb, q, svc, env.Clock, env.Log)
	if err != nil {
		env.Log.Warn().Err(err).Str("reason_code", reason.Code(err)).Msg("comfyui panel disabled")
		return f.Routes, f.DetailSection()
	}
	c := web.NewComfy(web.ComfyOptions{Service: cs, Previews: svc})
	return web.ChainRoutes(f.Routes, c.Routes), web.JoinSections(f.DetailSection(), c.DetailSection())
}

// listen serves h on Addr (config web.addr by default) and shuts down
// gracefully when ctx is cancelled.
func (m *Main) listen(ctx context.Context, h http.Handler, oneTime string) error {
	env := m.Env
	addr := m.Addr
	if addr == "" {
		addr = env.Config.Web.Addr
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	url := "http://" + ln.Addr().String()
	m.ready(url, oneTime)
	env.Log.Info().Str("event", "webui_start").Str("url", url).Msg("webui listening")
	err = cliapp.ServeUntilDone(ctx, hs, ln, 10*time.Second)
	if ctx.Err() != nil {
		env.Log.Info().Str("event", "webui_stop").Msg("webui stopped")
	}
	return err
}

// ready prints the URL (tests read it) and the one-time admin key.
func (m *Main) ready(url, key string) {
	out := m.Out
	if out == nil {
		out = os.Stdout
	}
	fmt.Fprintf(out, "webui listening on %s\n", url)
	if key != "" {
		fmt.Fprintf(out, "admin: no security.internal_api_key configured; one-time key for this run: %s\n  unlock: %s/login?key=%s\n", key, url, key)
	}
}

// newSupervisor builds the worker supervisor from workers.supervise; an
// empty list yields a supervisor with nothing to run.
func newSupervisor(env *cliapp.Env, bins string) (*supervise.Supervisor, error) {
	// The options carry the logs folder so health shows each supervised
	// worker's own heartbeat, not only whether its process is up.
	o, err := supervise.OptionsFromConfig(env.Config, bins, time.Duration(env.Modules.Jobs.FreshSeconds)*time.Second)
	if err != nil {
		return nil, err
	}
	o.Log, o.Clock, o.Stderr = env.Log, env.Clock, os.Stderr
	// Outlast the workers' own shutdown grace, so a stopping worker can
	// finish or release its running job before it is killed.
	o.Grace = time.Duration(env.Modules.Jobs.ShutdownGraceSeconds)*time.Second + 5*time.Second
	return supervise.New(o)
}
