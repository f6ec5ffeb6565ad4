//go:build !windows

package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/localsupervisor/supervisor/pkg/svtest"
	"github.com/localsupervisor/supervisor/pkg/vidax"
)

// fakeVidax is the real vidax server in-process, managing the fake ComfyUI
// test program, with one workflow asset served by a local file server.
func fakeVidax(t *testing.T, assetSHA func(body []byte) string) (baseURL string, proc *vidax.Process) {
	t.Helper()
	body := []byte(`{"nodes":[]}`)
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) }))
	t.Cleanup(files.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	comfyAddr := ln.Addr().String()
	ln.Close()
	root := t.TempDir()
	bin := svtest.BuildBinary(t, "./pkg/vidax/testdata/fakecomfy")
	proc = &vidax.Process{Layout: vidax.Layout{Root: root}, Grace: time.Second, EarlyExit: 50 * time.Millisecond,
		Comfy: vidax.ComfyConfig{Command: []string{bin, "--listen", comfyAddr, "--addr-file", filepath.Join(root, "addr")}, URL: "http://" + comfyAddr + "/"}}
	m := &vidax.Manifest{Workflows: []vidax.Asset{{ID: "basic", URL: files.URL + "/basic.json", Dest: "comfyui/workflows/basic.json", SHA256: assetSHA(body)}}}
	srv := &vidax.Server{APIKey: "vkey", Proc: proc, Installer: func() (*vidax.Installer, error) {
		return &vidax.Installer{Layout: proc.Layout, Manifest: m}, nil
	}}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	t.Cleanup(func() { proc.Stop(context.Background()) })
	return hs.URL + "/", proc
}

func shaOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestComfyCardThroughVidax(t *testing.T) {
	base, proc := fakeVidax(t, shaOf)
	c := comfyAdmin(t, map[string]any{"enabled": true, "vidax_url": base, "vidax_api_key": "vkey"})
	act := func(action, wantCode string) {
		t.Helper()
		rec := c.post("/comfyui/action", url.Values{"action": {action}}, true)
		if rec.Code != http.StatusSeeOther || !strings.Contains(rec.Header().Get("Location"), "msg="+wantCode) {
			t.Fatalf("%s: %d %q %s", action, rec.Code, rec.Header().Get("Location"), rec.Body.String())
		}
	}
	card := section(c.dashboard(), "comfyui")
	for _, w := range []string{`data-via="vidax"`, `class="svc-down"`, `data-asset="workflow/basic"`, vidax.StatusMissing, `id="comfy-install"`, `id="comfy-start"`, `id="comfy-stop"`, "comfyui.out.log"} {
		if !strings.Contains(card, w) {
			t.Fatalf("card lacks %q:\n%s", w, card)
		}
	}
	act("install", "comfy_installed")
	if card := section(c.dashboard(), "comfyui"); !strings.Contains(card, vidax.StatusPresent) {
		t.Fatalf("asset not present after install:\n%s", card)
	}
	act("start", "comfy_started")
	st := proc.Status(context.Background(), false)
	if !st.Running {
		t.Fatal("ComfyUI not running after start")
	}
	card = section(c.dashboard(), "comfyui")
	if !strings.Contains(card, `class="svc-ok"`) || !strings.Contains(card, `id="comfy-pid">`+itoa(st.PID)) {
		t.Fatalf("card after start:\n%s", card)
	}
	act("start", "comfy_already_running")
	act("stop", "comfy_stopped")
	if proc.Status(context.Background(), false).Running {
		t.Fatal("ComfyUI still running after stop")
	}
	act("stop", "comfy_not_running")

	// A wrong key: the card and the buttons say so, no 500.
	setComfy(c.f, map[string]any{"enabled": true, "vidax_url": base, "vidax_api_key": "wrong"})
	if card := section(c.dashboard(), "comfyui"); !strings.Contains(card, `data-reason="vidax_unauthorized"`) {
		t.Fatalf("card with a wrong key:\n%s", card)
	}
	act("start", "vidax_unauthorized")
	if proc.Status(context.Background(), false).Running {
		t.Fatal("started with a wrong key")
	}
}

func TestComfyInstallRefusedByVidax(t *testing.T) {
	base, proc := fakeVidax(t, func([]byte) string { return shaOf([]byte("something else")) })
	c := comfyAdmin(t, map[string]any{"enabled": true, "vidax_url": base, "vidax_api_key": "vkey"})
	for _, action := range []string{"install", "start"} {
		rec := c.post("/comfyui/action", url.Values{"action": {action}}, true)
		if rec.Code != http.StatusSeeOther || !strings.Contains(rec.Header().Get("Location"), "msg="+vidax.CodeHashMismatch) {
			t.Fatalf("%s: %d %q", action, rec.Code, rec.Header().Get("Location"))
		}
	}
	if proc.Status(context.Background(), false).Running {
		t.Fatal("ComfyUI started on an unverified asset")
	}
	page := c.do("GET", "/index.php?msg="+vidax.CodeHashMismatch, nil).Body.String()
	if !strings.Contains(page, "SHA-256") || !strings.Contains(section(page, "comfyui"), `id="comfy-last-code"`) {
		t.Fatalf("no sentence/code for the refusal:\n%s", section(page, "comfyui"))
	}
}

// TestComfyCardBrowser clicks the dashboard card's buttons in Chromium as an
// admin does: install the assets, start ComfyUI (the fake program, managed
// by the real vidax server), see it running, stop it.
func TestComfyCardBrowser(t *testing.T) {
	base, proc := fakeVidax(t, shaOf)
	f := newFixture(t)
	setComfy(f, map[string]any{"enabled": true, "vidax_url": base, "vidax_api_key": "vkey"})
	ts := httptest.NewServer(f.h)
	defer ts.Close()
	b := newBrowserSteps(t, 90*time.Second, "comfycard")
	b.Login(ts.URL, "/index.php", `#comfyui`)
	b.Run("install",
		b.Shot("01-stopped"),
		chromedp.Click(`#comfy-install`, chromedp.ByQuery),
		chromedp.WaitVisible(`#comfyui [data-asset="workflow/basic"]`, chromedp.ByQuery),
	)
	var card string
	b.Run("start", chromedp.Click(`#comfy-start`, chromedp.ByQuery),
		chromedp.WaitVisible(`#comfyui .svc-ok`, chromedp.ByQuery),
		chromedp.Text(`#comfyui`, &card, chromedp.ByQuery),
		b.Shot("02-running"))
	st := proc.Status(context.Background(), false)
	if !st.Running || !strings.Contains(card, itoa(st.PID)) {
		t.Fatalf("after Start: running %v, card %q", st.Running, card)
	}
	b.Run("stop", chromedp.Click(`#comfy-stop`, chromedp.ByQuery),
		chromedp.WaitVisible(`#comfyui .svc-down`, chromedp.ByQuery),
		b.Shot("03-stopped-again"))
	if proc.Status(context.Background(), false).Running {
		t.Fatal("ComfyUI still running after Stop")
	}
}
