// Package browsertest starts the real headless Chromium the browser tests
// drive with chromedp (Debian's chromium, which .ci/run installs).
package browsertest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/localsupervisor/supervisor/pkg/svtest"
)

// Options size one browser.
type Options struct {
	// Timeout bounds everything the test does in the browser.
	Timeout time.Duration
	// Width and Height are the window size (default 1280×900).
	Width, Height int
}

// Start launches Chromium for one test and returns its context, bounded
// by o.Timeout; the browser stops and its profile is removed when the test
// ends. It skips (or fails under SV_REQUIRE_TOOLS=1) without chromium.
// The flags keep it off the network (this machine's closed network
// refuses Chromium's background connections) and out of /dev/shm. The
// browser is started here, under the returned context, so a test may run
// steps under shorter contexts derived from it without closing the tab.
func Start(tb testing.TB, o Options) context.Context {
	tb.Helper()
	chromium := svtest.RequireTool(tb, "chromium")
	if o.Width == 0 {
		o.Width, o.Height = 1280, 900
	}
	// Chromium's helpers may still write into the profile for a moment
	// after it exits, so it is removed best-effort, not by TempDir.
	profile, err := os.MkdirTemp("", "sv-browser-")
	if err != nil {
		tb.Fatal(err)
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), chromedp.ExecPath(chromium), chromedp.Headless,
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("mute-audio", true),
		chromedp.UserDataDir(profile), chromedp.WindowSize(o.Width, o.Height))
	bctx, cancelB := chromedp.NewContext(actx)
	ctx, cancel := context.WithTimeout(bctx, o.Timeout)
	tb.Cleanup(func() {
		cancel()
		cancelB()
		cancelA()
		for i := 0; i < 20 && os.RemoveAll(profile) != nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	})
	if err := chromedp.Run(ctx); err != nil {
		tb.Fatalf("start chromium: %v", err)
	}
	return ctx
}
