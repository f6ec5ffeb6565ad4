package web

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/localsupervisor/supervisor/pkg/catalog"
	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/media"
)

// waitJS polls a JavaScript expression until it is true.
func waitJS(expr string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		var last any
		for range 200 {
			var ok bool
			if err := chromedp.Evaluate(`!!(`+expr+`)`, &ok).Do(ctx); err == nil && ok {
				return nil
			}
			time.Sleep(50 * time.Millisecond)
		}
		_ = chromedp.Evaluate(expr, &last).Do(ctx)
		return fmt.Errorf("never true: %s (last %v)", expr, last)
	})
}

// TestBrowserLightbox: in Chromium, open the lightbox from a filtered list
// (images only) with the keyboard, flip forward across the list's first
// keyset page into the second (fetched by its cursor, not the whole list)
// and back, every media shown being an image in the list's order; zoom
// toggles between fit and 100 %; the info overlay shows the prompt; the
// copy keys put the A1111 parameters and the prompt on the clipboard.
// It also measures the bytes moved per flip with preloading.
func TestBrowserLightbox(t *testing.T) {
	env := newE2E(t)
	ctx := context.Background()
	want, err := db.QueryIDs(ctx, env.db, `SELECT id FROM media WHERE type = 'image' ORDER BY id DESC`)
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowserSteps(t, 120*time.Second, "lightbox")
	start := time.Now()
	defer func() { t.Logf("took %s", time.Since(start)) }()
	b.Run("clipboard permission", browser.GrantPermissions([]browser.PermissionType{browser.PermissionTypeClipboardReadWrite,
		browser.PermissionTypeClipboardSanitizedWrite}).WithOrigin(env.url))
	b.Login(env.url, "/mediadb.php?type=image", `#grid .card[data-id]`)
	// Infinite scroll loads pages while the sentinel is in view; wait
	// until it rests, then the lightbox must fetch the page after the
	// loaded cards by itself.
	var n int
	b.Run("scroll rests", chromedp.ActionFunc(func(ctx context.Context) error {
		// Rests: the same number of cards for a second.
		last, same := -1, 0
		for same < 10 {
			var c int
			if err := chromedp.Evaluate(`document.querySelectorAll('#grid .card[data-id]').length`, &c).Do(ctx); err != nil {
				return err
			}
			if c == last {
				same++
			} else {
				last, same = c, 0
			}
			time.Sleep(100 * time.Millisecond)
		}
		return nil
	}))
	var next string
	b.Eval("cards", `document.querySelectorAll('#grid .card[data-id]').length`, &n)
	b.Eval("next", `document.getElementById('grid').dataset.next`, &next)
	if n <= 0 || n >= len(want) || next == "" {
		t.Fatalf("%d cards loaded (next %q) before the lightbox opens: want a next page left to fetch", n, next)
	}
	// The first media of the page not yet loaded gets full parameters.
	target := want[n]
	cfg, steps, w, h := 6.5, int64(28), int64(24), int64(16)
	if _, err := media.SavePrompt(ctx, env.db, target, media.Prompt{Prompt: "a red fox in snow", NegativePrompt: "blurry, lowres",
		Model: "foxXL", Sampler: "DPM++ 2M", Scheduler: "Karras", CFGScale: &cfg, Steps: &steps, Seed: "4242", Width: &w, Height: &h},
		media.PromptSourceImport, "", time.Now()); err != nil {
		t.Fatal(err)
	}
	p, err := catalog.CurrentPrompt(ctx, env.db, target)
	if err != nil || p == nil {
		t.Fatalf("prompt: %v", err)
	}
	hash, _ := catalog.ModelHash(ctx, env.db, target)
	wantParams := catalog.A1111Text(*p, hash)

	shown := func() string {
		var id string
		b.Eval("shown", `document.getElementById('lightbox').dataset.id + ''`, &id)
		return id
	}
	// Waits until the lightbox shows media id with its file loaded.
	showing := func(id int64) chromedp.Action {
		return waitJS(fmt.Sprintf(`(function(){var l=document.getElementById('lightbox'), m=l&&l.querySelector('.lb-el');
			return l && !l.hidden && l.dataset.id==='%d' && m && m.dataset.id==='%d' && m.complete && m.naturalWidth>0})()`, id, id))
	}
	b.Run("open with v",
		chromedp.Focus(`#grid .card[data-id]`, chromedp.ByQuery),
		chromedp.KeyEvent("v"),
		showing(want[0]),
		b.Shot("00-open"),
	)
	// Forward to the last loaded card, then one more: the next page comes
	// by its keyset cursor. Every media shown is the list's next.
	b.Run("clear timings", chromedp.Evaluate(`performance.clearResourceTimings(); performance.setResourceTimingBufferSize(1000)`, nil))
	for i := 1; i <= n; i++ {
		b.Run(fmt.Sprintf("flip %d", i), chromedp.KeyEvent(kb.ArrowRight), showing(want[i]))
	}
	var bytes struct {
		Total   float64
		Files   float64
		Infos   float64
		Streams int
		Dups    int
		Pages   int
	}
	b.Eval("bytes per flip", `(function(){var e=performance.getEntriesByType('resource'), seen={}, o={Total:0,Files:0,Infos:0,Streams:0,Dups:0,Pages:0};
		e.forEach(function(r){o.Total+=r.transferSize; if(r.name.indexOf('/api/media/info')>=0)o.Infos+=r.transferSize;
		if(r.name.indexOf('/media_stream.php')>=0){o.Streams++; o.Files+=r.transferSize; if(seen[r.name])o.Dups++; seen[r.name]=1}
		if(r.name.indexOf('/api/media?')>=0)o.Pages++}); return o})()`, &bytes)
	flips := float64(n)
	t.Logf("FIGURE bytes per flip (preloading on): %.0f B = file %.0f B + info JSON %.0f B + rest (%d file requests for %d flips, %d fetched twice, %d list pages fetched)",
		bytes.Total/flips, bytes.Files/flips, bytes.Infos/flips, bytes.Streams, n, bytes.Dups, bytes.Pages)
	if bytes.Dups != 0 {
		t.Fatalf("%d media files were downloaded twice: the preload is not reused", bytes.Dups)
	}
	if bytes.Pages != 1 {
		t.Fatalf("%d list pages fetched for one page boundary", bytes.Pages)
	}
	var loaded int
	b.Eval("cards after", `document.querySelectorAll('#grid .card[data-id]').length`, &loaded)
	if loaded != n+e2ePageSize && loaded != len(want) {
		t.Fatalf("%d cards loaded after crossing one page boundary: want the next page, not the whole list", loaded)
	}
	b.Run("back and forth", chromedp.KeyEvent(kb.ArrowLeft), showing(want[n-1]),
		chromedp.KeyEvent(kb.ArrowRight), showing(want[n]))
	if got := shown(); got != fmt.Sprint(target) {
		t.Fatalf("after ← the lightbox shows %s, want %d", got, target)
	}
	// Every id shown was an image of the list: the video never appears.
	if fmt.Sprint(env.videoID) == shown() {
		t.Fatal("the video (outside the filter) was shown")
	}

	// Zoom: f toggles fit and 100 %, + zooms in.
	var zoom []string
	for _, k := range []string{"f", "f", "+"} {
		var z string
		b.Run("zoom "+k, chromedp.KeyEvent(k), chromedp.Evaluate(`document.getElementById('lb-stage').dataset.zoom+':'+document.getElementById('lb-stage').dataset.scale`, &z))
		zoom = append(zoom, z)
	}
	if !strings.HasPrefix(zoom[0], "100:1.000") || !strings.HasPrefix(zoom[1], "fit:") || zoom[1] == "fit:1.000" || !strings.HasPrefix(zoom[2], "custom:") {
		t.Fatalf("zoom states %v, want 100 %% then fit (scaled) then zoomed", zoom)
	}
	b.Run("fit again", chromedp.KeyEvent("f"))

	// The info overlay (i) shows the prompt and the parameters.
	var overlay string
	b.Run("info overlay",
		chromedp.KeyEvent("i"),
		chromedp.WaitVisible(`#lb-info .lb-prompt`, chromedp.ByQuery),
		chromedp.Text(`#lb-info`, &overlay, chromedp.ByQuery),
		b.Shot("01-info"),
	)
	if !strings.Contains(overlay, "a red fox in snow") || !strings.Contains(overlay, "DPM++ 2M") || !strings.Contains(overlay, "blurry, lowres") {
		t.Fatalf("overlay %q", overlay)
	}
	// ? lists the keys of the page grouped by scope.
	var help string
	b.Run("help key", chromedp.KeyEvent("?"))
	b.Run("help shown", waitJS(`document.getElementById('key-help') && !document.getElementById('key-help').hidden`))
	b.Run("help text", chromedp.Evaluate(`document.getElementById("key-help").innerText`, &help))
	b.Run("help shot", viewportShot(b, "02-help"))
	b.Run("help close", chromedp.KeyEvent(kb.Escape))
	for _, w := range []string{"Lightbox", "List (focused card)", "Copy full parameters (A1111 text)", "Zoom: fit / 100 %", "Select the focused card"} {
		if !strings.Contains(strings.ToLower(help), strings.ToLower(w)) { // headings are upper case
			t.Fatalf("help misses %q: %q", w, help)
		}
	}
	if !strings.Contains(wantParams, "Negative prompt: blurry, lowres\nSteps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 4242, Size: 24x16") {
		t.Fatalf("A1111 text %q", wantParams)
	}
	// Copy: g the full parameters, p the prompt (clipboard, or the
	// fallback textarea where the Clipboard API is refused).
	copied := func(key, want string) {
		t.Helper()
		var got string
		b.Run("copy "+key, chromedp.KeyEvent(key), waitJS(`document.querySelector('.toast')`),
			chromedp.Evaluate(`navigator.clipboard.readText().catch(function(){ var t=document.getElementById('sv-copy-buffer'); return t ? t.value : ''; })`,
				&got, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
		if got != want {
			t.Fatalf("%s copied %q, want %q", key, got, want)
		}
		b.Run("toasts away", chromedp.Evaluate(`document.querySelectorAll('.toast').forEach(function(t){t.remove()})`, nil))
	}
	copied("g", wantParams)
	copied("p", "a red fox in snow")
	copied("s", "4242")
	b.Run("close", chromedp.KeyEvent(kb.Escape), waitJS(`document.getElementById('lightbox').hidden`))

	// The same keys on the list's focused card (the lightbox left the
	// focus on the card it showed last): k keeps, a toggles 18+.
	card := fmt.Sprintf(`document.querySelector('#grid .card[data-id="%d"]')`, target)
	b.Run("list keys",
		waitJS(`document.activeElement === `+card),
		chromedp.KeyEvent("k"), waitJS(card+`.classList.contains('checked')`),
		chromedp.KeyEvent("a"), waitJS(card+`.dataset.adult === '1'`),
		chromedp.KeyEvent("a"), waitJS(`!`+card+`.dataset.adult`),
	)
	var checkedMark string
	var nsfw, audits int
	if err := env.db.QueryRow(`SELECT COALESCE((SELECT meta_value FROM media_meta WHERE media_id = ?1 AND meta_key = 'curation.checked' ORDER BY id DESC LIMIT 1), ''),
		(SELECT has_nsfw FROM media WHERE id = ?1), (SELECT count(*) FROM audit_log WHERE entity_id = ?1 AND action IN ('checked_toggle', 'toggle_nsfw'))`, target).
		Scan(&checkedMark, &nsfw, &audits); err != nil {
		t.Fatal(err)
	}
	if checkedMark != "1" || nsfw != 0 || audits != 3 {
		t.Fatalf("after k, a, a on the focused card: checked %q, 18+ %d, %d audit rows; want 1, 0, 3", checkedMark, nsfw, audits)
	}

	// The detail page: the copy buttons, and on plain http from another
	// machine (no secure context, no Clipboard API) the textarea fallback.
	var detailCopy string
	b.Run("detail copy button",
		chromedp.Navigate(fmt.Sprintf("%s/media_view.php?id=%d", env.url, target)),
		chromedp.WaitVisible(`#copy-params`, chromedp.ByQuery),
		chromedp.Evaluate(`void Object.defineProperty(window, 'isSecureContext', {value: false})`, nil),
		chromedp.Click(`#copy-negative`, chromedp.ByQuery),
		waitJS(`document.getElementById('sv-copy-buffer') && document.querySelector('.toast')`),
		chromedp.Evaluate(`document.getElementById('sv-copy-buffer').value + '|' + document.querySelector('.toast').textContent`, &detailCopy),
		b.Shot("03-detail-copy"),
	)
	if detailCopy != "blurry, lowres|Copied: negative prompt" {
		t.Fatalf("detail page copy (fallback): %q", detailCopy)
	}
	// A video opens in the lightbox too (from its detail page, key v).
	b.Run("video lightbox",
		chromedp.Navigate(fmt.Sprintf("%s/media_view.php?id=%d", env.url, env.videoID)),
		chromedp.WaitVisible(`#lb-open-detail`, chromedp.ByQuery),
		chromedp.Evaluate(`document.activeElement && document.activeElement.blur()`, nil),
		chromedp.KeyEvent("v"),
		waitJS(fmt.Sprintf(`(function(){var v=document.querySelector('#lightbox video.lb-el'); return v && v.dataset.id==='%d' && v.readyState>=1})()`, env.videoID)),
		viewportShot(b, "04-video"),
		chromedp.KeyEvent(kb.Escape),
		waitJS(`document.getElementById('lightbox').hidden && document.getElementById('detail')`),
		// The video's posters are made by ffmpeg in the test's folder:
		// wait for them before the test ends and removes it.
		chromedp.Evaluate(fmt.Sprintf(`Promise.all([960, 1600].map(function (n) { return fetch('/thumb.php?id=%d&size=' + n).then(function (r) { return r.blob(); }); })).then(function () { return true; })`, env.videoID),
			nil, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }),
		chromedp.Navigate("about:blank"),
	)

	t.Logf("screenshots in %s", b.shots)
}

// viewportShot saves the visible part of the page (b.Shot's full-page
// capture never returns while the key help overlay is open in headless
// Chromium).
func viewportShot(b *browserSteps, name string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		var buf []byte
		if err := chromedp.CaptureScreenshot(&buf).Do(ctx); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(b.shots, b.prefix+"-"+name+".png"), buf, 0o644)
	})
}
