package thumb

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/xml"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nfnt/resize"

	"github.com/localsupervisor/supervisor/pkg/probe"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtest"
)

// fixture bundles a Generator with a generation counter.
type fixture struct {
	g     *Generator
	dir   string
	count atomic.Int64
}

func newFixture(t testing.TB, mod func(*Options)) *fixture {
	t.Helper()
	fx := &fixture{dir: t.TempDir()}
	opts := Options{CacheDir: filepath.Join(fx.dir, "cache"),
		OnGenerate: func(Source) { fx.count.Add(1) }}
	if p, err := exec.LookPath("ffmpeg"); err == nil {
		opts.FFmpeg = &probe.FFmpeg{Path: p}
	}
	if mod != nil {
		mod(&opts)
	}
	g, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	fx.g = g
	return fx
}

// source stats path and builds a Source for it.
func source(t testing.TB, id int64, path, typ string, size int) Source {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return Source{MediaID: id, Path: path, Type: typ, Size: size, ModTime: st.ModTime(), FileSize: st.Size()}
}

// writePNG writes a w×h gradient PNG (opaque unless alpha).
func writePNG(t testing.TB, path string, w, h int, alpha bool) {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			a := uint8(255)
			if alpha && x < w/2 {
				a = 0
			}
			img.SetNRGBA(x, y, color.NRGBA{uint8(x * 255 / w), uint8(y * 255 / h), 128, a})
		}
	}
	var b bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func decodeFile(t testing.TB, path string) (image.Image, string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, format, err := image.Decode(f)
	if err != nil {
		t.Fatalf("thumbnail %s does not decode: %v", path, err)
	}
	return img, format
}

func TestGetImageAndCacheHit(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, nil)
	src := filepath.Join(fx.dir, "big.png")
	writePNG(t, src, 2048, 2048, false)
	s := source(t, 7, src, "image", 0)

	p, ct, err := fx.g.Get(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	img, format := decodeFile(t, p)
	if ct != ContentTypeJPEG || format != "jpeg" || img.Bounds().Dx() != DefaultSize || img.Bounds().Dy() != DefaultSize {
		t.Fatalf("got %s %s %v", ct, format, img.Bounds())
	}
	p2, ct2, err := fx.g.Get(context.Background(), s)
	if err != nil || p2 != p || ct2 != ct {
		t.Fatalf("second Get = %s %s %v", p2, ct2, err)
	}
	if n := fx.count.Load(); n != 1 {
		t.Fatalf("generated %d times, want 1 (cache hit)", n)
	}
	// A small image is not enlarged, and gets the right content type
	// (the original sent JPEG bytes labelled with the source's type).
	small := filepath.Join(fx.dir, "small.png")
	writePNG(t, small, 100, 50, false)
	p, ct, err = fx.g.Get(context.Background(), source(t, 8, small, "image", 640))
	if err != nil {
		t.Fatal(err)
	}
	if img, _ := decodeFile(t, p); ct != ContentTypeJPEG || img.Bounds().Dx() != 100 || img.Bounds().Dy() != 50 {
		t.Fatalf("small: %s %v", ct, img.Bounds())
	}
}

func TestGetConcurrentGeneratesOnce(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, func(o *Options) { o.Concurrency = 1 })
	src := filepath.Join(fx.dir, "big.png")
	writePNG(t, src, 2048, 1024, false)
	s := source(t, 42, src, "image", 256)
	var wg sync.WaitGroup
	paths := make([]string, 16)
	errs := make([]error, 16)
	for i := range 16 {
		wg.Go(func() { paths[i], _, errs[i] = fx.g.Get(context.Background(), s) })
	}
	wg.Wait()
	for i := range 16 {
		if errs[i] != nil || paths[i] != paths[0] {
			t.Fatalf("caller %d: %s %v", i, paths[i], errs[i])
		}
	}
	if n := fx.count.Load(); n != 1 {
		t.Fatalf("generated %d times for one key, want 1", n)
	}
	entries, _ := os.ReadDir(filepath.Dir(paths[0]))
	if len(entries) != 1 {
		t.Fatalf("cache dir holds %d files (temp files left?)", len(entries))
	}
}

