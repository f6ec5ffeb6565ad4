package modules_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/config"
	"github.com/localsupervisor/supervisor/pkg/modules"
	"github.com/localsupervisor/supervisor/pkg/svtest"
)

// TestConfigExampleLoadsAndIsDocumented keeps CONFIG/config.example.json
// valid (strict decoding of every section) and every key explained in
// CONFIG/README.md.
func TestConfigExampleLoadsAndIsDocumented(t *testing.T) {
	root := svtest.RepoRoot(t)
	example := filepath.Join(root, "CONFIG", "config.example.json")
	cfg, err := config.Load(config.LoadOptions{Path: example, WorkDir: t.TempDir(), Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := modules.Load(cfg); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(example)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	doc, _ := os.ReadFile(filepath.Join(root, "CONFIG", "README.md"))
	var missing []string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		obj, ok := v.(map[string]any)
		if !ok || len(obj) == 0 || strings.HasSuffix(prefix, "queue_max_per_type") {
			if !strings.Contains(string(doc), "`"+prefix+"`") {
				missing = append(missing, prefix)
			}
			return
		}
		for k, x := range obj {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			walk(p, x)
		}
	}
	walk("", m)
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("keys in config.example.json not documented in CONFIG/README.md: %v", missing)
	}
}

func TestBrokenModuleSectionNamesKey(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c.json")
	os.WriteFile(p, []byte(`{"scanner":{"enabled":true,"tokn":"x"}}`), 0o644)
	cfg, err := config.Load(config.LoadOptions{Path: p, WorkDir: dir, Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	_, err = modules.Load(cfg)
	if err == nil || !strings.Contains(err.Error(), "scanner.tokn") || !strings.Contains(err.Error(), p) {
		t.Fatalf("want error naming scanner.tokn and the file, got %v", err)
	}
}
