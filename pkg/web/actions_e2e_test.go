package web

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/localsupervisor/supervisor/pkg/svtest/browsertest"
)

// startChromium starts headless Chromium for one test and returns its
// context, bounded by timeout; every JavaScript dialog (confirm) is
// accepted and its message recorded in *dialogs.
func startChromium(t *testing.T, timeout time.Duration, dialogs *[]string) context.Context {
	t.Helper()
	ctx := browsertest.Start(t, browsertest.Options{Timeout: timeout, Width: 1280, Height: 1000})
	chromedp.ListenTarget(ctx, func(ev any) {
		if d, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			*dialogs = append(*dialogs, d.Message)
			go func() { _ = chromedp.Run(ctx, page.HandleJavaScriptDialog(true)) }()
		}
	})
	return ctx
}

// TestBrowserActionsFeedback drives the dashboard and the detail page in
// Chromium: with the services off (the defaults) the actions that need
// them are disabled with the reason beside them, clicking does nothing
// and nothing is queued, and a POST by hand is refused with the sentence;
// with the tagger on, "Rescan library" answers with a toast and queues the
// library rescan; the import form sends the chosen mode and asks before a
// move.
func TestBrowserActionsFeedback(t *testing.T) {
	off := newActionEnv(t)
	on := newActionEnv(t, ServiceTagger)
	offSrv, onSrv := httptest.NewServer(off.h), httptest.NewServer(on.h)
	t.Cleanup(offSrv.Close)
	t.Cleanup(onSrv.Close)
	var dialogs []string
	ctx := startChromium(t, 120*time.Second, &dialogs)
	shots := artifactsDir(t)
	shot := func(name string) chromedp.Action {
		return chromedp.ActionFunc(func(ctx context.Context) error {
			var buf []byte
			// Quality 100 makes a PNG (below, chromedp encodes JPEG).
			if err := chromedp.FullScreenshot(&buf, 100).Do(ctx); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, "actions-"+name+".png"), buf, 0o644)
		})
	}
	run := func(step string, actions ...chromedp.Action) {
		t.Helper()
		if err := chromedp.Run(ctx, actions...); err != nil {
			var loc string
			_ = chromedp.Run(ctx, chromedp.Location(&loc))
			t.Fatalf("%s: %v (at %s)", step, err, loc)
		}
	}
	login := func(base string) chromedp.Action {
		return chromedp.Tasks{
			chromedp.Navigate(base + "/login?next=/index.php"),
			chromedp.WaitVisible(`#login-key`, chromedp.ByQuery),
			chromedp.SendKeys(`#login-key`, testKey, chromedp.ByQuery),
			chromedp.Click(`#login-submit`, chromedp.ByQuery),
			chromedp.WaitVisible(`#import-form`, chromedp.ByQuery),
		}
	}
	jobCount := func(e *actionEnv) int {
		var n int
		if err := e.db.QueryRow(`SELECT count(*) FROM jobs`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// 1. Services off: disabled with the reason; a click changes nothing.
	var reason, disabled, toasts, byHand string
	run("dashboard, tagger off", login(offSrv.URL),
		chromedp.Text(`#tagger-off`, &reason, chromedp.ByQuery),
		chromedp.Evaluate(`String(document.getElementById('rescan-library').disabled)`, &disabled),
		shot("01-dashboard-services-off"),
		chromedp.Click(`#rescan-library`, chromedp.ByQuery),
		chromedp.Sleep(500*time.Millisecond),
		chromedp.Evaluate(`String(document.querySelectorAll('.toast').length)`, &toasts),
	)
	if !strings.Contains(reason, "Tagging is off: set scanner.enabled to true in CONFIG/config.json") || disabled != "true" || toasts != "0" {
		t.Fatalf("reason %q disabled %s toasts %s", reason, disabled, toasts)
	}
	// Posted by hand anyway: refused with the sentence, nothing queued.
	run("post by hand", chromedp.Evaluate(`SuperVisor.post('/index.php', {action: 'rescan_library'}).then(function (r) { return r.ok + ' ' + r.error; })`,
		&byHand, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
	if !strings.HasPrefix(byHand, "false Tagging is off") || jobCount(off) != 0 {
		t.Fatalf("by hand: %q, %d jobs", byHand, jobCount(off))
	}
	var olReason, forgeReason string
	run("detail, services off",
		chromedp.Navigate(offSrv.URL+"/media_view.php?id="+itoa(int(off.imgID))),
		chromedp.WaitVisible(`#actions`, chromedp.ByQuery),
		chromedp.Click(`#analyze-btn`, chromedp.ByQuery),
		chromedp.Click(`#rescan-btn`, chromedp.ByQuery),
		chromedp.Sleep(500*time.Millisecond),
		chromedp.Text(`#ollama-off-action`, &olReason, chromedp.ByQuery),
		chromedp.Text(`#forge-off`, &forgeReason, chromedp.ByQuery),
		chromedp.Evaluate(`String(document.querySelectorAll('.toast').length)`, &toasts),
		shot("02-detail-services-off"),
	)
	if !strings.Contains(olReason, "Ollama is off") || !strings.Contains(forgeReason, "Forge is off") || toasts != "0" || jobCount(off) != 0 {
		t.Fatalf("detail: %q %q toasts %s jobs %d", olReason, forgeReason, toasts, jobCount(off))
	}
	if w, s := off.starts(); len(w) != 0 || s != 0 {
		t.Fatalf("started %v and %d services with everything off", w, s)
	}

	// 2. Tagger on: "Rescan library" answers with a toast.
	var toast string
	run("rescan library", login(onSrv.URL),
		chromedp.Click(`#rescan-library`, chromedp.ByQuery),
		chromedp.WaitVisible(`.toast`, chromedp.ByQuery),
		chromedp.Text(`.toast`, &toast, chromedp.ByQuery),
		shot("03-dashboard-rescan-toast"),
	)
	if !strings.Contains(toast, "Library rescan started (job #") {
		t.Fatalf("toast %q", toast)
	}
	var mode string
	if err := on.db.QueryRow(`SELECT json_extract(payload_json, '$.mode') FROM jobs WHERE type = 'scan_backfill_tags'`).Scan(&mode); err != nil || mode != "all" {
		t.Fatalf("rescan job mode %q %v", mode, err)
	}

	// 3. Import: copy goes straight through; move asks first.
	inbox := filepath.Join(on.base, "inbox")
	if err := os.MkdirAll(inbox, 0o755); err != nil {
		t.Fatal(err)
	}
	var banner string
	run("import copy",
		chromedp.Navigate(onSrv.URL+"/index.php"),
		chromedp.WaitVisible(`#import-form`, chromedp.ByQuery),
		chromedp.SendKeys(`#scan-path`, inbox, chromedp.ByQuery),
		chromedp.Click(`#mode-copy`, chromedp.ByQuery),
		shot("04-import-form-copy"),
		chromedp.Click(`#import-submit`, chromedp.ByQuery),
		chromedp.WaitVisible(`#dash-msg`, chromedp.ByQuery),
		chromedp.Text(`#dash-msg`, &banner, chromedp.ByQuery),
	)
	if !strings.Contains(banner, "copied into the library") || len(dialogs) != 0 {
		t.Fatalf("copy banner %q, dialogs %v", banner, dialogs)
	}
	// A second import of the same folder while the first waits is joined
	// (dedupe), so the move uses its own folder.
	inbox2 := filepath.Join(on.base, "inbox2")
	if err := os.MkdirAll(inbox2, 0o755); err != nil {
		t.Fatal(err)
	}
	run("import move",
		chromedp.Navigate(onSrv.URL+"/index.php"),
		chromedp.WaitVisible(`#import-form`, chromedp.ByQuery),
		chromedp.SendKeys(`#scan-path`, inbox2, chromedp.ByQuery),
		chromedp.Click(`#mode-move`, chromedp.ByQuery),
		// The confirm dialog blocks the page: click from a timer so the
		// evaluation returns first, then wait for the reloaded page.
		chromedp.Evaluate(`setTimeout(function () { document.getElementById('import-submit').click(); }, 0)`, nil),
	)
	// The page navigates under the browser's feet; a query racing it is
	// retried.
	for i := 0; ; i++ {
		err := chromedp.Run(ctx, chromedp.WaitVisible(`#dash-msg`, chromedp.ByQuery), chromedp.Text(`#dash-msg`, &banner, chromedp.ByQuery))
		if err == nil || i == 20 {
			if err != nil {
				t.Fatalf("move banner: %v", err)
			}
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	run("move shot", shot("05-import-moved"))
	if !strings.Contains(banner, "moved into the library") {
		t.Fatalf("move banner %q", banner)
	}
	if len(dialogs) != 1 || !strings.Contains(dialogs[0], "leave their folder") {
		t.Fatalf("move confirmation dialogs %v", dialogs)
	}
	rows, err := on.db.Query(`SELECT json_extract(payload_json, '$.path'), json_extract(payload_json, '$.mode') FROM jobs WHERE type = 'scan_path' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var p, m string
		rows.Scan(&p, &m)
		got = append(got, filepath.Base(p)+"="+m)
	}
	if strings.Join(got, ",") != "inbox=copy,inbox2=move" {
		t.Fatalf("scan_path jobs %v", got)
	}
	t.Logf("screenshots in %s", shots)
}
