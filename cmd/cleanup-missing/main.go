// Command cleanup-missing marks media whose files vanished as missing (and
// back to active when they reappear) and deletes missing media — never
// those with locked tags — only with both --confirm and --no-dry-run.
//
//	cleanup-missing [--mark] [--confirm --no-dry-run] [--json]
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/localsupervisor/supervisor/pkg/cliapp"
	"github.com/localsupervisor/supervisor/pkg/mediaops"
)

func main() {
	app := &cli.App{
		Name:  "cleanup-missing",
		Usage: "mark and (with --confirm --no-dry-run) delete media whose files are gone",
		Flags: append(cliapp.Flags(),
			&cli.BoolFlag{Name: "mark", Usage: "set status missing/active by file existence first"},
			&cli.BoolFlag{Name: "confirm", Usage: "confirm deletion (needs --no-dry-run too)"},
			&cli.BoolFlag{Name: "no-dry-run", Usage: "really delete (needs --confirm too)"},
		),
		Action: func(c *cli.Context) error {
			env, err := cliapp.Setup(c, cliapp.Options{Service: "cleanup_missing", NeedDB: true, CurrentSchema: true})
			if err != nil {
				return err
			}
			defer env.Close()
			s, err := mediaops.FromConfig(env.Config, env.DB, env.Clock, nil)
			if err != nil {
				return err
			}
			rep, err := s.CleanupMissing(c.Context, mediaops.CleanupOptions{Mark: c.Bool("mark"), Delete: c.Bool("confirm") && c.Bool("no-dry-run")})
			if err != nil {
				return err
			}
			if !env.JSON {
				for _, it := range rep.Items {
					fmt.Fprintf(env.Stdout, "%-18s media %d %s\n", it.Action, it.MediaID, it.Path)
				}
			}
			mode := "dry-run"
			if !rep.DryRun {
				mode = "delete"
			}
			env.Summary(fmt.Sprintf("cleanup-missing (%s): marked_missing=%d marked_active=%d deleted=%d skipped_locked=%d would_delete=%d",
				mode, rep.Marked, rep.Restored, rep.Deleted, rep.Locked, countAction(rep, "would_delete")), rep)
			return nil
		},
	}
	os.Exit(cliapp.Run(app, os.Args))
}

func countAction(r *mediaops.CleanupReport, a string) int {
	n := 0
	for _, it := range r.Items {
		if it.Action == a {
			n++
		}
	}
	return n
}