// pngHeaderOnly is a valid PNG signature + IHDR claiming w×h, no data.
func pngHeaderOnly(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 6
	binary.Write(&b, binary.BigEndian, uint32(13))
	b.WriteString("IHDR")
	b.Write(ihdr)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte("IHDR"), ihdr...)))
	return b.Bytes()
}

func TestGetFailures(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, nil)
	bomb := filepath.Join(fx.dir, "bomb.png")
	os.WriteFile(bomb, pngHeaderOnly(100_000, 100_000), 0o644)
	text := filepath.Join(fx.dir, "text.jpg")
	os.WriteFile(text, []byte("this is not an image at all"), 0o644)

	tests := []struct {
		name     string
		src      Source
		wantCode string
		cached   bool // a second Get must not generate again
	}{
		{"decompression bomb rejected before decode", source(t, 1, bomb, "image", 0), probe.CodeDecompressionBomb, true},
		{"text named jpg", source(t, 2, text, "image", 0), probe.CodeUnsupportedType, true},
		{"missing file is not negative-cached", Source{MediaID: 3, Path: filepath.Join(fx.dir, "gone.png"), Type: "image"}, probe.CodeMissingFile, false},
		{"bad id", Source{MediaID: 0, Path: bomb, Type: "image"}, CodeBadSource, false},
		{"bad type", Source{MediaID: 4, Path: bomb, Type: "audio"}, probe.CodeUnsupportedType, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := fx.count.Load()
			_, _, err := fx.g.Get(context.Background(), tc.src)
			if reason.Code(err) != tc.wantCode {
				t.Fatalf("err = %v, want %s", err, tc.wantCode)
			}
			mid := fx.count.Load()
			_, _, err = fx.g.Get(context.Background(), tc.src)
			if reason.Code(err) != tc.wantCode {
				t.Fatalf("second err = %v, want %s", err, tc.wantCode)
			}
			if again := fx.count.Load() - mid; tc.cached && again != 0 {
				t.Fatalf("failure not cached: generated again")
			} else if !tc.cached && mid > before && again == 0 {
				t.Fatalf("failure cached although it must be retried")
			}
		})
	}
}

func TestGetCancelled(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, nil)
	src := filepath.Join(fx.dir, "a.png")
	writePNG(t, src, 64, 64, false)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// All slots busy (DefaultConcurrency is 2; one busy slot left the
	// other free, and the select then generated half the time): the call
	// must give up, not block.
	for range cap(fx.g.sem) {
		fx.g.sem <- struct{}{}
	}
	defer func() {
		for range cap(fx.g.sem) {
			<-fx.g.sem
		}
	}()
	_, _, err := fx.g.Get(ctx, source(t, 5, src, "image", 0))
	if reason.Code(err) != probe.CodeCancelled {
		t.Fatalf("err = %v", err)
	}
}

func TestAlphaKeepsPNG(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, nil)
	src := filepath.Join(fx.dir, "alpha.png")
	writePNG(t, src, 300, 200, true)
	p, ct, err := fx.g.Get(context.Background(), source(t, 9, src, "image", 128))
	if err != nil {
		t.Fatal(err)
	}
	img, format := decodeFile(t, p)
	if ct != ContentTypePNG || format != "png" || img.Bounds().Dx() != 128 {
		t.Fatalf("got %s %s %v", ct, format, img.Bounds())
	}
	if _, _, _, a := img.At(5, 40).RGBA(); a != 0 {
		t.Fatalf("transparent pixel has alpha %d", a)
	}
}

