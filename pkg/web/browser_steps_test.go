package web

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browserSteps is the shared harness of the browser tests: one Chromium
// tab, a step runner that names the failing step and the page it was on,
// and full-page screenshots under SV_ARTIFACTS_DIR (prefixed per test) so
// a person can look at what the test saw.
type browserSteps struct {
	t       *testing.T
	ctx     context.Context
	shots   string
	prefix  string
	Dialogs []string // messages of the JavaScript dialogs accepted so far
}

func newBrowserSteps(t *testing.T, timeout time.Duration, prefix string) *browserSteps {
	t.Helper()
	b := &browserSteps{t: t, shots: artifactsDir(t), prefix: prefix}
	b.ctx = startChromium(t, timeout, &b.Dialogs)
	return b
}

// Run runs the actions as one named step and stops the test on failure.
func (b *browserSteps) Run(step string, actions ...chromedp.Action) {
	b.t.Helper()
	if err := chromedp.Run(b.ctx, actions...); err != nil {
		var loc string
		_ = chromedp.Run(b.ctx, chromedp.Location(&loc))
		b.t.Fatalf("%s: %v (at %s)", step, err, loc)
	}
}

// Shot saves a full-page screenshot named <prefix>-<name>.png.
func (b *browserSteps) Shot(name string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		var buf []byte
		if err := chromedp.FullScreenshot(&buf, 100).Do(ctx); err != nil { // quality 100: PNG
			return err
		}
		return os.WriteFile(filepath.Join(b.shots, b.prefix+"-"+name+".png"), buf, 0o644)
	})
}

// Eval evaluates a JavaScript expression into out as one step.
func (b *browserSteps) Eval(step, js string, out any) {
	b.t.Helper()
	b.Run(step, chromedp.Evaluate(js, out))
}

// Login signs in with the test key and waits for the page at next to
// show sel.
func (b *browserSteps) Login(baseURL, next, sel string) {
	b.t.Helper()
	b.Run("login",
		chromedp.Navigate(baseURL+"/login?next="+next),
		chromedp.WaitVisible(`#login-key`, chromedp.ByQuery),
		chromedp.SendKeys(`#login-key`, testKey, chromedp.ByQuery),
		chromedp.Click(`#login-submit`, chromedp.ByQuery),
		chromedp.WaitVisible(sel, chromedp.ByQuery),
	)
}

// queryInt is the single integer a test query answers (a count, an id).
func queryInt(t testing.TB, d *sql.DB, q string, args ...any) int64 {
	t.Helper()
	var v int64
	if err := d.QueryRow(q, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return v
}
