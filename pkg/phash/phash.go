// Package phash computes perceptual hashes of images: a 64-bit DCT pHash
// (goimagehash, the maintained Go implementation of the hackerfactor
// pHash) that stays within a few bits when an image is re-encoded,
// resized or lightly cropped, and refuses images too small or too flat to
// hash, whose hashes would otherwise group every blank image together.
package phash

import (
	"fmt"
	"image"
	"image/draw"
	"math"
	"math/bits"

	"github.com/corona10/goimagehash"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/nfnt/resize"
)

// Hash is a 64-bit DCT perceptual hash.
type Hash uint64

// Distance is the Hamming distance of two hashes (0 = same picture).
func Distance(a, b Hash) int { return bits.OnesCount64(uint64(a ^ b)) }

// String is the hash as 16 hex digits (how CLI and API show it).
func (h Hash) String() string { return fmt.Sprintf("%016x", uint64(h)) }

// Int64 is the hash as SQLite stores it (a signed 64-bit integer, same
// bits).
func (h Hash) Int64() int64 { return int64(h) }

// FromInt64 is the hash of a stored value.
func FromInt64(v int64) Hash { return Hash(v) }

// Reason codes of images that get no hash (the errors are reason.Error,
// permanent: hashing the same content again gives the same answer).
const (
	CodeTooSmall  = "phash_too_small"
	CodeLowDetail = "phash_low_detail"
	CodeDecode    = "phash_decode_failed"
)

// MinSide is the smallest width or height hashed: below it the 64×64
// resample invents the picture (a 1×1 crop would hash like any flat
// colour).
const MinSide = 16

// MinDetail is the smallest standard deviation of the 64×64 grey image
// (0–255) that is hashed. A flat or nearly flat picture (all black
// frames, a blank canvas, a solid colour) has DCT coefficients of noise
// around zero, so its bits are arbitrary and its distance to every other
// flat picture small: such images are refused instead of grouped. A
// plain gradient or a photo is far above it (tests: detail of generated
// pictures vs flat ones).
const MinDetail = 3.0

// Of is the pHash of img.
func Of(img image.Image) (Hash, error) {
	b := img.Bounds()
	if b.Dx() < MinSide || b.Dy() < MinSide {
		return 0, reason.New(CodeTooSmall, fmt.Sprintf("the image is %d×%d pixels, too small for a perceptual hash (at least %d×%d)", b.Dx(), b.Dy(), MinSide, MinSide))
	}
	// One resample of the full image serves both the detail check and
	// the hash (PerceptionHash resamples to 64×64 itself, then a no-op):
	// the full-size resample is most of the hash's cost.
	small := resize.Resize(64, 64, img, resize.Bilinear)
	if d := Detail(small); d < MinDetail {
		return 0, reason.New(CodeLowDetail, fmt.Sprintf("the image is almost one flat colour (detail %.1f, at least %.1f needed), so it is not compared with others", d, MinDetail))
	}
	h, err := goimagehash.PerceptionHash(small)
	if err != nil {
		return 0, reason.New(CodeDecode, "perceptual hash: "+err.Error())
	}
	return Hash(h.GetHash()), nil
}

// Detail is the standard deviation of img's brightness (0 for one flat
// colour, up to ~128); Of measures it on the 64×64 resample it hashes.
func Detail(small image.Image) float64 {
	b := small.Bounds()
	var sum, sq float64
	n := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := small.At(x, y).RGBA()
			// Rec. 601 luma on 8-bit values.
			v := (0.299*float64(r) + 0.587*float64(g) + 0.114*float64(bl)) / 257
			sum += v
			sq += v * v
			n++
		}
	}
	if n == 0 {
		return 0
	}
	mean := sum / float64(n)
	return math.Sqrt(max(sq/float64(n)-mean*mean, 0))
}

// DefaultThreshold is the largest distance at which two images count as
// the same picture (re-encoded, resized, lightly cropped); the tests
// measure the separation it relies on.
const DefaultThreshold = 10

// SpriteFrames is how many frames a video's hash looks at (a 3×3 sprite,
// like Stash's stitched sprite, smaller): enough to tell clips apart, few
// enough that hashing a video costs nine ffmpeg seeks.
const SpriteFrames = 9

// CodeNoFrames: a video without a decodable frame has no hash.
const CodeNoFrames = "phash_no_frames"

// Sprite is the hash of a video: its frames (in time order, at fixed
// fractions of the duration) tiled into one 3×3 picture, hashed like an
// image. A re-encoded, rescaled or re-containered copy yields the same
// frames at the same fractions, so its hash stays near; a clip of
// all-black frames is refused as flat.
func Sprite(frames []image.Image) (Hash, error) {
	if len(frames) == 0 {
		return 0, reason.New(CodeNoFrames, "no frame of the video could be decoded, so it has no perceptual hash")
	}
	const cell = 64
	side := 1
	for side*side < len(frames) {
		side++
	}
	sprite := image.NewRGBA(image.Rect(0, 0, side*cell, side*cell))
	for i, f := range frames {
		small := resize.Resize(cell, cell, f, resize.Bilinear)
		x, y := (i%side)*cell, (i/side)*cell
		draw.Draw(sprite, image.Rect(x, y, x+cell, y+cell), small, small.Bounds().Min, draw.Src)
	}
	return Of(sprite)
}
