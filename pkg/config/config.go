// Package config loads Supervisor's JSON configuration.
//
// Resolution order: an explicit --config path, else $SV_CONFIG, else
// <base>/CONFIG/config.json, else the embedded defaults (which work on a
// fresh clone). Relative paths resolve against one base directory: $SV_BASE
// when set, else paths.base from the file (relative to the file's folder),
// else the working directory.
//
// The core sections are typed here. The module sections (jobs, scanner,
// forge, ollama) stay raw JSON and are decoded by DecodeSection into the
// module's own Config type, so this package depends on no module; unknown
// keys and wrong types are errors naming the key and the file either way.
package config

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

// Reason codes for configuration errors.
const (
	CodeInvalid    = "config_invalid"
	CodeUnreadable = "config_unreadable"
	CodeMissing    = "config_missing"
)

//go:embed defaults.json
var defaultsJSON []byte

// DefaultsJSON returns the embedded default configuration.
func DefaultsJSON() []byte { return bytes.Clone(defaultsJSON) }

// Config is the whole configuration.
type Config struct {
	DB          DB                         `json:"db"`
	Paths       Paths                      `json:"paths"`
	Import      Import                     `json:"import"`
	Metadata    Metadata                   `json:"metadata"`
	Security    Security                   `json:"security"`
	Workers     Workers                    `json:"workers"`
	Migrations  Migrations                 `json:"migrations"`
	Tools       Tools                      `json:"tools"`
	Web         Web                        `json:"web"`
	Logging     Logging                    `json:"logging"`
	Dupes       Dupes                      `json:"dupes"`
	DefaultNSFW int                        `json:"default_nsfw"`
	Jobs        json.RawMessage            `json:"jobs,omitempty"`
	Scanner     json.RawMessage            `json:"scanner,omitempty"`
	Forge       json.RawMessage            `json:"forge,omitempty"`
	Ollama      json.RawMessage            `json:"ollama,omitempty"`
	ComfyUI     json.RawMessage            `json:"comfyui,omitempty"`
	Extra       map[string]json.RawMessage `json:"-"`

	// ConfigPath is the file the config came from ("" for embedded defaults).
	ConfigPath string `json:"-"`
	// BaseDir is the absolute base directory relative paths resolve against.
	BaseDir string `json:"-"`
}

// DB configures the SQLite database.
type DB struct {
	Path              string `json:"path"`
	BusyTimeoutMS     int    `json:"busy_timeout_ms"`
	ReadBusyTimeoutMS int    `json:"read_busy_timeout_ms"`
	// WebBusyTimeoutMS bounds how long a web request's write (an action,
	// a login, settings, a queued job) waits for the write lock before it
	// answers 503 "busy, try again": a request never hangs behind a
	// worker's long write.
	WebBusyTimeoutMS int `json:"web_busy_timeout_ms"`
}

// WebBusyTimeout is the busy timeout of the web server's writer handle.
func (d DB) WebBusyTimeout() time.Duration {
	return time.Duration(d.WebBusyTimeoutMS) * time.Millisecond
}

// Paths are the library roots and working folders.
type Paths struct {
	Base        string `json:"base"`
	ImagesSFW   string `json:"images_sfw"`
	ImagesNSFW  string `json:"images_nsfw"`
	VideosSFW   string `json:"videos_sfw"`
	VideosNSFW  string `json:"videos_nsfw"`
	Derivatives string `json:"derivatives"`
	ThumbCache  string `json:"thumb_cache"`
	Previews    string `json:"previews"`
	Backups     string `json:"backups"`
	Tmp         string `json:"tmp"`
	Logs        string `json:"logs"`
	// Duplicates is where a move import puts a source whose content is
	// already catalogued (import.duplicates "move").
	Duplicates string `json:"duplicates"`
	// Legacy aliases of the original config; used when the new key is empty.
	Images   string `json:"images,omitempty"`
	Images18 string `json:"images_18,omitempty"`
	Videos   string `json:"videos,omitempty"`
	Videos18 string `json:"videos_18,omitempty"`
}

