package thumb

import (
	"image"
	"image/color"
	"testing"
)

// TestPreShrink: images at least 4× the thumbnail are box-shrunk to about
// twice its size before resampling (a YCbCr straight from its planes, other
// types through At), keeping their colour; RGBA/NRGBA and small images
// pass unchanged.
func TestPreShrink(t *testing.T) {
	ycc := image.NewYCbCr(image.Rect(0, 0, 4000, 3000), image.YCbCrSubsampleRatio420)
	for i := range ycc.Y {
		ycc.Y[i] = 120
	}
	for i := range ycc.Cb {
		ycc.Cb[i], ycc.Cr[i] = 90, 170
	}
	gray := image.NewGray(image.Rect(0, 0, 3000, 2000))
	for i := range gray.Pix {
		gray.Pix[i] = uint8(i % 2 * 200) // alternating 0/200: mean 100
	}
	r, g, b := color.YCbCrToRGB(120, 90, 170)
	for _, c := range []struct {
		name string
		img  image.Image
		size int
		w, h int
		want color.RGBA
	}{
		{"ycbcr", ycc, 640, 1334, 1000, color.RGBA{r, g, b, 255}},
		{"gray", gray, 375, 750, 500, color.RGBA{100, 100, 100, 255}},
		{"small", gray, 1000, 3000, 2000, color.RGBA{200, 200, 200, 255}},
		{"rgba kept", image.NewRGBA(image.Rect(0, 0, 5000, 5000)), 640, 5000, 5000, color.RGBA{}},
	} {
		out := preShrink(c.img, c.size)
		if out.Bounds().Dx() != c.w || out.Bounds().Dy() != c.h {
			t.Errorf("%s: %v, want %dx%d", c.name, out.Bounds(), c.w, c.h)
			continue
		}
		if got := color.RGBAModel.Convert(out.At(1, 1)).(color.RGBA); got != c.want {
			t.Errorf("%s: colour %v, want %v", c.name, got, c.want)
		}
	}
}
