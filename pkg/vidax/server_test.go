//go:build !windows

package vidax

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

// newTestServer is the real server in-process with the fake ComfyUI.
func newTestServer(t *testing.T, m Manifest) (*Client, *Process, string) {
	t.Helper()
	p, addrFile := newProc(t)
	srv := &Server{APIKey: "secret", Proc: p, Installer: func() (*Installer, error) {
		return &Installer{Layout: p.Layout, Manifest: &m}, nil
	}}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	t.Cleanup(func() { p.Stop(context.Background()) })
	c, err := NewClient(hs.URL, "secret", nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, p, addrFile
}

func TestServerRoutes(t *testing.T) {
	ctx := context.Background()
	body := []byte("workflow")
	files := newAssetServer(t, map[string][]byte{"/w": body})
	c, _, addrFile := newTestServer(t, Manifest{Workflows: []Asset{{ID: "w", URL: files.URL + "/w", Dest: "comfyui/workflows/w.json", SHA256: sha256Hex(body)}}})

	st, err := c.Status(ctx)
	if err != nil || st.ComfyUI.Running || len(st.Assets) != 1 || st.Assets[0].Status != StatusMissing {
		t.Fatalf("status %+v %v", st, err)
	}
	in, err := c.Install(ctx)
	if err != nil || in.Status != "ok" || in.Assets[0].Status != StatusDownloaded {
		t.Fatalf("install %+v %v", in, err)
	}
	sa, err := c.Start(ctx)
	if err != nil || sa.Status != "queued" || sa.Message != MsgStarted || sa.PID <= 0 || sa.Logs.Stdout == "" {
		t.Fatalf("start %+v %v", sa, err)
	}
	waitFile(t, addrFile)
	if sa2, err := c.Start(ctx); err != nil || sa2.Message != MsgAlreadyRunning || sa2.PID != sa.PID {
		t.Fatalf("second start %+v %v", sa2, err)
	}
	st, err = c.Status(ctx)
	if err != nil || !st.ComfyUI.Running || st.ComfyUI.PID != sa.PID || st.ComfyUI.Responding == nil || !*st.ComfyUI.Responding {
		t.Fatalf("status running %+v %v", st, err)
	}
	if so, err := c.Stop(ctx); err != nil || so.Status != MsgStopped || so.PID != sa.PID {
		t.Fatalf("stop %+v %v", so, err)
	}
	if so, err := c.Stop(ctx); err != nil || so.Status != MsgNotRunning {
		t.Fatalf("second stop %+v %v", so, err)
	}
}

func TestServerAuthAndErrors(t *testing.T) {
	ctx := context.Background()
	files := newAssetServer(t, map[string][]byte{"/w": []byte("x")})
	c, p, _ := newTestServer(t, Manifest{Models: []Asset{{ID: "m", URL: files.URL + "/w", Dest: "m", SHA256: sha256Hex([]byte("y"))}}})

	hs := httptest.NewServer((&Server{APIKey: "secret", Proc: p}).Handler())
	defer hs.Close()
	for _, key := range []string{"", "wrong", "secre", "secret2"} {
		req, _ := http.NewRequest(http.MethodGet, hs.URL+PathInstallStatus, nil)
		req.Header.Set("x-api-key", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("key %q: HTTP %d", key, resp.StatusCode)
		}
	}
	bad, _ := NewClient(hs.URL, "wrong", nil)
	if _, err := bad.Status(ctx); reason.Code(err) != CodeUnauthorized {
		t.Fatalf("client with wrong key: %v", err)
	}

	// A hash mismatch is 422 with its reason code, and start does not run
	// ComfyUI on broken assets.
	_, err := c.Install(ctx)
	if reason.Code(err) != CodeHashMismatch || reason.FieldsOf(err)["http_status"] != 422 {
		t.Fatalf("install: %v %v", err, reason.FieldsOf(err))
	}
	if _, err := c.Start(ctx); reason.Code(err) != CodeHashMismatch {
		t.Fatalf("start: %v", err)
	}
	if p.Status(ctx, false).Running {
		t.Fatal("ComfyUI started on broken assets")
	}
	if _, err := os.Stat(filepath.Join(p.Layout.State(), "m")); !os.IsNotExist(err) {
		t.Fatal("unverified file under its final name")
	}
}

func TestHTTPStatusMapping(t *testing.T) {
	for code, want := range map[string]int{CodeInputNotFound: 404, CodeHashMismatch: 422, CodeUnsupportedFormat: 422, CodeDownloadFailed: 502, CodeWriteFailed: 507, "other": 500} {
		if got := HTTPStatus(reason.New(code, "x")); got != want {
			t.Errorf("%s: %d, want %d", code, got, want)
		}
	}
}
