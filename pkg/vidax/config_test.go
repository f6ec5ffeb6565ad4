package vidax

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/svtest"
)

func TestExamplesMatchBuiltins(t *testing.T) {
	root := svtest.RepoRoot(t)
	for file, want := range map[string]string{"vidax.example.json": ExampleConfig, "assets.example.json": ExampleManifest} {
		b, err := os.ReadFile(filepath.Join(root, "CONFIG", file))
		if err != nil || string(b) != want {
			t.Fatalf("CONFIG/%s differs from the built-in example (%v)", file, err)
		}
	}
	p := filepath.Join(t.TempDir(), "vidax.json")
	os.WriteFile(p, []byte(ExampleConfig), 0o644)
	c, err := LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.ListenAddr() != "127.0.0.1:4111" || c.Validate() == nil || len(c.ComfyUI.Argv()) != 2 {
		t.Fatalf("example: %s valid=%v argv=%q", c.ListenAddr(), c.Validate(), c.ComfyUI.Argv())
	}
}

func TestLocate(t *testing.T) {
	write := func(p, s string) {
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name      string
		env       map[string]string
		files     map[string]string // relative to the temp root
		wantState string            // relative
		wantCfg   string            // relative, "" none
	}{
		{"home default, cwd CONFIG (upper case) found", nil,
			map[string]string{"cwd/CONFIG/vidax.json": `{"apiKey":"a"}`}, "home/.va", "cwd/CONFIG/vidax.json"},
		{"state config wins over cwd", map[string]string{"VA_STATE_DIR": "S"},
			map[string]string{"S/state/config/vidax.json": `{"apiKey":"a"}`, "cwd/CONFIG/vidax.json": `{"apiKey":"b"}`}, "S", "S/state/config/vidax.json"},
		{"VIDAX_CONFIG wins and sets paths.state", map[string]string{"VIDAX_CONFIG": "x/v.json"},
			map[string]string{"x/v.json": `{"apiKey":"a","paths":{"state":"st"}}`, "cwd/CONFIG/vidax.json": `{"apiKey":"b"}`}, "x/st", "x/v.json"},
		{"VA_STATE_DIR beats paths.state", map[string]string{"VA_STATE_DIR": "S"},
			map[string]string{"cwd/CONFIG/vidax.json": `{"apiKey":"a","paths":{"state":"st"}}`}, "S", "cwd/CONFIG/vidax.json"},
		{"lower-case config/ is not the contract", nil, map[string]string{"cwd/config/vidax.json": `{"apiKey":"a"}`}, "home/.va", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for p, s := range tt.files {
				write(filepath.Join(root, p), s)
			}
			env := func(k string) string {
				if v, ok := tt.env[k]; ok {
					return filepath.Join(root, v)
				}
				return ""
			}
			loc := Locate(LocateOptions{Getenv: env, Cwd: filepath.Join(root, "cwd"), Home: filepath.Join(root, "home")})
			if loc.Layout.Root != filepath.Join(root, tt.wantState) {
				t.Fatalf("state %s, want %s", loc.Layout.Root, tt.wantState)
			}
			got := ""
			if loc.Config != nil {
				got, _ = filepath.Rel(root, loc.Config.Path)
			}
			if got != filepath.FromSlash(tt.wantCfg) {
				t.Fatalf("config %q, want %q (err %v)", got, tt.wantCfg, loc.ConfigErr)
			}
		})
	}
}
