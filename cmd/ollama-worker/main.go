// Command ollama-worker runs exactly one claimed Ollama job as a child of
// ollama-service: ollama-worker --job-id=N --owner=TOKEN --trace-file=PATH.
// It prints one JSON line {ok, job_id, status, error_code, error} and exits
// 0 iff the job is done.
package main

import (
	"encoding/json"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/localsupervisor/supervisor/pkg/cliapp"
	"github.com/localsupervisor/supervisor/pkg/ollamasvc"
	"github.com/localsupervisor/supervisor/pkg/probe"
)

func main() {
	app := &cli.App{
		Name:  "ollama-worker",
		Usage: "run one claimed Ollama job (started by ollama-service)",
		Flags: append(cliapp.Flags(),
			&cli.Int64Flag{Name: "job-id", Required: true},
			&cli.StringFlag{Name: "owner", Usage: "claim token written by the service"},
			&cli.StringFlag{Name: "trace-file"},
		),
		Action: func(c *cli.Context) error {
			env, err := cliapp.Setup(c, cliapp.Options{Service: "ollama_worker", NeedDB: true, CurrentSchema: true})
			if err != nil {
				return err
			}
			defer env.Close()
			// The service's death cancels ctx (ChildOptions.ParentGone).
			ctx, parentGone, stop := ollamasvc.WatchParent(c.Context)
			defer stop()
			r := ollamasvc.RunChild(ctx, ollamasvc.ChildOptions{DB: env.DB, Queue: env.Queue(), Clock: env.Clock, Config: env.Modules.Ollama,
				JobID: c.Int64("job-id"), ParentGone: parentGone, Owner: c.String("owner"), TraceFile: c.String("trace-file"),
				JobsLog: env.Logs.File("ollama_jobs", "ollama_worker"), ErrorsLog: env.Logs.File("ollama_errors", "ollama_worker"),
				FFmpeg: &probe.FFmpeg{Path: env.Config.Tools.FFmpeg, Probe: &probe.FFprobe{Path: env.Config.Tools.FFprobe}}})
			b, _ := json.Marshal(r)
			_, _ = os.Stdout.Write(append(b, '\n'))
			if !r.OK {
				return cli.Exit("", cliapp.ExitFailure)
			}
			return nil
		},
	}
	os.Exit(cliapp.Run(app, os.Args))
}
