// Command scan-path queues a scan_path job for a folder or file, or with
// --now imports it inline (progress on a terminal, one-line JSON with --json).
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/localsupervisor/supervisor/pkg/cliapp"
	"github.com/localsupervisor/supervisor/pkg/scan"
)

func main() {
	app := &cli.App{
		Name:  "scan-path",
		Usage: "import a folder or file into the catalogue (queued, or inline with --now)",
		Flags: append(cliapp.Flags(),
			&cli.StringFlag{Name: "path", Required: true, Usage: "folder or file to import"},
			&cli.StringFlag{Name: "source", Value: "cli", Usage: "label of who asked (stored in the job payload)"},
			&cli.StringFlag{Name: "mode", Usage: "move|copy|in_place (default: config import.mode)"},
			&cli.IntFlag{Name: "limit", Usage: "stop after N media files (0 = all)"},
			&cli.BoolFlag{Name: "now", Usage: "run the import inline instead of queueing a job"},
		),
		Action: run,
	}
	os.Exit(cliapp.Run(app, os.Args))
}

func run(c *cli.Context) error {
	env, err := cliapp.Setup(c, cliapp.Options{Service: "scan_path", NeedDB: true, Migrate: true, ThroughputGC: true})
	if err != nil {
		return err
	}
	defer env.Close()
	ctx := c.Context
	p, err := scan.NewScanPathPayload(c.String("path"), c.Int("limit"), c.String("mode"), c.String("source"), env.Clock.Now())
	if err != nil {
		return err
	}
	q := env.Queue()
	if !c.Bool("now") {
		res, err := scan.EnqueueScanPath(ctx, q, p)
		if err != nil {
			return err
		}
		env.Summary(fmt.Sprintf("scan-path: queued job %d for %s (deduped=%v)", res.JobID, p.Path, res.Deduped),
			map[string]any{"job_id": res.JobID, "deduped": res.Deduped, "payload": p})
		return nil
	}
	setup, err := scan.FromConfig(env.Config, env.DB, env.Clock, nil)
	if err != nil {
		return err
	}
	im := setup.Importer
	if p.Mode != "" {
		im.Mode = p.Mode
	}
	im.Enqueue = scan.QueueEnqueuer(q)
	ingestLog := env.Logs.File("scanner_ingest", "scan_path")
	im.Ingest = func(event string, f map[string]any) { ingestLog.Info().Fields(f).Msg(event) }
	if setup.ScannerErr != nil {
		env.Log.Warn().Err(setup.ScannerErr).Msg("scanner misconfigured; importing without tags")
	}
	start := time.Now()
	tty := isTerminal(env.Stdout) && !env.JSON
	opts := scan.RunOptions{Limit: p.Limit, Walk: scan.WalkOptions{FollowSymlinks: env.Config.Import.FollowSymlinks,
		SkipDirs: env.Config.Import.SkipDirs, SkipPaths: []string{env.Config.Paths.Derivatives, env.Config.Paths.ThumbCache, env.Config.Paths.Previews}}}
	if tty {
		opts.Progress = func(s scan.Summary, _ scan.Outcome) {
			el := time.Since(start).Seconds()
			rate := float64(s.Processed) / max(el, 0.001)
			eta := ""
			if p.Limit > 0 && rate > 0 {
				eta = fmt.Sprintf(" ETA %.0fs", float64(p.Limit-s.Processed)/rate)
			}
			fmt.Fprintf(env.Stdout, "\r%d files, %.0f files/s, %d imported, %d dup, %d err%s   ", s.Processed, rate, s.Imported, s.Duplicates, s.Errors, eta)
		}
	}
	sum, err := im.ScanPath(ctx, p.Path, opts)
	if tty {
		fmt.Fprintln(env.Stdout)
	}
	if err != nil {
		return err
	}
	el := time.Since(start).Seconds()
	line := fmt.Sprintf("scan-path: %d processed (%d imported, %d duplicates, %d unchanged, %d errors, %d not media) in %.1fs",
		sum.Processed, sum.Imported, sum.Duplicates, sum.Unchanged, sum.Errors, sum.NotMedia, el)
	if w := sum.Warnings.Text(); w != "" {
		line += "\nwarnings: " + w + "; details per file are in the import log"
	}
	env.Summary(line,
		map[string]any{"path": p.Path, "result": sum, "seconds": el})
	return nil
}

func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
