//go:build !windows

package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/svtest"
	"github.com/localsupervisor/supervisor/pkg/vidax"
)

type world struct {
	bin, cwd, state string
	env             []string
}

func newWorld(t *testing.T) world {
	t.Helper()
	root := t.TempDir()
	w := world{bin: svtest.BuildBinary(t, "./cmd/vidax"), cwd: filepath.Join(root, "cwd"), state: filepath.Join(root, "va")}
	if err := os.MkdirAll(w.cwd, 0o755); err != nil {
		t.Fatal(err)
	}
	// Keep the Supervisor config and HOME out of the developer's own.
	w.env = []string{"VA_STATE_DIR=" + w.state, "HOME=" + root, "VIDAX_CONFIG=", "VIDAX_ASSETS_CONFIG=", "SV_CONFIG=", "SV_BASE=" + w.cwd}
	return w
}

func (w world) run(t *testing.T, extra []string, args ...string) svtest.RunResult {
	t.Helper()
	return svtest.RunBinary(t, w.cwd, append(append([]string{}, w.env...), extra...), w.bin, args...)
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, _ := json.Marshal(v)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDoctorExitCodes(t *testing.T) {
	w := newWorld(t)
	empty := t.TempDir()
	r := w.run(t, []string{"PATH=" + empty}, "doctor")
	if r.Code != vidax.ExitInput {
		t.Fatalf("exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	for _, name := range []string{"ffmpeg", "ffprobe", "config", "manifest"} {
		if !strings.Contains(r.Stderr, name) {
			t.Fatalf("stderr does not name %s: %s", name, r.Stderr)
		}
	}
	if strings.Contains(r.Stderr, "python3") {
		t.Fatalf("python3 is optional: %s", r.Stderr)
	}

	if _, err := exec.LookPath("ffprobe"); err != nil && os.Getenv("SV_REQUIRE_TOOLS") != "1" {
		t.Skip("ffmpeg/ffprobe not installed")
	}
	cfgDir := filepath.Join(w.state, "state", "config")
	writeJSON(t, filepath.Join(cfgDir, "vidax.json"), map[string]any{"apiKey": "k1"})
	writeJSON(t, filepath.Join(cfgDir, "assets.json"), map[string]any{"models": []map[string]any{{"id": "m", "dest": "comfyui/models/m.bin"}}})
	r = w.run(t, nil, "doctor")
	if r.Code != vidax.ExitInput || !strings.Contains(r.Stderr, "asset model/m") || strings.Contains(r.Stderr, "ffmpeg") {
		t.Fatalf("missing asset: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	os.MkdirAll(filepath.Join(w.state, "state", "comfyui", "models"), 0o755)
	os.WriteFile(filepath.Join(w.state, "state", "comfyui", "models", "m.bin"), nil, 0o644)
	r = w.run(t, nil, "--json", "doctor")
	if r.Code != 0 || !strings.Contains(r.Stdout, `"ok": true`) {
		t.Fatalf("all present: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}

func TestInstallExitCodes(t *testing.T) {
	body := []byte("model bytes")
	files := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { rw.Write(body) }))
	defer files.Close()

	t.Run("fresh state copies the CONFIG examples", func(t *testing.T) {
		w := newWorld(t)
		ex, _ := os.ReadFile(filepath.Join(svtest.RepoRoot(t), "CONFIG", "vidax.example.json"))
		os.MkdirAll(filepath.Join(w.cwd, "CONFIG"), 0o755)
		os.WriteFile(filepath.Join(w.cwd, "CONFIG", "vidax.example.json"), ex, 0o644)
		r := w.run(t, nil, "install")
		if r.Code != 0 {
			t.Fatalf("exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
		}
		for _, p := range []string{"state/config/vidax.json", "state/config/assets.json", "state/comfyui/workflows", "state/comfyui/models"} {
			if _, err := os.Stat(filepath.Join(w.state, p)); err != nil {
				t.Fatalf("%s: %v", p, err)
			}
		}
		if b, _ := os.ReadFile(filepath.Join(w.state, "state/config/vidax.json")); string(b) != string(ex) {
			t.Fatalf("vidax.json is not the CONFIG example: %s", b)
		}
	})
	t.Run("download and hash", func(t *testing.T) {
		w := newWorld(t)
		manifest := filepath.Join(w.state, "state", "config", "assets.json")
		writeJSON(t, manifest, map[string]any{"models": []map[string]any{{"id": "m", "url": files.URL + "/m", "dest": "comfyui/models/m.bin", "sha256": sha(body)}}})
		if r := w.run(t, nil, "install"); r.Code != 0 {
			t.Fatalf("exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
		}
		writeJSON(t, manifest, map[string]any{"models": []map[string]any{{"id": "m2", "url": files.URL + "/m", "dest": "comfyui/models/m2.bin", "sha256": sha([]byte("x"))}}})
		r := w.run(t, nil, "--json", "install")
		if r.Code != vidax.ExitInput || !strings.Contains(r.Stdout, vidax.CodeHashMismatch) {
			t.Fatalf("hash mismatch: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
		}
		writeJSON(t, manifest, map[string]any{"models": []map[string]any{{"id": "m3", "url": files.URL + "/m", "dest": "../../outside.bin"}}})
		if r := w.run(t, nil, "install"); r.Code != vidax.ExitInput || !strings.Contains(r.Stderr, vidax.CodeDestInvalid) {
			t.Fatalf("dest escape: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
		}
	})
	t.Run("unwritable state", func(t *testing.T) {
		w := newWorld(t)
		// A state directory below a regular file cannot be created, also
		// for root (a read-only folder would not stop root).
		blocker := filepath.Join(t.TempDir(), "file")
		os.WriteFile(blocker, nil, 0o644)
		r := w.run(t, []string{"VA_STATE_DIR=" + filepath.Join(blocker, "va")}, "install")
		if r.Code != vidax.ExitWrite || !strings.Contains(r.Stderr, vidax.CodeWriteFailed) {
			t.Fatalf("exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
		}
	})
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startServe runs `vidax serve` and returns its base URL once it listens.
func startServe(t *testing.T, w world) (string, *exec.Cmd) {
	t.Helper()
	cmd := exec.Command(w.bin, "serve")
	cmd.Dir, cmd.Env = w.cwd, append(os.Environ(), w.env...)
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(out)
	if !sc.Scan() {
		t.Fatal("serve printed nothing")
	}
	line := sc.Text()
	i := strings.Index(line, "http://")
	if i < 0 {
		t.Fatalf("serve: %q", line)
	}
	go func() {
		for sc.Scan() {
		}
	}()
	return strings.Fields(line[i:])[0], cmd
}

func TestServeAuthAndLoopback(t *testing.T) {
	w := newWorld(t)
	port := freePort(t)
	writeJSON(t, filepath.Join(w.state, "state", "config", "vidax.json"), map[string]any{"apiKey": "the-key", "port": port,
		"comfyui": map[string]any{"command": []string{"sleep", "600"}}})
	writeJSON(t, filepath.Join(w.state, "state", "config", "assets.json"), map[string]any{})
	base, cmd := startServe(t, w)
	if base != "http://127.0.0.1:"+strconv.Itoa(port)+"/" {
		t.Fatalf("not bound to loopback by default: %s", base)
	}
	for key, want := range map[string]int{"": 401, "the-kez": 401, "the-key": 200} {
		req, _ := http.NewRequest(http.MethodGet, base+"install/status", nil)
		req.Header.Set("x-api-key", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("key %q: HTTP %d, want %d", key, resp.StatusCode, want)
		}
	}
	c, _ := vidax.NewClient(base, "the-key", nil)
	ctx := context.Background()
	sa, err := c.Start(ctx)
	if err != nil || sa.Message != vidax.MsgStarted {
		t.Fatalf("start %+v %v", sa, err)
	}
	t.Logf("vidax serve RSS idle with ComfyUI running: %d KiB", rssKiB(cmd.Process.Pid))
	if so, err := c.Stop(ctx); err != nil || so.Status != vidax.MsgStopped {
		t.Fatalf("stop %+v %v", so, err)
	}
	t.Logf("vidax serve RSS idle with ComfyUI stopped: %d KiB", rssKiB(cmd.Process.Pid))
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve did not exit cleanly on SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve ignored SIGTERM")
	}
}

// Listening beyond loopback happens only when configured, and is said.
func TestServeAllInterfacesOnlyWhenConfigured(t *testing.T) {
	w := newWorld(t)
	port := freePort(t)
	writeJSON(t, filepath.Join(w.state, "state", "config", "vidax.json"), map[string]any{"apiKey": "k", "port": port, "host": "0.0.0.0"})
	cmd := exec.Command(w.bin, "serve")
	cmd.Dir, cmd.Env = w.cwd, append(os.Environ(), w.env...)
	stderr, _ := cmd.StderrPipe()
	cmd.Stdout = nil
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(stderr)
	if !sc.Scan() || !strings.Contains(sc.Text(), "reachable from other machines") || !strings.Contains(sc.Text(), "0.0.0.0:"+strconv.Itoa(port)) {
		t.Fatalf("no warning for an all-interfaces bind: %q", sc.Text())
	}
}

func TestServeRefusesExampleKey(t *testing.T) {
	w := newWorld(t)
	os.MkdirAll(filepath.Join(w.state, "state", "config"), 0o755)
	os.WriteFile(filepath.Join(w.state, "state", "config", "vidax.json"), []byte(vidax.ExampleConfig), 0o644)
	r := w.run(t, nil, "serve")
	if r.Code == 0 || !strings.Contains(r.Stderr, vidax.CodeConfigInvalid) || !strings.Contains(r.Stderr, "apiKey") {
		t.Fatalf("exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}

// rssKiB reads VmRSS from /proc (0 where there is none).
func rssKiB(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

func TestVidaxConfigFlagBeforeAndAfterVerb(t *testing.T) {
	w := newWorld(t)
	cfg := filepath.Join(t.TempDir(), "my vidax.json")
	writeJSON(t, cfg, map[string]any{"apiKey": "k"})
	for _, args := range [][]string{{"--vidax-config=" + cfg, "--json", "doctor"}, {"doctor", "--json", "--vidax-config=" + cfg}} {
		r := w.run(t, []string{"PATH=" + t.TempDir()}, args...)
		if !strings.Contains(r.Stdout, `"detail": "`+cfg+`"`) {
			t.Fatalf("%q: config not used (exit %d)\n%s%s", args, r.Code, r.Stdout, r.Stderr)
		}
	}
}
