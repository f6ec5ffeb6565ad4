// Command webui serves Supervisor's web UI: media list, detail, thumbnails,
// streaming, dashboard, job center and health. On start (never inside a
// request) it creates and migrates the database, then prints the URL.
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/localsupervisor/supervisor/pkg/cliapp"
	"github.com/localsupervisor/supervisor/pkg/config"
	"github.com/localsupervisor/supervisor/pkg/supervise"
	"github.com/localsupervisor/supervisor/pkg/version"
	"github.com/localsupervisor/supervisor/pkg/web"
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
			sup, err := newSupervisor(env)
			if err != nil {
				return err
			}
			// Workers stop only after the server has shut down, so a job a
			// request just enqueued still finds a worker.
			ctx, cancelWorkers := context.WithCancel(context.Background())
			supDone := make(chan struct{})
			go func() { defer close(supDone); _ = sup.Run(ctx) }()
			defer func() { cancelWorkers(); <-supDone }()
			return web.Serve(c.Context, env, web.ServeOptions{
				Supervised: sup,
				Addr:       c.String("addr"),
				Version:    version.Version,
				Launcher:   execLauncher{cfg: env.Config},
				// Ollama pages: the service binary is found like other workers.
				ExtraRoutes: web.OllamaRoutes(web.OllamaOptions{Config: env.Modules.Ollama, Jobs: env.Modules.Jobs,
					LogsDir: env.Config.Paths.Logs, ServiceBin: execLauncher{cfg: env.Config}.find("ollama-service"),
					ServiceArgs: configArgs(env.Config)}),
				DetailSections: []web.DetailSection{web.OllamaDetailSection()},
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
func newSupervisor(env *cliapp.Env) (*supervise.Supervisor, error) {
	exeDir := ""
	if exe, err := os.Executable(); err == nil {
		exeDir = filepath.Dir(exe)
	}
	// The options carry the logs folder so health shows each supervised
	// worker's own heartbeat, not only whether its process is up.
	o, err := supervise.OptionsFromConfig(env.Config, exeDir, time.Duration(env.Modules.Jobs.FreshSeconds)*time.Second)
	if err != nil {
		return nil, err
	}
	o.Log, o.Clock, o.Stderr = env.Log, env.Clock, os.Stderr
	return supervise.New(o)
}

// execLauncher starts a worker binary fire-and-forget until pkg/launch lands:
// it never waits for the worker and reports started_unverified.
type execLauncher struct{ cfg *config.Config }

func (l execLauncher) Spawn(ctx context.Context, worker string, args []string) (string, error) {
	bin := l.find(worker)
	if bin == "" {
		return "service_script_missing", nil
	}
	// Not bound to the request context: the worker outlives the request.
	cmd := exec.Command(bin, args...)
	if l.cfg.ConfigPath != "" {
		cmd.Args = append(cmd.Args, "--config="+l.cfg.ConfigPath)
	}
	cmd.Dir = l.cfg.BaseDir
	if err := cmd.Start(); err != nil {
		return "spawn_failed", err
	}
	go func() { _ = cmd.Wait() }() // reap
	return "started_unverified", nil
}

func (l execLauncher) find(worker string) string {
	var dirs []string
	if l.cfg.Workers.BinDir != "" {
		dirs = append(dirs, l.cfg.Resolve(l.cfg.Workers.BinDir))
	}
	if exe, err := os.Executable(); err == nil {
		dirs = append(dirs, filepath.Dir(exe))
	}
	for _, d := range dirs {
		p := filepath.Join(d, worker)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	if p, err := exec.LookPath(worker); err == nil {
		return p
	}
	return ""
}

// configArgs forwards the config file to spawned services.
func configArgs(cfg *config.Config) []string {
	if cfg.ConfigPath == "" {
		return nil
	}
	return []string{"--config=" + cfg.ConfigPath}
}
