// Command selftest checks the installation end to end in a temporary folder
// and the configured services; exit 0 ok, 2 ok with optional parts missing,
// 1 failure.
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/localsupervisor/supervisor/pkg/cliapp"
	"github.com/localsupervisor/supervisor/pkg/selftest"
)

func main() {
	app := &cli.App{
		Name:  "selftest",
		Usage: "import, extract, thumbnail and check generated files in a temp dir; check logs, WAL and services",
		Flags: append(cliapp.Flags(), &cli.BoolFlag{Name: "keep", Usage: "keep the temporary folder"}),
		Action: func(c *cli.Context) error {
			env, err := cliapp.Setup(c, cliapp.Options{Service: "selftest"})
			if err != nil {
				return err
			}
			defer env.Close()
			rep := selftest.Run(c.Context, selftest.Options{Config: env.Config, Scanner: env.Modules.Scanner,
				Forge: env.Modules.Forge, Ollama: env.Modules.Ollama, Keep: c.Bool("keep"),
				Clock: env.Clock, Fresh: time.Duration(env.Modules.Jobs.FreshSeconds) * time.Second})
			verdict := "ok"
			switch {
			case rep.Failed():
				verdict = "FAILED"
			case rep.Degraded():
				verdict = "ok with optional parts missing"
			}
			if env.JSON {
				env.Summary("", map[string]any{"verdict": verdict, "report": rep})
			} else {
				for _, ch := range rep.Checks {
					fmt.Fprintf(env.Stdout, "%-8s %-20s %s\n", ch.Status, ch.Name, ch.Detail)
				}
				if rep.TmpDir != "" {
					fmt.Fprintln(env.Stdout, "kept:", rep.TmpDir)
				}
				fmt.Fprintln(env.Stdout, "selftest:", verdict)
			}
			switch {
			case rep.Failed():
				return cli.Exit("", cliapp.ExitFailure)
			case rep.Degraded():
				return cliapp.Findings("optional parts missing")
			}
			return nil
		},
	}
	os.Exit(cliapp.Run(app, os.Args))
}