// Import configures scanning and import.
type Import struct {
	// Mode is move (default, like the original), copy or in_place.
	Mode           string   `json:"mode"`
	MaxPixels      int64    `json:"max_pixels"`
	FollowSymlinks bool     `json:"follow_symlinks"`
	SkipDirs       []string `json:"skip_dirs"`
	// BatchSize is how many new media one write transaction commits
	// (0: the importer's default).
	BatchSize int `json:"batch_size"`
	// WatchIntervalMinutes is how often the scan worker rescans a library
	// source marked "watch" on the dashboard (default 10; 0 turns the
	// schedule off).
	WatchIntervalMinutes int `json:"watch_interval_minutes"`
	// Duplicates is what a move import does with a source whose content
	// is already catalogued: "move" (default) puts it under
	// paths.duplicates at its path relative to the scanned folder, never
	// replacing a file; "keep" leaves it where it is; "delete" removes it
	// (the catalogued copy was verified to hold the same bytes).
	Duplicates string `json:"duplicates"`
	// StealthPNGInfo is when the import decodes pixels for A1111 "stealth
	// pnginfo": "off"; "auto" (default) only for PNGs with an alpha
	// channel and no metadata chunk, the only ones that can carry it
	// alone, so an ordinary library pays nothing; "always" for every PNG
	// and WebP without a prompt. metadata.stealth true (legacy) means
	// "always".
	StealthPNGInfo string `json:"stealth_pnginfo"`
}

// Metadata configures generation-metadata extraction.
type Metadata struct {
	// Stealth (legacy) true means import.stealth_pnginfo "always".
	Stealth bool `json:"stealth"`
}

// Security configures web access.
type Security struct {
	InternalAPIKey              string   `json:"internal_api_key"`
	IPWhitelist                 []string `json:"ip_whitelist"`
	TrustedProxies              []string `json:"trusted_proxies"`
	AllowInsecureInternalCookie bool     `json:"allow_insecure_internal_cookie"`
	LoopbackIsAdmin             bool     `json:"loopback_is_admin"`
	AllowedHosts                []string `json:"allowed_hosts"`
	// PublicMediaActions are the media actions any browser session may
	// post (with its CSRF token); every other action needs admin rights.
	// Only a vote (the original's one public action) and a rating may be
	// opened; deleting, tagging or queueing work stays admin-only.
	PublicMediaActions []string `json:"public_media_actions"`
}

// Worker configures one worker service.
type Worker struct {
	SleepMS int `json:"sleep_ms"`
}

// Workers configures worker spawning and supervision.
type Workers struct {
	WebSpawnEnabled bool     `json:"web_spawn_enabled"`
	BinDir          string   `json:"bin_dir"`
	Supervise       []string `json:"supervise"`
	Scan            Worker   `json:"scan"`
	Media           Worker   `json:"media"`
	Forge           Worker   `json:"forge"`
	LibraryRename   Worker   `json:"library_rename"`
}

// Migrations configures web-triggered migrations.
type Migrations struct {
	WebEnabled         bool `json:"web_enabled"`
	InternalWebEnabled bool `json:"internal_web_enabled"`
}

// Tools names external programs.
type Tools struct {
	FFmpeg  string `json:"ffmpeg"`
	FFprobe string `json:"ffprobe"`
}

// Web configures the webui server.
type Web struct {
	Addr            string   `json:"addr"`
	Language        string   `json:"language"`
	RequireServices []string `json:"require_services"`
	// ThumbCacheMaxMB caps paths.thumb_cache; least recently used
	// thumbnails are evicted beyond it (0: no cap).
	ThumbCacheMaxMB int64 `json:"thumb_cache_max_mb"`
}

// Logging configures JSONL logs.
type Logging struct {
	MaxSizeMB  int  `json:"max_size_mb"`
	MaxBackups int  `json:"max_backups"`
	Console    bool `json:"console"`
}

