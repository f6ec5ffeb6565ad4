package web

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/localsupervisor/supervisor/pkg/catalog/ftsindex"
	"github.com/localsupervisor/supervisor/pkg/cliapp"
	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/probe"
	"github.com/localsupervisor/supervisor/pkg/thumb"
)

// ServeOptions configures Serve.
type ServeOptions struct {
	// Addr overrides config web.addr ("127.0.0.1:0" in tests).
	Addr string
	// Launcher spawns workers (nil: spawning reports spawn_unavailable).
	Launcher Launcher
	// Version for /health.php.
	Version string
	// Ready is called once the listener is bound, with the base URL and the
	// one-time admin key when none is configured (else "").
	Ready func(url, oneTimeKey string)
	// Extend registers extra routes and detail sections before serving.
	ExtraRoutes func(mux *http.ServeMux, s *Server)
	// Supervised is shown in /health.php and on the dashboard.
	Supervised     Supervised
	DetailSections []DetailSection
}

// Serve wires the webui from a cliapp.Env (writer DB already migrated),
// listens, and shuts down gracefully when ctx is cancelled (SIGTERM).
func Serve(ctx context.Context, env *cliapp.Env, o ServeOptions) error {
	cfg := env.Config
	addr := o.Addr
	if addr == "" {
		addr = cfg.Web.Addr
	}
	oneTime := ""
	if strings.TrimSpace(cfg.Security.InternalAPIKey) == "" {
		// No key configured: admin rights would be unreachable (loopback is
		// not admin). A random per-process key is printed to the console of
		// the person who started the server, like a notebook token.
		oneTime = randomHex(16)
		cfg.Security.InternalAPIKey = oneTime
	}
	readBusy := time.Duration(cfg.DB.ReadBusyTimeoutMS) * time.Millisecond
	rdb, err := db.OpenReadOnly(ctx, db.Options{Path: cfg.DB.Path, BusyTimeout: readBusy})
	if err != nil {
		return fmt.Errorf("open read handle: %w", err)
	}
	defer rdb.Close()
	q := env.Queue()
	gen, err := thumb.New(thumb.Options{CacheDir: cfg.Resolve(cfg.Paths.ThumbCache), MaxPixels: cfg.Import.MaxPixels,
		FFmpeg: &probe.FFmpeg{Path: cfg.Tools.FFmpeg}, MaxBytes: max(cfg.Web.ThumbCacheMaxMB, 0) << 20,
		Decode: probe.NewDecodeBudget(cfg.Import.MaxPixels)})
	if err != nil {
		return fmt.Errorf("thumbnail cache: %w", err)
	}
	srv, err := New(Options{Config: cfg, DB: env.DB, ReadDB: rdb, Log: env.Log, Clock: env.Clock,
		Thumbs: ThumbAdapter{G: gen}, Jobs: q, JobAdmin: JobAdminAdapter{Q: q}, Launcher: o.Launcher,
		Version: o.Version, ExtraRoutes: o.ExtraRoutes, Supervised: o.Supervised, DetailSections: o.DetailSections,
		Freshness: time.Duration(env.Modules.Jobs.FreshSeconds) * time.Second, SystemError: env.SystemError})
	if err != nil {
		return err
	}
	// Media imported or changed by the workers (imports, Ollama titles,
	// prompt edits, a legacy import) are only marked for the text index;
	// fold them in the background in short batches. Searches are exact
	// either way.
	fctx, stopFold := context.WithCancel(ctx)
	foldDone := make(chan struct{})
	go func() {
		defer close(foldDone)
		ftsindex.Run(fctx, env.DB, 3*time.Second, ftsindex.DefaultBatch, func(err error) {
			env.Log.Warn().Err(err).Str("event", "fts_fold_failed").Msg("text index fold failed; retrying")
		})
	}()
	defer func() { stopFold(); <-foldDone }()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	url := "http://" + ln.Addr().String()
	if o.Ready != nil {
		o.Ready(url, oneTime)
	}
	env.Log.Info().Str("event", "webui_start").Str("url", url).Msg("webui listening")
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = hs.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	env.Log.Info().Str("event", "webui_stop").Msg("webui stopped")
	return err
}
