package mediaops_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/library"
	"github.com/localsupervisor/supervisor/pkg/mediaops"
	"github.com/localsupervisor/supervisor/pkg/probe"
	"github.com/localsupervisor/supervisor/pkg/probe/probetest"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtest"
)

func TestCheckIntegrityRealCorruptImages(t *testing.T) {
	fx := filepath.Join(svtest.SharedFixtures(t), "corrupt")
	cases := []struct {
		file string
		code string // "" = ok
	}{
		{"gostd_invalid-crc32.png", "*"},
		{"gostd_invalid-noend.png", "*"},
		{"gostd_invalid-trunc.png", "*"},
		{"gostd_invalid-zlib.png", "*"},
		{"gostd_video-001.progressive.truncated.jpeg", probe.CodeTruncatedFile},
		{"pillow_broken.png", "*"},
		{"pillow_broken_data_stream.png", "*"},
		{"pillow_truncated_end_chunk.png", "*"},
		{"pillow_truncated_image.png", "*"},
		{"pillow_truncated_jpeg.jpg", probe.CodeTruncatedFile},
		{"pillow_pngtest_bad.png.bin", "*"},
		{"derived_text_named.jpg", "*"},
		{"sdparsers_empty_file.png", probe.CodeEmptyFile},
		// Pillow decodes it leniently, but its scan data is damaged: ffmpeg
		// reports "error count: 64" too, so flagging it is right.
		{"pillow_hopper_bad_exif.jpg", probe.CodeDecodeFailed},
		{"pillow_invalid-exif.jpg", ""},
		{"does-not-exist.png", probe.CodeMissingFile},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			res, err := mediaops.CheckIntegrity(context.Background(), filepath.Join(fx, c.file), "image", 0, nil)
			if err != nil {
				t.Fatalf("check could not run: %v", err)
			}
			switch {
			case c.code == "" && !res.OK:
				t.Fatalf("want ok, got %+v", res)
			case c.code != "" && res.OK:
				t.Fatalf("want broken (%s), got ok", c.code)
			case c.code != "" && c.code != "*" && res.Code != c.code:
				t.Fatalf("want %s, got %+v", c.code, res)
			case !res.OK && (res.Code == "" || res.Message == ""):
				t.Fatalf("broken without code/message: %+v", res)
			}
		})
	}
}

func TestCheckIntegrityGeneratedImages(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, filepath.Join(dir, "a.png"), pngBytes(t, 64, 48))
	goodJPG := writeFile(t, filepath.Join(dir, "a.jpg"), jpegBytes(t, 64, 48))
	data := pngBytes(t, 64, 48)
	trunc := writeFile(t, filepath.Join(dir, "t.png"), data[:len(data)-20])
	// A RIFF/WEBP whose size field claims more bytes than the file has.
	webp := writeFile(t, filepath.Join(dir, "w.webp"), append([]byte("RIFF\xff\x00\x00\x00WEBPVP8 "), make([]byte, 30)...))
	big := writeFile(t, filepath.Join(dir, "big.png"), pngBytes(t, 300, 300))
	noperm := writeFile(t, filepath.Join(dir, "noperm.png"), data)
	os.Chmod(noperm, 0)
	cases := []struct {
		name, path string
		budget     int64
		ok         bool
		code       string
	}{
		{"png ok", good, 0, true, ""},
		{"jpeg ok", goodJPG, 0, true, ""},
		{"png truncated", trunc, 0, false, ""},
		{"webp riff", webp, 0, false, ""},
		{"over pixel budget", big, 10_000, false, probe.CodeDecompressionBomb},
		{"missing", filepath.Join(dir, "nope.png"), 0, false, probe.CodeMissingFile},
	}
	if os.Geteuid() != 0 {
		cases = append(cases, struct {
			name, path string
			budget     int64
			ok         bool
			code       string
		}{"permission denied", noperm, 0, false, probe.CodeNotReadable})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := mediaops.CheckIntegrity(context.Background(), c.path, "image", c.budget, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.OK != c.ok || (c.code != "" && res.Code != c.code) {
				t.Fatalf("got %+v, want ok=%v code=%q", res, c.ok, c.code)
			}
		})
	}
}

// TestCheckIntegrityVideos runs the whole video check (ffprobe, then the
// decode probe) over every real video of the shared manifest: kind corrupt
// is flagged, audio-only is flagged no_video_stream, every other video is
// ok; only the live Matroska file with trailing junk carries a warning.
func TestCheckIntegrityVideos(t *testing.T) {
	svtest.RequireTool(t, "ffmpeg", "ffprobe")
	vc := mediaops.FFmpegChecker{FF: &probe.FFmpeg{}}
	warns := map[string]bool{"video/mkvparse_example-live+junk.mkv": true}
	for _, fx := range probetest.VideoFixtures(t) {
		t.Run(fx.File, func(t *testing.T) {
			t.Parallel()
			res, err := mediaops.CheckIntegrity(context.Background(), fx.Path, "video", 0, vc)
			if err != nil {
				t.Fatal(err)
			}
			wantOK := !fx.Broken && !fx.AudioOnly
			if res.OK != wantOK || (fx.AudioOnly && res.Code != probe.CodeNoVideoStream) {
				t.Fatalf("got %+v, want ok=%v", res, wantOK)
			}
			if res.OK == (res.Code != "") {
				t.Fatalf("ok and error code disagree: %+v", res)
			}
			if (res.Warning != "") != warns[fx.File] {
				t.Fatalf("warning %q, want one: %v", res.Warning, warns[fx.File])
			}
		})
	}
}

