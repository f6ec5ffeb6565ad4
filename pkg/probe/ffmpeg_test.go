package probe

import (
	"bytes"
	"context"
	"image"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/probe/probetest"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtest"
)

// makeVideo renders a 4 s, 10 fps clip whose brightness rises linearly
// with time (luma = 60·t), so a frame's mean luma tells when it was taken.
func makeVideo(t testing.TB, name string, codecArgs ...string) string {
	t.Helper()
	return probetest.RenderVideo(t, name, "color=c=black:s=64x48:d=4:r=10,geq=lum='T*60':cb=128:cr=128", codecArgs...)
}

func testFFmpeg(t testing.TB) *FFmpeg {
	return &FFmpeg{Path: svtest.RequireTool(t, "ffmpeg"), Probe: &FFprobe{Path: svtest.RequireTool(t, "ffprobe")}}
}

func TestFramesSpreadOverDuration(t *testing.T) {
	t.Parallel()
	f := testFFmpeg(t)
	src := makeVideo(t, "ramp.mp4", "-c:v", "libx264", "-pix_fmt", "yuv420p")
	frames, err := f.Frames(context.Background(), src, 4, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(frames) != 4 {
		t.Fatalf("got %d frames", len(frames))
	}
	// Slices of 1 s, middles at 0.5, 1.5, 2.5, 3.5 s → Y ≈ 30, 90, 150, 210,
	// which limited-range RGB shows as gray (Y-16)·255/219. The first 4
	// consecutive frames would all be about 0.
	for i, y := range []float64{30, 90, 150, 210} {
		want := (y - 16) * 255 / 219
		got := probetest.MeanGray(t, frames[i])
		if got < want-15 || got > want+15 {
			t.Errorf("frame %d mean luma %.1f, want ≈ %.0f", i, got, want)
		}
	}
}

func TestFrame(t *testing.T) {
	t.Parallel()
	f := testFFmpeg(t)
	root := sharedFixtures(t)
	tests := []struct {
		name     string
		file     string
		at       time.Duration
		maxDim   int
		w, h     int
		wantCode string
	}{
		{"scaled down keeps aspect", "video/mp4ff_prog_8s.mp4", time.Second, 160, 160, 90, ""},
		{"never enlarged", "video/gomp4_sample.mp4", 0, 4000, 320, 180, ""},
		{"past the end falls back to first frame", "video/mkvparse_example.mkv", 5 * time.Second, 0, 640, 480, ""},
		{"cover art is not the video", "video/mkvparse_example-cover.mkv", 0, 0, 640, 480, ""},
		{"webm", "video/selfmade_vhs_comment_sample.webm", 300 * time.Millisecond, 100, 0, 0, ""},
		{"audio only", "video/mp4ff_opus.mp4", 0, 0, 0, 0, CodeNoVideoStream},
		{"moov missing", "corrupt/derived_mp4ff_bbb_prog_10s_half.mp4", 0, 0, 0, 0, CodeFFmpegFailed},
		{"missing file", "video/nope.mp4", 0, 0, 0, 0, CodeFFmpegFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			img, err := f.Frame(context.Background(), filepath.Join(root, tc.file), tc.at, tc.maxDim)
			if reason.Code(err) != tc.wantCode {
				t.Fatalf("err = %v, want %q", err, tc.wantCode)
			}
			if err != nil {
				return
			}
			cfg, format, err := image.DecodeConfig(bytes.NewReader(img))
			if err != nil || format != "jpeg" {
				t.Fatalf("not a jpeg: %v %s", err, format)
			}
			if tc.w > 0 && (cfg.Width != tc.w || cfg.Height != tc.h) {
				t.Fatalf("size %dx%d, want %dx%d", cfg.Width, cfg.Height, tc.w, tc.h)
			}
			if tc.maxDim > 0 && (cfg.Width > tc.maxDim || cfg.Height > tc.maxDim) {
				t.Fatalf("size %dx%d exceeds %d", cfg.Width, cfg.Height, tc.maxDim)
			}
		})
	}
}

func TestFrameTimes(t *testing.T) {
	t.Parallel()
	got := FrameTimes(10*time.Second, 5)
	want := []time.Duration{1, 3, 5, 7, 9}
	for i := range want {
		if got[i] != want[i]*time.Second {
			t.Fatalf("FrameTimes = %v", got)
		}
	}
	if got := FrameTimes(0, 5); len(got) != 1 || got[0] != 0 {
		t.Fatalf("unknown duration: %v", got)
	}
}

