package main_test

import (
	"bufio"
	"compress/zlib"
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"image"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "image/jpeg"
	_ "image/png"

	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/svtest"
)

// memLimitMB is the bound of issue #17 item 21a: the web UI (and the
// media worker) stay under it however many thumbnails of images at the
// pixel budget are asked for at once.
const memLimitMB = 300

// TestBigImagesStayInMemoryBound (issue #17 item 21a): two RGBA PNGs
// inside the pixel budget (10000×10000 = the default 100 MP budget, and
// 9000×9000) and a 10000×10000 4:4:4 JPEG are catalogued; 16 concurrent
// thumbnail requests of distinct sizes (each a generation of its own) must
// leave webui's peak RSS (VmHWM) under memLimitMB and every answer a real
// thumbnail; the media worker's integrity checks of the files must stay
// under it too.
func TestBigImagesStayInMemoryBound(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries and writes 2 big PNGs")
	}
	s := newSite(t, nil, "./cmd/webui", "./cmd/migrate", "./cmd/media-worker")
	lib := filepath.Join(s.base, "LIB", "images_sfw")
	cfg := map[string]any{
		"db":      map[string]any{"path": "DB/local.sqlite"},
		"logging": map[string]any{"console": false},
		"workers": map[string]any{"supervise": []string{}, "bin_dir": "bin"},
		"paths":   map[string]any{"images_sfw": lib, "thumb_cache": filepath.Join(s.base, "THUMBS")},
	}
	b, _ := json.Marshal(cfg)
	if err := os.WriteFile(s.config, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := s.migrate(t); r.Code != 0 {
		t.Fatalf("migrate: %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	d, err := sql.Open("sqlite3", filepath.Join(s.base, "DB", "local.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var ids []int64
	for _, n := range []int{10000, 9000} {
		p := filepath.Join(lib, fmt.Sprintf("big_%d.png", n))
		size := writeBigPNG(t, p, n, n)
		id, err := media.Insert(context.Background(), d, media.NewMedia{Path: p, Type: "image", Source: "import",
			Width: n, Height: n, Filesize: size, Hash: fmt.Sprintf("%032x", n), FileMTime: time.Now()}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	// A 4:4:4 JPEG at the budget: 300 MB of planes if decoded in full.
	ff := svtest.RequireTool(t, "ffmpeg")
	jp := filepath.Join(lib, "big_444.jpg")
	if out, err := exec.Command(ff, "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=10000x10000", "-frames:v", "1",
		"-pix_fmt", "yuvj444p", "-q:v", "5", "-y", jp).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	st, err := os.Stat(jp)
	if err != nil {
		t.Fatal(err)
	}
	id, err := media.Insert(context.Background(), d, media.NewMedia{Path: jp, Type: "image", Source: "import",
		Width: 10000, Height: 10000, Filesize: st.Size(), Hash: fmt.Sprintf("%032x", 444), FileMTime: time.Now()}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ids = append(ids, id)

	w := startWebui(t, s)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			id, size := ids[i%len(ids)], 400+16*i
			resp, err := thumbGet(w, id, size)
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			ct := resp.Header.Get("Content-Type")
			cfg, _, err := image.DecodeConfig(resp.Body)
			if err != nil || (ct != "image/jpeg" && ct != "image/png") || max(cfg.Width, cfg.Height) != size {
				errs <- fmt.Errorf("thumb of %d at %d: %s %dx%d %v", id, size, ct, cfg.Width, cfg.Height, err)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if hwm := vmHWM(t, w.cmd.Process.Pid); hwm >= memLimitMB<<10 {
		t.Errorf("webui peak RSS %d MB, want < %d MB", hwm>>10, memLimitMB)
	} else {
		t.Logf("webui peak RSS (VmHWM) %d MB", hwm>>10)
	}
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	<-w.exited

	// The media worker's integrity checks: the PNGs are verified row by
	// row (bounded like the web UI); a JPEG can only be verified by a full
	// decode (Go's image/jpeg has no reduced decode), so at the budget it
	// costs its planes (300 MB for 4:4:4) and the decode budget lets only
	// one such decode run at a time: bounded by one decode, not by 300 MB.
	bin := filepath.Join(s.bin, "media-worker")
	env := []string{"SV_CONFIG=", "SV_BASE="}
	worker := func(ids []int64) int64 {
		t.Helper()
		args := []string{"enqueue", "--config=" + s.config, "--type=integrity_check"}
		for _, id := range ids {
			args = append(args, "--media-id="+strconv.FormatInt(id, 10))
		}
		if r := svtest.RunBinary(t, s.base, env, bin, args...); r.Code != 0 {
			t.Fatalf("enqueue: %d\n%s%s", r.Code, r.Stdout, r.Stderr)
		}
		cmd := exec.Command(bin, "--config="+s.config, "--limit=10", "--no-top-up")
		cmd.Dir, cmd.Env = s.base, append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("media-worker: %v\n%s", err, out)
		}
		ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		if !ok {
			t.Skip("no rusage on this platform")
		}
		return ru.Maxrss
	}
	if rss := worker(ids[:2]); rss >= memLimitMB<<10 {
		t.Errorf("media-worker peak RSS %d MB checking the PNGs, want < %d MB", rss>>10, memLimitMB)
	} else {
		t.Logf("media-worker peak RSS %d MB checking the PNGs", rss>>10)
	}
	const oneDecodeMB = 300 + 64 // the 4:4:4 planes plus the process
	if rss := worker(ids[2:]); rss >= oneDecodeMB<<10 {
		t.Errorf("media-worker peak RSS %d MB checking the JPEG, want < %d MB", rss>>10, oneDecodeMB)
	} else {
		t.Logf("media-worker peak RSS %d MB checking the 4:4:4 JPEG", rss>>10)
	}
	var okN int
	if err := d.QueryRow(`SELECT COUNT(DISTINCT media_id) FROM media_meta WHERE meta_key='integrity.ok' AND meta_value='1'`).Scan(&okN); err != nil || okN != len(ids) {
		t.Errorf("integrity.ok=1 for %d media (%v), want %d", okN, err, len(ids))
	}
}

func thumbGet(w *webui, id int64, size int) (*http.Response, error) {
	req, _ := http.NewRequest("GET", w.url+"/thumb.php?id="+strconv.FormatInt(id, 10)+"&size="+strconv.Itoa(size), nil)
	req.Header.Set("X-Internal-Key", w.key)
	resp, err := http.DefaultClient.Do(req)
	if err == nil && resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("thumb %d: HTTP %d", id, resp.StatusCode)
	}
	return resp, err
}

// vmHWM is the peak resident set of a live process in kB.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

// writeBigPNG streams a w×h RGBA PNG to path without holding the image:
// mostly uniform rows (a gradient per row and a noisy band) compress fast.
// It returns the file size.
func writeBigPNG(t *testing.T, path string, w, h int) int64 {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bw := bufio.NewWriter(f)
	chunk := func(typ string, data []byte) {
		var hd [8]byte
		binary.BigEndian.PutUint32(hd[:4], uint32(len(data)))
		copy(hd[4:], typ)
		crc := crc32.NewIEEE()
		crc.Write(hd[4:])
		crc.Write(data)
		bw.Write(hd[:])
		bw.Write(data)
		binary.Write(bw, binary.BigEndian, crc.Sum32())
	}
	bw.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = 8, 6
	chunk("IHDR", ihdr)
	pr, pw := io.Pipe()
	go func() {
		zw, _ := zlib.NewWriterLevel(pw, zlib.BestSpeed)
		row := make([]byte, 1+4*w)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				px := row[1+4*x:]
				px[0], px[1], px[2], px[3] = uint8(y), uint8(y/40), 200, 255
				if y%1000 < 10 {
					px[0] = uint8(x * 7)
				}
			}
			zw.Write(row)
		}
		zw.Close()
		pw.Close()
	}()
	buf := make([]byte, 1<<20)
	for {
		n, err := io.ReadFull(pr, buf)
		if n > 0 {
			chunk("IDAT", buf[:n])
		}
		if err != nil {
			break
		}
	}
	chunk("IEND", nil)
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}
