package mediaops_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"database/sql"
	"encoding/hex"
	"github.com/localsupervisor/supervisor/pkg/db/dbtest"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/library"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/mediaops"
	"github.com/localsupervisor/supervisor/pkg/probe"
	"github.com/localsupervisor/supervisor/pkg/sources"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

type env struct {
	dir string
	db  *sql.DB
	svc *mediaops.Service
}

func newEnv(t testing.TB) *env {
	t.Helper()
	dir := t.TempDir()
	d := dbtest.Open(t, filepath.Join(dir, "DB", "t.sqlite"))
	lib := filepath.Join(dir, "LIBRARY")
	roots := library.Roots{ImagesSFW: filepath.Join(lib, "images_sfw"), ImagesNSFW: filepath.Join(lib, "images_nsfw"),
		VideosSFW: filepath.Join(lib, "videos_sfw"), VideosNSFW: filepath.Join(lib, "videos_nsfw")}
	for _, r := range roots.All() {
		if err := os.MkdirAll(r, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The tests' files outside LIBRARY live in "in", a folder imported in
	// place: the media worker reads only inside the roots and sources.
	in := filepath.Join(dir, "in")
	if err := os.MkdirAll(in, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := sources.RecordScan(context.Background(), d, sources.Scan{Root: in, Mode: sources.ModeInPlace, Status: sources.StatusDone, At: t0}); err != nil {
		t.Fatal(err)
	}
	svc := &mediaops.Service{DB: d, Clock: &svtime.FixedClock{T: t0}, Roots: roots, Derivatives: filepath.Join(lib, "derivatives"),
		Video: mediaops.FFmpegChecker{FF: &probe.FFmpeg{Timeout: 20 * time.Second}}}
	return &env{dir: dir, db: d, svc: svc}
}

// pngBytes draws a w×h gradient so the encoded file is not trivially small.
func pngBytes(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.NRGBA{uint8(x * 255 / max(w, 1)), uint8(y * 255 / max(h, 1)), uint8((x ^ y) & 0xff), 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func jpegBytes(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func md5hex(b []byte) string { s := md5.Sum(b); return hex.EncodeToString(s[:]) }

func writeFile(t testing.TB, p string, b []byte) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// addMedia writes data to path and inserts a media row for it.
func (e *env) addMedia(t testing.TB, path, typ string, data []byte, nsfw bool) int64 {
	t.Helper()
	writeFile(t, path, data)
	id, err := media.Insert(context.Background(), e.db, media.NewMedia{Path: path, Type: typ, Source: "import", Hash: md5hex(data),
		Filesize: int64(len(data)), Rating: 1, HasNSFW: nsfw}, t0)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (e *env) meta(t testing.TB, id int64, key string) string {
	t.Helper()
	v, _, err := media.GetMeta(context.Background(), e.db, id, key)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (e *env) count(t testing.TB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := e.db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
