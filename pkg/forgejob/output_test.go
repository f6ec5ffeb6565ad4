package forgejob

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/forge"
	"github.com/localsupervisor/supervisor/pkg/sdmeta"
)

func testPNG(tb testing.TB, w, h int) forge.Image {
	tb.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.NRGBA{uint8(x * 7), uint8(y * 13), uint8(x ^ y), 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		tb.Fatal(err)
	}
	im, err := forge.ImageFromBytes(buf.Bytes())
	if err != nil {
		tb.Fatal(err)
	}
	return im
}

func TestPrepareOutput(t *testing.T) {
	src := testPNG(t, 96, 64)
	const info = "a lighthouse\nSteps: 20, Sampler: Euler a, Seed: 7, Size: 96x64"
	for _, c := range []struct {
		name            string
		w, h            int
		ext             string
		wantExt         string
		wantW, wantH    int
		preserved, same bool
	}{
		{"png same size keeps bytes", 96, 64, "png", "png", 96, 64, true, true},
		{"png resized", 100, 70, "png", "png", 100, 70, true, false},
		{"jpeg original", 100, 70, "jpg", "jpg", 100, 70, true, false},
		{"webp falls back to png", 96, 64, "webp", "png", 96, 64, false, true},
		{"unknown size keeps generated size", 0, 0, "png", "png", 96, 64, true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			o, err := PrepareOutput(src, c.w, c.h, c.ext, info)
			if err != nil {
				t.Fatal(err)
			}
			cfg, format, err := image.DecodeConfig(bytes.NewReader(o.Data))
			if err != nil {
				t.Fatal(err)
			}
			if o.Ext != c.wantExt || cfg.Width != c.wantW || cfg.Height != c.wantH || o.FormatPreserved != c.preserved {
				t.Errorf("got %s %dx%d (%s) preserved=%v", o.Ext, cfg.Width, cfg.Height, format, o.FormatPreserved)
			}
			if bytes.Equal(o.Data, src.Data) != c.same {
				t.Errorf("bytes kept = %v, want %v", !c.same, c.same)
			}
			if o.MD5 != md5hex(o.Data) {
				t.Error("md5 mismatch")
			}
		})
	}
}

func TestResizedPNGKeepsParameters(t *testing.T) {
	o, err := PrepareOutput(testPNG(t, 96, 64), 100, 70, "png", "a lighthouse\nSteps: 20, Sampler: Euler a, Seed: 7, Size: 96x64")
	if err != nil {
		t.Fatal(err)
	}
	r, err := sdmeta.ExtractBytes(context.Background(), o.Data, "x.png", sdmeta.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Prompt != "a lighthouse" || r.Seed != "7" {
		t.Errorf("extracted prompt %q seed %q", r.Prompt, r.Seed)
	}
}

func BenchmarkPrepareOutputResize(b *testing.B) {
	src := testPNG(b, 1024, 1024)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := PrepareOutput(src, 1000, 1000, "png", "p"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPrepareOutputKeep(b *testing.B) {
	src := testPNG(b, 1024, 1024)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := PrepareOutput(src, 1024, 1024, "png", "p"); err != nil {
			b.Fatal(err)
		}
	}
}
