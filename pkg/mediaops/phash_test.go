package mediaops_test

import (
	"bytes"
	"context"
	"image"
	"image/jpeg"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/phash"
	"github.com/localsupervisor/supervisor/pkg/probe"
	"github.com/localsupervisor/supervisor/pkg/similar"
	"github.com/localsupervisor/supervisor/pkg/svtest"
)

// TestPHashMedia: phash_compute stores a hash for pictures and videos (a
// JPEG copy of a picture lands within the threshold of it), stores a
// refusal with its reason for what cannot be hashed — too small, flat,
// corrupt — and completes; a file that is not there fails the job and
// stores nothing, so it is hashed once it is back.
func TestPHashMedia(t *testing.T) {
	ffmpeg := svtest.RequireTool(t, "ffmpeg", "ffprobe")
	ctx := context.Background()
	e := newEnv(t)
	e.svc.Frames = &probe.FFmpeg{Path: ffmpeg, Timeout: 20 * time.Second}
	root := e.svc.Roots.ImagesSFW
	pic := pngBytes(t, 400, 300)
	img, err := png.Decode(bytes.NewReader(pic))
	if err != nil {
		t.Fatal(err)
	}
	var jb bytes.Buffer
	if err := jpeg.Encode(&jb, img, &jpeg.Options{Quality: 70}); err != nil {
		t.Fatal(err)
	}
	flat := image.NewNRGBA(image.Rect(0, 0, 200, 200))
	for i := range flat.Pix {
		flat.Pix[i] = 255
	}
	var fb bytes.Buffer
	if err := png.Encode(&fb, flat); err != nil {
		t.Fatal(err)
	}
	clip := filepath.Join(e.svc.Roots.VideosSFW, "clip.mp4")
	if out, err := exec.Command(ffmpeg, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=duration=3:size=160x120:rate=10",
		"-pix_fmt", "yuv420p", "-c:v", "libx264", "-y", clip).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v %s", err, out)
	}
	clipData, err := os.ReadFile(clip)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int64{
		"picture": e.addMedia(t, filepath.Join(root, "pic.png"), "image", pic, false),
		"jpeg":    e.addMedia(t, filepath.Join(root, "pic.jpg"), "image", jb.Bytes(), false),
		"tiny":    e.addMedia(t, filepath.Join(root, "tiny.png"), "image", pngBytes(t, 8, 8), false),
		"flat":    e.addMedia(t, filepath.Join(root, "flat.png"), "image", fb.Bytes(), false),
		"corrupt": e.addMedia(t, filepath.Join(root, "corrupt.png"), "image", append(pic[:200:200], make([]byte, 50)...), false),
		"video":   e.addMedia(t, clip, "video", clipData, false),
		"missing": e.addMedia(t, filepath.Join(root, "gone.png"), "image", pic[:10], false),
	}
	if err := os.Remove(filepath.Join(root, "gone.png")); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"picture": "", "jpeg": "", "video": "", "tiny": phash.CodeTooSmall,
		"flat": phash.CodeLowDetail, "corrupt": probe.CodeDecodeFailed} {
		res, err := e.svc.PHashMedia(ctx, ids[name], nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if res.ReasonCode != want || (want == "") != (res.PHash != "") {
			t.Errorf("%s: %+v, want reason %q", name, res, want)
		}
		if n := e.count(t, `SELECT COUNT(*) FROM media_phash WHERE media_id = ? AND (reason_code IS ?)`, ids[name], map[bool]any{true: nil, false: want}[want == ""]); n != 1 {
			t.Errorf("%s: no media_phash row with reason %q", name, want)
		}
	}
	hp, _, _ := similar.Of(ctx, e.db, ids["picture"])
	hj, _, _ := similar.Of(ctx, e.db, ids["jpeg"])
	if d := phash.Distance(hp, hj); d > phash.DefaultThreshold {
		t.Errorf("JPEG q70 copy %d bits from its PNG", d)
	}
	near, err := similar.Near(ctx, e.db, hp, phash.DefaultThreshold, 10)
	if err != nil || len(near) != 2 || near[0].MediaID != ids["picture"] || near[1].MediaID != ids["jpeg"] {
		t.Errorf("similar to the picture: %+v %v", near, err)
	}
	if _, err := e.svc.PHashMedia(ctx, ids["missing"], nil); err == nil {
		t.Error("a missing file was hashed")
	}
	if n := e.count(t, `SELECT COUNT(*) FROM media_phash WHERE media_id = ?`, ids["missing"]); n != 0 {
		t.Error("a missing file got a stored answer; it would never be hashed when it is back")
	}
}
