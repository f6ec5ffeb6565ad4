package web

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/svtest"
	"github.com/localsupervisor/supervisor/pkg/svtest/browsertest"
)

// TestBrowserListContextAndSmallScreens: prev/next and "back to list" keep
// the list's filter and sort with the keyboard; list and detail fit a
// 375 px phone screen without horizontal scrolling, even with a long
// metadata value; an HEVC video the browser cannot decode shows its poster,
// a message and a download link instead of an empty player.
func TestBrowserListContextAndSmallScreens(t *testing.T) {
	env := newE2E(t)
	ctx := browsertest.Start(t, browsertest.Options{Timeout: 120 * time.Second})
	shots := artifactsDir(t)
	bg := context.Background()

	// A long value without spaces (one JSON line) on the oldest image, and
	// an original name that differs from the file name.
	var oldest int64
	if err := env.db.QueryRow(`SELECT min(id) FROM media WHERE type = 'image'`).Scan(&oldest); err != nil {
		t.Fatal(err)
	}
	long := `{"workflow":"` + strings.Repeat("KSamplerAdvanced_", 400) + `"}`
	for _, kv := range [][2]string{{"comfy.workflow", long}, {"original_name", "Evening_Walk_at_the_Harbour_2024-05-01_final_version_upscaled.png"}} {
		if _, err := media.SetMeta(bg, env.db, oldest, "import", kv[0], kv[1], time.Now()); err != nil {
			t.Fatal(err)
		}
	}

	// An HEVC video: Chromium here has no HEVC decoder.
	ffmpeg := svtest.RequireTool(t, "ffmpeg")
	hevc := filepath.Join(env.cfg.Paths.VideosSFW, "hevc.mp4")
	if out, err := exec.Command(ffmpeg, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
		"testsrc=duration=1:size=160x120:rate=10", "-pix_fmt", "yuv420p", "-c:v", "libx265", "-tag:v", "hvc1",
		"-x265-params", "log-level=error", "-y", hevc).CombinedOutput(); err != nil {
		// Debian's ffmpeg has libx265; without it, a file no browser decodes.
		t.Logf("libx265 unavailable (%v %s): using an undecodable file", err, out)
		if err := os.WriteFile(hevc, []byte("\x00\x00\x00\x18ftypmp42 not really a video"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sha, size, err := sha256File(hevc)
	if err != nil {
		t.Fatal(err)
	}
	hevcID, err := media.Insert(bg, env.db, media.NewMedia{Path: hevc, Type: "video", Width: 160, Height: 120, Duration: 1,
		Filesize: size, Hash: sha}, time.Now())
	if err != nil {
		t.Fatal(err)
	}

	run := func(step string, actions ...chromedp.Action) {
		t.Helper()
		if err := chromedp.Run(ctx, actions...); err != nil {
			var loc string
			_ = chromedp.Run(ctx, chromedp.Location(&loc))
			t.Fatalf("%s: %v (at %s)", step, err, loc)
		}
	}
	shot := func(name string) chromedp.Action {
		return chromedp.ActionFunc(func(ctx context.Context) error {
			var buf []byte
			if err := chromedp.FullScreenshot(&buf, 100).Do(ctx); err != nil { // quality 100: PNG
				return err
			}
			return os.WriteFile(filepath.Join(shots, name+".png"), buf, 0o644)
		})
	}
	detailID := func() int64 {
		t.Helper()
		var loc string
		run("location", chromedp.Location(&loc))
		u, err := url.Parse(loc)
		if err != nil {
			t.Fatal(err)
		}
		if q := u.Query(); u.Path != "/media_view.php" || q.Get("type") != "image" || q.Get("sort") != "oldest" {
			t.Fatalf("detail URL %s lost the list's filter or sort", loc)
		}
		var id int64
		var typ string
		fmt.Sscan(u.Query().Get("id"), &id)
		if err := env.db.QueryRow(`SELECT type FROM media WHERE id = ?`, id).Scan(&typ); err != nil || typ != "image" {
			t.Fatalf("media %d is %q (%v): navigation left the filtered list", id, typ, err)
		}
		return id
	}
	// waitLeave waits until the browser left the detail of id (a page
	// script poll would not survive the navigation, so the URL is polled
	// from here).
	waitLeave := func(id int64) chromedp.Action {
		return chromedp.ActionFunc(func(ctx context.Context) error {
			for range 150 {
				var loc string
				if err := chromedp.Location(&loc).Do(ctx); err == nil && !strings.Contains(loc, fmt.Sprintf("id=%d&", id)) {
					return nil
				}
				time.Sleep(100 * time.Millisecond)
			}
			return fmt.Errorf("still on media %d", id)
		})
	}

	// 1. A filtered, sorted list; open the second card.
	const list = "/mediadb.php?sort=oldest&type=image"
	run("filtered list",
		chromedp.Navigate(env.url+list),
		chromedp.WaitVisible(`#grid .card[data-id]`, chromedp.ByQuery),
		chromedp.Click(`#grid .card[data-id]:nth-child(2) a.thumb`, chromedp.ByQuery),
		chromedp.WaitVisible(`#detail`, chromedp.ByQuery),
	)
	start := detailID()

	// 2. → goes to the next media of the filtered list, ← back again.
	run("next key", chromedp.KeyEvent(kb.ArrowRight), waitLeave(start), chromedp.WaitVisible(`#detail`, chromedp.ByQuery))
	next := detailID()
	if next <= start {
		t.Fatalf("→ from %d went to %d, want a later (oldest-first) image", start, next)
	}
	run("prev key", chromedp.KeyEvent(kb.ArrowLeft), waitLeave(next), chromedp.WaitVisible(`#detail`, chromedp.ByQuery))
	if back := detailID(); back != start {
		t.Fatalf("← from %d went to %d, want %d", next, back, start)
	}

	// 3. Esc returns to the same filtered list.
	var loc string
	run("back key", chromedp.KeyEvent(kb.Escape), chromedp.WaitVisible(`#grid`, chromedp.ByQuery), chromedp.Location(&loc))
	if want := env.url + list; loc != want {
		t.Fatalf("back to list at %s, want %s", loc, want)
	}

	// 4. A 375 px phone screen: no horizontal scrolling on list and detail.
	overflow := func(page string) {
		t.Helper()
		var sw, cw int64
		run("width "+page, chromedp.Navigate(env.url+page), chromedp.WaitReady(`footer`, chromedp.ByQuery),
			chromedp.Evaluate(`document.documentElement.scrollWidth`, &sw), chromedp.Evaluate(`document.documentElement.clientWidth`, &cw))
		if sw > 375 {
			var wide string
			_ = chromedp.Run(ctx, chromedp.Evaluate(`Array.from(document.querySelectorAll('body *')).filter(e => e.getBoundingClientRect().right > 376).slice(0, 5).map(e => e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right)).join('; ')`, &wide))
			t.Errorf("%s at 375 px: scrollWidth %d (client %d); too wide: %s", page, sw, cw, wide)
		}
	}
	run("phone viewport", emulation.SetDeviceMetricsOverride(375, 800, 2, true))
	overflow(list)
	overflow("/mediadb.php?view=list")
	overflow(fmt.Sprintf("/media_view.php?id=%d&sort=oldest&type=image", oldest))
	run("detail title", chromedp.WaitVisible(`#original-name`, chromedp.ByQuery), shot("detail-375"))
	var title string
	run("title", chromedp.Text(`#media-title`, &title, chromedp.ByQuery))
	if title != "Evening Walk at the Harbour 2024 05 01 final version upscaled" {
		t.Errorf("title %q, want the prettified original name", title)
	}
	overflow(fmt.Sprintf("/media_view.php?id=%d", env.videoID))

	// 5. The HEVC video: message, poster and download link, no empty player.
	run("desktop viewport", emulation.SetDeviceMetricsOverride(1280, 900, 1, false))
	var msg, dl string
	var playerHidden bool
	run("unplayable video",
		chromedp.Navigate(fmt.Sprintf("%s/media_view.php?id=%d", env.url, hevcID)),
		chromedp.WaitVisible(`#unplayable-msg`, chromedp.ByQuery),
		chromedp.Text(`#unplayable-msg`, &msg, chromedp.ByQuery),
		chromedp.AttributeValue(`#unplayable-download`, "href", &dl, nil, chromedp.ByQuery),
		chromedp.Evaluate(`document.getElementById('player').hidden && document.querySelector('#player-unplayable img').complete`, &playerHidden),
		shot("video-unplayable"),
	)
	if msg != "This video format can't be played in your browser." || dl != fmt.Sprintf("/media_stream.php?id=%d&dl=1", hevcID) || !playerHidden {
		t.Fatalf("unplayable video: message %q, download %q, player hidden %v", msg, dl, playerHidden)
	}
	// The H.264 clip still plays in the player (no false alarm).
	var shown bool
	run("playable video", chromedp.Navigate(fmt.Sprintf("%s/media_view.php?id=%d", env.url, env.videoID)),
		chromedp.Poll(`(() => { const v = document.getElementById('player'); return v.readyState >= 1 || v.error !== null; })()`, nil,
			chromedp.WithPollingTimeout(15*time.Second)),
		chromedp.Evaluate(`!document.getElementById('player').hidden && document.getElementById('player-unplayable').hidden`, &shown))
	if !shown {
		t.Fatal("the playable H.264 video was reported unplayable")
	}
	t.Logf("screenshots in %s", shots)
}
