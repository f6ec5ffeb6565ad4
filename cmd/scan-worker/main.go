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

	"github.com/urfave/cli/v2"

	"github.com/localsupervisor/supervisor/pkg/config"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/logging"
	"github.com/localsupervisor/supervisor/pkg/scan"
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
	}))
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
