package deploy

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/svtest"
	"github.com/localsupervisor/supervisor/pkg/vidax"
)

// TestVidaxUnderWine runs the Windows vidax.exe of the release under Wine
// managing a Windows build of the fake ComfyUI program: started detached in
// a job object, seen running and answering, stopped through the job object
// (the Windows-only code paths of pkg/vidax, which no Linux test reaches).
func TestVidaxUnderWine(t *testing.T) {
	rs := release(t)
	w := wine(t)
	root := rs.unpacked(t, "windows/amd64")

	tools := t.TempDir()
	fake := filepath.Join(tools, "fakecomfy.exe")
	build := exec.Command("go", "build", "-o", fake, "./pkg/vidax/testdata/fakecomfy")
	build.Dir = svtest.RepoRoot(t)
	build.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the fake ComfyUI for Windows: %v\n%s", err, out)
	}
	port, comfyPort := freePort(t), freePort(t)
	comfyURL := "http://127.0.0.1:" + strconv.Itoa(comfyPort) + "/"
	state := t.TempDir()
	writeJSONFile(t, filepath.Join(state, "state", "config", "vidax.json"), map[string]any{"apiKey": "wine-key", "port": port,
		"comfyui": map[string]any{"command": []string{winPath(fake), "--listen", "127.0.0.1:" + strconv.Itoa(comfyPort)},
			"workingDir": winPath(tools), "url": comfyURL}})
	writeJSONFile(t, filepath.Join(state, "state", "config", "assets.json"), map[string]any{})

	serve, outFile := w.startEnv(t, []string{"VA_STATE_DIR=" + winPath(state), "VIDAX_CONFIG=", "VIDAX_ASSETS_CONFIG="},
		root, filepath.Join(root, "bin", "vidax.exe"), "serve")
	exited := make(chan struct{})
	go func() { _ = serve.Wait(); close(exited) }()
	t.Cleanup(func() { _ = serve.Process.Kill(); <-exited })
	var base string
	addr := regexp.MustCompile(`http://127\.0\.0\.1:\d+/`)
	waitFor(t, "vidax.exe serve to listen", wineDeadline, func() bool {
		select {
		case <-exited:
			b, _ := os.ReadFile(outFile)
			t.Fatalf("vidax.exe serve ended:\n%s", b)
		default:
		}
		b, _ := os.ReadFile(outFile)
		base = addr.FindString(string(b))
		return base != ""
	})
	c, err := vidax.NewClient(base, "wine-key", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wineDeadline)
	defer cancel()
	sa, err := c.Start(ctx)
	if err != nil || sa.Message != vidax.MsgStarted || sa.PID <= 0 {
		t.Fatalf("start: %+v %v", sa, err)
	}
	answers := func() bool {
		resp, err := http.Get(comfyURL + "system_stats")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}
	waitFor(t, "the fake ComfyUI.exe to answer", wineDeadline, answers)
	st, err := c.Status(ctx)
	if err != nil || !st.ComfyUI.Running || st.ComfyUI.PID != sa.PID {
		t.Fatalf("status after start: %+v %v", st.ComfyUI, err)
	}
	if again, err := c.Start(ctx); err != nil || again.Message != vidax.MsgAlreadyRunning {
		t.Fatalf("second start: %+v %v", again, err)
	}
	so, err := c.Stop(ctx)
	if err != nil || so.Status != vidax.MsgStopped {
		t.Fatalf("stop: %+v %v", so, err)
	}
	waitFor(t, "the fake ComfyUI.exe to be gone after stop", wineDeadline, func() bool { return !answers() })
	if st, err := c.Status(ctx); err != nil || st.ComfyUI.Running {
		t.Fatalf("status after stop: %+v %v", st.ComfyUI, err)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func writeJSONFile(t *testing.T, p string, v any) {
	t.Helper()
	b, _ := json.MarshalIndent(v, "", "  ")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
