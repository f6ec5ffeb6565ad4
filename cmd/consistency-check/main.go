// Command consistency-check runs the catalogue consistency checks (the
// original consistency_check.php): findings go to consistency_log and
// stdout; exit 0 none, 2 findings, 1 failure.
//
//	consistency-check [--repair=simple] [--json]
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
		Name:  "consistency-check",
		Usage: "check the catalogue for orphans, missing files, job and prompt history gaps (exit 2 on findings)",
		Flags: append(cliapp.Flags(), &cli.StringFlag{Name: "repair", Usage: "simple: fix what is safe and audit it"}),
		Action: func(c *cli.Context) error {
			if r := c.String("repair"); r != "" && r != "simple" {
				return cli.Exit(fmt.Sprintf("unknown --repair=%s (only simple)", r), cliapp.ExitFailure)
			}
			env, err := cliapp.Setup(c, cliapp.Options{Service: "consistency_check", NeedDB: true, CurrentSchema: true})
			if err != nil {
				return err
			}
			defer env.Close()
			s, err := mediaops.FromConfig(env.Config, env.DB, env.Clock, nil)
			if err != nil {
				return err
			}
			rep, err := s.RunConsistency(c.Context, mediaops.ConsistencyOptions{Repair: c.String("repair"), ThumbCache: env.Config.Paths.ThumbCache,
				ScannerEnabled: env.Modules.Enabled("scanner")})
			if err != nil {
				return err
			}
			if !env.JSON {
				for _, f := range rep.Findings {
					fmt.Fprintf(env.Stdout, "%-5s %-28s %s%s\n", f.Severity, f.Check, f.Message, map[bool]string{true: " [repaired]"}[f.Repaired])
				}
			}
			line := fmt.Sprintf("consistency-check (%s): findings=%d repaired=%d", rep.Mode, rep.Warnings(), rep.Repaired)
			env.Summary(line, rep)
			if rep.Warnings() > rep.Repaired {
				return cliapp.Findings(line)
			}
			return nil
		},
	}
	os.Exit(cliapp.Run(app, os.Args))
}
