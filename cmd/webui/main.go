// Command webui serves Supervisor's web UI: media list, detail, thumbnails,
// streaming, dashboard, job center and health. On start (never inside a
// request) it creates and migrates the database, then prints the URL.
package main

import (
	"context"
	"io"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/localsupervisor/supervisor/pkg/cliapp"
	"github.com/localsupervisor/supervisor/pkg/config"
	"github.com/localsupervisor/supervisor/pkg/launch"
	"github.com/localsupervisor/supervisor/pkg/supervise"
	"github.com/localsupervisor/supervisor/pkg/web"
	"github.com/localsupervisor/supervisor/pkg/workerbin"
)

func main() {
	app := &cli.App{
		Name:  "webui",
		Usage: "serve the Supervisor web UI",
		Flags: append(cliapp.Flags(), &cli.StringFlag{Name: "addr", Usage: "listen address (default config web.addr, 127.0.0.1:8080)"}),
		Action: func(c *cli.Context) error {
			env, err := cliapp.Setup(c, cliapp.Options{Service: "webui", NeedDB: true, CreateDB: true, Migrate: true})
			if err != nil {
				return err
			}
			defer env.Close()
			bins, err := workerDir(c.Context, env.Config, c.App.Writer)
			if err != nil {
				return err
			}
			m := &Main{Env: env, Addr: c.String("addr"), Bins: bins, Out: c.App.Writer}
			return m.Run(c.Context)
		},
	}
	os.Exit(cliapp.Run(app, os.Args))
}

// exeDir is the folder of the running webui binary ("" if unknown).
func exeDir() string {
	if exe, err := os.Executable(); err == nil {
		return filepath.Dir(exe)
	}
	return ""
}

// workerDir is where webui finds its workers: beside it, or, under `go
// run` in a checkout, the checkout's bin/ folder after building them
// (workerbin). A configured workers.bin_dir is searched first anyway.
func workerDir(ctx context.Context, cfg *config.Config, out io.Writer) (string, error) {
	// The workers webui may start: supervised or spawned by a web action.
	startable := []string{"scan", "media", "library_rename", "forge", "ollama"}
	need := make([]string, len(startable))
	for i, w := range startable {
		need[i] = supervise.BinaryName(w)
	}
	if cfg.Workers.BinDir != "" {
		if _, err := supervise.FindConfigured(cfg, need[0], ""); err == nil {
			return exeDir(), nil
		}
	}
	wd, _ := os.Getwd()
	res, err := workerbin.Ensure(ctx, workerbin.Options{ExeDir: exeDir(), WorkDir: wd, Need: need, Out: out})
	return res.Dir, err
}

// findBinary is webui's one binary lookup, shared with the worker
// supervisor: workers.bin_dir, beside webui (or the built bin/), then $PATH.
func findBinary(cfg *config.Config, bins, name string) (string, error) {
	return supervise.FindConfigured(cfg, name, bins)
}

func findOrEmpty(cfg *config.Config, bins, name string) string {
	p, _ := findBinary(cfg, bins, name)
	return p
}

// launcher spawns workers for web actions fire-and-forget via pkg/launch.
func launcher(cfg *config.Config, bins string, respawner *launch.Respawner) web.WorkerLauncher {
	return web.WorkerLauncher{Find: func(w string) (string, error) { return findBinary(cfg, bins, w) },
		LogsDir: cfg.Paths.Logs, Dir: cfg.BaseDir, ExtraArgs: configArgs(cfg),
		Respawner: respawner, Service: supervise.ServiceName}
}

// configArgs forwards the config file to spawned services.
func configArgs(cfg *config.Config) []string {
	if cfg.ConfigPath == "" {
		return nil
	}
	return []string{"--config=" + cfg.ConfigPath}
}