// Dupes configures the duplicate groups (pkg/dupes, cmd/dupes).
type Dupes struct {
	// PhashThreshold is the largest pHash distance that groups two media
	// (0: phash.DefaultThreshold; at most similar.MaxDistance).
	PhashThreshold int `json:"phash_threshold"`
	// EmbeddingThreshold is the smallest cosine similarity of the stored
	// Ollama dupe hints that groups two media (0: 0.97, stricter than
	// the hints' own threshold: text embeddings of two different
	// pictures of one prompt are close too).
	EmbeddingThreshold float64 `json:"embedding_threshold"`
	// MaxGroupSize caps a group: a link that would make it larger is
	// left out (0: 50).
	MaxGroupSize int `json:"max_group_size"`
	// Auto are the rules of `dupes auto`.
	Auto DupesAuto `json:"auto"`
}

// DupesAuto are the automatic resolve rules, tried in this order; the
// first that tells the members apart picks the one kept. Off unless
// Enabled: an automatic run soft-deletes media.
type DupesAuto struct {
	Enabled bool `json:"enabled"`
	// Tiers are the group tiers the rules apply to.
	Tiers            []string `json:"tiers"`
	PreferResolution bool     `json:"prefer_resolution"`
	PreferPNG        bool     `json:"prefer_png"`
	PreferMetadata   bool     `json:"prefer_metadata"`
}

// LoadOptions says where to look.
type LoadOptions struct {
	// Path is the explicit --config value.
	Path string
	// Getenv reads the environment (default os.Getenv).
	Getenv func(string) string
	// WorkDir is the working directory (default os.Getwd).
	WorkDir string
}

// Load resolves, reads, validates and normalises the configuration.
func Load(opts LoadOptions) (*Config, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	wd := opts.WorkDir
	if wd == "" {
		var err error
		if wd, err = os.Getwd(); err != nil {
			return nil, err
		}
	}
	envBase := getenv("SV_BASE")
	path := opts.Path
	explicit := path != ""
	if path == "" {
		path = getenv("SV_CONFIG")
		explicit = path != ""
	}
	if path == "" {
		base := wd
		if envBase != "" {
			base = envBase
		}
		cand := filepath.Join(base, "CONFIG", "config.json")
		if _, err := os.Stat(cand); err == nil {
			path = cand
		}
	}
	cfg := &Config{}
	if err := decodeStrict(defaultsJSON, cfg, "(embedded defaults)"); err != nil {
		return nil, err
	}
	if path != "" {
		abs, _ := filepath.Abs(path)
		b, err := os.ReadFile(abs)
		if err != nil {
			code := CodeUnreadable
			if errors.Is(err, os.ErrNotExist) {
				code = CodeMissing
			}
			e := reason.Newf(code, "cannot read config %s: %v", abs, err).With("config_path", abs)
			if explicit && code == CodeMissing {
				e.Msg = fmt.Sprintf("config file %s does not exist", abs)
			}
			return nil, e
		}
		if err := decodeStrict(b, cfg, abs); err != nil {
			return nil, err
		}
		cfg.ConfigPath = abs
	}
	switch {
	case envBase != "":
		cfg.BaseDir = envBase
	case cfg.Paths.Base != "" && cfg.ConfigPath != "":
		cfg.BaseDir = resolve(filepath.Dir(cfg.ConfigPath), cfg.Paths.Base)
	case cfg.Paths.Base != "":
		cfg.BaseDir = resolve(wd, cfg.Paths.Base)
	default:
		cfg.BaseDir = wd
	}
	cfg.BaseDir, _ = filepath.Abs(cfg.BaseDir)
	cfg.normalise()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// decodeStrict overlays JSON onto dst, rejecting unknown keys and wrong
// types with the key and file named.
func decodeStrict(b []byte, dst any, file string) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return describeJSONError(err, b, file)
	}
	if _, err := dec.Token(); err != io.EOF {
		return reason.Newf(CodeInvalid, "%s: trailing data after the JSON object", file).With("config_path", file)
	}
	return nil
}

