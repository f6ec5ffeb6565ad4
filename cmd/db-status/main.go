// Command db-status compares the database with the expected schema and lists
// pending migrations; it exits 2 when anything is pending or missing.
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/localsupervisor/supervisor/pkg/cliapp"
	"github.com/localsupervisor/supervisor/pkg/db"
)

func main() {
	app := &cli.App{
		Name:  "db-status",
		Usage: "show schema differences and pending migrations (exit 2 when something is pending)",
		Flags: cliapp.Flags(),
		Action: func(c *cli.Context) error {
			env, err := cliapp.Setup(c, cliapp.Options{Service: "db_status", NeedDB: true})
			if err != nil {
				return err
			}
			defer env.Close()
			rep, err := db.Status(c.Context, env.DB)
			if err != nil {
				return err
			}
			out := map[string]any{"ok": rep.OK(), "db_path": env.Config.DB.Path, "report": rep}
			if rep.OK() {
				env.Summary(fmt.Sprintf("db-status ok: %d migrations applied, schema complete", len(rep.Applied)), out)
				return nil
			}
			var parts []string
			if len(rep.Pending) > 0 {
				parts = append(parts, "pending: "+strings.Join(rep.Pending, ", "))
			}
			if len(rep.Changed) > 0 {
				parts = append(parts, "changed after apply: "+strings.Join(rep.Changed, ", "))
			}
			if len(rep.MissingTables) > 0 {
				parts = append(parts, "missing tables: "+strings.Join(rep.MissingTables, ", "))
			}
			for t, cols := range rep.MissingColumns {
				parts = append(parts, fmt.Sprintf("missing columns %s(%s)", t, strings.Join(cols, ", ")))
			}
			if len(rep.MissingIndexes) > 0 {
				parts = append(parts, "missing indexes: "+strings.Join(rep.MissingIndexes, ", "))
			}
			line := "db-status: " + strings.Join(parts, "; ")
			env.Summary(line, out)
			return cliapp.Findings(line)
		},
	}
	os.Exit(cliapp.Run(app, os.Args))
}
