// Command rescan re-tags media synchronously: one (--media-id), a range
// (--limit/--offset) or those never scanned (--missing-scan).
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/localsupervisor/supervisor/pkg/cliapp"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/scan"
)

func main() {
	app := &cli.App{
		Name:  "rescan",
		Usage: "re-run the tagger on catalogued media",
		Flags: append(cliapp.Flags(),
			&cli.IntFlag{Name: "limit", Value: 100},
			&cli.IntFlag{Name: "offset"},
			&cli.Int64Flag{Name: "media-id"},
			&cli.BoolFlag{Name: "missing-scan", Usage: "only media without any scan_results row"},
		),
		Action: func(c *cli.Context) error {
			env, err := cliapp.Setup(c, cliapp.Options{Service: "rescan", NeedDB: true, Migrate: true})
			if err != nil {
				return err
			}
			defer env.Close()
			ctx := c.Context
			setup, err := scan.FromConfig(env.Config, env.DB, env.Clock, nil)
			if err != nil {
				return err
			}
			if setup.ScannerErr != nil {
				return setup.ScannerErr
			}
			var ids []int64
			switch {
			case c.Int64("media-id") > 0:
				ids = []int64{c.Int64("media-id")}
			case c.Bool("missing-scan"):
				ids, err = scan.UnscannedImages(ctx, env.DB, c.Int("limit"), c.Int("offset"))
			default:
				ids, err = scan.MediaRange(ctx, env.DB, c.Int("limit"), c.Int("offset"))
			}
			if err != nil {
				return err
			}
			ok, failed := 0, map[string]int{}
			for _, id := range ids {
				if ctx.Err() != nil {
					break
				}
				if _, err := setup.Importer.RescanMedia(ctx, id); err != nil {
					failed[reason.CodeOr(err, "rescan_failed")]++
					env.Log.Warn().Int64("media_id", id).Err(err).Msg("rescan failed")
					continue
				}
				ok++
			}
			env.Summary(fmt.Sprintf("rescan: %d of %d ok, failures %v", ok, len(ids), failed),
				map[string]any{"total": len(ids), "ok": ok, "failed": failed})
			if len(failed) > 0 && ok == 0 {
				return reason.New("rescan_failed", "every rescan failed")
			}
			return nil
		},
	}
	os.Exit(cliapp.Run(app, os.Args))
}
