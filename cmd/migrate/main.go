// Command migrate applies pending schema migrations in order, each in its own
// transaction, recording version, applied_at, description and checksum.
package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/localsupervisor/supervisor/pkg/cliapp"
	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

// CodeWorkersRunning: a worker holds its lock, so migrating now could
// change the schema under a running job.
const CodeWorkersRunning = cliapp.CodeWorkersRunning

func main() {
	app := &cli.App{
		Name:  "migrate",
		Usage: "apply pending schema migrations",
		Flags: append(cliapp.Flags(),
			&cli.BoolFlag{Name: "dry-run", Usage: "list pending migrations and write nothing"},
			&cli.DurationFlag{Name: "wait", Value: 60 * time.Second, Usage: "how long to wait for another process holding the write lock"},
			&cli.BoolFlag{Name: "force", Usage: "migrate even while workers hold their locks"},
		),
		Action: func(c *cli.Context) error {
			env, err := cliapp.Setup(c, cliapp.Options{Service: "migrate", NeedDB: true, CreateDB: true, BusyTimeout: c.Duration("wait")})
			if err != nil {
				return err
			}
			defer env.Close()
			if !c.Bool("force") && !c.Bool("dry-run") {
				if held := cliapp.HeldWorkerLocks(env.Config.Paths.Logs); len(held) > 0 {
					return reason.Newf(CodeWorkersRunning, "workers are running (%s); stop them or pass --force", strings.Join(held, ", ")).
						With("workers", held)
				}
			}
			res, err := db.Migrate(c.Context, env.DB, db.MigrateOptions{DryRun: c.Bool("dry-run")})
			if err != nil {
				return err
			}
			var line string
			if res.DryRun {
				line = fmt.Sprintf("migrate --dry-run: %d pending: %s", len(res.Pending), strings.Join(res.Pending, ", "))
			} else {
				line = fmt.Sprintf("migrate ok: applied %d (%s), skipped %d", len(res.Applied), strings.Join(res.Applied, ", "), len(res.Skipped))
				env.Log.Info().Str("event", "migration_run").Strs("applied", res.Applied).Msg("migrate")
			}
			env.Summary(line, res)
			return nil
		},
	}
	os.Exit(cliapp.Run(app, os.Args))
}
