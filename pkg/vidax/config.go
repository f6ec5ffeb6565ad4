package vidax

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/google/shlex"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

// Defaults of vidax.json.
const (
	PortDefault = 4111
	// HostDefault keeps vidax on loopback: it starts processes and writes
	// files for whoever knows the key, so all interfaces must be asked for.
	HostDefault = "127.0.0.1"
	// ExampleAPIKey is the placeholder of the shipped example; serve
	// refuses it.
	ExampleAPIKey = "CHANGE_ME"
)

// Config is vidax.json.
type Config struct {
	APIKey string `json:"apiKey"`
	Port   int    `json:"port,omitempty"`
	// Host (alias bind) is the listen address; empty: loopback.
	Host  string `json:"host,omitempty"`
	Bind  string `json:"bind,omitempty"`
	Paths struct {
		// State is the state directory when VA_STATE_DIR is not set.
		State string `json:"state,omitempty"`
	} `json:"paths"`
	ComfyUI ComfyConfig `json:"comfyui"`

	// Path is the file the config was read from.
	Path string `json:"-"`
}

// ComfyConfig says how to start ComfyUI.
type ComfyConfig struct {
	WorkingDir string   `json:"workingDir,omitempty"`
	Command    Command  `json:"command,omitempty"`
	Args       []string `json:"args,omitempty"`
	// URL is where this ComfyUI listens (e.g. http://127.0.0.1:8188/);
	// optional, used by the liveness check and shown in the status.
	URL string `json:"url,omitempty"`
}

// Command is comfyui.command: an argv list, or a string split the way a
// shell would ("python main.py --listen" and quoted paths with spaces work;
// the original rejected any string with a space).
type Command []string

// UnmarshalJSON accepts a string or a list of strings.
func (c *Command) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		parts, err := shlex.Split(s)
		if err != nil {
			return fmt.Errorf("comfyui.command %q cannot be split like a shell would (unbalanced quote?): %w", s, err)
		}
		*c = parts
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return errors.New("comfyui.command must be a string or a list of strings")
	}
	*c = list
	return nil
}

// Argv is the command line that starts ComfyUI: command then args.
func (c ComfyConfig) Argv() []string {
	argv := append([]string{}, c.Command...)
	return append(argv, c.Args...)
}

