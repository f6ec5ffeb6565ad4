package probe

import (
	"context"
	"encoding/binary"
	"image"
	"io"
	"os"

	"golang.org/x/sync/semaphore"

	"github.com/localsupervisor/supervisor/pkg/pngstream"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

// DecodeBudget bounds the pixels a process decodes at the same time, across
// thumbnails, integrity checks and upscales (issue #17 item 21a): each
// decode holds a weight of its pixel count while its buffers live, so two
// images at the pixel budget never sit in memory together. One budget is
// made by a process's wiring and passed to every decoder; a nil budget
// bounds nothing (tests, tools that decode one file).
type DecodeBudget struct {
	sem  *semaphore.Weighted
	size int64
}

// NewDecodeBudget allows pixels (≤ 0: DefaultMaxPixels) to be decoded at
// once.
func NewDecodeBudget(pixels int64) *DecodeBudget {
	if pixels <= 0 {
		pixels = DefaultMaxPixels
	}
	return &DecodeBudget{sem: semaphore.NewWeighted(pixels), size: pixels}
}

// Acquire waits until pixels more may be decoded and returns the release
// function. A weight above the whole budget takes all of it (it would
// otherwise wait forever); the pixel budget itself is checked elsewhere.
func (b *DecodeBudget) Acquire(ctx context.Context, pixels int64) (release func(), err error) {
	if b == nil {
		return func() {}, nil
	}
	n := min(max(pixels, 1), b.size)
	if err := b.sem.Acquire(ctx, n); err != nil {
		return nil, reason.Transient(CodeCancelled, err)
	}
	return func() { b.sem.Release(n) }, nil
}

// DecodeCost is the weight of decoding the image at path: its pixel count,
// except for a non-interlaced PNG, which CheckImage and the thumbnailer
// stream (pkg/pngstream) with a few rows in memory. Read from the header
// only; an unreadable header costs 1 (the decode fails fast).
func DecodeCost(path string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 1
	}
	defer f.Close()
	if w, ok := streamablePNG(f); ok {
		return streamCost(w)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 1
	}
	cfg, _, err := decodeConfig(f)
	if err != nil {
		return 1
	}
	return int64(cfg.Width) * int64(cfg.Height)
}

// streamCost is the pixel-equivalent weight of a streamed PNG decode of
// width w: two raw rows (up to 8 bytes a pixel) and the expanded row.
func streamCost(w int) int64 { return 4 * int64(w) }

// ScaledPNG decodes a non-interlaced PNG straight into a box-filtered
// image whose long edge is at most maxEdge (pkg/pngstream), after checking
// the header against the pixel budget, holding its share of b while it
// runs. ok is false, with nothing read that matters, when r is not such a
// PNG (other formats and interlaced PNGs are decoded in full by the
// caller). Errors carry DecodeImage's reason codes.
func ScaledPNG(ctx context.Context, b *DecodeBudget, r io.ReadSeeker, maxPixels int64, maxEdge int) (img *image.NRGBA, ok bool, err error) {
	w, ok := streamablePNG(r)
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, false, reason.Transient(CodeNotReadable, err)
	}
	if !ok {
		return nil, false, nil
	}
	cfg, _, err := decodeConfig(r)
	if err != nil {
		return nil, true, err
	}
	if err := CheckPixels(int64(cfg.Width), int64(cfg.Height), maxPixels); err != nil {
		return nil, true, err
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, true, reason.Transient(CodeNotReadable, err)
	}
	release, err := b.Acquire(ctx, streamCost(w))
	if err != nil {
		return nil, true, err
	}
	defer release()
	img, err = pngstream.Scale(r, maxEdge)
	if err != nil {
		return nil, true, decodeError(err)
	}
	return img, true, nil
}

// streamablePNG reports whether r starts a non-interlaced PNG and its
// width.
func streamablePNG(r io.Reader) (int, bool) {
	var h [8 + 8 + 13]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, false
	}
	if string(h[:8]) != "\x89PNG\r\n\x1a\n" || string(h[12:16]) != "IHDR" || h[8+8+12] != 0 {
		return 0, false
	}
	return int(binary.BigEndian.Uint32(h[16:20])), true
}
