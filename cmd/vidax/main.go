// Command vidax manages a local ComfyUI for Supervisor (issue #22): `serve`
// runs the HTTP API (install assets, start/stop ComfyUI, status) on
// loopback, `doctor` checks what is needed and `install` prepares the
// state directory and downloads the assets. Its own config is vidax.json
// (--vidax-config, $VIDAX_CONFIG, <state>/state/config/vidax.json,
// CONFIG/vidax.json); the shared --config (the Supervisor config) only
// says where serve writes LOGS/vidax.jsonl.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/localsupervisor/supervisor/pkg/cliapp"
	"github.com/localsupervisor/supervisor/pkg/logging"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/vidax"
)

func main() { os.Exit(cliapp.Run(app(), os.Args)) }

func app() *cli.App {
	return &cli.App{
		Name:  "vidax",
		Usage: "install ComfyUI assets and start/stop a local ComfyUI (optional companion of Supervisor)",
		Flags: append(cliapp.Flags(), vidaxConfigFlag()),
		Commands: []*cli.Command{
			{Name: "serve", Flags: []cli.Flag{vidaxConfigFlag()}, Usage: "run the vidax HTTP API (POST /install, GET /install/status, POST /jobs/:id/start, POST /comfyui/stop)", Action: withEnv(serve)},
			{Name: "doctor", Flags: []cli.Flag{vidaxConfigFlag()}, Usage: "check ffmpeg, ffprobe, python3 (optional), the config, the asset manifest and each asset; exit 20 naming what is missing", Action: withEnv(doctor)},
			{Name: "install", Flags: []cli.Flag{vidaxConfigFlag()}, Usage: "create the state directory, copy the example configs, download and verify the assets; exit 0, 20 (input, hash, download, format) or 60 (write)", Action: withEnv(install)},
		},
	}
}

// vidaxConfigFlag is defined before and after the verb, like the shared
// flags (vidax --vidax-config=F serve and vidax serve --vidax-config=F).
func vidaxConfigFlag() cli.Flag {
	return &cli.StringFlag{Name: "vidax-config", Usage: "vidax.json (default $VIDAX_CONFIG, <state>/state/config/vidax.json, CONFIG/vidax.json)"}
}

// vidaxConfig is --vidax-config from whichever level set it.
func vidaxConfig(c *cli.Context) string {
	for _, cc := range c.Lineage() {
		if v := cc.String("vidax-config"); v != "" {
			return v
		}
	}
	return ""
}

// exitError carries vidax's own exit codes (20, 60) through cliapp.Run.
type exitError struct {
	err  error
	code int
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }
func (e *exitError) ExitCode() int { return e.code }

// withEnv loads the Supervisor config like every binary (the shared
// --config: a broken one is refused naming the file) for the log
// LOGS/vidax.jsonl; vidax's own settings come from vidax.json.
func withEnv(fn func(c *cli.Context, env *cliapp.Env) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		env, err := cliapp.Setup(c, cliapp.Options{Service: "vidax"})
		if err != nil {
			return err
		}
		defer env.Close()
		return fn(c, env)
	}
}

func locateOptions(c *cli.Context) vidax.LocateOptions {
	cwd, _ := os.Getwd()
	home, _ := os.UserHomeDir()
	return vidax.LocateOptions{Getenv: os.Getenv, Cwd: cwd, Home: home, ConfigPath: vidaxConfig(c)}
}