func describeJSONError(err error, b []byte, file string) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		return reason.Newf(CodeInvalid, "%s: key %q has the wrong type: got %s, want %s", file, te.Field, te.Value, te.Type.String()).
			With("config_path", file).With("key", te.Field)
	case errors.As(err, &se):
		line := 1 + bytes.Count(b[:min(int(se.Offset), len(b))], []byte("\n"))
		return reason.Newf(CodeInvalid, "%s: invalid JSON at line %d: %v", file, line, se).With("config_path", file)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		key := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return reason.Newf(CodeInvalid, "%s: unknown key %q", file, key).With("config_path", file).With("key", key)
	default:
		return reason.Newf(CodeInvalid, "%s: %v", file, err).With("config_path", file)
	}
}

// DecodeSection decodes a module section (jobs, scanner, forge, ollama, comfyui) over
// dst, which the caller pre-fills with the module's defaults. Unknown keys
// and wrong types are errors naming "<section>.<key>" and the file.
func (c *Config) DecodeSection(section string, dst any) error {
	var raw json.RawMessage
	switch section {
	case "jobs":
		raw = c.Jobs
	case "scanner":
		raw = c.Scanner
	case "forge":
		raw = c.Forge
	case "ollama":
		raw = c.Ollama
	case "comfyui":
		raw = c.ComfyUI
	default:
		return fmt.Errorf("unknown config section %q", section)
	}
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return nil
	}
	file := c.ConfigPath
	if file == "" {
		file = "(embedded defaults)"
	}
	if err := decodeStrict(raw, dst, file); err != nil {
		var re *reason.Error
		if errors.As(err, &re) {
			if k, ok := re.Fields["key"].(string); ok {
				re.Msg = strings.Replace(re.Msg, fmt.Sprintf("%q", k), fmt.Sprintf("%q", section+"."+k), 1)
				return re.With("key", section+"."+k)
			}
		}
		return err
	}
	return nil
}

// Resolve turns a configured path into an absolute one against BaseDir.
func (c *Config) Resolve(p string) string { return resolve(c.BaseDir, p) }

func resolve(base, p string) string {
	if p == "" {
		return ""
	}
	if filepath.IsAbs(p) || (len(p) > 1 && p[1] == ':') {
		return filepath.Clean(p)
	}
	return filepath.Join(base, p)
}

func (c *Config) normalise() {
	p := &c.Paths
	alias := func(dst *string, legacy string) {
		if legacy != "" {
			*dst = legacy
		}
	}
	// A legacy alias set in the user's file wins over the embedded default of
	// the new key, since the user wrote it on purpose.
	alias(&p.ImagesSFW, p.Images)
	alias(&p.ImagesNSFW, p.Images18)
	alias(&p.VideosSFW, p.Videos)
	alias(&p.VideosNSFW, p.Videos18)
	for _, f := range []*string{&p.ImagesSFW, &p.ImagesNSFW, &p.VideosSFW, &p.VideosNSFW, &p.Derivatives, &p.Duplicates,
		&p.ThumbCache, &p.Previews, &p.Backups, &p.Tmp, &p.Logs} {
		*f = c.Resolve(*f)
	}
	c.DB.Path = c.Resolve(c.DB.Path)
	if c.Workers.BinDir != "" {
		c.Workers.BinDir = c.Resolve(c.Workers.BinDir)
	}
}

