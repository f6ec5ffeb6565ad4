package main_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	_ "github.com/mattn/go-sqlite3"

	"github.com/localsupervisor/supervisor/pkg/svtest"
	"github.com/localsupervisor/supervisor/pkg/svtest/browsertest"
	"github.com/localsupervisor/supervisor/pkg/svtest/pngtest"
	"github.com/localsupervisor/supervisor/pkg/workerbin"
)

// TestQuickstartInBrowser is the first hour of a new user, the way the
// README says: `go run ./cmd/webui` in the checkout with the embedded
// defaults (no config file; data under SV_BASE), log in with the one-time
// key webui prints, import a folder of 200+ images, a few videos and bad
// files from the dashboard in place, and watch the job center until the
// import and every follow-up (integrity checks, hashes) are done — with
// no command run by hand. Then: every media is listed with a real
// thumbnail, the refused files are listed with their reasons in plain
// words, prev/next inside a filtered list stays in the filter, and an
// action on a disabled service (the tagger is off by default) says why.
// Screenshots go to SV_ARTIFACTS_DIR/quickstart when set.
func TestQuickstartInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every binary and drives Chromium")
	}
	svtest.RequireTool(t, "chromium")
	svtest.RequireTool(t, "ffmpeg", "ffprobe")
	root := workerbin.ModuleRoot(".")
	if root == "" {
		t.Fatal("not inside the checkout")
	}
	base := t.TempDir()
	inbox := filepath.Join(base, "my pictures")
	wantMedia := writeQuickstartFolder(t, inbox)
	shots := shotsDir(t)

	// The README command, on a free port.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(workerbin.GoCommand(), "run", "./cmd/webui", "--addr="+addr)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "SV_CONFIG=", "SV_BASE="+base)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		// Ctrl-C on the terminal: the whole process group (go run, webui
		// and its supervised workers) gets SIGINT.
		syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
	t.Cleanup(stop)
	url, key := readStartup(t, out, &stderr)
	t.Logf("README command to a listening web UI: %.1fs", time.Since(start).Seconds())

	ctx := browsertest.Start(t, browsertest.Options{Timeout: 15 * time.Minute, Width: 1280, Height: 1000})
	var text string
	run := func(what string, actions ...chromedp.Action) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 6*time.Minute)
		defer cancel()
		if err := chromedp.Run(sctx, actions...); err != nil {
			shot(ctx, t, shots, "failed-"+strings.ReplaceAll(what, " ", "-"))
			t.Fatalf("%s: %v", what, err)
		}
	}
	run("log in", chromedp.Navigate(url+"/login?key="+key), chromedp.WaitVisible("#login-submit"), chromedp.Click("#login-submit"),
		chromedp.WaitVisible("#import-form"))
	shot(ctx, t, shots, "01-dashboard")
	run("import in place", chromedp.SetValue("#scan-path", inbox), chromedp.Click("#mode-in-place"), chromedp.Click("#import-submit"),
		chromedp.WaitVisible("#jobcenter"))
	clicked := time.Now()
	shot(ctx, t, shots, "02-import-queued")

	// The job center refreshes itself: no reload from here on.
	var summary string
	run("import done in the job center", chromedp.Poll(`(() => { const o = document.querySelector('#imports .job-done .job-outcome');
		return o ? o.textContent : false; })()`, &summary, chromedp.WithPollingTimeout(5*time.Minute), chromedp.WithPollingInterval(500*time.Millisecond)))
	t.Logf("import summary: %s", summary)
	// The truncated PNG has a valid header: the import takes it (no full
	// decode, for speed) and flags it broken at once (structural check on
	// the hashed bytes); the integrity check confirms it afterwards.
	if !strings.Contains(summary, fmt.Sprintf("%d imported", wantMedia+1)) || !strings.Contains(summary, "3 refused") {
		t.Errorf("import summary %q, want %d imported and 3 refused", summary, wantMedia+1)
	}
	// Follow-ups: the supervised media worker runs them; the poll JSON
	// counts what is left.
	// Follow-ups: the supervised media worker checks and hashes every
	// media (queued with the import, or topped up when the queue caps
	// refused some); nothing is run by hand.
	dbPath := filepath.Join(base, "DB", "local.sqlite")
	for deadline := time.Now().Add(6 * time.Minute); ; {
		unchecked, unhashed := followUpsLeft(t, dbPath)
		if unchecked == 0 && unhashed == 0 {
			break
		}
		if time.Now().After(deadline) {
			shot(ctx, t, shots, "failed-follow-ups")
			t.Fatalf("after 6 minutes %d media lack an integrity check and %d a hash_compute result", unchecked, unhashed)
		}
		time.Sleep(time.Second)
	}
	t.Logf("Import click to done with all follow-ups: %.1fs", time.Since(clicked).Seconds())
	run("job center refreshed", chromedp.Sleep(3*time.Second))
	shot(ctx, t, shots, "03-jobcenter-done")
	// The folder imported in place is a library source now, listed
	// without a reload.
	run("sources listed", chromedp.Poll(`(() => { const t = document.querySelector('#sources-table'); return t ? t.textContent : false; })()`,
		&text, chromedp.WithPollingTimeout(30*time.Second)))
	if !strings.Contains(text, inbox) {
		t.Errorf("the in-place folder is not listed as a library source: %q", text)
	}
	var failed float64
	run("jobs in error", chromedp.Evaluate(`fetch('/api/dashboard', {headers: {Accept: 'application/json'}}).then(r => r.json()).then(r => r.data.counts.by_status.error || 0)`,
		&failed, await))
	if failed > 0 {
		t.Errorf("%v jobs ended in error", failed)
	}

	// Refused files, from the job center's link.
	var refusedURL string
	run("refused link", chromedp.Evaluate(`document.querySelector('#imports .job-done .job-outcome a').href`, &refusedURL))
	run("refused files", chromedp.Navigate(refusedURL), chromedp.WaitVisible("#refused"), chromedp.Text("#refused", &text))
	shot(ctx, t, shots, "04-refused")
	for _, want := range []string{"empty.png", "bomb.png", "not-an-image.png", "The file is empty (0 bytes)."} {
		if !strings.Contains(text, want) {
			t.Errorf("refused list lacks %q:\n%s", want, text)
		}
	}
	if regexp.MustCompile(`\b(empty_file|unsupported_type|decompression_bomb|truncated_file)\b`).MatchString(text) {
		t.Errorf("refused list shows raw codes:\n%s", text)
	}
	// The truncated file, found broken by the integrity check: linked from
	// the report and listed by the Issues filter.
	run("issues", chromedp.Text("#refused-issues", &text), chromedp.Navigate(url+"/mediadb.php?issues=1"), chromedp.WaitVisible("body"),
		chromedp.Evaluate(`[...document.querySelectorAll('.card .title')].map(e => e.getAttribute('title') || e.textContent).join('|')`, &text))
	if !strings.Contains(text, "truncated.png") {
		t.Errorf("the Issues filter lacks the truncated file: %q", text)
	}
	shot(ctx, t, shots, "04b-issues")

	// Every media with a real thumbnail: each card's image is a JPEG or
	// WebP, not the placeholder.
	var count string
	run("media list", chromedp.Navigate(url+"/mediadb.php"), chromedp.WaitVisible(".card"))
	var thumbs struct {
		Cards int      `json:"cards"`
		Bad   []string `json:"bad"`
	}
	// The truncated PNG (catalogued, then found broken) cannot have a
	// thumbnail: it, and only it, gets the placeholder.
	run("thumbnails", chromedp.Evaluate(`(async () => {
		const imgs = [...document.querySelectorAll('.card img')];
		const bad = [];
		for (const i of imgs) {
			const r = await fetch(i.currentSrc || i.src);
			const ct = r.headers.get('Content-Type') || '';
			const real = r.ok && (ct.startsWith('image/jpeg') || ct.startsWith('image/webp'));
			if (real === (i.alt === 'truncated.png')) bad.push(i.alt + ' ' + i.src + ' ' + r.status + ' ' + ct);
		}
		return {cards: imgs.length, bad};
	})()`, &thumbs, await))
	if thumbs.Cards == 0 || len(thumbs.Bad) > 0 {
		t.Errorf("%d cards; thumbnails that are not real images: %v", thumbs.Cards, thumbs.Bad)
	}
	run("count", chromedp.Evaluate(`fetch('/api/count'+location.search).then(r => r.json()).then(r => r.text || String(r.count))`, &count,
		await))
	if !strings.Contains(count, fmt.Sprint(wantMedia+1)) {
		t.Errorf("list count %q, want %d media (the truncated file included)", count, wantMedia+1)
	}
	shot(ctx, t, shots, "05-list")

	// prev/next inside a filtered list keeps the filter.
	var loc string
	run("filtered detail", chromedp.Navigate(url+"/mediadb.php?type=video"), chromedp.WaitVisible(".card a.thumb"),
		chromedp.Click(".card a.thumb"), chromedp.WaitVisible("body"), chromedp.Location(&loc))
	run("next", chromedp.KeyEvent(kb.ArrowRight), chromedp.Sleep(500*time.Millisecond), chromedp.WaitVisible("body"), chromedp.Location(&loc))
	if !strings.Contains(loc, "type=video") {
		t.Errorf("next left the filter: %s", loc)
	}
	run("media type", chromedp.Evaluate(`document.querySelector('video') ? 'video' : 'other'`, &text))
	if text != "video" {
		t.Errorf("next in a video-only list shows a %s (%s)", text, loc)
	}
	shot(ctx, t, shots, "06-detail-video")

	// An action needing a disabled service explains itself.
	run("disabled tagger", chromedp.Evaluate(`(() => { const r = document.querySelector('.off-reason'); return r ? r.textContent : ''; })()`, &text))
	if !strings.Contains(text, "scanner.enabled") {
		t.Errorf("no reason shown next to the tagger action: %q", text)
	}
	stop()
	if strings.Contains(stderr.String(), "panic") {
		t.Errorf("webui stderr:\n%s", stderr.String())
	}
}

