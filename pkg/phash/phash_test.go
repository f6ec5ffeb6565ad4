package phash

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/probe"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtest"
	"github.com/nfnt/resize"
	"golang.org/x/image/webp"
)

// picture draws a generated "render": a soft two-colour background,
// blurred blobs and a few hard-edged shapes, all from seed — different
// seeds give different compositions, like different generations.
func picture(seed uint64, w, h int) *image.RGBA {
	r := rand.New(rand.NewPCG(seed, seed*7919+1))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	c1 := [3]float64{r.Float64() * 255, r.Float64() * 255, r.Float64() * 255}
	c2 := [3]float64{r.Float64() * 255, r.Float64() * 255, r.Float64() * 255}
	type blob struct{ x, y, rad, v float64 }
	var blobs []blob
	for range 6 {
		blobs = append(blobs, blob{r.Float64() * float64(w), r.Float64() * float64(h), (0.08 + r.Float64()*0.25) * float64(w), r.Float64()*200 - 100})
	}
	angle := r.Float64() * math.Pi
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			t := (float64(x)*math.Cos(angle) + float64(y)*math.Sin(angle)) / float64(w+h)
			t = math.Mod(math.Abs(t), 1)
			var px [3]float64
			for i := range px {
				px[i] = c1[i]*(1-t) + c2[i]*t
			}
			for _, b := range blobs {
				d := math.Hypot(float64(x)-b.x, float64(y)-b.y) / b.rad
				k := b.v * math.Exp(-d*d)
				for i := range px {
					px[i] += k
				}
			}
			img.SetRGBA(x, y, color.RGBA{clamp(px[0]), clamp(px[1]), clamp(px[2]), 255})
		}
	}
	for range 4 {
		x0, y0 := r.IntN(w), r.IntN(h)
		rect := image.Rect(x0, y0, x0+w/8+r.IntN(w/4), y0+h/8+r.IntN(h/4))
		col := color.RGBA{uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(r.IntN(256)), 255}
		draw.Draw(img, rect, image.NewUniform(col), image.Point{}, draw.Src)
	}
	return img
}

func clamp(v float64) uint8 { return uint8(max(0, min(255, v))) }

func jpegQ(t testing.TB, img image.Image, q int) image.Image {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: q}); err != nil {
		t.Fatal(err)
	}
	out, err := jpeg.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func crop(img image.Image, frac float64) image.Image {
	b := img.Bounds()
	dx, dy := int(float64(b.Dx())*frac), int(float64(b.Dy())*frac)
	return img.(interface {
		SubImage(image.Rectangle) image.Image
	}).SubImage(image.Rect(b.Min.X+dx, b.Min.Y+dy, b.Max.X-dx, b.Max.Y-dy))
}

// webpViaFFmpeg writes img as PNG, converts it to lossy WebP with ffmpeg
// (libwebp, quality 75 — what an export does) and decodes the WebP.
func webpViaFFmpeg(t testing.TB, ffmpeg string, img image.Image) image.Image {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.png"), filepath.Join(dir, "out.webp")
	f, err := os.Create(in)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if b, err := exec.Command(ffmpeg, "-hide_banner", "-loglevel", "error", "-i", in, "-c:v", "libwebp", "-quality", "75", "-y", out).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg webp: %v %s", err, b)
	}
	wf, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer wf.Close()
	dec, err := webp.Decode(wf)
	if err != nil {
		t.Fatal(err)
	}
	return dec
}