func (c *Config) validate() error {
	var bad []string
	if c.DB.Path == "" {
		bad = append(bad, "db.path is empty")
	}
	if c.DB.BusyTimeoutMS < 0 || c.DB.ReadBusyTimeoutMS < 0 || c.DB.WebBusyTimeoutMS < 0 {
		bad = append(bad, "db.busy_timeout_ms, db.read_busy_timeout_ms and db.web_busy_timeout_ms must be >= 0")
	}
	switch c.Import.Mode {
	case "move", "copy", "in_place":
	default:
		bad = append(bad, fmt.Sprintf("import.mode %q must be move, copy or in_place", c.Import.Mode))
	}
	switch c.Import.Duplicates {
	case "", "move", "keep", "delete":
	default:
		bad = append(bad, fmt.Sprintf("import.duplicates %q must be move, keep or delete", c.Import.Duplicates))
	}
	switch c.Import.StealthPNGInfo {
	case "off", "auto", "always":
	default:
		bad = append(bad, fmt.Sprintf("import.stealth_pnginfo %q must be off, auto or always", c.Import.StealthPNGInfo))
	}
	if c.Import.WatchIntervalMinutes < 0 {
		bad = append(bad, "import.watch_interval_minutes must be >= 0 (0 = watched sources are not rescanned)")
	}
	if c.Import.MaxPixels <= 0 {
		bad = append(bad, "import.max_pixels must be > 0")
	}
	if c.DefaultNSFW != 0 && c.DefaultNSFW != 1 {
		bad = append(bad, "default_nsfw must be 0 or 1")
	}
	for name, v := range map[string]int{"workers.scan.sleep_ms": c.Workers.Scan.SleepMS, "workers.media.sleep_ms": c.Workers.Media.SleepMS,
		"workers.forge.sleep_ms": c.Workers.Forge.SleepMS, "workers.library_rename.sleep_ms": c.Workers.LibraryRename.SleepMS} {
		if v < 0 {
			bad = append(bad, name+" must be >= 0")
		}
	}
	for _, a := range c.Security.PublicMediaActions {
		if a != "vote_set" && a != "rate" {
			bad = append(bad, fmt.Sprintf("security.public_media_actions: %q is not vote_set or rate", a))
		}
	}
	if c.Logging.MaxSizeMB <= 0 || c.Logging.MaxBackups < 0 {
		bad = append(bad, "logging.max_size_mb must be > 0 and logging.max_backups >= 0")
	}
	if c.Dupes.PhashThreshold < 0 || c.Dupes.PhashThreshold > 11 {
		bad = append(bad, "dupes.phash_threshold must be 0..11 (0 = the default 10)")
	}
	if c.Dupes.EmbeddingThreshold < 0 || c.Dupes.EmbeddingThreshold > 1 {
		bad = append(bad, "dupes.embedding_threshold must be 0..1 (0 = the default 0.97)")
	}
	if c.Dupes.MaxGroupSize < 0 {
		bad = append(bad, "dupes.max_group_size must be >= 0 (0 = the default 50)")
	}
	for _, t := range c.Dupes.Auto.Tiers {
		if t != "exact" && t != "phash" && t != "embedding" {
			bad = append(bad, fmt.Sprintf("dupes.auto.tiers: %q is not exact, phash or embedding", t))
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		file := c.ConfigPath
		if file == "" {
			file = "(embedded defaults)"
		}
		return reason.Newf(CodeInvalid, "%s: %s", file, strings.Join(bad, "; ")).With("config_path", file)
	}
	return nil
}

// MediaRoots returns the four library roots (for path guards and walks).
func (c *Config) MediaRoots() []string {
	return []string{c.Paths.ImagesSFW, c.Paths.ImagesNSFW, c.Paths.VideosSFW, c.Paths.VideosNSFW}
}

// MissingKeys returns the dotted keys among names whose value in the struct
// v is the zero value; modules use it to build {reason_code, missing_keys,
// config_path} answers. names are "prefix.jsonkey" for fields of v.
func MissingKeys(prefix string, v any, names ...string) []string {
	rv := reflect.Indirect(reflect.ValueOf(v))
	var out []string
	for _, n := range names {
		for i := 0; i < rv.NumField(); i++ {
			tag, _, _ := strings.Cut(rv.Type().Field(i).Tag.Get("json"), ",")
			if tag == n && rv.Field(i).IsZero() {
				out = append(out, prefix+"."+n)
			}
		}
	}
	return out
}

// Seconds turns a module section's "seconds" value into a duration, def
// when the value is absent or not positive (the forge and comfyui
// sections' timeouts).
func Seconds(v float64, def time.Duration) time.Duration {
	if v <= 0 {
		return def
	}
	return time.Duration(v * float64(time.Second))
}
