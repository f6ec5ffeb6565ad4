package probetest

import (
	"bytes"
	"image/jpeg"
	"testing"
)

// MeanRGB decodes a JPEG frame (what probe.FFmpeg grabs) and returns its
// mean red, green and blue, each 0..255, over every pixel. Tests use it to
// tell which part of a rendered clip a frame came from.
func MeanRGB(tb testing.TB, jpg []byte) (r, g, b float64) {
	tb.Helper()
	img, err := jpeg.Decode(bytes.NewReader(jpg))
	if err != nil {
		tb.Fatalf("frame is not a JPEG: %v", err)
	}
	bd := img.Bounds()
	for y := bd.Min.Y; y < bd.Max.Y; y++ {
		for x := bd.Min.X; x < bd.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			r, g, b = r+float64(cr), g+float64(cg), b+float64(cb)
		}
	}
	// RGBA channels are 16-bit: 257 per 8-bit step.
	n := float64(bd.Dx()*bd.Dy()) * 257
	return r / n, g / n, b / n
}

// MeanGray is the mean of MeanRGB's three channels: the brightness of a
// gray frame.
func MeanGray(tb testing.TB, jpg []byte) float64 {
	tb.Helper()
	r, g, b := MeanRGB(tb, jpg)
	return (r + g + b) / 3
}
