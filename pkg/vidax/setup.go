package vidax

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/localsupervisor/supervisor/pkg/jobs/workerstate"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

// The examples `vidax install` copies when the working directory has no
// CONFIG/*.example.json (an installed binary run elsewhere); the same
// content ships as CONFIG/vidax.example.json and CONFIG/assets.example.json
// (a test keeps them equal).
const (
	ExampleConfig = `{
  "apiKey": "CHANGE_ME",
  "port": 4111,
  "host": "127.0.0.1",
  "comfyui": {
    "workingDir": "~/comfyui",
    "command": "python main.py",
    "args": [],
    "url": "http://127.0.0.1:8188/"
  }
}
`
	ExampleManifest = `{
  "policy": {
    "on_missing": "download",
    "on_hash_mismatch": "fail"
  },
  "workflows": [],
  "models": []
}
`
)

// InstallResult is what `vidax install` did.
type InstallResult struct {
	StateDir string        `json:"state_dir"`
	Copied   []string      `json:"copied"`
	Assets   []AssetStatus `json:"assets"`
}

// Install prepares the state directory (the ComfyUI asset folders and the
// config folder), copies the examples from <cwd>/CONFIG when the state has
// no config yet, and installs the manifest's assets. Errors carry the
// codes ExitCode maps to 20 (input) and 60 (write).
func Install(ctx context.Context, o LocateOptions, in func(Layout, *Manifest) *Installer) (InstallResult, error) {
	loc := Locate(o)
	res := InstallResult{StateDir: loc.Layout.Root}
	for _, d := range []string{loc.Layout.Workflows(), loc.Layout.Models(), loc.Layout.ConfigDir(), loc.Layout.Dir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return res, writeErr(d, err)
		}
	}
	for _, ex := range []struct{ name, fallback string }{{"vidax", ExampleConfig}, {"assets", ExampleManifest}} {
		dst := filepath.Join(loc.Layout.ConfigDir(), ex.name+".json")
		if _, err := os.Stat(dst); err == nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(o.Cwd, "CONFIG", ex.name+".example.json"))
		if err != nil {
			b = []byte(ex.fallback)
		}
		if err := workerstate.WriteFileAtomic(dst, b); err != nil {
			return res, writeErr(dst, err)
		}
		res.Copied = append(res.Copied, dst)
	}
	loc = Locate(o)
	if loc.Manifest == "" {
		return res, reason.New(CodeInputNotFound, "no asset manifest found after copying the example: set VIDAX_ASSETS_CONFIG")
	}
	m, err := LoadManifest(loc.Manifest)
	if err != nil {
		return res, err
	}
	res.Assets, err = in(loc.Layout, m).Ensure(ctx)
	return res, err
}

// Check is one doctor line.
type Check struct {
	Name     string `json:"name"`
	OK       bool   `json:"ok"`
	Required bool   `json:"required"`
	Detail   string `json:"detail"`
}

// DoctorOptions are the inputs of Doctor.
type DoctorOptions struct {
	Locate LocateOptions
	// LookPath finds tools (nil: exec.LookPath).
	LookPath func(string) (string, error)
}

// Doctor checks what vidax needs: ffmpeg and ffprobe (required), python3
// (optional: ComfyUI may bring its own), the config with a real apiKey,
// the asset manifest and each asset. Missing lists what is required and
// absent (doctor exits 20 naming it).
func Doctor(ctx context.Context, o DoctorOptions) (checks []Check, missing []string) {
	look := o.LookPath
	if look == nil {
		look = exec.LookPath
	}
	add := func(c Check) {
		checks = append(checks, c)
		if c.Required && !c.OK {
			missing = append(missing, c.Name)
		}
	}
	for _, tool := range []struct {
		name, flag string
		required   bool
	}{{"ffmpeg", "-version", true}, {"ffprobe", "-version", true}, {"python3", "--version", false}} {
		add(toolCheck(ctx, look, tool.name, tool.flag, tool.required))
	}
	loc := Locate(o.Locate)
	c := Check{Name: "config", Required: true}
	switch {
	case loc.Config != nil && loc.Config.Validate() == nil:
		c.OK, c.Detail = true, loc.Config.Path
	case loc.Config != nil:
		c.Detail = loc.Config.Validate().Error()
	case loc.ConfigErr != nil:
		c.Detail = loc.ConfigErr.Error()
	default:
		c.Detail = "no vidax.json in " + strings.Join(loc.Candidates, ", ") + ": run `vidax install`"
	}
	add(c)
	mc := Check{Name: "manifest", Required: true, Detail: "no assets.json (VIDAX_ASSETS_CONFIG, " + filepath.Join(loc.Layout.ConfigDir(), "assets.json") + ", CONFIG/assets.json): run `vidax install`"}
	var m *Manifest
	if loc.Manifest != "" {
		var err error
		if m, err = LoadManifest(loc.Manifest); err != nil {
			mc.Detail = err.Error()
		} else {
			mc.OK, mc.Detail = true, loc.Manifest
		}
	}
	add(mc)
	if m != nil {
		for _, a := range (&Installer{Layout: loc.Layout, Manifest: m}).Check() {
			ac := Check{Name: "asset " + a.Type + "/" + a.ID, Required: true, OK: a.Status == StatusPresent, Detail: a.Path}
			if a.Message != "" {
				ac.Detail = a.Message
			} else if !ac.OK {
				ac.Detail = a.Path + " is missing: run `vidax install`"
			}
			add(ac)
		}
	}
	return checks, missing
}

func toolCheck(ctx context.Context, look func(string) (string, error), name, flag string, required bool) Check {
	c := Check{Name: name, Required: required}
	p, err := look(name)
	if err != nil {
		c.Detail = name + " is not on PATH: install it (or add its folder to PATH)"
		return c
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, p, flag).CombinedOutput()
	if err != nil {
		c.Detail = p + " " + flag + " failed: " + err.Error()
		return c
	}
	line, _, _ := bytes.Cut(out, []byte("\n"))
	c.OK, c.Detail = true, strings.TrimSpace(string(line))
	return c
}
