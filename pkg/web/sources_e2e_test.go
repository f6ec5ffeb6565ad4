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
	var confirmText, afterRows string
	if err := chromedp.Run(ctx,
		chromedp.Navigate(ts.URL+"/login?next=/index.php"),
		chromedp.WaitVisible(`#login-key`, chromedp.ByQuery),
		chromedp.SendKeys(`#login-key`, testKey, chromedp.ByQuery),
		chromedp.Click(`#login-submit`, chromedp.ByQuery),
		chromedp.WaitVisible(`#sources-table`, chromedp.ByQuery),
		chromedp.ScrollIntoView(`#sources`, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll('#sources-table tr[data-source]').length`, &rows),
		shot("sources-dashboard"),
		chromedp.Click(`tr[data-source] a[data-act="remove"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#remove-confirm`, chromedp.ByQuery),
		chromedp.Text(`#source-remove`, &confirmText, chromedp.ByQuery),
		shot("sources-remove-confirm"),
		chromedp.Click(`#remove-confirm`, chromedp.ByQuery),
		chromedp.WaitVisible(`#dash-msg`, chromedp.ByQuery),
		chromedp.Evaluate(`Array.from(document.querySelectorAll('#sources-table tr[data-source] td.mono')).map(td => td.textContent).join('|')`, &afterRows),
	); err != nil {
		t.Fatal(err)
	}
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
