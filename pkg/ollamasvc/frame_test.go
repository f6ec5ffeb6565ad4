package ollamasvc

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/ollama"
	"github.com/localsupervisor/supervisor/pkg/probe"
	"github.com/localsupervisor/supervisor/pkg/probe/probetest"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtest"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

func jpegOf(t *testing.T, w, h int, fill func(x, y int) color.Color) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, fill(x, y))
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestIsDark(t *testing.T) {
	black := func(int, int) color.Color { return color.Black }
	cases := []struct {
		name string
		img  []byte
		want bool
	}{
		{"black", jpegOf(t, 64, 48, black), true},
		{"near black noise", jpegOf(t, 64, 48, func(x, y int) color.Color { return color.Gray{Y: uint8((x + y) % 20)} }), true},
		{"white", jpegOf(t, 64, 48, func(int, int) color.Color { return color.White }), false},
		{"dark red", jpegOf(t, 64, 48, func(int, int) color.Color { return color.RGBA{R: 140, A: 255} }), false},
		{"black with a bright half", jpegOf(t, 64, 48, func(x, _ int) color.Color {
			if x < 32 {
				return color.Black
			}
			return color.White
		}), false},
		{"not a jpeg", []byte("nope"), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := isDark(tc.img); got != tc.want {
				t.Fatalf("isDark = %v, want %v", got, tc.want)
			}
		})
	}
}

// makeVideo renders a small mp4 that is black for blackSec seconds and red
// for redSec seconds (ffmpeg's native mpeg4 encoder: present in every
// build and cheap to start).
func makeVideo(t *testing.T, blackSec, redSec int) string {
	t.Helper()
	graph := "color=c=black:s=96x64:r=5:d=" + strconv.Itoa(blackSec) + "[a];color=c=red:s=96x64:r=5:d=" + strconv.Itoa(redSec) + "[b];[a][b]concat=n=2:v=1"
	return probetest.RenderVideo(t, "clip.mp4", graph, "-c:v", "mpeg4", "-q:v", "4")
}

func TestPickFrame(t *testing.T) {
	black := jpegOf(t, 32, 24, func(int, int) color.Color { return color.Black })
	bright := jpegOf(t, 32, 24, func(int, int) color.Color { return color.White })
	boom := errors.New("ffmpeg failed")
	cases := []struct {
		name     string
		duration time.Duration
		frames   map[time.Duration][]byte // missing offset = grab error
		want     []byte
		wantAt   []time.Duration
		err      bool
	}{
		{"first candidate bright", 10 * time.Second, map[time.Duration][]byte{time.Second: bright}, bright, []time.Duration{time.Second}, false},
		{"black start skipped", 10 * time.Second, map[time.Duration][]byte{time.Second: black, 3 * time.Second: black, 5 * time.Second: bright},
			bright, []time.Duration{time.Second, 3 * time.Second, 5 * time.Second}, false},
		{"all black gives the first", 10 * time.Second, map[time.Duration][]byte{time.Second: black, 3 * time.Second: black, 5 * time.Second: black},
			black, []time.Duration{time.Second, 3 * time.Second, 5 * time.Second}, false},
		{"later grab fails: first kept", 10 * time.Second, map[time.Duration][]byte{time.Second: black}, black, []time.Duration{time.Second, 3 * time.Second}, false},
		{"unknown duration: first frame only", 0, map[time.Duration][]byte{0: black}, black, []time.Duration{0}, false},
		{"first grab fails", 10 * time.Second, nil, nil, []time.Duration{time.Second}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var asked []time.Duration
			got, err := pickFrame(tc.duration, func(at time.Duration) ([]byte, error) {
				asked = append(asked, at)
				if img, ok := tc.frames[at]; ok {
					return img, nil
				}
				return nil, boom
			})
			if (err != nil) != tc.err || !bytes.Equal(got, tc.want) {
				t.Fatalf("got %d bytes, err %v; want %d bytes, err %v", len(got), err, len(tc.want), tc.err)
			}
			if !slices.Equal(asked, tc.wantAt) {
				t.Fatalf("grabbed at %v, want %v", asked, tc.wantAt)
			}
		})
	}
}

// TestRepresentativeFrameProbesDuration runs ffmpeg/ffprobe on a real mp4
// without a catalogue duration: 2 s black + 3 s red, so 10 % (0.5 s) and
// 30 % (1.5 s) are black and only 50 % is red. (The catalogue-duration path
// is TestVideoFrameSentToVisionMode.)
func TestRepresentativeFrameProbesDuration(t *testing.T) {
	svtest.RequireTool(t, "ffprobe")
	p := makeVideo(t, 2, 3)
	img, err := representativeFrame(context.Background(), &probe.FFmpeg{}, p, 0)
	if err != nil {
		t.Fatal(err)
	}
	if r, g, b := probetest.MeanRGB(t, img); r < 150 || g > 80 || b > 80 {
		t.Fatalf("mean colour %.0f/%.0f/%.0f, want the red part", r, g, b)
	}
}