func TestRealFixtures(t *testing.T) {
	t.Parallel()
	root := svtest.SharedFixtures(t)
	svtest.RequireTool(t, "ffmpeg")
	fx := newFixture(t, nil)
	tests := []struct {
		file   string
		typ    string
		w, h   int
		ct     string
		wantOK bool
	}{
		{"png_misc/pillow_itxt_chunks.png", "image", 320, 266, ContentTypeJPEG, true},
		{"webp/pillow_transparent.webp", "image", 200, 150, ContentTypePNG, true},
		{"webp/goimage_blue-purple-pink.lossy.webp", "image", 150, 100, ContentTypeJPEG, true},
		{"webp/pillow_iss634.webp", "image", 245, 245, "", true}, // animated: first frame
		{"exif_jpeg/recurser_Portrait_6.jpg", "image", 213, 320, ContentTypeJPEG, true},
		{"exif_jpeg/pillow_orientation_rectangle.jpg", "image", 1, 2, ContentTypeJPEG, true},
		// Go refuses its entropy data; the ffmpeg fallback conceals it.
		{"corrupt/pillow_hopper_bad_exif.jpg", "image", 320, 320, ContentTypeJPEG, true},
		{"video/mp4ff_prog_8s.mp4", "video", 320, 180, ContentTypeJPEG, true},
		{"video/ebmlgo_sample.webm", "video", 320, 240, ContentTypeJPEG, true},
		{"video/mkvparse_example-cover.mkv", "video", 320, 240, ContentTypeJPEG, true},
		{"corrupt/derived_mp4ff_bbb_prog_10s_half.mp4", "video", 0, 0, "", false},
		{"video/mp4ff_opus.mp4", "video", 0, 0, "", false},
	}
	for i, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			p, ct, err := fx.g.Get(context.Background(), source(t, int64(100+i), filepath.Join(root, tc.file), tc.typ, 320))
			if !tc.wantOK {
				if err == nil || reason.Code(err) == "" || !reason.IsPermanent(err) {
					t.Fatalf("want a permanent typed error, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			img, _ := decodeFile(t, p)
			if (tc.ct != "" && ct != tc.ct) || img.Bounds().Dx() != tc.w || img.Bounds().Dy() != tc.h {
				t.Fatalf("got %s %v, want %s %dx%d", ct, img.Bounds(), tc.ct, tc.w, tc.h)
			}
		})
	}
}

// TestEXIFOrientation compares thumbnails of the same photo stored with
// orientations 0, 3, 6 and 8: upright, they must look alike.
func TestEXIFOrientation(t *testing.T) {
	t.Parallel()
	root := svtest.SharedFixtures(t)
	fx := newFixture(t, nil)
	var ref image.Image
	for i, n := range []string{"0", "3", "6", "8"} {
		p, _, err := fx.g.Get(context.Background(),
			source(t, int64(200+i), filepath.Join(root, "exif_jpeg", "recurser_Landscape_"+n+".jpg"), "image", 96))
		if err != nil {
			t.Fatal(err)
		}
		img, _ := decodeFile(t, p)
		if img.Bounds().Dx() != 96 || img.Bounds().Dy() != 64 {
			t.Fatalf("orientation %s: %v", n, img.Bounds())
		}
		if ref == nil {
			ref = img
			continue
		}
		if d := meanDiff(ref, img); d > 20 {
			t.Errorf("orientation %s differs from upright by %.1f", n, d)
		}
	}
}

func meanDiff(a, b image.Image) float64 {
	var sum float64
	r := a.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			ar, ag, ab, _ := a.At(x, y).RGBA()
			br, bg, bb, _ := b.At(x, y).RGBA()
			sum += abs(int(ar)-int(br)) + abs(int(ag)-int(bg)) + abs(int(ab)-int(bb))
		}
	}
	return sum / 3 / 257 / float64(r.Dx()*r.Dy())
}

func abs(v int) float64 {
	if v < 0 {
		return float64(-v)
	}
	return float64(v)
}

