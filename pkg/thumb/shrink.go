package thumb

import (
	"image"
	"image/color"
)

// preShrink box-averages a big decoded image by an integer factor to about
// twice the thumbnail size before the resampler sees it. nfnt/resize first
// converts a YCbCr image (every JPEG) into its own 3-byte-per-pixel copy, and
// other types outside RGBA/NRGBA into a 16-bit one: at the 100 MP pixel
// budget that is 300-800 MB on top of the decoded image (issue #17 item
// 21a: a 10000² JPEG thumbnail peaked at 467 MB). The box average keeps
// the result antialiased; the resampler then makes the exact size.
// RGBA and NRGBA are resized directly (nfnt reads them in place).
func preShrink(img image.Image, size int) image.Image {
	b := img.Bounds()
	k := max(b.Dx(), b.Dy()) / (2 * size)
	if k < 2 {
		return img
	}
	switch m := img.(type) {
	case *image.RGBA, *image.NRGBA:
		return img
	case *image.YCbCr:
		return shrinkYCbCr(m, k)
	default:
		return shrinkAny(img, k)
	}
}

// shrinkYCbCr averages Y, Cb and Cr over each k×k block straight from
// the planes and converts the mean to RGB.
func shrinkYCbCr(m *image.YCbCr, k int) *image.RGBA {
	b := m.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, (b.Dx()+k-1)/k, (b.Dy()+k-1)/k))
	ow := out.Rect.Dx()
	sums := make([]int, 3*ow)
	counts := make([]int, ow)
	for oy := 0; oy < out.Rect.Dy(); oy++ {
		clear(sums)
		clear(counts)
		for y := b.Min.Y + oy*k; y < min(b.Min.Y+oy*k+k, b.Max.Y); y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				ox := (x - b.Min.X) / k
				ci := m.COffset(x, y)
				sums[3*ox] += int(m.Y[m.YOffset(x, y)])
				sums[3*ox+1] += int(m.Cb[ci])
				sums[3*ox+2] += int(m.Cr[ci])
				counts[ox]++
			}
		}
		row := out.Pix[oy*out.Stride:]
		for ox := 0; ox < ow; ox++ {
			n := counts[ox]
			r, g, bl := color.YCbCrToRGB(uint8((sums[3*ox]+n/2)/n), uint8((sums[3*ox+1]+n/2)/n), uint8((sums[3*ox+2]+n/2)/n))
			row[4*ox], row[4*ox+1], row[4*ox+2], row[4*ox+3] = r, g, bl, 0xff
		}
	}
	return out
}

// shrinkAny is the box average over any image type (alpha-premultiplied,
// as image.Image colours are).
func shrinkAny(img image.Image, k int) *image.RGBA64 {
	b := img.Bounds()
	out := image.NewRGBA64(image.Rect(0, 0, (b.Dx()+k-1)/k, (b.Dy()+k-1)/k))
	ow := out.Rect.Dx()
	sums := make([]uint64, 4*ow)
	counts := make([]uint64, ow)
	for oy := 0; oy < out.Rect.Dy(); oy++ {
		clear(sums)
		clear(counts)
		for y := b.Min.Y + oy*k; y < min(b.Min.Y+oy*k+k, b.Max.Y); y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				ox := (x - b.Min.X) / k
				r, g, bl, a := img.At(x, y).RGBA()
				sums[4*ox] += uint64(r)
				sums[4*ox+1] += uint64(g)
				sums[4*ox+2] += uint64(bl)
				sums[4*ox+3] += uint64(a)
				counts[ox]++
			}
		}
		for ox := 0; ox < ow; ox++ {
			n := counts[ox]
			out.SetRGBA64(ox, oy, color.RGBA64{uint16(sums[4*ox] / n), uint16(sums[4*ox+1] / n), uint16(sums[4*ox+2] / n), uint16(sums[4*ox+3] / n)})
		}
	}
	return out
}
