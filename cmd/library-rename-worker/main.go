// Command library-rename-worker moves media files to their canonical
// library path (the original library_rename_worker_cli.php / service):
//
//	library-rename-worker [--limit=50] [--loop --sleep-ms=1500]
//	library-rename-worker enqueue [--limit=N]
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/localsupervisor/supervisor/pkg/cliapp"
	"github.com/localsupervisor/supervisor/pkg/config"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/mediaops"
	"github.com/localsupervisor/supervisor/pkg/workercmd"
)

func main() {
	app := workercmd.App(workercmd.Spec{
		Name:            "library-rename-worker",
		Usage:           "move media files to their canonical library path (library_rename jobs)",
		Worker:          "library_rename_worker",
		Types:           []string{jobs.TypeLibraryRename},
		DefaultLimit:    50,
		SleepFromConfig: func(c *config.Config) int { return c.Workers.LibraryRename.SleepMS },
		Setup: func(ctx context.Context, env *workercmd.Env) (map[string]jobs.Handler, func(), error) {
			s, err := mediaops.FromConfig(env.Config, env.DB, env.Clock, nil)
			if err != nil {
				return nil, nil, err
			}
			return s.RenameHandlers(), nil, nil
		},
	})
	app.Commands = []*cli.Command{{
		Name:  "enqueue",
		Usage: "enqueue library_rename jobs for media not at their canonical path",
		Flags: append(cliapp.Flags(), &cli.IntFlag{Name: "limit", Usage: "max jobs (0 = no cap)"}),
		Action: func(c *cli.Context) error {
			env, err := cliapp.Setup(c, cliapp.Options{Service: "library_rename_worker", NeedDB: true, CurrentSchema: true})
			if err != nil {
				return err
			}
			defer env.Close()
			s, err := mediaops.FromConfig(env.Config, env.DB, env.Clock, nil)
			if err != nil {
				return err
			}
			q := env.Queue()
			sum, err := s.EnqueueRenames(c.Context, q, c.Int("limit"))
			if err != nil {
				return err
			}
			env.Summary(fmt.Sprintf("library-rename-worker enqueue: candidates=%d enqueued=%d deduped=%d skipped=%d queue_full=%v",
				sum.Candidates, sum.Enqueued, sum.Deduped, sum.Skipped, sum.QueueFull), sum)
			return nil
		},
	}}
	os.Exit(cliapp.Run(app, os.Args))
}
