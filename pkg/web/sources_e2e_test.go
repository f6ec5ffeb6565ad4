package web

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/localsupervisor/supervisor/pkg/sources"
	"github.com/localsupervisor/supervisor/pkg/svtest/browsertest"
)

// TestSourcesDashboardBrowser: in headless Chromium the dashboard shows two
// library sources with counts and buttons (screenshot sources-dashboard.png
// under SV_ARTIFACTS_DIR/web-e2e), "Remove…" opens the confirmation page
// saying no file is deleted, and confirming removes the row from the list.
func TestSourcesDashboardBrowser(t *testing.T) {
	f := newFixture(t)
	inPlace := filepath.Join(f.base, "Pictures", "ComfyUI output")
	copied := filepath.Join(f.base, "Downloads", "forge batch")
	f.addSourceMedia(inPlace, sources.ModeInPlace, "a.png", "b.png", "c.png")
	f.addSourceMedia(copied, sources.ModeCopy)
	if err := sources.SetWatch(context.Background(), f.db, f.sourceID(inPlace), true); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(f.h)
	t.Cleanup(ts.Close)
	shots := artifactsDir(t)

	ctx := browsertest.Start(t, browsertest.Options{Timeout: 90 * time.Second})
	shot := func(name string) chromedp.Action {
		return chromedp.ActionFunc(func(ctx context.Context) error {
			var buf []byte
			if err := chromedp.FullScreenshot(&buf, 100).Do(ctx); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name+".png"), buf, 0o644)
		})
	}
	var rows int
	var confirmText, afterRows, removeHref string
	// Each navigation is its own step, and the reads after one retry on a
	// stale node: a query can resolve a node of the document that the
	// navigation is replacing ("No node with given id found", seen under
	// -race on a loaded machine).
	run := func(step string, actions ...chromedp.Action) {
		t.Helper()
		if err := runFresh(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	run("dashboard",
		chromedp.Navigate(ts.URL+"/login?next=/index.php"),
		chromedp.WaitVisible(`#login-key`, chromedp.ByQuery),
		chromedp.SendKeys(`#login-key`, testKey, chromedp.ByQuery),
		chromedp.Click(`#login-submit`, chromedp.ByQuery),
	)
	run("sources section",
		chromedp.WaitVisible(`#sources-table`, chromedp.ByQuery),
		chromedp.ScrollIntoView(`#sources`, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll('#sources-table tr[data-source]').length`, &rows),
		chromedp.Evaluate(`document.querySelector('tr[data-source] a[data-act="remove"]').href`, &removeHref),
		shot("sources-dashboard"),
	)
	// The Remove link is followed as a click would (its href); clicking a
	// node the dashboard's poller may have just swapped is what flaked.
	run("remove page", chromedp.Navigate(removeHref))
	run("remove confirmation",
		chromedp.WaitVisible(`#remove-confirm`, chromedp.ByQuery),
		chromedp.Text(`#source-remove`, &confirmText, chromedp.ByQuery),
		shot("sources-remove-confirm"),
	)
	run("confirm", chromedp.Click(`#remove-confirm`, chromedp.ByQuery))
	run("after removal",
		chromedp.WaitVisible(`#dash-msg`, chromedp.ByQuery),
		chromedp.Evaluate(`Array.from(document.querySelectorAll('#sources-table tr[data-source] td.mono')).map(td => td.textContent).join('|')`, &afterRows),
	)
	if rows != 2 {
		t.Fatalf("dashboard shows %d sources, want 2", rows)
	}
	if !strings.Contains(confirmText, "No file is deleted") {
		t.Fatalf("confirmation text %q", confirmText)
	}
	// Rows are in path order: the Downloads source was first and is gone.
	if afterRows != inPlace {
		t.Fatalf("sources after removal %q, want only %s", afterRows, inPlace)
	}
}

// runFresh runs read-only or idempotent actions, repeating them (up to
// three times) when a node they found was replaced under them by a
// navigation or a live update.
func runFresh(ctx context.Context, actions ...chromedp.Action) error {
	var err error
	for try := 0; try < 3; try++ {
		if err = chromedp.Run(ctx, actions...); err == nil || !strings.Contains(err.Error(), "No node with given id") {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
	return err
}