func TestOrientTransforms(t *testing.T) {
	t.Parallel()
	// 3×2 image with distinct pixels; check where the top-left pixel lands.
	src := image.NewNRGBA(image.Rect(0, 0, 3, 2))
	src.SetNRGBA(0, 0, color.NRGBA{255, 0, 0, 255})
	tests := []struct {
		o          int
		w, h, x, y int
	}{
		{1, 3, 2, 0, 0}, {2, 3, 2, 2, 0}, {3, 3, 2, 2, 1}, {4, 3, 2, 0, 1},
		{5, 2, 3, 0, 0}, {6, 2, 3, 1, 0}, {7, 2, 3, 1, 2}, {8, 2, 3, 0, 2},
	}
	for _, tc := range tests {
		out := Orient(src, tc.o)
		if out.Bounds().Dx() != tc.w || out.Bounds().Dy() != tc.h {
			t.Errorf("o=%d: size %v", tc.o, out.Bounds())
			continue
		}
		if r, _, _, _ := out.At(tc.x, tc.y).RGBA(); r != 0xFFFF {
			t.Errorf("o=%d: red pixel not at (%d,%d)", tc.o, tc.x, tc.y)
		}
	}
}

// makeRamp renders a 4 s clip whose luma Y rises from 16 (black) by 100
// per second; as RGB (limited range) a frame at t has gray (100·t)·255/219.
func makeRamp(t testing.TB, name string, codec ...string) string {
	t.Helper()
	bin := svtest.RequireTool(t, "ffmpeg")
	out := filepath.Join(t.TempDir(), name)
	args := append([]string{"-v", "error", "-nostdin", "-y", "-f", "lavfi",
		"-i", "color=c=black:s=160x90:d=4:r=10,geq=lum='16+T*100':cb=128:cr=128"}, codec...)
	if b, err := exec.Command(bin, append(args, out)...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v %s", err, b)
	}
	return out
}

func TestVideoThumbnailAtTenPercent(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, func(o *Options) { o.FFmpeg = &probe.FFmpeg{Path: svtest.RequireTool(t, "ffmpeg")} })
	for i, tc := range []struct {
		name  string
		codec []string
	}{
		{"ramp.mp4", []string{"-c:v", "libx264", "-pix_fmt", "yuv420p"}},
		{"ramp.webm", []string{"-c:v", "libvpx", "-b:v", "300k"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := makeRamp(t, tc.name, tc.codec...)
			p, ct, err := fx.g.Get(context.Background(), source(t, int64(300+i), src, "video", 80))
			if err != nil {
				t.Fatal(err)
			}
			img, _ := decodeFile(t, p)
			if ct != ContentTypeJPEG || img.Bounds().Dx() != 80 || img.Bounds().Dy() != 45 {
				t.Fatalf("got %s %v", ct, img.Bounds())
			}
			// 10 % of 4 s = 0.4 s → gray ≈ 47; frame 0 would be 0 and
			// the middle (2 s) 233.
			if l := meanLuma(img); l < 32 || l > 62 {
				t.Fatalf("mean gray %.1f, want ≈ 47 (frame at 10%%)", l)
			}
		})
	}
}

func meanLuma(img image.Image) float64 {
	var sum float64
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			sum += float64(r+g+bl) / 3 / 257
		}
	}
	return sum / float64(b.Dx()*b.Dy())
}