func mustHash(t testing.TB, img image.Image) Hash {
	t.Helper()
	h, err := Of(img)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestSeparation: the copies a library collects (JPEG q70, half size, a
// 3 % crop, a WebP export) stay within DefaultThreshold of their
// original; different generations stay above it. The measured
// distributions are logged (the separation table).
func TestSeparation(t *testing.T) {
	ffmpeg := svtest.RequireTool(t, "ffmpeg")
	const n = 40
	var origs []Hash
	same := map[string][]int{}
	kinds := []string{"jpeg_q70", "resize_50", "crop_1pct", "crop_2pct", "webp_q75", "crop_5pct"}
	for i := range n {
		img := picture(uint64(i)+1, 512, 768)
		h := mustHash(t, img)
		origs = append(origs, h)
		copies := map[string]image.Image{
			"jpeg_q70":  jpegQ(t, img, 70),
			"resize_50": resize.Resize(256, 384, img, resize.Lanczos3),
			"crop_1pct": crop(img, 0.01),
			"crop_2pct": crop(img, 0.02),
		}
		if i < 10 { // ffmpeg per image is slow; ten are enough for the table
			copies["webp_q75"] = webpViaFFmpeg(t, ffmpeg, img)
		}
		// A larger crop is measured for the table, not asserted: pHash
		// compares the whole frame, so a crop that removes a tenth of it
		// is a different picture to it.
		same["crop_5pct"] = append(same["crop_5pct"], Distance(h, mustHash(t, crop(img, 0.05))))
		for k, c := range copies {
			d := Distance(h, mustHash(t, c))
			same[k] = append(same[k], d)
			if d > DefaultThreshold {
				t.Errorf("picture %d %s: distance %d > threshold %d", i, k, d, DefaultThreshold)
			}
		}
	}
	var diff []int
	for i := range origs {
		for j := i + 1; j < len(origs); j++ {
			d := Distance(origs[i], origs[j])
			diff = append(diff, d)
			if d <= DefaultThreshold {
				t.Errorf("pictures %d and %d: distance %d ≤ threshold %d", i, j, d, DefaultThreshold)
			}
		}
	}
	for _, k := range kinds {
		t.Logf("same picture, %-9s  %s", k, summary(same[k]))
	}
	t.Logf("different pictures       %s", summary(diff))
}

func summary(ds []int) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s) == 0 {
		return "none"
	}
	return fmt.Sprintf("n=%d min %d median %d p95 %d max %d", len(s), s[0], s[len(s)/2], s[len(s)*95/100], s[len(s)-1])
}

// TestRefusals: images too small or too flat get no hash and a reason
// code, so blank images never form one big group.
func TestRefusals(t *testing.T) {
	flat := func(c color.Color, w, h int) image.Image {
		img := image.NewRGBA(image.Rect(0, 0, w, h))
		draw.Draw(img, img.Bounds(), image.NewUniform(c), image.Point{}, draw.Src)
		return img
	}
	noisyBlack := image.NewRGBA(image.Rect(0, 0, 256, 256))
	r := rand.New(rand.NewPCG(1, 2))
	for i := range noisyBlack.Pix {
		if i%4 == 3 {
			noisyBlack.Pix[i] = 255
		} else {
			noisyBlack.Pix[i] = uint8(r.IntN(3)) // sensor noise on a black frame
		}
	}
	for _, c := range []struct {
		name string
		img  image.Image
		code string
	}{
		{"1x1 crop", flat(color.White, 1, 1), CodeTooSmall},
		{"thin strip", picture(3, 800, 10), CodeTooSmall},
		{"black frame", flat(color.Black, 640, 360), CodeLowDetail},
		{"noisy black frame", noisyBlack, CodeLowDetail},
		{"white canvas", flat(color.White, 1024, 1024), CodeLowDetail},
		{"solid colour", flat(color.RGBA{200, 30, 90, 255}, 300, 200), CodeLowDetail},
		{"picture", picture(4, 300, 200), ""},
	} {
		_, err := Of(c.img)
		if got := reason.Code(err); got != c.code {
			t.Errorf("%s: code %q (%v), want %q", c.name, got, err, c.code)
		}
	}
}

func TestHashForms(t *testing.T) {
	h := Hash(0xfedcba9876543210)
	if h.String() != "fedcba9876543210" || FromInt64(h.Int64()) != h || h.Int64() >= 0 {
		t.Fatalf("forms of %x: %s %d", uint64(h), h, h.Int64())
	}
	if Distance(h, h) != 0 || Distance(0, ^Hash(0)) != 64 || Distance(1, 3) != 1 {
		t.Fatal("distance")
	}
}

