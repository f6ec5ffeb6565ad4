// Command init-db creates the database and its schema. It is idempotent and
// shares its code with migrate: a fresh database is just one with every
// migration pending.
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
		Name:  "init-db",
		Usage: "create the SQLite database and apply the schema (idempotent)",
		Flags: cliapp.Flags(),
		Action: func(c *cli.Context) error {
			env, err := cliapp.Setup(c, cliapp.Options{Service: "init_db", NeedDB: true, CreateDB: true})
			if err != nil {
				return err
			}
			defer env.Close()
			res, err := db.Migrate(c.Context, env.DB, db.MigrateOptions{})
			if err != nil {
				return err
			}
			env.Log.Info().Str("event", "init_db").Strs("applied", res.Applied).Str("db_path", env.Config.DB.Path).Msg("init-db")
			env.Summary(fmt.Sprintf("init-db ok: %s (applied %d: %s; already present %d)", env.Config.DB.Path,
				len(res.Applied), strings.Join(res.Applied, ", "), len(res.Skipped)),
				map[string]any{"ok": true, "db_path": env.Config.DB.Path, "applied": res.Applied, "skipped": res.Skipped})
			return nil
		},
	}
	os.Exit(cliapp.Run(app, os.Args))
}
