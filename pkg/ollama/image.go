package ollama

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"math"

	// Decoders for the formats found in AI image libraries.
	_ "image/gif"
	_ "image/png"

	"github.com/nfnt/resize"
	_ "golang.org/x/image/webp"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

// Image sources recorded in result meta (mirrors the original's values).
const (
	ImageSourcePath           = "path"
	ImageSourcePathDownscaled = "path_downscaled"
	ImageSourceFrame          = "video_frame"
)

// FitImage returns data unchanged when it fits maxBytes (0 = no limit).
// Otherwise it decodes the image (refusing more than maxPixels pixels
// before decoding) and re-encodes it as JPEG, first at full size with
// falling quality, then at shrinking sizes, until it fits. It returns
// too_large_for_vision (permanent) when nothing fits and invalid_image when
// the data cannot be decoded.
func FitImage(data []byte, maxBytes, maxPixels int64) (out []byte, downscaled bool, err error) {
	if maxBytes <= 0 || int64(len(data)) <= maxBytes {
		return data, false, nil
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, false, reason.Permanent(CodeInvalidImage, fmt.Errorf("decode image header: %w", err))
	}
	if maxPixels > 0 && int64(cfg.Width)*int64(cfg.Height) > maxPixels {
		return nil, false, reason.Newf(CodeTooLargeForVision, "%dx%d pixels exceed %d", cfg.Width, cfg.Height, maxPixels).
			With("bytes", len(data)).With("max_bytes", maxBytes)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, false, reason.Permanent(CodeInvalidImage, fmt.Errorf("decode image: %w", err))
	}
	img = flatten(img)
	for _, q := range []int{85, 75} {
		if b, err := encodeJPEG(img, q); err == nil && int64(len(b)) <= maxBytes {
			return b, true, nil
		}
	}
	// Shrink by the square root of the byte ratio (bytes scale with the
	// area), with a safety factor, and keep shrinking if still too big.
	w, h := img.Bounds().Dx(), img.Bounds().Dy()
	scale := 1.0
	last := int64(len(data))
	for try := 0; try < 6 && w > 16 && h > 16; try++ {
		scale *= math.Min(0.85, math.Sqrt(float64(maxBytes)/float64(last))*0.9)
		nw := max(int(float64(w)*scale), 16)
		small := resize.Resize(uint(nw), 0, img, resize.Lanczos3)
		b, err := encodeJPEG(small, 80)
		if err != nil {
			return nil, false, reason.Permanent(CodeInvalidImage, fmt.Errorf("encode jpeg: %w", err))
		}
		if int64(len(b)) <= maxBytes {
			return b, true, nil
		}
		last = int64(len(b))
	}
	return nil, false, reason.Newf(CodeTooLargeForVision, "%d > %d bytes after downscaling", len(data), maxBytes).
		With("bytes", len(data)).With("max_bytes", maxBytes)
}

func encodeJPEG(img image.Image, q int) ([]byte, error) {
	var buf bytes.Buffer
	err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: q})
	return buf.Bytes(), err
}

// flatten draws images with alpha onto white, since JPEG has no alpha and
// transparent pixels would otherwise turn black.
func flatten(img image.Image) image.Image {
	switch img.(type) {
	case *image.YCbCr, *image.Gray:
		return img
	}
	b := img.Bounds()
	dst := image.NewRGBA(b)
	draw.Draw(dst, b, &image.Uniform{C: color.White}, image.Point{}, draw.Src)
	draw.Draw(dst, b, img, b.Min, draw.Over)
	return dst
}