// followUpsLeft counts active media without an integrity check result and
// without a hash_compute result, read from the database webui created.
func followUpsLeft(t *testing.T, dbPath string) (unchecked, unhashed int) {
	t.Helper()
	d, err := sql.Open("sqlite3", "file:"+dbPath+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	q := func(key string) int {
		var n int
		if err := d.QueryRow(`SELECT count(*) FROM media m WHERE m.status = 'active'
			AND NOT EXISTS (SELECT 1 FROM media_meta mm WHERE mm.media_id = m.id AND mm.meta_key = ?)`, key).Scan(&n); err != nil {
			return -1
		}
		return n
	}
	return q("integrity.checked_at"), q("hash.checked_at")
}

// await makes Evaluate wait for the promise an expression returns.
func await(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }

// readStartup reads webui's console until it prints the URL and the
// one-time admin key (building the workers first on a fresh checkout).
func readStartup(t *testing.T, out io.Reader, stderr *bytes.Buffer) (url, key string) {
	t.Helper()
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	urlRE := regexp.MustCompile(`listening on (http://\S+)`)
	keyRE := regexp.MustCompile(`one-time key for this run: ([0-9a-f]+)`)
	timeout := time.After(10 * time.Minute)
	for url == "" || key == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("webui ended before it listened:\n%s", stderr.String())
			}
			t.Log("webui: " + line)
			if m := urlRE.FindStringSubmatch(line); m != nil {
				url = m[1]
			}
			if m := keyRE.FindStringSubmatch(line); m != nil {
				key = m[1]
			}
		case <-timeout:
			t.Fatalf("webui did not start within 10 minutes:\n%s", stderr.String())
		}
	}
	go func() {
		for range lines {
		}
	}()
	// The page answers.
	if resp, err := http.Get(url + "/health.php"); err == nil {
		resp.Body.Close()
	}
	return url, key
}

