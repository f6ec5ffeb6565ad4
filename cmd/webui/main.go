// Command webui serves Supervisor's web UI: media list, detail, thumbnails,
// streaming, dashboard, job center and health. On start (never inside a
// request) it creates and migrates the database, then prints the URL.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/localsupervisor/supervisor/pkg/cliapp"
	"github.com/localsupervisor/supervisor/pkg/config"
	"github.com/localsupervisor/supervisor/pkg/launch"
	"github.com/localsupervisor/supervisor/pkg/supervise"
	"github.com/localsupervisor/supervisor/pkg/version"
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
			sup, err := newSupervisor(env, bins)
			if err != nil {
				return err
			}
			// Workers stop only after the server has shut down, so a job a
			// request just enqueued still finds a worker.
			ctx, cancelWorkers := context.WithCancel(context.Background())
			// Follow-up spawns (a job queued while its worker exited) end
			// with the workers.
			respawner := launch.NewRespawner(ctx)
			defer respawner.Close()
			supDone := make(chan struct{})
			go func() { defer close(supDone); _ = sup.Run(ctx) }()
			defer func() { cancelWorkers(); <-supDone }()
			forgeRoutes, forgeSection := web.ForgeFromEnv(env)
			return web.Serve(c.Context, env, web.ServeOptions{
				Supervised: sup,
				Addr:       c.String("addr"),
				Version:    version.Version,
				Launcher:   launcher(env.Config, bins, respawner),
				// Ollama pages: the service binary is found like other workers.
				ExtraRoutes: web.ChainRoutes(web.OllamaRoutes(web.OllamaOptions{Config: env.Modules.Ollama, Jobs: env.Modules.Jobs,
					LogsDir: env.Config.Paths.Logs, ServiceBin: findOrEmpty(env.Config, bins, "ollama-service"),
					ServiceArgs: configArgs(env.Config)}), forgeRoutes),
				// The Ollama routes add their own detail panel.
				DetailSections: []web.DetailSection{forgeSection},
				Ready: func(url, key string) {
					fmt.Fprintf(c.App.Writer, "webui listening on %s\n", url)
					if key != "" {
						fmt.Fprintf(c.App.Writer, "admin: no security.internal_api_key configured; one-time key for this run: %s\n  unlock: %s/login?key=%s\n", key, url, key)
					}
				},
			})
		},
	}
	os.Exit(cliapp.Run(app, os.Args))
}

// newSupervisor builds the worker supervisor from workers.supervise; an
// empty list yields a supervisor with nothing to run.
func newSupervisor(env *cliapp.Env, bins string) (*supervise.Supervisor, error) {
	// The options carry the logs folder so health shows each supervised
	// worker's own heartbeat, not only whether its process is up.
	o, err := supervise.OptionsFromConfig(env.Config, bins, time.Duration(env.Modules.Jobs.FreshSeconds)*time.Second)
	if err != nil {
		return nil, err
	}
	o.Log, o.Clock, o.Stderr = env.Log, env.Clock, os.Stderr
	// Outlast the workers' own shutdown grace, so a stopping worker can
	// finish or release its running job before it is killed.
	o.Grace = time.Duration(env.Modules.Jobs.ShutdownGraceSeconds)*time.Second + 5*time.Second
	return supervise.New(o)
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
