package web

import (
	"context"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/localsupervisor/supervisor/pkg/forgejob"
	"github.com/localsupervisor/supervisor/pkg/svtest"
)

// TestForgeBrowserFlow drives the Forge panel in headless Chromium: health
// check, regen form post, progress polling that reloads the page when the
// job (run in-process against the fake Forge) finishes, preview images,
// accept as child and discard.
func TestForgeBrowserFlow(t *testing.T) {
	chromium := svtest.RequireTool(t, "chromium")
	e := newForgeEnv(t, okForge)
	ts := httptest.NewServer(e.h)
	defer ts.Close()

	profile, err := os.MkdirTemp("", "sv-forge-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		// Chromium helpers may still write for a moment after exit.
		for i := 0; i < 20 && os.RemoveAll(profile) != nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	}()
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true), chromedp.UserDataDir(profile), chromedp.WindowSize(1280, 1600))
	defer cancelA()
	bctx, cancelB := chromedp.NewContext(actx)
	defer cancelB()
	// Generous bound for a loaded shared machine.
	ctx, cancel := context.WithTimeout(bctx, 90*time.Second)
	defer cancel()
	start := time.Now()
	run := func(step string, actions ...chromedp.Action) {
		t.Helper()
		defer func() { t.Logf("%-28s done at %v", step, time.Since(start).Round(time.Millisecond)) }()
		if err := chromedp.Run(ctx, actions...); err != nil {
			var loc, panel string
			_ = chromedp.Run(ctx, chromedp.Location(&loc), chromedp.Evaluate(`(document.getElementById('forge-panel')||{}).innerText||''`, &panel))
			t.Fatalf("%s: %v (at %s)\npanel: %s", step, err, loc, panel)
		}
	}
	detail := ts.URL + "/media_view.php?id=" + strconv.FormatInt(e.imgID, 10)

	var health string
	run("login and health",
		chromedp.Navigate(ts.URL+"/login?next=/mediadb.php"),
		chromedp.WaitVisible(`#login-key`, chromedp.ByQuery),
		chromedp.SendKeys(`#login-key`, testKey, chromedp.ByQuery),
		chromedp.Click(`#login-submit`, chromedp.ByQuery),
		chromedp.WaitVisible(`#grid`, chromedp.ByQuery),
		chromedp.Navigate(detail),
		chromedp.WaitVisible(`#forge-regen-form`, chromedp.ByQuery),
		chromedp.Click(`#forge-health-btn`, chromedp.ByQuery),
		chromedp.Poll(`document.getElementById('forge-health-text').textContent.indexOf('Forge: ok') >= 0`, nil, chromedp.WithPollingTimeout(20*time.Second)),
		chromedp.Text(`#forge-health-text`, &health, chromedp.ByQuery),
	)
	if !strings.Contains(health, "ok") {
		t.Fatalf("health text %q", health)
	}

	var msg string
	run("regen form",
		chromedp.SetValue(`#forge-regen-form textarea[name=prompt]`, "a lighthouse on a rocky coast at sunset, dramatic clouds, detailed painting", chromedp.ByQuery),
		chromedp.SetValue(`#forge-regen-form input[name=variants]`, "2", chromedp.ByQuery),
		chromedp.SetValue(`#forge-regen-form select[name=gen]`, "txt2img", chromedp.ByQuery),
		chromedp.Click(`#forge-regen-btn`, chromedp.ByQuery),
		chromedp.WaitVisible(`#forge-msg`, chromedp.ByQuery),
		chromedp.Text(`#forge-msg`, &msg, chromedp.ByQuery),
		chromedp.WaitVisible(`.forge-job[data-live="true"] progress`, chromedp.ByQuery),
	)
	if !strings.Contains(msg, "queued") {
		t.Fatalf("enqueue message %q", msg)
	}

	// The worker runs while the page is open; its poller reloads the page
	// when the job is no longer live, and the previews appear.
	if s := e.runJobs(); s.Done != 1 {
		t.Fatalf("runner %+v", s)
	}
	var loaded bool
	run("previews after poll reload",
		chromedp.WaitVisible(`.forge-version[data-variant="2"] img`, chromedp.ByQuery),
		chromedp.Poll(`Array.from(document.querySelectorAll('.forge-version img')).every(function (i) { return i.complete && i.naturalWidth > 0; })`, &loaded, chromedp.WithPollingTimeout(20*time.Second)),
	)

	run("accept variant 1 as child",
		chromedp.Click(`.forge-version[data-variant="1"] .forge-accept-child`, chromedp.ByQuery),
		chromedp.WaitVisible(`.forge-version[data-variant="1"][data-accepted="child"]`, chromedp.ByQuery),
		chromedp.Text(`#forge-msg`, &msg, chromedp.ByQuery),
	)
	if !strings.Contains(msg, "accepted as child") {
		t.Errorf("accept message %q", msg)
	}
	run("discard variant 2",
		chromedp.Click(`.forge-version[data-variant="2"] .forge-discard`, chromedp.ByQuery),
		chromedp.WaitVisible(`.forge-version[data-variant="2"][data-accepted="discarded"]`, chromedp.ByQuery),
	)

	var jobID int64
	if err := e.db.QueryRow(`SELECT id FROM jobs WHERE type = 'forge_regen' AND media_id = ?`, e.imgID).Scan(&jobID); err != nil {
		t.Fatal(err)
	}
	vs := e.versions(jobID)
	if vs[0].AcceptedAs != forgejob.AcceptChild || vs[0].ChildMediaID == 0 || vs[1].AcceptedAs != forgejob.AcceptDiscarded {
		t.Errorf("versions %+v", vs)
	}
	if _, err := os.Stat(vs[1].Path); !os.IsNotExist(err) {
		t.Error("discarded preview still on disk")
	}
	var parent int64
	if err := e.db.QueryRow(`SELECT parent_media_id FROM media WHERE id = ?`, vs[0].ChildMediaID).Scan(&parent); err != nil || parent != e.imgID {
		t.Errorf("child media parent %d (%v)", parent, err)
	}
}