func TestRepresentativeFrameErrors(t *testing.T) {
	svtest.RequireTool(t, "ffmpeg")
	dir := t.TempDir()
	cases := []struct {
		name string
		ff   *probe.FFmpeg
		path string
		code string
	}{
		{"missing ffmpeg", &probe.FFmpeg{Path: filepath.Join(dir, "no-ffmpeg"), Probe: &probe.FFprobe{Path: filepath.Join(dir, "no-ffprobe")}}, garbageFile(t, dir), probe.CodeFFmpegMissing},
		{"not a video", &probe.FFmpeg{}, garbageFile(t, dir), probe.CodeFFmpegFailed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := representativeFrame(context.Background(), tc.ff, tc.path, time.Second)
			if code := reason.Code(err); code != tc.code {
				t.Fatalf("code %q (%v), want %q", code, err, tc.code)
			}
		})
	}
}

func garbageFile(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "garbage.mp4")
	if err := os.WriteFile(p, []byte("not a video at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestVideoFrameSentToVisionMode runs the child for a caption job of a
// video: with ollama.video_frames a JPEG frame reaches /api/generate and
// the result records image_source video_frame; without it the job ends
// unsupported_media and nothing is sent.
func TestVideoFrameSentToVisionMode(t *testing.T) {
	svtest.RequireTool(t, "ffprobe")
	for _, frames := range []bool{true, false} {
		t.Run(map[bool]string{true: "frames on", false: "frames off"}[frames], func(t *testing.T) {
			r := newRig(t, func(c *ollama.Config) { c.VideoFrames = frames })
			// Without frames the file is never read.
			p := garbageFile(t, r.dir)
			if frames {
				p = makeVideo(t, 1, 4)
			}
			res, err := r.db.Exec(`INSERT INTO media (path, type, source, imported_at, duration) VALUES (?, 'video', 'import', '2026-01-01T00:00:00Z', 5.0)`, p)
			if err != nil {
				t.Fatal(err)
			}
			id, _ := res.LastInsertId()
			sum := r.enqueue(t, EnqueueOptions{Modes: []ollama.Mode{ollama.ModeCaption}, MediaID: id, VideoFrames: frames, Force: true})
			if len(sum.JobIDs) != 1 {
				t.Fatalf("enqueue: %+v", sum)
			}
			ctx := context.Background()
			j, err := claimJob(ctx, r.q, "owner", 0, 1)
			if err != nil || j == nil {
				t.Fatalf("claim: %v %v", j, err)
			}
			out := RunChild(ctx, ChildOptions{DB: r.db, Clock: svtime.SystemClock{}, Config: r.cfg, JobID: j.ID, Owner: j.Owner,
				TraceFile: filepath.Join(r.dir, "t.json"), JobsLog: r.logs.File("ollama_jobs", "t"), ErrorsLog: r.logs.File("ollama_errors", "t")})
			reqs := r.fake.RequestsTo("/api/generate")
			if !frames {
				if out.Status != "error" || out.Code != ollama.CodeUnsupportedMedia || len(reqs) != 0 {
					t.Fatalf("child %+v, %d requests", out, len(reqs))
				}
				return
			}
			if out.Status != "done" || len(reqs) != 1 {
				t.Fatalf("child %+v, %d requests", out, len(reqs))
			}
			imgs, _ := reqs[0].JSON["images"].([]any)
			if len(imgs) != 1 {
				t.Fatalf("images: %v", reqs[0].JSON["images"])
			}
			jpg, err := base64.StdEncoding.DecodeString(imgs[0].(string))
			if err != nil {
				t.Fatal(err)
			}
			if rr, g, b := probetest.MeanRGB(t, jpg); rr < 150 || g > 80 || b > 80 {
				t.Fatalf("sent frame is not the red part: %.0f/%.0f/%.0f", rr, g, b)
			}
			var meta string
			if err := r.db.QueryRow(`SELECT COALESCE(meta, '') FROM ollama_results WHERE media_id = ? AND mode = 'caption'`, id).Scan(&meta); err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains([]byte(meta), []byte(`"image_source":"video_frame"`)) {
				t.Fatalf("result meta: %s", meta)
			}
		})
	}
}
