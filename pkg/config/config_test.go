package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/config"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestEmbeddedDefaultsOnFreshClone(t *testing.T) {
	wd := t.TempDir()
	cfg, err := config.Load(config.LoadOptions{WorkDir: wd, Getenv: env(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ConfigPath != "" {
		t.Fatalf("config path %q, want embedded", cfg.ConfigPath)
	}
	if want := filepath.Join(wd, "DB", "local.sqlite"); cfg.DB.Path != want {
		t.Fatalf("db path %q want %q", cfg.DB.Path, want)
	}
	if cfg.Paths.ThumbCache != filepath.Join(wd, "CACHE", "thumbs") || cfg.Import.Mode != "move" {
		t.Fatalf("defaults wrong: %+v", cfg.Paths)
	}
	// Only voting is open to anonymous sessions by default (issue #17.13).
	if got := strings.Join(cfg.Security.PublicMediaActions, ","); got != "vote_set" {
		t.Fatalf("security.public_media_actions = %q, want vote_set", got)
	}
}

func TestResolutionOrder(t *testing.T) {
	wd := t.TempDir()
	os.MkdirAll(filepath.Join(wd, "CONFIG"), 0o755)
	os.WriteFile(filepath.Join(wd, "CONFIG", "config.json"), []byte(`{"db":{"path":"from_default_file.sqlite"}}`), 0o644)
	envFile := filepath.Join(t.TempDir(), "env.json")
	os.WriteFile(envFile, []byte(`{"db":{"path":"from_env.sqlite"}}`), 0o644)
	flagFile := filepath.Join(t.TempDir(), "flag.json")
	os.WriteFile(flagFile, []byte(`{"db":{"path":"from_flag.sqlite"}}`), 0o644)
	otherBase := t.TempDir()
	cases := []struct {
		name, flag string
		env        map[string]string
		want       string
	}{
		{"CONFIG/config.json", "", nil, filepath.Join(wd, "from_default_file.sqlite")},
		{"SV_CONFIG", "", map[string]string{"SV_CONFIG": envFile}, filepath.Join(wd, "from_env.sqlite")},
		{"--config wins", flagFile, map[string]string{"SV_CONFIG": envFile}, filepath.Join(wd, "from_flag.sqlite")},
		{"SV_BASE", flagFile, map[string]string{"SV_BASE": otherBase}, filepath.Join(otherBase, "from_flag.sqlite")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := config.Load(config.LoadOptions{Path: c.flag, WorkDir: wd, Getenv: env(c.env)})
			if err != nil {
				t.Fatal(err)
			}
			if cfg.DB.Path != c.want {
				t.Fatalf("db path %q, want %q", cfg.DB.Path, c.want)
			}
		})
	}
}

func TestBadConfigNamesKeyAndFile(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, body, code, mention string
	}{
		{"unknown key", `{"db":{"pathh":"x"}}`, config.CodeInvalid, `"pathh"`},
		{"wrong type", `{"db":{"busy_timeout_ms":"fast"}}`, config.CodeInvalid, "busy_timeout_ms"},
		{"syntax", "{\n\"db\": {,}\n}", config.CodeInvalid, "line 2"},
		{"impossible value", `{"import":{"mode":"teleport"}}`, config.CodeInvalid, "import.mode"},
		{"bad stealth mode", `{"import":{"stealth_pnginfo":"sometimes"}}`, config.CodeInvalid, `import.stealth_pnginfo "sometimes" must be off, auto or always`},
		{"negative timeout", `{"db":{"busy_timeout_ms":-1}}`, config.CodeInvalid, "busy_timeout_ms"},
		{"dupes threshold beyond the lookup", `{"dupes":{"phash_threshold":12}}`, config.CodeInvalid, "dupes.phash_threshold must be 0..11"},
		{"dupes unknown auto tier", `{"dupes":{"auto":{"tiers":["exact","fuzzy"]}}}`, config.CodeInvalid, `dupes.auto.tiers: "fuzzy"`},
		{"admin action made public", `{"security":{"public_media_actions":["vote_set","hard_delete"]}}`, config.CodeInvalid, "security.public_media_actions"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".json")
			os.WriteFile(p, []byte(c.body), 0o644)
			_, err := config.Load(config.LoadOptions{Path: p, WorkDir: dir, Getenv: env(nil)})
			if reason.Code(err) != c.code {
				t.Fatalf("code %q want %q: %v", reason.Code(err), c.code, err)
			}
			if !strings.Contains(err.Error(), c.mention) || !strings.Contains(err.Error(), p) {
				t.Fatalf("error %q should mention %q and the file", err, c.mention)
			}
		})
	}
	_, err := config.Load(config.LoadOptions{Path: filepath.Join(dir, "nope.json"), WorkDir: dir, Getenv: env(nil)})
	if reason.Code(err) != config.CodeMissing {
		t.Fatalf("missing file: %v", err)
	}
}

func TestDecodeSection(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c.json")
	os.WriteFile(p, []byte(`{"scanner":{"enabled":true,"base_url":"http://x","bogus":1}}`), 0o644)
	cfg, err := config.Load(config.LoadOptions{Path: p, WorkDir: dir, Getenv: env(nil)})
	if err != nil {
		t.Fatal(err)
	}
	var sc struct {
		Enabled bool   `json:"enabled"`
		BaseURL string `json:"base_url"`
		Timeout int    `json:"timeout"`
	}
	sc.Timeout = 30
	err = cfg.DecodeSection("scanner", &sc)
	if err == nil || !strings.Contains(err.Error(), `"scanner.bogus"`) {
		t.Fatalf("want unknown key scanner.bogus, got %v", err)
	}
	os.WriteFile(p, []byte(`{"scanner":{"enabled":true,"base_url":"http://x"}}`), 0o644)
	cfg, _ = config.Load(config.LoadOptions{Path: p, WorkDir: dir, Getenv: env(nil)})
	if err := cfg.DecodeSection("scanner", &sc); err != nil || !sc.Enabled || sc.Timeout != 30 {
		t.Fatalf("decode: %v %+v", err, sc)
	}
}

func TestLegacyPathAliases(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c.json")
	os.WriteFile(p, []byte(`{"paths":{"images":"/lib/img","images_18":"/lib/img18"}}`), 0o644)
	cfg, err := config.Load(config.LoadOptions{Path: p, WorkDir: dir, Getenv: env(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Paths.ImagesSFW != "/lib/img" || cfg.Paths.ImagesNSFW != "/lib/img18" {
		t.Fatalf("aliases ignored: %+v", cfg.Paths)
	}
}
