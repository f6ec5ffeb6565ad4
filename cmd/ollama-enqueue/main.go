// Command ollama-enqueue enqueues Ollama jobs for candidate media and starts
// ollama-service (fire-and-forget):
//
//	ollama-enqueue --mode=caption|…|embed|all [--limit=50] [--since=DATE] [--all]
//	  [--missing-title] [--missing-caption] [--media-id=N] [--force] [--json]
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/localsupervisor/supervisor/pkg/cliapp"
	"github.com/localsupervisor/supervisor/pkg/ollamasvc"
)

func main() {
	app := &cli.App{
		Name:  "ollama-enqueue",
		Usage: "enqueue Ollama enrichment jobs",
		Flags: append(cliapp.Flags(),
			&cli.StringFlag{Name: "mode", Value: "all"},
			&cli.IntFlag{Name: "limit", Value: ollamasvc.DefaultEnqueueLimit, Usage: "per mode (-1 = no cap)"},
			&cli.StringFlag{Name: "since"},
			&cli.BoolFlag{Name: "all"},
			&cli.BoolFlag{Name: "missing-title"},
			&cli.BoolFlag{Name: "missing-caption"},
			&cli.Int64Flag{Name: "media-id"},
			&cli.BoolFlag{Name: "force"},
			&cli.BoolFlag{Name: "no-autostart"},
		),
		Action: func(c *cli.Context) error {
			modes, err := ollamasvc.ResolveModes(c.String("mode"))
			if err != nil {
				return cli.Exit(err.Error(), cliapp.ExitFailure)
			}
			since, err := ollamasvc.ParseSince(c.String("since"))
			if err != nil {
				return cli.Exit(err.Error(), cliapp.ExitFailure)
			}
			env, err := cliapp.Setup(c, cliapp.Options{Service: "ollama_enqueue", NeedDB: true, Migrate: true})
			if err != nil {
				return err
			}
			defer env.Close()
			oc := env.Modules.Ollama.Normalized()
			q := env.Queue()
			e := &ollamasvc.Enqueuer{Queue: q, Clock: env.Clock}
			sum, err := e.Enqueue(c.Context, ollamasvc.EnqueueOptions{Modes: modes, Limit: c.Int("limit"), Since: since, All: c.Bool("all"),
				MissingTitle: c.Bool("missing-title"), MissingCaption: c.Bool("missing-caption"), MediaID: c.Int64("media-id"),
				Force: c.Bool("force"), VideoFrames: oc.VideoFrames, PromptEvalFallbackTags: oc.PromptEvalFallback == "tags"})
			if err != nil {
				return err
			}
			jl := env.Logs.File("ollama_jobs", "ollama_enqueue")
			jl.Info().Str("event", "enqueue").Interface("summary", sum).Msg("enqueue")
			out := map[string]any{"summary": sum}
			line := fmt.Sprintf("Kandidaten: %d | Enqueued: %d | Bereits: %d | Übersprungen: %d", sum.Candidates, sum.Enqueued, sum.Deduped, sum.Skipped)
			if !c.Bool("no-autostart") {
				counts, _ := ollamasvc.Counts(c.Context, env.DB)
				var args []string
				if p := c.String("config"); p != "" {
					args = append(args, "--config="+p)
				}
				args = append(args, fmt.Sprintf("--batch=%d", oc.Worker.BatchSize), "--sleep-ms=1000")
				sr := ollamasvc.Autostart(c.Context, ollamasvc.AutostartOptions{LogsDir: env.Config.Paths.Logs, ServiceBin: ollamasvc.SiblingBinary("ollama-service"),
					Args: args, Cooldown: time.Duration(oc.SpawnCooldown) * time.Second, Clock: env.Clock, Pending: counts.Queued})
				out["autostart"] = sr
				line += fmt.Sprintf(" | Autostart: %s (%s)", sr.Status, sr.ReasonCode)
			}
			env.Summary(line, out)
			return nil
		},
	}
	os.Exit(cliapp.Run(app, os.Args))
}
