package main_test

import (
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/svtest"
)

// bigVideoSize is the size of the generated video (2 GiB).
const bigVideoSize = 2 << 30

// maxBigVideoRSS is the peak RSS allowed while importing it: the import
// streams (hash, copy), so memory must not grow with the file.
const maxBigVideoRSS = 256 << 20

// TestBigVideoPeakRSS imports a 2 GiB MP4 with `scan-path --now
// --mode=copy` and reads the process's peak RSS from its rusage. Only with
// SV_BENCH_BIGVIDEO=1 (it reads and writes 4 GiB). The file is a real
// one-second MP4 (ffmpeg, moov first) followed by a 64-bit 'free' box
// that is sparse on disk, so ffprobe accepts it and it costs no disk until
// the copy.
func TestBigVideoPeakRSS(t *testing.T) {
	if os.Getenv("SV_BENCH_BIGVIDEO") != "1" {
		t.Skip("set SV_BENCH_BIGVIDEO=1 to import a 2 GiB video and measure peak RSS")
	}
	svtest.RequireTool(t, "ffmpeg", "ffprobe")
	bin := svtest.BuildBinary(t, "./cmd/scan-path")
	dir := t.TempDir()
	cp, d := setupScanPath(t, dir, "copy", nil)

	src := filepath.Join(dir, "inbox")
	os.MkdirAll(src, 0o755)
	video := filepath.Join(src, "big.mp4")
	ff := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=1",
		"-pix_fmt", "yuv420p", "-movflags", "+faststart", "-y", video)
	if out, err := ff.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	f, err := os.OpenFile(video, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := f.Stat()
	pad := int64(bigVideoSize) - st.Size()
	hdr := make([]byte, 16) // size=1 means a 64-bit largesize follows
	binary.BigEndian.PutUint32(hdr[0:], 1)
	copy(hdr[4:], "free")
	binary.BigEndian.PutUint64(hdr[8:], uint64(pad))
	if _, err := f.WriteAt(hdr, st.Size()); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(bigVideoSize); err != nil { // sparse zeros
		t.Fatal(err)
	}
	f.Close()

	cmd := exec.Command(bin, "--config="+cp, "--path="+src, "--now", "--mode=copy", "--json")
	cmd.Dir, cmd.Env = dir, append(os.Environ(), "SV_CONFIG=", "SV_BASE=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scan-path: %v\n%s", err, out)
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		t.Skip("no rusage on this platform")
	}
	peak := int64(ru.Maxrss) * 1024 // Linux reports KiB
	t.Logf("imported %d MiB video: peak RSS %.1f MiB", bigVideoSize>>20, float64(peak)/(1<<20))

	var size int64
	var typ, path string
	if err := d.QueryRow(`SELECT filesize, type, path FROM media`).Scan(&size, &typ, &path); err != nil {
		t.Fatalf("no media row: %v\n%s", err, out)
	}
	if size != bigVideoSize || typ != "video" {
		t.Errorf("media size=%d type=%s", size, typ)
	}
	if st, err := os.Stat(path); err != nil || st.Size() != bigVideoSize {
		t.Errorf("library copy %s: %v", path, err)
	}
	if peak > maxBigVideoRSS {
		t.Errorf("peak RSS %d MiB > %d MiB: the import does not stream", peak>>20, maxBigVideoRSS>>20)
	}
}
