// Command scan-worker runs the scan group's jobs (the original
// scan_worker_cli.php): scan_backfill_tags → rescan_media → scan_path, with
// weighted fairness from the shared Runner so scan_path never starves.
//
//	scan-worker --limit=N [--path=PREFIX] [--media-id=N] [--loop --sleep-ms=N]
package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/localsupervisor/supervisor/pkg/config"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/logging"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/scan"
	"github.com/localsupervisor/supervisor/pkg/sources"
	"github.com/localsupervisor/supervisor/pkg/workercmd"
)

func main() {
	os.Exit(workercmd.Main(workercmd.Spec{
		Name:            "scan-worker",
		Usage:           "run scan jobs (scan_backfill_tags, rescan_media, scan_path)",
		Worker:          "scan_worker",
		Types:           []string{jobs.TypeScanBackfillTags, jobs.TypeRescanMedia, jobs.TypeScanPath},
		DefaultLimit:    11,
		ThroughputGC:    true,
		SleepFromConfig: func(c *config.Config) int { return c.Workers.Scan.SleepMS },
		ExtraFlags: []cli.Flag{
			&cli.StringFlag{Name: "path", Usage: "only claim scan_path jobs whose path is this folder or below it (others stay queued)"},
		},
		// The claim query never takes a scan_path job while one of an
		// overlapping folder runs, and --path filters there too: jobs held
		// back stay queued with attempts 0 until they can run.
		ClaimFilter: func(env *workercmd.Env) jobs.ClaimFilterFunc {
			return scan.ScanPathClaimFilter(pathPrefix(env.CLI.String("path")))
		},
		Setup: setup,
		// Only the instance holding the lock queues the rescans of watched
		// library sources (once at start, then every tick with --loop).
		Locked: startWatch,
	}))
}

// startWatch runs the library-source watch schedule
// (import.watch_interval_minutes; 0 = off): once now, and in --loop mode
// on a ticker until stop. Failures are logged; the next tick retries.
func startWatch(ctx context.Context, env *workercmd.Env) (stop func()) {
	if env.Config == nil || env.Config.Import.WatchIntervalMinutes <= 0 {
		return nil
	}
	interval := time.Duration(env.Config.Import.WatchIntervalMinutes) * time.Minute
	w := &sources.Watcher{DB: env.DB, Clock: env.Clock, Interval: interval, Enqueue: scan.WatchEnqueuer(env.Queue, env.Clock)}
	report := func(res sources.WatchResult, err error) {
		if err != nil {
			env.Log.Warn().Err(err).Msg("source_watch_failed")
			return
		}
		for p, ferr := range res.Failed {
			env.Log.Warn().Err(ferr).Str("path", p).Str("reason_code", reason.CodeOr(ferr, "error")).Msg("source_watch_queue_failed")
		}
		if res.Queued > 0 {
			env.Log.Info().Int("queued", res.Queued).Int("deduped", res.Deduped).Msg("source_watch")
		}
	}
	if !env.CLI.Bool("loop") {
		report(w.RunOnce(ctx))
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Run(ctx, sources.Tick(interval), report)
	}()
	return func() { cancel(); <-done }
}

// pathPrefix makes --path absolute and resolves symlinks, as payload paths
// are stored (NewScanPathPayload); "" stays "".
func pathPrefix(p string) string {
	if p == "" {
		return ""
	}
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	if real, err := filepath.EvalSymlinks(p); err == nil {
		p = real
	}
	return p
}

func setup(ctx context.Context, env *workercmd.Env) (map[string]jobs.Handler, func(), error) {
	s, err := scan.FromConfig(env.Config, env.DB, env.Clock, nil)
	if err != nil {
		return nil, nil, err
	}
	logs, err := logging.NewSet(logging.Options{Dir: env.LogsDir, Console: io.Discard,
		MaxSizeMB: env.Config.Logging.MaxSizeMB, MaxBackups: env.Config.Logging.MaxBackups})
	if err != nil {
		return nil, nil, err
	}
	ingest := logs.File("scanner_ingest", "scan_worker")
	s.Importer.Ingest = func(event string, f map[string]any) { ingest.Info().Fields(f).Msg(event) }
	if s.ScannerErr != nil {
		env.Log.Warn().Err(s.ScannerErr).Msg("scanner misconfigured; scan jobs will fail with its reason code")
	}
	cfg := env.Config
	h := s.Handlers(scan.HandlerOptions{Queue: env.Queue,
		Walk: scan.WalkOptions{FollowSymlinks: cfg.Import.FollowSymlinks, SkipDirs: cfg.Import.SkipDirs,
			SkipPaths: []string{cfg.Paths.Derivatives, cfg.Paths.ThumbCache, cfg.Paths.Previews}}})
	return h, func() { _ = logs.Close() }, nil
}
