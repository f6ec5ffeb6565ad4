// Command ollama-service is the long-running Ollama job service: it claims
// Ollama jobs and runs each in an ollama-worker child with a hard deadline
// (ollama-service [--sleep-ms=1000] [--batch=5|--limit=5] [--max-minutes=N]
// [--media-id=N] [--max-batches=N]). It never exits because it is idle.
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/localsupervisor/supervisor/pkg/cliapp"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/ollamasvc"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

func main() {
	app := &cli.App{
		Name:  "ollama-service",
		Usage: "run the Ollama job service",
		Flags: append(cliapp.Flags(),
			&cli.IntFlag{Name: "sleep-ms", Value: 1000},
			&cli.IntFlag{Name: "batch", Usage: "claims per round (default ollama.worker.batch_size)"},
			&cli.IntFlag{Name: "limit", Usage: "alias of --batch"},
			&cli.IntFlag{Name: "max-minutes"},
			&cli.Int64Flag{Name: "media-id"},
			&cli.IntFlag{Name: "max-batches"},
			&cli.StringFlag{Name: "worker-bin", Usage: "ollama-worker binary (default: next to this binary)"},
		),
		Action: func(c *cli.Context) error {
			env, err := cliapp.Setup(c, cliapp.Options{Service: "ollama_service", NeedDB: true, Migrate: true})
			if err != nil {
				return err
			}
			defer env.Close()
			var wargs []string
			if p := c.String("config"); p != "" {
				wargs = append(wargs, "--config="+p)
			}
			bin := c.String("worker-bin")
			if bin == "" {
				bin = ollamasvc.SiblingBinary("ollama-worker")
			}
			batch := c.Int("batch")
			if batch == 0 {
				batch = c.Int("limit")
			}
			svc := ollamasvc.NewService(ollamasvc.ServiceOptions{DB: env.DB, Clock: env.Clock, Config: env.Modules.Ollama,
				Queue:   env.Queue(),
				LogsDir: env.Config.Paths.Logs, WorkerBin: bin, WorkerArgs: wargs, Sleep: time.Duration(max(0, c.Int("sleep-ms"))) * time.Millisecond,
				Batch: batch, MediaID: c.Int64("media-id"), MaxBatches: c.Int("max-batches"), MaxMinutes: c.Int("max-minutes"),
				Log: env.Log, JobsLog: env.Logs.File("ollama_jobs", "ollama_service"), ErrorsLog: env.Logs.File("ollama_errors", "ollama_service"),
				SystemError: env.SystemError})
			st, err := svc.Run(c.Context)
			if reason.Code(err) == jobs.CodeLockBusy {
				env.Summary("ollama-service: already running (lock_busy)", map[string]string{"status": "locked", "reason_code": "lock_busy"})
				return nil
			}
			if err != nil {
				return err
			}
			env.Summary(fmt.Sprintf("ollama-service: batches=%d spawned=%d done=%d errors=%d retried=%d cancelled=%d killed=%d",
				st.Batches, st.Spawned, st.Done, st.Errors, st.Retried, st.Cancelled, st.Killed), st)
			return nil
		},
	}
	os.Exit(cliapp.Run(app, os.Args))
}
