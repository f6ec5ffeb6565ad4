package probe

import (
	"bytes"
	"context"
	"image"
	"image/jpeg"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtest"
)

// makeVideo renders a 4 s, 10 fps clip whose brightness rises linearly
// with time (luma = 60·t), so a frame's mean luma tells when it was taken.
func makeVideo(t testing.TB, name string, codecArgs ...string) string {
	t.Helper()
	bin := svtest.RequireTool(t, "ffmpeg")
	out := filepath.Join(t.TempDir(), name)
	args := append([]string{"-v", "error", "-nostdin", "-y", "-f", "lavfi",
		"-i", "color=c=black:s=64x48:d=4:r=10,geq=lum='T*60':cb=128:cr=128"}, codecArgs...)
	args = append(args, out)
	if b, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, b)
	}
	return out
}

func meanLuma(t testing.TB, jpg []byte) float64 {
	t.Helper()
	img, err := jpeg.Decode(bytes.NewReader(jpg))
	if err != nil {
		t.Fatalf("frame is not a JPEG: %v", err)
	}
	b := img.Bounds()
	var sum float64
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			sum += float64(r+g+bl) / 3 / 257
		}
	}
	return sum / float64(b.Dx()*b.Dy())
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
		got := meanLuma(t, frames[i])
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

func TestDecodeCheck(t *testing.T) {
	t.Parallel()
	f := testFFmpeg(t)
	root := sharedFixtures(t)
	mp4 := makeVideo(t, "ok.mp4", "-c:v", "libx264", "-pix_fmt", "yuv420p")
	webm := makeVideo(t, "ok.webm", "-c:v", "libvpx", "-b:v", "200k")
	data, err := os.ReadFile(mp4)
	if err != nil {
		t.Fatal(err)
	}
	// libx264 in MP4 writes moov last: cutting the tail loses the index.
	cut := filepath.Join(t.TempDir(), "cut.mp4")
	os.WriteFile(cut, data[:len(data)*2/3], 0o644)

	tests := []struct {
		name     string
		path     string
		wantCode string
	}{
		{"generated mp4", mp4, ""},
		{"generated webm", webm, ""},
		{"real mp4", filepath.Join(root, "video/mp4ff_bbb_prog_10s.mp4"), ""},
		{"real webm with opus", filepath.Join(root, "video/ebmlgo_sample.webm"), ""},
		{"real mkv with cover", filepath.Join(root, "video/mkvparse_example-cover.mkv"), ""},
		{"generated mp4 cut", cut, CodeVideoDecodeError},
		{"mdat cut, moov intact", filepath.Join(root, "corrupt/derived_mp4ff_prog_8s_half.mp4"), CodeVideoDecodeError},
		{"moov lost", filepath.Join(root, "corrupt/derived_mp4ff_bbb_prog_10s_half.mp4"), CodeVideoDecodeError},
		{"moov only", filepath.Join(root, "corrupt/gomp4_sample_qt_moov_only.mp4"), CodeVideoDecodeError},
		{"mkv cut", filepath.Join(root, "corrupt/derived_mkvparse_example-cover_half.mkv"), CodeVideoDecodeError},
		{"audio only", filepath.Join(root, "video/mp4ff_opus.mp4"), CodeNoVideoStream},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := f.DecodeCheck(context.Background(), tc.path)
			if reason.Code(err) != tc.wantCode {
				t.Fatalf("DecodeCheck = %v, want %q", err, tc.wantCode)
			}
			if err != nil && !reason.IsPermanent(err) {
				t.Fatalf("%v should be permanent", err)
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