// writeVariant writes a copy of src cut to frac of its size (frac < 1) or
// followed by junk bytes (frac > 1).
func writeVariant(t *testing.T, src, name string, frac float64) string {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if frac < 1 {
		data = data[:int(float64(len(data))*frac)]
	} else {
		junk := bytes.Repeat([]byte{0x5a, 0x00, 0xa7, 0x13}, int(float64(len(data))*(frac-1))/4+1)
		data = append(data, junk...)
	}
	out := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(out, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDecodeCheck(t *testing.T) {
	t.Parallel()
	f := testFFmpeg(t)
	mp4 := makeVideo(t, "ok.mp4", "-c:v", "libx264", "-pix_fmt", "yuv420p")
	webm := makeVideo(t, "ok.webm", "-c:v", "libvpx", "-b:v", "200k")
	mkv := makeVideo(t, "ok.mkv", "-c:v", "libx264", "-pix_fmt", "yuv420p")

	tests := []struct {
		name     string
		path     string
		wantCode string
	}{
		{"generated mp4", mp4, ""},
		{"generated webm", webm, ""},
		{"generated mkv", mkv, ""},
		// libx264 in MP4 writes moov last: cutting the tail loses the index.
		{"generated mp4 cut", writeVariant(t, mp4, "cut.mp4", 2.0/3), CodeVideoDecodeError},
		// Both windows still decode frames; only the demuxer's "File ended
		// prematurely" tells that the last frames are gone.
		{"generated mkv, last 2% cut", writeVariant(t, mkv, "cut98.mkv", 0.98), CodeVideoDecodeError},
		{"generated webm, last 5% cut", writeVariant(t, webm, "cut95.webm", 0.95), CodeVideoDecodeError},
		{"generated mkv + trailing junk", writeVariant(t, mkv, "junk.mkv", 1.1), ""},
		{"generated mp4 + trailing junk", writeVariant(t, mp4, "junk.mp4", 1.1), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := f.DecodeCheck(context.Background(), tc.path)
			if reason.Code(err) != tc.wantCode {
				t.Fatalf("DecodeCheck = %v, want %q", err, tc.wantCode)
			}
			if err != nil && !reason.IsPermanent(err) {
				t.Fatalf("%v should be permanent", err)
			}
		})
	}
}

// TestDecodeCheckKnownRuns counts ffmpeg runs through a wrapper: a clip
// no longer than the window is decoded once, completely (a cut one still
// fails), a longer one or an unknown duration gets start and end windows.
func TestDecodeCheckKnownRuns(t *testing.T) {
	t.Parallel()
	real := svtest.RequireTool(t, "ffmpeg")
	dir := t.TempDir()
	count := filepath.Join(dir, "runs")
	wrapper := filepath.Join(dir, "ffmpeg")
	script := "#!/bin/sh\necho run >> '" + count + "'\nexec '" + real + "' \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	f := &FFmpeg{Path: wrapper}
	short := probetest.RenderVideo(t, "short.mkv", "testsrc=s=64x48:d=2:r=10", "-c:v", "libx264", "-pix_fmt", "yuv420p")
	long := probetest.RenderVideo(t, "long.mkv", "testsrc=s=64x48:d=5:r=10", "-c:v", "libx264", "-pix_fmt", "yuv420p")
	tests := []struct {
		name     string
		path     string
		duration time.Duration
		runs     int
		wantCode string
	}{
		{"short clip, one run", short, 2 * time.Second, 1, ""},
		{"short clip cut, one run, broken", writeVariant(t, short, "cut.mkv", 0.7), 2 * time.Second, 1, CodeVideoDecodeError},
		{"long clip, two windows", long, 5 * time.Second, 2, ""},
		{"unknown duration, two windows", short, 0, 2, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(count)
			_, err := f.DecodeCheckKnown(context.Background(), tc.path, tc.duration)
			if reason.Code(err) != tc.wantCode {
				t.Fatalf("err = %v, want %q", err, tc.wantCode)
			}
			b, _ := os.ReadFile(count)
			if n := strings.Count(string(b), "run"); n != tc.runs {
				t.Fatalf("%d ffmpeg runs, want %d", n, tc.runs)
			}
		})
	}
}

// TestDecodeCheckRealworld judges every real video of the shared manifest
// by the manifest: kind corrupt is broken, audio-only has no video stream,
// every other video passes. Only the live-recorded Matroska file with
// trailing junk (which ffmpeg plays after a complaint) carries a warning.
func TestDecodeCheckRealworld(t *testing.T) {
	t.Parallel()
	f := testFFmpeg(t)
	wantWarning := map[string]string{
		"video/mkvparse_example-live+junk.mkv": "[matroska,webm] Length 5 indicated by an EBML number's first byte",
	}
	fixtures := probetest.VideoFixtures(t)
	if len(fixtures) < 18 {
		t.Fatalf("manifest lists %d videos, want at least 18", len(fixtures))
	}
	for _, fx := range fixtures {
		t.Run(fx.File, func(t *testing.T) {
			t.Parallel()
			warn, err := f.DecodeCheck(context.Background(), fx.Path)
			switch {
			case fx.AudioOnly:
				if reason.Code(err) != CodeNoVideoStream {
					t.Fatalf("audio only: err = %v, want %s", err, CodeNoVideoStream)
				}
			case fx.Broken:
				if c := reason.Code(err); (c != CodeVideoDecodeError && c != CodeNoVideoStream) || !reason.IsPermanent(err) {
					t.Fatalf("corrupt file passed or failed oddly: err = %v", err)
				}
			case err != nil:
				t.Fatalf("playable video flagged: %v", err)
			}
			want := wantWarning[fx.File]
			if (want == "") != (warn == "") || !strings.Contains(warn, want) {
				t.Fatalf("warnings = %q, want %q", warn, want)
			}
			if strings.Contains(warn, "0x5") || strings.Contains(warn, " @ ") {
				t.Fatalf("warning keeps a memory address: %q", warn)
			}
		})
	}
}

func TestSortDecodeErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		stderr        string
		fatal, benign []string
	}{
		{"clean", "", nil, nil},
		{"null muxer dts noise dropped",
			"[null @ 0x5600] Application provided invalid, non monotonically increasing dts to muxer\n", nil, nil},
		{"junk after a live mkv is a remark",
			"[matroska,webm @ 0x55f0ecd93100] Length 5 indicated by an EBML number's first byte 0x0a at pos 35 (0x23) exceeds max length 4.\n",
			nil, []string{"[matroska,webm] Length 5 indicated by an EBML number's first byte 0x0a at pos 35 (0x23) exceeds max length 4."}},
		{"ffmpeg 6 input tag",
			"[in#0/matroska,webm @ 0x1] Duplicate element\n", nil, []string{"[matroska,webm] Duplicate element"}},
		{"truncated mkv is fatal",
			"[matroska,webm @ 0x55] File ended prematurely\n    Last message repeated 3 times\n",
			[]string{"[matroska,webm] File ended prematurely"}, nil},
		{"mp4 partial file is fatal",
			"[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55] stream 0, offset 0xd6a8: partial file\n",
			[]string{"[mov,mp4,m4a,3gp,3g2,mj2] stream 0, offset 0xd6a8: partial file"}, nil},
		{"decoder error is fatal",
			"[h264 @ 0x55] Invalid NAL unit size (21 > 17).\n[matroska,webm @ 0x56] Duplicate element\n",
			[]string{"[h264] Invalid NAL unit size (21 > 17)."}, []string{"[matroska,webm] Duplicate element"}},
		{"unprefixed line is fatal",
			"Error while decoding stream #0:0: Invalid data found when processing input\n",
			[]string{"Error while decoding stream #0:0: Invalid data found when processing input"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fatal, benign := sortDecodeErrors(tc.stderr)
			if !slices.Equal(fatal, tc.fatal) || !slices.Equal(benign, tc.benign) {
				t.Fatalf("fatal %q benign %q, want %q %q", fatal, benign, tc.fatal, tc.benign)
			}
		})
	}
}

func TestProberNextToFFmpeg(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, n := range []string{"ffmpeg", "ffprobe"} {
		os.WriteFile(filepath.Join(dir, n), []byte("#!/bin/sh\n"), 0o755)
	}
	f := &FFmpeg{Path: filepath.Join(dir, "ffmpeg")}
	if got := f.Prober().Path; got != filepath.Join(dir, "ffprobe") {
		t.Fatalf("Prober().Path = %s", got)
	}
	if got := (&FFmpeg{Path: "/nonexistent/ffmpeg"}).Prober().Path; got != DefaultFFprobePath {
		t.Fatalf("fallback Prober().Path = %s", got)
	}
}

func BenchmarkFrame(b *testing.B) {
	f := testFFmpeg(b)
	src := makeVideo(b, "bench.mp4", "-c:v", "libx264", "-pix_fmt", "yuv420p")
	ctx := context.Background()
	for b.Loop() {
		if _, err := f.Frame(ctx, src, 2*time.Second, 320); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeCheck measures one integrity decode probe (two bounded
// ffmpeg runs) of a 4 s clip.
func BenchmarkDecodeCheck(b *testing.B) {
	f := testFFmpeg(b)
	src := makeVideo(b, "bench.mp4", "-c:v", "libx264", "-pix_fmt", "yuv420p")
	ctx := context.Background()
	for b.Loop() {
		if _, err := f.DecodeCheck(ctx, src); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeCheckShortClip compares a 2 s clip checked with an
// unknown duration (two windows) and with ffprobe's duration (one run).
func BenchmarkDecodeCheckShortClip(b *testing.B) {
	f := testFFmpeg(b)
	src := probetest.RenderVideo(b, "short.mp4", "testsrc=s=320x240:d=2:r=25", "-c:v", "libx264", "-pix_fmt", "yuv420p")
	ctx := context.Background()
	for _, d := range []time.Duration{0, 2 * time.Second} {
		b.Run("duration="+d.String(), func(b *testing.B) {
			for b.Loop() {
				if _, err := f.DecodeCheckKnown(ctx, src, d); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestProtocolLookingNames makes sure a file named like an ffmpeg protocol
// is read as a file.
func TestProtocolLookingNames(t *testing.T) {
	f := testFFmpeg(t)
	dir := t.TempDir()
	data, err := os.ReadFile("testdata/gomp4_sample.mp4")
	if err != nil {
		t.Fatal(err)
	}
	name := "concat:x.mp4"
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	if _, err := f.Prober().Probe(context.Background(), name); err != nil {
		t.Fatalf("probe: %v", err)
	}
	if _, err := f.Frame(context.Background(), name, 0, 64); err != nil {
		t.Fatalf("frame: %v", err)
	}
}