func serve(c *cli.Context, env *cliapp.Env) error {
	loc := vidax.Locate(locateOptions(c))
	if loc.ConfigErr != nil {
		return loc.ConfigErr
	}
	if loc.Config == nil {
		return reason.Newf(vidax.CodeInputNotFound, "no vidax.json found (%s): run `vidax install`, then set apiKey in it", strings.Join(loc.Candidates, ", "))
	}
	cfg := loc.Config
	if err := cfg.Validate(); err != nil {
		return err
	}
	proc := &vidax.Process{Layout: loc.Layout, Comfy: cfg.ComfyUI}
	srv := &vidax.Server{APIKey: cfg.APIKey, Proc: proc,
		Installer: func() (*vidax.Installer, error) {
			l := vidax.Locate(locateOptions(c))
			if l.Manifest == "" {
				return nil, reason.Newf(vidax.CodeInputNotFound, "no asset manifest in %s: run `vidax install` or set VIDAX_ASSETS_CONFIG", l.Layout.ConfigDir())
			}
			m, err := vidax.LoadManifest(l.Manifest)
			if err != nil {
				return nil, err
			}
			return &vidax.Installer{Layout: loc.Layout, Manifest: m}, nil
		},
		OnError: func(route string, err error) {
			logging.Event(&env.Log, zerolog.WarnLevel, "request_failed").Str("route", route).Str("reason_code", reason.CodeOr(err, "error")).Msg(reason.Truncate(err.Error(), 500))
		}}
	addr := cfg.ListenAddr()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return reason.Newf("vidax_listen_failed", "cannot listen on %s (%v): is another vidax running, or set port in %s", addr, err, cfg.Path)
	}
	if ip := net.ParseIP(strings.Trim(hostOf(ln.Addr().String()), "[]")); ip != nil && !ip.IsLoopback() {
		fmt.Fprintf(env.Stderr, "vidax: listening on %s, reachable from other machines (host in %s); anyone who has the apiKey can start processes here\n", addr, cfg.Path)
	}
	logging.Event(&env.Log, zerolog.InfoLevel, "vidax_listening").Str("addr", ln.Addr().String()).Str("state_dir", loc.Layout.Root).Msg("")
	fmt.Fprintf(env.Stdout, "vidax listening on http://%s/ (state %s, config %s)\n", ln.Addr(), loc.Layout.Root, cfg.Path)
	err = cliapp.ServeUntilDone(c.Context, &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}, ln, 5*time.Second)
	env.Report(err) // a service that ends on an error is named in the logs
	return err
}

func hostOf(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return h
}

func doctor(c *cli.Context, env *cliapp.Env) error {
	checks, missing := vidax.Doctor(c.Context, vidax.DoctorOptions{Locate: locateOptions(c)})
	if env.JSON {
		b, _ := json.MarshalIndent(map[string]any{"ok": len(missing) == 0, "missing": missing, "checks": checks}, "", "  ")
		fmt.Fprintln(env.Stdout, string(b))
	} else {
		for _, ch := range checks {
			mark := "ok     "
			switch {
			case !ch.OK && ch.Required:
				mark = "MISSING"
			case !ch.OK:
				mark = "absent "
			}
			fmt.Fprintf(env.Stdout, "%s %-10s %s\n", mark, ch.Name, ch.Detail)
		}
	}
	if len(missing) > 0 {
		return &exitError{code: vidax.ExitInput, err: fmt.Errorf("vidax doctor: missing %s", strings.Join(missing, ", "))}
	}
	return nil
}

func install(c *cli.Context, env *cliapp.Env) error {
	res, err := vidax.Install(c.Context, locateOptions(c), func(l vidax.Layout, m *vidax.Manifest) *vidax.Installer {
		return &vidax.Installer{Layout: l, Manifest: m}
	})
	if env.JSON {
		out := map[string]any{"state_dir": res.StateDir, "copied": res.Copied, "assets": res.Assets, "exit_code": vidax.ExitCode(err)}
		if err != nil {
			out["reason_code"], out["error"] = reason.CodeOr(err, "error"), err.Error()
		}
		b, _ := json.MarshalIndent(out, "", "  ")
		fmt.Fprintln(env.Stdout, string(b))
	} else {
		for _, p := range res.Copied {
			fmt.Fprintf(env.Stdout, "copied example config to %s\n", p)
		}
		for _, a := range res.Assets {
			fmt.Fprintf(env.Stdout, "%-13s %s/%s %s\n", a.Status, a.Type, a.ID, a.Path)
		}
		fmt.Fprintf(env.Stdout, "state directory %s: %d assets\n", res.StateDir, len(res.Assets))
	}
	if err != nil {
		if errors.Is(err, c.Context.Err()) && c.Context.Err() != nil {
			return err
		}
		return &exitError{code: vidax.ExitCode(err), err: err}
	}
	return nil
}