// TestCheckMediaStoresWarning: a playable video with a warning is ok=1
// with integrity.warning; a re-check leaves the meta alone; when the file
// is replaced by a clean one the warning is cleared.
func TestCheckMediaStoresWarning(t *testing.T) {
	svtest.RequireTool(t, "ffmpeg", "ffprobe")
	fx := svtest.SharedFixtures(t)
	e := newEnv(t)
	ctx := context.Background()
	junk, err := os.ReadFile(filepath.Join(fx, "video/mkvparse_example-live+junk.mkv"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(e.svc.Roots.VideosSFW, "live.mkv")
	id := e.addMedia(t, path, "video", junk, false)
	if _, err := e.svc.CheckMedia(ctx, id, nil); err != nil {
		t.Fatal(err)
	}
	if e.meta(t, id, "integrity.ok") != "1" || !strings.Contains(e.meta(t, id, "integrity.warning"), "EBML") {
		t.Fatalf("ok=%q warning=%q", e.meta(t, id, "integrity.ok"), e.meta(t, id, "integrity.warning"))
	}
	before := e.count(t, `SELECT COUNT(*) FROM media_meta WHERE media_id=? AND meta_key='integrity.warning'`, id)
	if _, err := e.svc.CheckMedia(ctx, id, nil); err != nil {
		t.Fatal(err)
	}
	if after := e.count(t, `SELECT COUNT(*) FROM media_meta WHERE media_id=? AND meta_key='integrity.warning'`, id); after != before {
		t.Fatalf("an unchanged warning was appended again (%d → %d rows)", before, after)
	}
	clean, err := os.ReadFile(filepath.Join(fx, "video/mkvparse_example.mkv"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, clean)
	if _, err := e.svc.CheckMedia(ctx, id, nil); err != nil {
		t.Fatal(err)
	}
	if w := e.meta(t, id, "integrity.warning"); w != "" {
		t.Fatalf("stale warning %q after the file became clean", w)
	}
	// A clean file never gets the key.
	other := e.addMedia(t, filepath.Join(e.svc.Roots.VideosSFW, "clean.mkv"), "video", clean, false)
	if _, err := e.svc.CheckMedia(ctx, other, nil); err != nil {
		t.Fatal(err)
	}
	if n := e.count(t, `SELECT COUNT(*) FROM media_meta WHERE media_id=? AND meta_key='integrity.warning'`, other); n != 0 {
		t.Fatalf("clean file got %d integrity.warning rows", n)
	}
}

func TestCheckMediaWritesMetaAndBrokenFlag(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	good := e.addMedia(t, filepath.Join(e.dir, "in", "g.png"), "image", pngBytes(t, 20, 20), false)
	data := pngBytes(t, 40, 40)
	broken := e.addMedia(t, filepath.Join(e.dir, "in", "b.png"), "image", data, false)
	// Replaced between enqueue and run: the file on disk is now cut off.
	writeFile(t, filepath.Join(e.dir, "in", "b.png"), data[:len(data)/2])
	for _, c := range []struct {
		id   int64
		ok   string
		code bool
	}{{good, "1", false}, {broken, "0", true}} {
		res, err := e.svc.CheckMedia(ctx, c.id, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.meta(t, c.id, "integrity.ok"); got != c.ok {
			t.Fatalf("media %d integrity.ok=%q want %q (%+v)", c.id, got, c.ok, res)
		}
		if got := e.meta(t, c.id, "integrity.error_code"); (got != "") != c.code {
			t.Fatalf("media %d error_code=%q", c.id, got)
		}
		if e.meta(t, c.id, "integrity.checked_at") != "2026-01-02T03:04:05Z" {
			t.Fatal("checked_at not written in the one format")
		}
	}
	// Re-running does not append unchanged values.
	before := e.count(t, `SELECT COUNT(*) FROM media_meta WHERE media_id=?`, good)
	if _, err := e.svc.CheckMedia(ctx, good, nil); err != nil {
		t.Fatal(err)
	}
	if after := e.count(t, `SELECT COUNT(*) FROM media_meta WHERE media_id=?`, good); after != before {
		t.Fatalf("meta rows grew from %d to %d on an unchanged re-check", before, after)
	}
	// Missing file: flagged, not an error.
	os.Remove(filepath.Join(e.dir, "in", "g.png"))
	res, err := e.svc.CheckMedia(ctx, good, nil)
	if err != nil || res.OK || res.Code != probe.CodeMissingFile {
		t.Fatalf("missing file: %+v %v", res, err)
	}
	if !strings.Contains(e.meta(t, good, "integrity.error_message"), "not exist") {
		t.Fatal("message not stored")
	}
}

// TestMediaWorkerRefusesSymlinkOutside (issue #17 item 20): a library file
// replaced by a symlink to a file outside the roots and sources is not
// read by the hash or integrity job (the web UI's rule).
func TestMediaWorkerRefusesSymlinkOutside(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	data := pngBytes(t, 20, 20)
	outside := writeFile(t, filepath.Join(e.dir, "outside", "secret.png"), pngBytes(t, 21, 21))
	p := filepath.Join(e.svc.Roots.ImagesSFW, "ab", md5hex(data)+".png")
	id := e.addMedia(t, p, "image", data, false)
	os.Remove(p)
	if err := os.Symlink(outside, p); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.HashMedia(ctx, id, nil); reason.Code(err) != library.CodeOutsideRoots {
		t.Fatalf("hash through the link: %v", err)
	}
	if v := e.meta(t, id, "hash.sha256"); v != "" {
		t.Fatalf("outside file hashed: %s", v)
	}
	res, err := e.svc.CheckMedia(ctx, id, nil)
	if err != nil || res.OK || res.Code != library.CodeOutsideRoots {
		t.Fatalf("integrity through the link: %+v %v", res, err)
	}
}