func TestChangedFileGetsNewThumbnailAndPurge(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, nil)
	src := filepath.Join(fx.dir, "a.png")
	writePNG(t, src, 200, 100, false)
	s1 := source(t, 77, src, "image", 64)
	p1, _, err := fx.g.Get(context.Background(), s1)
	if err != nil {
		t.Fatal(err)
	}
	writePNG(t, src, 100, 200, false)
	s2 := source(t, 77, src, "image", 64)
	s2.ModTime = s1.ModTime.Add(time.Second) // filesystems with coarse mtimes
	p2, _, err := fx.g.Get(context.Background(), s2)
	if err != nil {
		t.Fatal(err)
	}
	if p1 == p2 || ETag(s1) == ETag(s2) {
		t.Fatalf("same cache entry/ETag for a changed file: %s", p2)
	}
	if img, _ := decodeFile(t, p2); img.Bounds().Dx() != 32 || img.Bounds().Dy() != 64 {
		t.Fatalf("stale thumbnail served: %v", img.Bounds())
	}
	if _, err := os.Stat(p1); !os.IsNotExist(err) {
		t.Fatalf("old thumbnail not removed: %v", err)
	}
	// Another size of the same media is kept beside it.
	p3, _, err := fx.g.Get(context.Background(), source(t, 77, src, "image", 48))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p2); err != nil {
		t.Fatalf("other size removed: %v", err)
	}
	if err := fx.g.Purge(77); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{p2, p3} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Fatalf("%s survived Purge", p)
		}
	}
	if err := fx.g.Purge(77); err != nil {
		t.Fatalf("second Purge: %v", err)
	}
}

func TestETag(t *testing.T) {
	t.Parallel()
	base := Source{MediaID: 1, Path: "x", Type: "image", ModTime: time.Unix(100, 0), FileSize: 10}
	tags := map[string]bool{ETag(base): true}
	for _, mod := range []func(*Source){
		func(s *Source) { s.MediaID = 2 },
		func(s *Source) { s.Size = 320 },
		func(s *Source) { s.ModTime = s.ModTime.Add(time.Nanosecond) },
		func(s *Source) { s.FileSize = 11 },
	} {
		s := base
		mod(&s)
		tag := ETag(s)
		if tags[tag] {
			t.Fatalf("ETag %s not distinct", tag)
		}
		tags[tag] = true
	}
	s := base
	s.Size = DefaultSize
	if ETag(s) != ETag(base) {
		t.Fatal("size 0 and DefaultSize must share an ETag")
	}
}

func TestPlaceholder(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, k := range []string{"video", "image", "busy", "error"} {
		svg := Placeholder(k)
		if err := xml.Unmarshal(svg, new(struct{})); err != nil {
			t.Fatalf("%s: invalid SVG: %v", k, err)
		}
		if seen[string(svg)] {
			t.Fatalf("%s: same as another kind", k)
		}
		seen[string(svg)] = true
	}
}

func TestNewRequiresCacheDir(t *testing.T) {
	t.Parallel()
	if _, err := New(Options{}); reason.Code(err) != "config_invalid" {
		t.Fatalf("err = %v", err)
	}
}