// BenchmarkHash measures pHash throughput beside the plain decode of the
// same PNG (the figure: images/s per core).
func BenchmarkHash(b *testing.B) {
	var buf bytes.Buffer
	if err := png.Encode(&buf, picture(9, 832, 1216)); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	b.Run("decode", func(b *testing.B) {
		for b.Loop() {
			if _, err := png.Decode(bytes.NewReader(data)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode+phash", func(b *testing.B) {
		for b.Loop() {
			img, err := png.Decode(bytes.NewReader(data))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := Of(img); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestVideoSprite: a clip's re-encoded, downscaled copy hashes within
// the threshold; a different clip does not; a black clip is refused.
func TestVideoSprite(t *testing.T) {
	ffmpegPath := svtest.RequireTool(t, "ffmpeg")
	ff := &probe.FFmpeg{Path: ffmpegPath}
	dir := t.TempDir()
	clip := func(name string, args ...string) string {
		p := filepath.Join(dir, name)
		full := append([]string{"-hide_banner", "-loglevel", "error"}, args...)
		full = append(full, "-pix_fmt", "yuv420p", "-y", p)
		if b, err := exec.Command(ffmpegPath, full...).CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg %s: %v %s", name, err, b)
		}
		return p
	}
	orig := clip("orig.mp4", "-f", "lavfi", "-i", "testsrc2=duration=4:size=320x240:rate=10", "-c:v", "libx264")
	copyLow := clip("copy.mkv", "-i", orig, "-vf", "scale=160:120", "-c:v", "mpeg4", "-q:v", "12")
	other := clip("other.mp4", "-f", "lavfi", "-i", "testsrc=duration=4:size=320x240:rate=10", "-c:v", "libx264")
	black := clip("black.mp4", "-f", "lavfi", "-i", "color=c=black:size=320x240:rate=10", "-t", "3", "-c:v", "libx264")
	hash := func(p string) (Hash, error) {
		jpegs, err := ff.Frames(context.Background(), p, SpriteFrames, 256)
		if err != nil {
			t.Fatal(err)
		}
		var frames []image.Image
		for _, j := range jpegs {
			img, err := jpeg.Decode(bytes.NewReader(j))
			if err != nil {
				t.Fatal(err)
			}
			frames = append(frames, img)
		}
		return Sprite(frames)
	}
	ho, err := hash(orig)
	if err != nil {
		t.Fatal(err)
	}
	hc, err := hash(copyLow)
	if err != nil {
		t.Fatal(err)
	}
	hx, err := hash(other)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("video: re-encoded copy %d bits, different clip %d bits", Distance(ho, hc), Distance(ho, hx))
	if Distance(ho, hc) > DefaultThreshold || Distance(ho, hx) <= DefaultThreshold {
		t.Errorf("copy %d, other %d: threshold %d does not separate them", Distance(ho, hc), Distance(ho, hx), DefaultThreshold)
	}
	if _, err := hash(black); reason.Code(err) != CodeLowDetail {
		t.Errorf("black clip: %v, want %s", err, CodeLowDetail)
	}
	if _, err := Sprite(nil); reason.Code(err) != CodeNoFrames {
		t.Errorf("no frames: %v", err)
	}
}

func TestBandNeighbours(t *testing.T) {
	for r, want := range []int{1, 17, 137, 697} {
		got := BandNeighbours(0xbeef, r)
		seen := map[int]bool{}
		for _, v := range got {
			if seen[v] || Distance(Hash(v), 0xbeef) > r {
				t.Fatalf("r=%d: %x repeated or too far", r, v)
			}
			seen[v] = true
		}
		if len(got) != want {
			t.Fatalf("r=%d: %d values, want %d", r, len(got), want)
		}
	}
	if b := Bands(0x0123_4567_89ab_cdef); b != [4]uint16{0xcdef, 0x89ab, 0x4567, 0x0123} {
		t.Fatalf("bands %x", b)
	}
}
