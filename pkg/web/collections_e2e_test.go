package web

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// TestBrowserCollections: in Chromium, select cards in the list, add them
// to a new album from the selection bar, open the album from the
// Collections page (same cards, same order), move a card up (it stays
// selected), see the album on a media's detail page, and save the list's
// search, which then opens as the list with its name.
func TestBrowserCollections(t *testing.T) {
	env := newE2E(t)
	b := newBrowserSteps(t, 120*time.Second, "coll")
	run, shot := b.Run, b.Shot
	ids := func(sel string) string {
		var s string
		run("ids "+sel, chromedp.Evaluate(`Array.from(document.querySelectorAll('`+sel+`')).map(c => c.dataset.id).join(',')`, &s))
		return s
	}

	b.Login(env.url, "/mediadb.php", `#grid`)
	// Select the 2nd, 3rd and 5th card; the selection bar appears.
	for _, i := range []int{2, 3, 5} {
		run("select", chromedp.Click(fmt.Sprintf(`#grid .card[data-id]:nth-child(%d) input.sel`, i), chromedp.ByQuery))
	}
	picked := ids(`#grid .card.selected`)
	if strings.Count(picked, ",") != 2 {
		t.Fatalf("selected %q, want three cards", picked)
	}
	var toast string
	run("bulk add",
		chromedp.WaitVisible(`#bulkbar`, chromedp.ByQuery),
		chromedp.SendKeys(`#bulk-collection`, "Trip to the sea", chromedp.ByQuery),
		shot("00-selection-bar"),
		chromedp.Click(`#bulk-coll-add`, chromedp.ByQuery),
		chromedp.WaitVisible(`.toast`, chromedp.ByQuery),
		chromedp.Text(`.toast`, &toast, chromedp.ByQuery),
		shot("01-list-added"),
	)
	if !strings.Contains(toast, "Added 3 media") || !strings.Contains(toast, "Open the album") {
		t.Fatalf("toast %q", toast)
	}

	// The Collections page lists the new album with its count; open it.
	var row string
	run("collections page",
		chromedp.Navigate(env.url+"/collections"),
		chromedp.WaitVisible(`#coll-table`, chromedp.ByQuery),
		chromedp.Text(`#coll-table tbody`, &row, chromedp.ByQuery),
		shot("02-collections"),
		chromedp.Click(`#coll-table a.coll-link`, chromedp.ByQuery),
		chromedp.WaitVisible(`#collection`, chromedp.ByQuery),
		chromedp.WaitVisible(`#grid .card[data-id]`, chromedp.ByQuery),
		shot("03-album"),
	)
	if !strings.Contains(row, "Trip to the sea") || !strings.Contains(row, "3") {
		t.Fatalf("collections row %q", row)
	}
	if got := ids(`#grid .card[data-id]`); got != picked {
		t.Fatalf("album shows %s, want the selection in its order %s", got, picked)
	}

	// Move the last card up with the selection bar: it stays selected after
	// the page reloads, so it can be moved again.
	p := strings.Split(picked, ",")
	run("move up",
		chromedp.Click(`#grid .card[data-id]:nth-child(3) input.sel`, chromedp.ByQuery),
		chromedp.WaitVisible(`#bulk-move-up`, chromedp.ByQuery),
		chromedp.Click(`#bulk-move-up`, chromedp.ByQuery),
		// The page reloads: polled from here (a page script's poll would
		// not survive the navigation).
		chromedp.ActionFunc(func(ctx context.Context) error {
			want := strings.Join([]string{p[0], p[2], p[1]}, ",")
			for range 100 {
				var got string
				err := chromedp.Evaluate(`Array.from(document.querySelectorAll('#grid .card.selected')).length + ':' + Array.from(document.querySelectorAll('#grid .card[data-id]')).map(c => c.dataset.id).join(',')`, &got).Do(ctx)
				if err == nil && got == "1:"+want {
					return nil
				}
				time.Sleep(100 * time.Millisecond)
			}
			return fmt.Errorf("order never became %s", want)
		}),
		chromedp.WaitVisible(`#grid .card.selected`, chromedp.ByQuery),
		shot("04-moved"),
	)
	if got := ids(`#grid .card.selected`); got != p[2] {
		t.Fatalf("after the move %q is selected, want %s", got, p[2])
	}

	// Keyboard as in the list: arrows focus a card, Enter opens it; the
	// detail page lists the album.
	var panel string
	run("keyboard to detail",
		chromedp.Evaluate(`document.activeElement && document.activeElement.blur()`, nil),
		chromedp.KeyEvent(kb.ArrowRight),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(`#detail`, chromedp.ByQuery),
		chromedp.ScrollIntoView(`#collections`, chromedp.ByQuery),
		chromedp.Text(`#collections`, &panel, chromedp.ByQuery),
		shot("05-detail"),
	)
	if !strings.Contains(panel, "Trip to the sea") {
		t.Fatalf("detail collections panel %q", panel)
	}
	// Opened from the album, the detail page steps through the album.
	var back, next string
	run("album context",
		chromedp.AttributeValue(`#back-to-list`, "href", &back, nil, chromedp.ByQuery),
		chromedp.AttributeValue(`#next-media`, "href", &next, nil, chromedp.ByQuery),
	)
	if !strings.HasSuffix(back, "/collection?id=1") || !strings.Contains(next, "id="+p[2]+"&album=1") {
		t.Fatalf("detail from the album: back %q next %q, want the album and media %s", back, next, p[2])
	}

	// Save the list's search; it opens as the list with its name.
	var head string
	run("save search",
		chromedp.Navigate(env.url+"/mediadb.php?q=img"),
		chromedp.WaitVisible(`#save-search`, chromedp.ByQuery),
		chromedp.Click(`#save-search summary`, chromedp.ByQuery),
		chromedp.SendKeys(`#save-search-name`, "All img files", chromedp.ByQuery),
		shot("06-save-search"),
		chromedp.Click(`#save-search-btn`, chromedp.ByQuery),
		chromedp.WaitVisible(`#saved-head`, chromedp.ByQuery),
		chromedp.Text(`#saved-head`, &head, chromedp.ByQuery),
		shot("07-saved-search"),
		chromedp.Navigate(env.url+"/collections"),
		chromedp.WaitVisible(`#coll-table tr.saved`, chromedp.ByQuery),
		shot("08-collections-both"),
	)
	if !strings.Contains(head, "Saved search: All img files") {
		t.Fatalf("saved search heading %q", head)
	}
	t.Logf("screenshots in %s", b.shots)
}