func BenchmarkGetCached(b *testing.B) {
	fx := newFixture(b, nil)
	src := filepath.Join(fx.dir, "a.png")
	writePNG(b, src, 512, 512, false)
	s := source(b, 1, src, "image", 256)
	ctx := context.Background()
	if _, _, err := fx.g.Get(ctx, s); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, _, err := fx.g.Get(ctx, s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFirstThumbnail2048 measures a cold thumbnail of a 2048² image
// (decode + resize + encode + write): a PNG streams into the thumbnail size
// (pngstream's box filter, no resampler); a JPEG decodes in full and is
// resized with each resampling filter.
func BenchmarkFirstThumbnail2048(b *testing.B) {
	dir := b.TempDir()
	pngSrc := filepath.Join(dir, "big.png")
	writePNG(b, pngSrc, 2048, 2048, false)
	img, err := png.Decode(bytes.NewReader(svtest.ReadFile(b, pngSrc)))
	if err != nil {
		b.Fatal(err)
	}
	var jb bytes.Buffer
	if err := jpeg.Encode(&jb, img, &jpeg.Options{Quality: 90}); err != nil {
		b.Fatal(err)
	}
	jpgSrc := filepath.Join(dir, "big.jpg")
	if err := os.WriteFile(jpgSrc, jb.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	for _, f := range []struct {
		name, src string
		interp    resize.InterpolationFunction
	}{{"PNG_streamed", pngSrc, resize.Bilinear}, {"JPEG_Bilinear", jpgSrc, resize.Bilinear},
		{"JPEG_Lanczos3", jpgSrc, resize.Lanczos3}, {"JPEG_NearestNeighbor", jpgSrc, resize.NearestNeighbor}} {
		b.Run(f.name, func(b *testing.B) {
			fx := newFixture(b, func(o *Options) { o.Interp = f.interp })
			s := source(b, 1, f.src, "image", DefaultSize)
			i := int64(0)
			b.ReportAllocs()
			for b.Loop() {
				i++
				s.MediaID = i // a new cache entry each time
				if _, _, err := fx.g.Get(context.Background(), s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkResize isolates the resampling step (2048² → 640²).
func BenchmarkResize(b *testing.B) {
	img := image.NewRGBA(image.Rect(0, 0, 2048, 2048))
	for _, f := range []struct {
		name   string
		interp resize.InterpolationFunction
	}{{"Bilinear", resize.Bilinear}, {"Lanczos3", resize.Lanczos3}} {
		b.Run(f.name, func(b *testing.B) {
			for b.Loop() {
				resize.Thumbnail(640, 640, img, f.interp)
			}
		})
	}
}

func BenchmarkVideoThumbnail(b *testing.B) {
	fx := newFixture(b, func(o *Options) { o.FFmpeg = &probe.FFmpeg{Path: svtest.RequireTool(b, "ffmpeg")} })
	src := makeRamp(b, "bench.mp4", "-c:v", "libx264", "-pix_fmt", "yuv420p")
	s := source(b, 1, src, "video", 320)
	i := int64(0)
	for b.Loop() {
		i++
		s.MediaID = i
		if _, _, err := fx.g.Get(context.Background(), s); err != nil {
			b.Fatal(err)
		}
	}
}

func TestVideoWithoutFFmpegIsRetried(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, func(o *Options) {
		o.FFmpeg = &probe.FFmpeg{Path: "/nonexistent/ffmpeg", Probe: &probe.FFprobe{Path: "/nonexistent/ffprobe"}}
	})
	src := filepath.Join(fx.dir, "clip.mp4")
	os.WriteFile(src, []byte("\x00\x00\x00\x18ftypisom"), 0o644)
	s := source(t, 11, src, "video", 0)
	for range 2 {
		if _, _, err := fx.g.Get(context.Background(), s); reason.Code(err) != probe.CodeFFprobeMissing {
			t.Fatalf("err = %v", err)
		}
	}
	// Installing the tool must fix it at once: no negative cache entry.
	if n := fx.count.Load(); n != 2 {
		t.Fatalf("generated %d times, want 2", n)
	}
}

func TestAnimatedGIFAsVideo(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, func(o *Options) { o.FFmpeg = &probe.FFmpeg{Path: svtest.RequireTool(t, "ffmpeg")} })
	pal := color.Palette{color.Black, color.White}
	g := &gif.GIF{}
	for i := range 10 {
		img := image.NewPaletted(image.Rect(0, 0, 120, 60), pal)
		for x := range 120 {
			img.SetColorIndex(x, i, 1)
		}
		g.Image, g.Delay = append(g.Image, img), append(g.Delay, 10)
	}
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, g); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(fx.dir, "anim.gif")
	os.WriteFile(src, b.Bytes(), 0o644)
	if kind, ext, err := probe.DetectFile(src); err != nil || kind != probe.KindVideo || ext != "gif" {
		t.Fatalf("DetectFile = %s %s %v", kind, ext, err)
	}
	p, ct, err := fx.g.Get(context.Background(), source(t, 12, src, "video", 0))
	if err != nil {
		t.Fatal(err)
	}
	if img, _ := decodeFile(t, p); ct != ContentTypeJPEG || img.Bounds().Dx() != 120 || img.Bounds().Dy() != 60 {
		t.Fatalf("got %s %v", ct, img.Bounds())
	}
}