// writeQuickstartFolder writes 210 images (PNG and JPEG), 3 videos and 4
// files the import must refuse, and returns how many media it should
// import.
func writeQuickstartFolder(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	for i := 0; i < 210; i++ {
		sub := filepath.Join(dir, fmt.Sprintf("set %d", i%3))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		img := image.NewRGBA(image.Rect(0, 0, 64, 48))
		for y := 0; y < 48; y++ {
			for x := 0; x < 64; x++ {
				img.Set(x, y, color.RGBA{uint8(i * 7), uint8(x * 4), uint8(y * 5), 255})
			}
		}
		var buf bytes.Buffer
		png.Encode(&buf, img)
		data := pngtest.WithText(buf.Bytes(), "parameters", fmt.Sprintf("a lighthouse at dawn, %d\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: %d, Size: 64x48", i, i))
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("image %03d.png", i)), data, 0o644); err != nil {
			t.Fatal(err)
		}
		n++
	}
	vids := filepath.Join(dir, "clips")
	os.MkdirAll(vids, 0o755)
	for i, src := range []string{"testsrc=size=160x120:rate=10", "testsrc2=size=160x120:rate=10", "smptebars=size=160x120:rate=10"} {
		out := filepath.Join(vids, fmt.Sprintf("clip %d.mp4", i))
		if b, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", src, "-t", "1", "-pix_fmt", "yuv420p", "-c:v", "libx264", out).CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg: %v\n%s", err, b)
		}
		n++
	}
	bad := filepath.Join(dir, "bad")
	os.MkdirAll(bad, 0o755)
	good := pngtest.PNG(32, 32, 1)
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], 100000)
	binary.BigEndian.PutUint32(ihdr[4:], 100000)
	ihdr[8], ihdr[9] = 8, 6
	bomb := append([]byte("\x89PNG\r\n\x1a\n"), pngtest.Chunk("IHDR", ihdr)...)
	bomb = append(bomb, pngtest.Chunk("IEND", nil)...)
	for name, data := range map[string][]byte{
		"empty.png":        nil,
		"truncated.png":    good[:len(good)/2],
		"bomb.png":         bomb,
		"not-an-image.png": []byte("this is a text file with a png name\n"),
	} {
		if err := os.WriteFile(filepath.Join(bad, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

func shotsDir(t *testing.T) string {
	if d := os.Getenv("SV_ARTIFACTS_DIR"); d != "" {
		d = filepath.Join(d, "quickstart")
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

func shot(ctx context.Context, t *testing.T, dir, name string) {
	var buf []byte
	if err := chromedp.Run(ctx, chromedp.FullScreenshot(&buf, 100)); err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644)
}
