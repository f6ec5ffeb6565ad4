// Command prompts-rebuild fills the queryable generation parameters
// (media_gen) of media imported before they existed, from the stored
// prompts, and re-extracts generation metadata where the prompt is missing
// or was extracted by an older extractor version; a second run does
// nothing.
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/localsupervisor/supervisor/pkg/cliapp"
	"github.com/localsupervisor/supervisor/pkg/scan"
)

func main() {
	app := &cli.App{
		Name:  "prompts-rebuild",
		Usage: "fill searchable generation parameters from stored prompts; re-extract prompts/metadata for media that lack them or are stale",
		Flags: append(cliapp.Flags(),
			&cli.IntFlag{Name: "limit", Value: 250},
			&cli.IntFlag{Name: "offset"},
			&cli.Int64Flag{Name: "media-id"},
			&cli.BoolFlag{Name: "force", Usage: "re-extract every selected media"},
		),
		Action: func(c *cli.Context) error {
			env, err := cliapp.Setup(c, cliapp.Options{Service: "prompts_rebuild", NeedDB: true, Migrate: true})
			if err != nil {
				return err
			}
			defer env.Close()
			setup, err := scan.FromConfig(env.Config, env.DB, env.Clock, nil)
			if err != nil {
				return err
			}
			s, err := setup.Importer.PromptsRebuild(c.Context, scan.RebuildOptions{Limit: c.Int("limit"), Offset: c.Int("offset"),
				MediaID: c.Int64("media-id"), Force: c.Bool("force")})
			if err != nil {
				return err
			}
			env.Summary(fmt.Sprintf("prompts-rebuild: %d candidates, %d processed, %d changed, %d skipped, %d errors, %d gen rows filled",
				s.Total, s.Processed, s.Changed, s.Skipped, s.Errors, s.GenFilled), s)
			return nil
		},
	}
	os.Exit(cliapp.Run(app, os.Args))
}
