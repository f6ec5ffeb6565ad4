package thumb

import (
	"image"
	"image/color"
	"math"
	"testing"

	"github.com/nfnt/resize"
	"golang.org/x/image/draw"
)

// Issue #17 item 27: nfnt/resize (archived) against golang.org/x/image/draw
// on the thumbnail resize, for speed (BenchmarkResizers) and quality
// (TestResizerQuality: PSNR against the exact area average of a zone
// plate, whose fine rings alias in a filter that does not widen its
// kernel when shrinking).

type resizer struct {
	name string
	fn   func(src image.Image, w, h int) image.Image
}

func resizers() []resizer {
	nf := func(interp resize.InterpolationFunction) func(image.Image, int, int) image.Image {
		return func(src image.Image, w, h int) image.Image { return resize.Resize(uint(w), uint(h), src, interp) }
	}
	xd := func(k draw.Interpolator) func(image.Image, int, int) image.Image {
		return func(src image.Image, w, h int) image.Image {
			dst := image.NewRGBA(image.Rect(0, 0, w, h))
			k.Scale(dst, dst.Bounds(), src, src.Bounds(), draw.Src, nil)
			return dst
		}
	}
	return []resizer{
		{"nfnt_Bilinear", nf(resize.Bilinear)},
		{"nfnt_Lanczos3", nf(resize.Lanczos3)},
		{"xdraw_ApproxBiLinear", xd(draw.ApproxBiLinear)},
		{"xdraw_BiLinear", xd(draw.BiLinear)},
		{"xdraw_CatmullRom", xd(draw.CatmullRom)},
	}
}

// zonePlate is an n×n opaque test pattern whose ring frequency rises to
// the Nyquist limit at the corners.
func zonePlate(n int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, n, n))
	k := math.Pi / float64(n)
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			dx, dy := float64(x-n/2), float64(y-n/2)
			v := uint8(127.5 + 127.5*math.Cos(k*(dx*dx+dy*dy)))
			img.SetRGBA(x, y, color.RGBA{v, v, v, 255})
		}
	}
	return img
}

// areaAverage shrinks by an integer factor: the exact mean of each block,
// the ideal antialiased result for this reduction.
func areaAverage(src *image.RGBA, f int) *image.Gray {
	n := src.Bounds().Dx() / f
	out := image.NewGray(image.Rect(0, 0, n, n))
	for oy := 0; oy < n; oy++ {
		for ox := 0; ox < n; ox++ {
			s := 0
			for y := oy * f; y < oy*f+f; y++ {
				for x := ox * f; x < ox*f+f; x++ {
					s += int(src.Pix[src.PixOffset(x, y)])
				}
			}
			out.Pix[oy*n+ox] = uint8((s + f*f/2) / (f * f))
		}
	}
	return out
}

func psnr(ref *image.Gray, img image.Image) float64 {
	var se float64
	b := ref.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, _, _, _ := img.At(x, y).RGBA()
			d := float64(ref.GrayAt(x, y).Y) - float64(r>>8)
			se += d * d
		}
	}
	mse := se / float64(b.Dx()*b.Dy())
	return 10 * math.Log10(255*255/mse)
}

// TestResizerQuality logs each resizer's PSNR and holds the one the
// thumbnails use (nfnt Bilinear, see Options.Interp) to an antialiased
// result; x/image/draw's ApproxBiLinear, which samples without widening
// its kernel, is the aliasing counter-example.
func TestResizerQuality(t *testing.T) {
	src := zonePlate(2048)
	ref := areaAverage(src, 4)
	got := map[string]float64{}
	for _, r := range resizers() {
		got[r.name] = psnr(ref, r.fn(src, 512, 512))
		t.Logf("%-22s PSNR %.1f dB", r.name, got[r.name])
	}
	if got["nfnt_Bilinear"] < 25 || got["nfnt_Bilinear"] < got["xdraw_ApproxBiLinear"]+5 {
		t.Errorf("thumbnail resizer PSNR %.1f dB (aliasing ApproxBiLinear %.1f dB)", got["nfnt_Bilinear"], got["xdraw_ApproxBiLinear"])
	}
}

// BenchmarkResizers is the thumbnail resize (2048² photo-like RGBA →
// 640²) for each resizer; run with -benchmem.
func BenchmarkResizers(b *testing.B) {
	src := zonePlate(2048)
	for _, r := range resizers() {
		b.Run(r.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r.fn(src, 640, 640)
			}
		})
	}
}
