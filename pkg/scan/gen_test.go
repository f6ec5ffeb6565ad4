package scan_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"github.com/localsupervisor/supervisor/pkg/db/dbtest"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/library"
	"github.com/localsupervisor/supervisor/pkg/probe"
	"github.com/localsupervisor/supervisor/pkg/scan"
	"github.com/localsupervisor/supervisor/pkg/sdmeta"
	"github.com/localsupervisor/supervisor/pkg/svtest/pngtest"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func openDB(tb testing.TB) *sql.DB {
	tb.Helper()
	d := dbtest.Open(tb, filepath.Join(tb.TempDir(), "t.sqlite"))
	return d
}

// bombPNG is a valid PNG signature + IHDR claiming 100000×100000 pixels.
func bombPNG() []byte {
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], 100000)
	binary.BigEndian.PutUint32(ihdr[4:], 100000)
	ihdr[8], ihdr[9] = 8, 6
	out := append([]byte("\x89PNG\r\n\x1a\n"), pngtest.Chunk("IHDR", ihdr)...)
	out = append(out, pngtest.Chunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})...)
	return append(out, pngtest.Chunk("IEND", nil)...)
}

func jpegBytes() []byte {
	img := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	var b bytes.Buffer
	jpeg.Encode(&b, img, nil)
	return b.Bytes()
}

func gifBytes(frames int) []byte {
	g := &gif.GIF{}
	for i := 0; i < frames; i++ {
		p := image.NewPaletted(image.Rect(0, 0, 16, 12), palette.Plan9)
		p.Set(i, i, color.White)
		g.Image = append(g.Image, p)
		g.Delay = append(g.Delay, 10)
	}
	var b bytes.Buffer
	gif.EncodeAll(&b, g)
	return b.Bytes()
}

const a1111 = "a red fox in snow\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1234, Size: 64x48, Model: dream"

type lib struct {
	src   string
	files map[string][]byte // relative name → content
}

// genLibrary writes the mixed test library and returns it.
func genLibrary(tb testing.TB, withVideo bool) lib {
	tb.Helper()
	src := filepath.Join(tb.TempDir(), "in box")
	l := lib{src: src, files: map[string][]byte{}}
	put := func(rel string, data []byte) {
		p := filepath.Join(src, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			tb.Fatal(err)
		}
		l.files[rel] = data
	}
	fox := pngtest.WithText(pngtest.PNG(64, 48, 1), "parameters", a1111)
	put("fox.png", fox)
	put("nested/deeper/dup of fox.png", fox) // exact duplicate, other name
	put("ünïcödé bild.jpg", jpegBytes())
	put("still.gif", gifBytes(1))
	put("anim.gif", gifBytes(3))
	put("nested/plain.png", pngtest.PNG(20, 10, 9))
	put("renamed-png.jpg", pngtest.PNG(8, 8, 3)) // content wins over extension
	put("zero.png", nil)
	put("truncated.png", pngtest.PNG(64, 64, 5)[:200])
	put("not-an-image.png", []byte("hello, I am text"))
	put("bomb.png", bombPNG())
	put("notes.txt", []byte("just text"))
	put("$RECYCLE.BIN/deleted.png", pngtest.PNG(5, 5, 77))
	if err := os.Symlink(src, filepath.Join(src, "nested", "loop")); err != nil {
		tb.Log("no symlinks:", err)
	}
	if withVideo {
		mp4 := filepath.Join(src, "clip.mp4")
		cmd := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=1",
			"-pix_fmt", "yuv420p", "-y", mp4)
		if out, err := cmd.CombinedOutput(); err != nil {
			tb.Fatalf("ffmpeg: %v %s", err, out)
		}
		b, _ := os.ReadFile(mp4)
		l.files["clip.mp4"] = b
		webm := filepath.Join(src, "nested", "clip.webm")
		cmd = exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=32x24:rate=5:duration=1",
			"-c:v", "libvpx", "-y", webm)
		if out, err := cmd.CombinedOutput(); err != nil {
			tb.Fatalf("ffmpeg webm: %v %s", err, out)
		}
		b, _ = os.ReadFile(webm)
		l.files["nested/clip.webm"] = b
	}
	return l
}

func testRoots(tb testing.TB) library.Roots {
	base := tb.TempDir()
	return library.Roots{ImagesSFW: filepath.Join(base, "images"), ImagesNSFW: filepath.Join(base, "images18"),
		VideosSFW: filepath.Join(base, "videos"), VideosNSFW: filepath.Join(base, "videos18")}
}

func newImporter(d *sql.DB, roots library.Roots, mode string) *scan.Importer {
	return &scan.Importer{
		DB: d, Roots: roots, Mode: mode, MaxPixels: 50_000_000, Clock: &svtime.FixedClock{T: t0},
		DuplicatesDir: filepath.Join(filepath.Dir(roots.ImagesSFW), "_duplicates"),
		Prober:        &probe.FFprobe{},
		VerifyDecode:  true,
		Extract: func(ctx context.Context, r io.ReadSeeker, name string, _ *probe.VideoInfo) (sdmeta.Result, error) {
			return sdmeta.ExtractReader(ctx, r, name, sdmeta.Options{})
		},
	}
}