// ListenAddr is host:port, loopback unless host/bind is configured.
func (c *Config) ListenAddr() string {
	host := strings.TrimSpace(c.Host)
	if host == "" {
		host = strings.TrimSpace(c.Bind)
	}
	if host == "" {
		host = HostDefault
	}
	port := c.Port
	if port == 0 {
		port = PortDefault
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// Validate checks what serve and start need.
func (c *Config) Validate() error {
	if strings.TrimSpace(c.APIKey) == "" || c.APIKey == ExampleAPIKey {
		return c.invalid("apiKey", "apiKey is empty or still the example's CHANGE_ME: set a long random key in %s (the web UI sends it as comfyui.vidax_api_key)")
	}
	if c.Port < 0 || c.Port > 65535 {
		return c.invalid("port", "port must be between 1 and 65535 in %s")
	}
	return nil
}

// ValidateStart checks that ComfyUI can be started.
func (c *Config) ValidateStart() error {
	if len(c.ComfyUI.Command) == 0 || strings.TrimSpace(c.ComfyUI.Command[0]) == "" {
		return c.invalid("comfyui.command", `comfyui.command is empty in %s: set it, e.g. "python main.py" or ["python","main.py"]`)
	}
	return nil
}

func (c *Config) invalid(key, format string) error {
	return reason.Newf(CodeConfigInvalid, format, c.Path).With("key", key).With("config_path", c.Path)
}

// Layout is the state directory's layout, as the original's.
type Layout struct {
	// Root is the state directory (VA_STATE_DIR, paths.state or ~/.va).
	Root string
}

// State is <root>/state: every asset dest must stay inside it.
func (l Layout) State() string { return filepath.Join(l.Root, "state") }

// ConfigDir is <root>/state/config.
func (l Layout) ConfigDir() string { return filepath.Join(l.State(), "config") }

// Dir is <root>/state/vidax: process state and logs.
func (l Layout) Dir() string { return filepath.Join(l.State(), "vidax") }

// Workflows and Models are the ComfyUI asset folders install creates.
func (l Layout) Workflows() string { return filepath.Join(l.State(), "comfyui", "workflows") }
func (l Layout) Models() string    { return filepath.Join(l.State(), "comfyui", "models") }

// LocateOptions are the inputs of Locate (the process environment in
// production, fixed values in tests).
type LocateOptions struct {
	Getenv func(string) string
	// Cwd is the working directory (<cwd>/CONFIG/… is the last fallback).
	Cwd string
	// Home is the user's home directory (~/.va).
	Home string
	// ConfigPath is an explicit config file (--vidax-config), before
	// VIDAX_CONFIG.
	ConfigPath string
}

// Located is what Locate found. Config is nil when no file exists; Err
// says why (doctor names it, serve stops on it).
type Located struct {
	Layout     Layout
	Config     *Config
	ConfigErr  error
	Manifest   string // "" when none exists
	Candidates []string
}

// Locate finds the state directory, vidax.json and the assets manifest:
// config from --vidax-config / VIDAX_CONFIG, <state>/state/config/vidax.json,
// <cwd>/CONFIG/vidax.json (the original looked in config/, which does not
// exist on case-sensitive file systems); the state directory from
// VA_STATE_DIR, else the config's paths.state, else ~/.va.
func Locate(o LocateOptions) Located {
	env := o.Getenv
	if env == nil {
		env = os.Getenv
	}
	var loc Located
	root := env("VA_STATE_DIR")
	if root == "" {
		root = filepath.Join(o.Home, ".va")
	}
	loc.Layout = Layout{Root: expandHome(root, o.Home)}
	explicit := o.ConfigPath
	if explicit == "" {
		explicit = env("VIDAX_CONFIG")
	}
	var cands []string
	if explicit != "" {
		cands = []string{explicit}
	} else {
		cands = []string{filepath.Join(loc.Layout.ConfigDir(), "vidax.json"), filepath.Join(o.Cwd, "CONFIG", "vidax.json")}
	}
	loc.Candidates = cands
	for i, p := range cands {
		cfg, err := LoadConfig(p)
		if errors.Is(err, fs.ErrNotExist) && (explicit == "" && i < len(cands)-1) {
			continue
		}
		if err != nil {
			loc.ConfigErr = err
			break
		}
		loc.Config = cfg
		// paths.state applies only to a config found outside a state
		// directory (explicit or in the working directory).
		if env("VA_STATE_DIR") == "" && cfg.Paths.State != "" && (explicit != "" || i > 0) {
			loc.Layout.Root = expandHome(resolveAgainst(filepath.Dir(p), cfg.Paths.State), o.Home)
		}
		break
	}
	for _, p := range []string{env("VIDAX_ASSETS_CONFIG"), filepath.Join(loc.Layout.ConfigDir(), "assets.json"), filepath.Join(o.Cwd, "CONFIG", "assets.json")} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			loc.Manifest = p
			break
		}
	}
	return loc
}

// LoadConfig reads one vidax.json. Unknown keys are refused so a typo
// does not silently keep a default.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &reason.Error{Code: CodeInputNotFound, Kind: reason.KindPermanent, Err: err,
				Msg: fmt.Sprintf("no vidax config at %s: run `vidax install` (it copies CONFIG/vidax.example.json) or set VIDAX_CONFIG", path)}
		}
		return nil, &reason.Error{Code: CodeConfigInvalid, Kind: reason.KindPermanent, Err: err, Msg: "cannot read " + path}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, reason.Newf(CodeConfigInvalid, "%s is not a valid vidax config: %v", path, err).With("config_path", path)
	}
	c.Path = path
	c.ComfyUI.WorkingDir = expandHome(c.ComfyUI.WorkingDir, homeDir())
	return &c, nil
}

func homeDir() string {
	h, _ := os.UserHomeDir()
	return h
}

// expandHome replaces a leading ~ (the example's "~/comfyui").
func expandHome(p, home string) string {
	if p == "~" {
		return home
	}
	if strings.HasPrefix(p, "~/") || strings.HasPrefix(p, `~\`) {
		return filepath.Join(home, p[2:])
	}
	return p
}

func resolveAgainst(dir, p string) string {
	if p == "" || filepath.IsAbs(p) || strings.HasPrefix(p, "~") {
		return p
	}
	return filepath.Join(dir, p)
}
