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
	boxMeans(b, k, func(x, y int) [4]uint64 {
		ci := m.COffset(x, y)
		return [4]uint64{uint64(m.Y[m.YOffset(x, y)]), uint64(m.Cb[ci]), uint64(m.Cr[ci])}
	}, func(ox, oy int, mean [4]uint64) {
		r, g, bl := color.YCbCrToRGB(uint8(mean[0]), uint8(mean[1]), uint8(mean[2]))
		out.SetRGBA(ox, oy, color.RGBA{r, g, bl, 0xff})
	})
	return out
}

// shrinkAny is the box average over any image type (alpha-premultiplied,
// as image.Image colours are).
func shrinkAny(img image.Image, k int) *image.RGBA64 {
	b := img.Bounds()
	out := image.NewRGBA64(image.Rect(0, 0, (b.Dx()+k-1)/k, (b.Dy()+k-1)/k))
	boxMeans(b, k, func(x, y int) [4]uint64 {
		r, g, bl, a := img.At(x, y).RGBA()
		return [4]uint64{uint64(r), uint64(g), uint64(bl), uint64(a)}
	}, func(ox, oy int, mean [4]uint64) {
		out.SetRGBA64(ox, oy, color.RGBA64{uint16(mean[0]), uint16(mean[1]), uint16(mean[2]), uint16(mean[3])})
	})
	return out
}

// boxMeans walks b row by row and hands put the rounded mean of the four
// channels px reports over each k×k block (edge blocks are smaller); only
// one output row of sums is held.
func boxMeans(b image.Rectangle, k int, px func(x, y int) [4]uint64, put func(ox, oy int, mean [4]uint64)) {
	ow, oh := (b.Dx()+k-1)/k, (b.Dy()+k-1)/k
	sums := make([][4]uint64, ow)
	counts := make([]uint64, ow)
	for oy := 0; oy < oh; oy++ {
		clear(sums)
		clear(counts)
		for y := b.Min.Y + oy*k; y < min(b.Min.Y+oy*k+k, b.Max.Y); y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				ox := (x - b.Min.X) / k
				v := px(x, y)
				s := &sums[ox]
				s[0], s[1], s[2], s[3] = s[0]+v[0], s[1]+v[1], s[2]+v[2], s[3]+v[3]
				counts[ox]++
			}
		}
		for ox, s := range sums {
			n := counts[ox]
			put(ox, oy, [4]uint64{(s[0] + n/2) / n, (s[1] + n/2) / n, (s[2] + n/2) / n, (s[3] + n/2) / n})
		}
	}
}
