package deploy

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/localsupervisor/supervisor/pkg/svtest"
	"github.com/localsupervisor/supervisor/pkg/svtest/pngtest"
)

// wineDeadline bounds every wait of the Wine test; Wine starts a Go
// program in about 0.3 s, so this is only ever reached by a hang.
const wineDeadline = 2 * time.Minute

// TestWindowsUnderWine runs the Windows release (cgo build, mingw-w64)
// under Wine the way a Windows user does: init-db, migrate, scan-path --now
// on a folder of images and videos without ffmpeg for Windows (videos are
// refused with ffprobe_missing and stay where they are), webui answering
// /health.php and the media list, a dashboard import that makes webui start
// scan-worker.exe through the Windows launcher, a worker lock held by one
// .exe refusing a second, and every shipped Task Scheduler action.
func TestWindowsUnderWine(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		svtest.SkipUnlessRequired(t, "ffmpeg is needed to make the test videos")
	}
	rs := release(t)
	w := wine(t)
	root := rs.unpacked(t, "windows/amd64")
	linuxRoot := rs.unpacked(t, "linux/amd64")
	exe := func(name string) string { return filepath.Join(root, "bin", name+".exe") }

	base := t.TempDir()
	cfgPath := writeSiteConfig(t, base, "")
	cfgArg := "--config=" + winPath(cfgPath)
	dbPath := filepath.Join(base, "DB", "local.sqlite")

	// 1. init-db creates the database (the CGO_ENABLED=0 build failed here).
	if r := w.run(t, base, exe("init-db"), cfgArg); r.Code != 0 || !strings.Contains(r.Stdout, "init-db ok") {
		t.Fatalf("init-db.exe: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if r := w.run(t, base, exe("migrate"), cfgArg); r.Code != 0 {
		t.Fatalf("migrate.exe: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}

	// 2. scan-path --now, and the same folder on Linux for the speed figure.
	const images, videos = 300, 2
	winIn := filepath.Join(base, "incoming")
	writeImportFolder(t, winIn, images, videos, 0)
	t0 := time.Now()
	r := w.run(t, base, exe("scan-path"), cfgArg, "--now", "--path="+winPath(winIn))
	winElapsed := time.Since(t0)
	if r.Code != 0 {
		t.Fatalf("scan-path.exe --now: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if !strings.Contains(r.Stdout, fmt.Sprintf("%d imported", images)) || !strings.Contains(r.Stdout, fmt.Sprintf("ffprobe_missing: %d", videos)) {
		t.Fatalf("scan-path.exe: want %d imported and %d videos refused with ffprobe_missing:\n%s", images, videos, r.Stdout)
	}
	vids, _ := filepath.Glob(filepath.Join(winIn, "clips", "*.mp4"))
	if len(vids) != videos {
		t.Fatalf("the refused videos must stay in the incoming folder, found %v", vids)
	}
	d := openDB(t, dbPath)
	if n := count(t, d, `SELECT COUNT(*) FROM media WHERE type='image'`); n != images {
		t.Fatalf("%d images in the database, want %d", n, images)
	}

	linuxBase := t.TempDir()
	linuxCfg := writeSiteConfig(t, linuxBase, "")
	linuxIn := filepath.Join(linuxBase, "incoming")
	writeImportFolder(t, linuxIn, images, videos, 0)
	t0 = time.Now()
	lr := svtest.RunBinary(t, linuxBase, []string{"SV_CONFIG=", "SV_BASE="}, filepath.Join(linuxRoot, "bin", "scan-path"), "--config="+linuxCfg, "--now", "--path="+linuxIn)
	linuxElapsed := time.Since(t0)
	if lr.Code != 0 {
		t.Fatalf("linux scan-path: exit %d\n%s%s", lr.Code, lr.Stdout, lr.Stderr)
	}
	files := float64(images + videos)
	t.Logf("FIGURE scan-path --now, %d files: Windows under Wine %.1f files/s (%.2fs, process start included), Linux %.1f files/s (%.2fs)",
		images+videos, files/winElapsed.Seconds(), winElapsed.Seconds(), files/linuxElapsed.Seconds(), linuxElapsed.Seconds())

	// 3. webui.exe: /health.php, the media list, and a dashboard import
	// that starts scan-worker.exe detached through the Windows launcher.
	ui := startWineWebui(t, w, base, exe("webui"), cfgArg, "--addr=127.0.0.1:0")
	var h struct {
		OK      bool   `json:"ok"`
		Version string `json:"version"`
	}
	code, body := ui.get(t, "/health.php")
	if code != 200 || json.Unmarshal(body, &h) != nil || h.Version != rs.version {
		t.Fatalf("health.php: %d %s (want version %s)", code, body, rs.version)
	}
	code, body = ui.get(t, "/mediadb.php")
	if code != 200 || !bytes.Contains(body, []byte(fmt.Sprintf("%d", images))) {
		t.Fatalf("media list: HTTP %d, no %d in the page", code, images)
	}
	const more = 40
	dashIn := filepath.Join(base, "from-dashboard")
	writeImportFolder(t, dashIn, more, 0, images)
	code, body = ui.post(t, "/index.php", url.Values{"action": {"scan_path"}, "scan_path": {winPath(dashIn)}, "confirm_move": {"1"}})
	if code >= 400 {
		t.Fatalf("dashboard import: HTTP %d %s", code, body)
	}
	var ans struct {
		OK    bool   `json:"ok"`
		Spawn string `json:"spawn"`
	}
	if err := json.Unmarshal(body, &ans); err != nil || !ans.OK || !strings.HasPrefix(ans.Spawn, "started") {
		t.Fatalf("dashboard import answer %s: want ok and the worker started", body)
	}
	spawnLast := filepath.Join(base, "LOGS", "scan-worker_spawn_last.json")
	waitFor(t, "webui to record the scan-worker.exe start (LOGS/scan-worker_spawn_last.json)", wineDeadline, func() bool {
		_, err := os.Stat(spawnLast)
		return err == nil
	})
	var spawn struct {
		PID     int      `json:"pid"`
		Command []string `json:"command"`
		Status  string   `json:"status"`
		OutLog  string   `json:"out_log"`
	}
	if err := json.Unmarshal(svtest.ReadFile(t, spawnLast), &spawn); err != nil {
		t.Fatal(err)
	}
	if spawn.PID <= 0 || len(spawn.Command) == 0 || !strings.HasSuffix(spawn.Command[0], `\bin\scan-worker.exe`) ||
		!strings.HasPrefix(spawn.Status, "started") || !strings.HasPrefix(spawn.OutLog, `Z:\`) {
		t.Fatalf("spawn record %+v: want a started scan-worker.exe with a pid and its Windows log path", spawn)
	}
	waitFor(t, fmt.Sprintf("the spawned scan-worker.exe to import %d more images", more), wineDeadline, func() bool {
		return count(t, d, `SELECT COUNT(*) FROM media WHERE type='image'`) == images+more
	})
	ui.stop(t)

	// 4. One worker lock per kind: a looping scan-worker.exe holds it, a
	// second one exits at once saying so. The worker webui started may
	// still be finishing, so the heartbeat is the loop's only once it was
	// rewritten after the start, and the check repeats until the loop holds
	// the lock (a lock that never refuses fails at the deadline).
	hb := filepath.Join(base, "LOGS", "scan_worker.heartbeat.json")
	os.Remove(hb)
	loop, _ := w.start(t, base, exe("scan-worker"), cfgArg, "--loop", "--sleep-ms=200")
	t.Cleanup(func() { _ = loop.Process.Kill(); _ = loop.Wait() })
	waitFor(t, "the looping scan-worker.exe's heartbeat", wineDeadline, func() bool {
		_, err := os.Stat(hb)
		return err == nil
	})
	var second svtest.RunResult
	waitFor(t, "a second scan-worker.exe to be refused by the lock", wineDeadline, func() bool {
		second = w.run(t, base, exe("scan-worker"), cfgArg, "--limit=5")
		if second.Code != 0 {
			t.Fatalf("second scan-worker.exe: exit %d\n%s", second.Code, second.Stdout)
		}
		return strings.Contains(second.Stdout, "already_running (lock_busy")
	})
	_ = loop.Process.Kill()
	_ = loop.Wait()

	// 5. The shipped Task Scheduler actions, run by cmd.exe exactly as
	// written after install.ps1's %SUPERVISOR_HOME% substitution, in the
	// unpacked release itself (the installation folder).
	runTaskSchedulerActions(t, w, root)
}

// runTaskSchedulerActions executes every deploy/windows/*.xml action of the
// release under Wine with root as SUPERVISOR_HOME and a config made from
// the shipped example.
func runTaskSchedulerActions(t *testing.T, w *wineEnv, root string) {
	t.Helper()
	writeSiteConfig(t, root, filepath.Join(root, "CONFIG", "config.example.json"))
	files, _ := filepath.Glob(filepath.Join(root, "deploy", "windows", "*.xml"))
	if len(files) < 4 {
		t.Fatalf("release ships %d task definitions", len(files))
	}
	// The web UI's task first: at logon it is what creates the database
	// the nightly backup task later copies.
	sort.SliceStable(files, func(i, j int) bool {
		return strings.Contains(files[i], "webui") && !strings.Contains(files[j], "webui")
	})
	home := winPath(root)
	for _, f := range files {
		name := filepath.Base(f)
		tk := parseTask(t, f)
		if len(tk.Exec) != 1 {
			t.Fatalf("%s: %d Exec actions", name, len(tk.Exec))
		}
		ex := tk.Exec[0]
		sub := func(s string) string { return strings.ReplaceAll(s, "%SUPERVISOR_HOME%", home) }
		line := sub(ex.Command) + " " + sub(ex.Args)
		wd := strings.TrimPrefix(strings.ReplaceAll(sub(ex.WorkDir), `\`, "/"), "Z:")
		// The Task Scheduler starts Command with Arguments as one command
		// line (CreateProcess); a batch file holding exactly that line
		// reproduces it, quoting included.
		bat := filepath.Join(t.TempDir(), strings.TrimSuffix(name, ".xml")+".cmd")
		if err := os.WriteFile(bat, []byte("@"+line+"\r\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(ex.Command, `\webui.exe`) {
			// The service task: it must come up and listen; it is stopped
			// by the test.
			ui := startWineWebui(t, w, wd, "cmd.exe", "/c", winPath(bat))
			if code, _ := ui.get(t, "/health.php"); code != 200 {
				t.Errorf("%s: webui.exe health HTTP %d", name, code)
			}
			// cmd.exe is the process the test holds; webui.exe is its
			// child and is ended by name.
			if r := w.run(t, wd, "taskkill.exe", "/F", "/IM", "webui.exe"); r.Code != 0 {
				t.Errorf("taskkill webui.exe: exit %d %s", r.Code, r.Stdout)
			}
			ui.stop(t)
			continue
		}
		r := w.run(t, wd, "cmd.exe", "/c", winPath(bat))
		if r.Code != 0 || strings.Contains(r.Stdout, "flag provided but not defined") {
			t.Errorf("%s: `%s` in %s: exit %d\n%s", name, line, sub(ex.WorkDir), r.Code, r.Stdout)
			continue
		}
		out := r.Stdout
		t.Logf("%s ok: %s", name, strings.TrimSpace(out))
	}
}

// writeSiteConfig writes base/CONFIG/config.json: from the example at
// from (as the install instructions say) or a minimal one, with the web
// address on a free port, supervision off (the scheduler or the test starts
// the workers) and no console logging.
func writeSiteConfig(t *testing.T, base, from string) string {
	t.Helper()
	cfg := map[string]any{}
	if from != "" {
		if err := json.Unmarshal(svtest.ReadFile(t, from), &cfg); err != nil {
			t.Fatal(err)
		}
	}
	set := func(section, key string, v any) {
		m, _ := cfg[section].(map[string]any)
		if m == nil {
			m = map[string]any{}
		}
		m[key] = v
		cfg[section] = m
	}
	set("web", "addr", "127.0.0.1:0")
	set("workers", "supervise", []string{})
	set("logging", "console", false)
	set("db", "path", "DB/local.sqlite")
	b, _ := json.MarshalIndent(cfg, "", "  ")
	p := filepath.Join(base, "CONFIG", "config.json")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeImportFolder writes n distinct PNGs with A1111 parameters (numbered
// from first) and v short MP4 videos under dir.
func writeImportFolder(t *testing.T, dir string, n, v, first int) {
	t.Helper()
	for i := first; i < first+n; i++ {
		sub := filepath.Join(dir, fmt.Sprintf("set %d", i%4))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		img := image.NewRGBA(image.Rect(0, 0, 48, 32))
		for y := 0; y < 32; y++ {
			for x := 0; x < 48; x++ {
				img.Set(x, y, color.RGBA{uint8(i), uint8(i>>8) + uint8(x*5), uint8(y * 7), 255})
			}
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			t.Fatal(err)
		}
		data := pngtest.WithText(buf.Bytes(), "parameters", fmt.Sprintf("a harbour at night, %d\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: %d, Size: 48x32", i, i))
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("image %04d.png", i)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if v == 0 {
		return
	}
	clips := filepath.Join(dir, "clips")
	if err := os.MkdirAll(clips, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < v; i++ {
		out := filepath.Join(clips, fmt.Sprintf("clip %d.mp4", i))
		src := fmt.Sprintf("testsrc=size=96x64:rate=10:decimals=%d", i)
		if b, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", src, "-t", "1", "-pix_fmt", "yuv420p", out).CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg: %v\n%s", err, b)
		}
	}
}

func openDB(t *testing.T, p string) *sql.DB {
	t.Helper()
	d, err := sql.Open("sqlite3", "file:"+p+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func count(t *testing.T, d *sql.DB, q string) int {
	t.Helper()
	var n int
	if err := d.QueryRow(q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// wineWebui is a webui.exe running under Wine.
type wineWebui struct {
	cmd      *exec.Cmd
	url, key string
	outFile  string
	exited   chan struct{}
}

var (
	listenRe = regexp.MustCompile(`listening on (http://\S+)`)
	keyRe    = regexp.MustCompile(`one-time key for this run: ([0-9a-f]+)`)
)

// startWineWebui starts webui.exe (directly or through cmd.exe) and waits
// for the address and the one-time key it prints.
func startWineWebui(t *testing.T, w *wineEnv, dir, exe string, args ...string) *wineWebui {
	t.Helper()
	cmd, outFile := w.start(t, dir, exe, args...)
	ui := &wineWebui{cmd: cmd, outFile: outFile, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(ui.exited) }()
	t.Cleanup(func() { ui.stop(t) })
	end := time.Now().Add(wineDeadline)
	for ui.url == "" || ui.key == "" {
		out := ui.output()
		if m := listenRe.FindStringSubmatch(out); m != nil {
			ui.url = m[1]
		}
		if m := keyRe.FindStringSubmatch(out); m != nil {
			ui.key = m[1]
		}
		select {
		case <-ui.exited:
			if ui.url == "" || ui.key == "" {
				t.Fatalf("webui.exe ended before it listened:\n%s", ui.output())
			}
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(end) {
			t.Fatalf("webui.exe did not print its address:\n%s", ui.output())
		}
	}
	return ui
}

func (ui *wineWebui) output() string {
	b, _ := os.ReadFile(ui.outFile)
	return string(b)
}

func (ui *wineWebui) do(t *testing.T, req *http.Request) (int, []byte) {
	t.Helper()
	req.Header.Set("X-Internal-Key", ui.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", req.Method, req.URL.Path, err, ui.output())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (ui *wineWebui) get(t *testing.T, path string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", ui.url+path, nil)
	return ui.do(t, req)
}

func (ui *wineWebui) post(t *testing.T, path string, form url.Values) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", ui.url+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	return ui.do(t, req)
}

// stop kills the webui process (Wine runs it as a Linux process; Windows
// has no SIGTERM for it anyway) and waits for it.
func (ui *wineWebui) stop(t *testing.T) {
	select {
	case <-ui.exited:
		return
	default:
	}
	_ = ui.cmd.Process.Kill()
	select {
	case <-ui.exited:
	case <-time.After(wineDeadline):
		t.Errorf("webui.exe did not end after kill")
	}
}
