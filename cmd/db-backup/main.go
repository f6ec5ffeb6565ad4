// Command db-backup writes a consistent online copy of the database with
// SQLite's backup API, plus a gzip copy and a .meta.json, keeping the newest N.
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/localsupervisor/supervisor/pkg/cliapp"
	"github.com/localsupervisor/supervisor/pkg/db"
)

func main() {
	app := &cli.App{
		Name:  "db-backup",
		Usage: "online, consistent backup of the database into paths.backups",
		Flags: append(cliapp.Flags(),
			&cli.IntFlag{Name: "keep", Value: 10, Usage: "how many backups to keep (-1 keeps all)"},
		),
		Action: func(c *cli.Context) error {
			env, err := cliapp.Setup(c, cliapp.Options{Service: "db_backup", NeedDB: true})
			if err != nil {
				return err
			}
			defer env.Close()
			res, err := db.Backup(c.Context, env.DB, db.BackupOptions{Dir: env.Config.Paths.Backups, Keep: c.Int("keep"),
				SourcePath: env.Config.DB.Path, ConfigPath: env.Config.ConfigPath, Clock: env.Clock})
			if err != nil {
				return err
			}
			env.Log.Info().Str("event", "db_backup").Str("backup_file", res.File).Int64("bytes", res.Bytes).Msg("db-backup")
			env.Summary(fmt.Sprintf("db-backup ok: %s (%d bytes, gzip %s)\nrestore: %s", res.File, res.Bytes, res.Gzip, res.RestoreHint), res)
			return nil
		},
	}
	os.Exit(cliapp.Run(app, os.Args))
}
