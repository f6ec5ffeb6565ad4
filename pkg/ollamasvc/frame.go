package ollamasvc

import (
	"bytes"
	"context"
	"image"
	"image/jpeg"
	"time"

	"github.com/localsupervisor/supervisor/pkg/probe"
)

// frameMaxDim bounds the longer side of a video frame sent to a vision
// model: llava-style models tile at 336–672 px, so a larger frame only
// costs bytes (and would be downscaled again by max_image_bytes).
const frameMaxDim = 1024

// darkLuma and darkShare define a black frame: fewer than darkShare of the
// sampled pixels are brighter than darkLuma (of 255). Fades and title
// cards at the start of AI clips are the usual culprits.
const (
	darkLuma  = 32
	darkShare = 0.02
)

// representativeFrame returns one JPEG frame of the video at path for the
// vision modes (see pickFrame). duration is the catalogue's
// media.duration; when it is unknown ffprobe is asked, and when that fails
// too the first frame is taken.
func representativeFrame(ctx context.Context, ff *probe.FFmpeg, path string, duration time.Duration) ([]byte, error) {
	if duration <= 0 {
		if info, err := ff.Prober().Probe(ctx, path); err == nil {
			duration = info.Duration
		}
	}
	return pickFrame(duration, func(at time.Duration) ([]byte, error) { return ff.Frame(ctx, path, at, frameMaxDim) })
}

// pickFrame grabs the frame at 10 % of the duration (past intros and
// fade-ins), and when that one is black the frames at 30 % and then 50 %.
// If every candidate is black the first is returned: a dark video is still
// that video. Only a failure of the first grab is an error. With an unknown
// duration the first frame is the only candidate.
func pickFrame(duration time.Duration, grab func(at time.Duration) ([]byte, error)) ([]byte, error) {
	var first []byte
	for _, share := range []float64{0.10, 0.30, 0.50} {
		img, err := grab(time.Duration(share * float64(duration)))
		if err != nil {
			if first != nil {
				return first, nil
			}
			return nil, err
		}
		if first == nil {
			first = img
		}
		if duration <= 0 || !isDark(img) {
			return img, nil
		}
	}
	return first, nil
}

// isDark samples the luma of a JPEG on a grid of at most 64×64 points.
// A frame that cannot be decoded counts as not dark: the model decides.
func isDark(jpg []byte) bool {
	img, err := jpeg.Decode(bytes.NewReader(jpg))
	if err != nil {
		return false
	}
	b := img.Bounds()
	stepX, stepY := max(1, b.Dx()/64), max(1, b.Dy()/64)
	var n, bright int
	for y := b.Min.Y; y < b.Max.Y; y += stepY {
		for x := b.Min.X; x < b.Max.X; x += stepX {
			n++
			if luma(img, x, y) > darkLuma {
				bright++
			}
		}
	}
	return n > 0 && float64(bright) < darkShare*float64(n)
}

func luma(img image.Image, x, y int) uint8 {
	if yc, ok := img.(*image.YCbCr); ok {
		return yc.Y[yc.YOffset(x, y)]
	}
	r, g, b, _ := img.At(x, y).RGBA()
	// ITU-R BT.601 weights on 16-bit channels, scaled to 8 bit.
	return uint8((19595*r + 38470*g + 7471*b + 1<<15) >> 24)
}
