package scan_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/config"
	"github.com/localsupervisor/supervisor/pkg/scan"
	"github.com/localsupervisor/supervisor/pkg/svtest/pngtest"
)

func a1111Text(prompt string) string {
	return prompt + "\nNegative prompt: blurry\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 1, Size: 64x64, Model: m"
}

// TestStealthPNGInfoSetting: import.stealth_pnginfo decides which PNGs the
// import decodes for A1111 stealth pnginfo. auto reads it from an RGBA PNG
// without any metadata chunk, but leaves alone an RGB PNG (RGB-LSB stealth)
// and a PNG that carries a text chunk, which only always decodes; off
// decodes nothing. The legacy metadata.stealth true acts as always.
func TestStealthPNGInfoSetting(t *testing.T) {
	files := map[string][]byte{
		"alpha.png": pngtest.Stealth(64, 64, false, a1111Text("fox alpha")),
		"rgb.png":   pngtest.Stealth(64, 64, true, a1111Text("fox rgb")),
		"text.png":  pngtest.WithText(pngtest.Stealth(64, 64, false, a1111Text("fox text")), "Software", "paint"),
	}
	for _, c := range []struct {
		mode   string
		legacy bool
		want   string
	}{
		{"off", false, ""},
		{"auto", false, "fox alpha"},
		{"always", false, "fox alpha,fox rgb,fox text"},
		{"off", true, "fox alpha,fox rgb,fox text"},
	} {
		t.Run(fmt.Sprintf("%s legacy=%v", c.mode, c.legacy), func(t *testing.T) {
			base := t.TempDir()
			cfgPath := filepath.Join(base, "config.json")
			os.WriteFile(cfgPath, []byte(fmt.Sprintf(`{"paths": {"base": "."}, "import": {"mode": "copy", "stealth_pnginfo": %q},
				"metadata": {"stealth": %v}}`, c.mode, c.legacy)), 0o644)
			cfg, err := config.Load(config.LoadOptions{Path: cfgPath, WorkDir: base, Getenv: func(string) string { return "" }})
			if err != nil {
				t.Fatal(err)
			}
			d := openDB(t)
			setup, err := scan.FromConfig(cfg, d, &lockedClock{t: t0}, nil)
			if err != nil {
				t.Fatal(err)
			}
			src := t.TempDir()
			for name, b := range files {
				os.WriteFile(filepath.Join(src, name), b, 0o644)
			}
			s, err := setup.Importer.ScanPath(context.Background(), src, scan.RunOptions{})
			if err != nil || s.Imported != len(files) {
				t.Fatalf("%+v %v", s, err)
			}
			rows, err := d.Query(`SELECT prompt FROM prompts`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var got []string
			for rows.Next() {
				var p string
				rows.Scan(&p)
				got = append(got, p)
			}
			sort.Strings(got)
			if g := strings.Join(got, ","); g != c.want {
				t.Fatalf("catalogued prompts %q, want %q", g, c.want)
			}
		})
	}
}
