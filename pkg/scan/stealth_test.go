package scan_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/config"
	"github.com/localsupervisor/supervisor/pkg/scan"
	"github.com/localsupervisor/supervisor/pkg/svtest/pngtest"
)

// stealthPNG hides A1111 parameters the way the stealth pnginfo extension
// does: column by column in the alpha LSBs ("stealth_pnginfo", an RGBA
// PNG) or in the R,G,B LSBs ("stealth_rgbinfo", all pixels opaque, so
// the encoder writes an RGB PNG), then the 32-bit bit count, then the text.
func stealthPNG(t testing.TB, w, h int, rgb bool, text string) []byte {
	sig := "stealth_pnginfo"
	per := 1
	if rgb {
		sig, per = "stealth_rgbinfo", 3
	}
	payload := binary.BigEndian.AppendUint32([]byte(sig), uint32(len(text)*8))
	payload = append(payload, text...)
	if len(payload)*8 > w*h*per {
		t.Fatalf("%dx%d too small for %d bytes", w, h, len(payload))
	}
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = byte(i*7) &^ 1
		if i%4 == 3 {
			img.Pix[i] = 0xFF
			if !rgb {
				img.Pix[i] = 0xFE
			}
		}
	}
	for i := 0; i < len(payload)*8; i++ {
		if payload[i/8]&(0x80>>(i%8)) == 0 {
			continue
		}
		px := i / per
		x, y := px/h, px%h
		ch := 3
		if rgb {
			ch = i % per
		}
		img.Pix[img.PixOffset(x, y)+ch] |= 1
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

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
		"alpha.png": stealthPNG(t, 64, 64, false, a1111Text("fox alpha")),
		"rgb.png":   stealthPNG(t, 64, 64, true, a1111Text("fox rgb")),
		"text.png":  pngtest.WithText(stealthPNG(t, 64, 64, false, a1111Text("fox text")), "Software", "paint"),
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
