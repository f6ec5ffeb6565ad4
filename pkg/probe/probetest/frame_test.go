package probetest

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"testing"
)

func TestMeanRGB(t *testing.T) {
	cases := []struct {
		name    string
		fill    func(x, y int) color.Color
		r, g, b float64
	}{
		{"black", func(int, int) color.Color { return color.Black }, 0, 0, 0},
		{"white", func(int, int) color.Color { return color.White }, 255, 255, 255},
		{"red", func(int, int) color.Color { return color.RGBA{R: 255, A: 255} }, 255, 0, 0},
		{"half black half white", func(x, _ int) color.Color {
			if x < 32 {
				return color.Black
			}
			return color.White
		}, 127.5, 127.5, 127.5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			img := image.NewRGBA(image.Rect(0, 0, 64, 48))
			for y := 0; y < 48; y++ {
				for x := 0; x < 64; x++ {
					img.Set(x, y, tc.fill(x, y))
				}
			}
			var buf bytes.Buffer
			if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}); err != nil {
				t.Fatal(err)
			}
			r, g, b := MeanRGB(t, buf.Bytes())
			// JPEG is lossy: a few steps of tolerance.
			if math.Abs(r-tc.r) > 6 || math.Abs(g-tc.g) > 6 || math.Abs(b-tc.b) > 6 {
				t.Fatalf("MeanRGB = %.1f/%.1f/%.1f, want ≈ %.1f/%.1f/%.1f", r, g, b, tc.r, tc.g, tc.b)
			}
			if gray := MeanGray(t, buf.Bytes()); math.Abs(gray-(tc.r+tc.g+tc.b)/3) > 6 {
				t.Fatalf("MeanGray = %.1f", gray)
			}
		})
	}
}
