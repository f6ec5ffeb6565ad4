// Command ollama-dupe-hints computes near-duplicate hints from stored text
// embeddings (cosine, symmetric, incremental for new vectors):
// ollama-dupe-hints [--model=NAME] [--limit=N] [--json].
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/localsupervisor/supervisor/pkg/cliapp"
	"github.com/localsupervisor/supervisor/pkg/ollama"
)

func main() {
	app := &cli.App{
		Name:  "ollama-dupe-hints",
		Usage: "compute dupe hints from ollama text vectors",
		Flags: append(cliapp.Flags(),
			&cli.StringFlag{Name: "model", Usage: "embed model (default ollama.model.embed)"},
			&cli.IntFlag{Name: "limit", Usage: "max new/changed vectors per run (0 = all)"},
		),
		Action: func(c *cli.Context) error {
			env, err := cliapp.Setup(c, cliapp.Options{Service: "ollama_dupe_hints", NeedDB: true, Migrate: true})
			if err != nil {
				return err
			}
			defer env.Close()
			cfg := env.Modules.Ollama.Normalized()
			model := c.String("model")
			if model == "" {
				model = cfg.ModelFor(ollama.ModeEmbed)
			}
			st := ollama.NewStore(env.DB, env.Clock, ollama.StoreOptions{})
			run, err := st.RunDupeHints(c.Context, model, ollama.DupeOptions{TopK: cfg.Dupe.TopK, Threshold: cfg.Dupe.Threshold, DomainSplit: cfg.Dupe.DomainSplit}, c.Int("limit"))
			if err != nil {
				return err
			}
			env.Summary(fmt.Sprintf("ollama-dupe-hints: model=%s vectors=%d seeds=%d updated=%d skipped=%d duration=%s",
				model, run.Vectors, run.Seeds, run.Updated, run.Skipped, run.Duration), run)
			return nil
		},
	}
	os.Exit(cliapp.Run(app, os.Args))
}
