package web

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// galleryDims are the image sizes the gallery tests give the e2e library
// (portrait, landscape, square, panorama), so the justified grid has
// different aspect ratios to fit into a row.
var galleryDims = [][2]int{{300, 200}, {200, 300}, {400, 200}, {250, 250}, {320, 180}, {180, 320}}

// galleryLibrary rewrites the e2e library's images with the sizes of
// galleryDims and marks every fourth image 18+; it returns the ids of
// the 18+ media.
func galleryLibrary(t *testing.T, env *e2eEnv) []int64 {
	t.Helper()
	rows, err := env.db.Query(`SELECT id, path FROM media WHERE type='image' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		id   int64
		path string
	}
	var all []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.path); err != nil {
			t.Fatal(err)
		}
		all = append(all, r)
	}
	rows.Close()
	var adult []int64
	for i, r := range all {
		d := galleryDims[i%len(galleryDims)]
		img := image.NewRGBA(image.Rect(0, 0, d[0], d[1]))
		for y := 0; y < d[1]; y++ {
			for x := 0; x < d[0]; x++ {
				img.Set(x, y, color.RGBA{uint8(40 + i*7), uint8(x * 255 / d[0]), uint8(y * 255 / d[1]), 255})
			}
		}
		f, err := os.Create(r.path)
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
		f.Close()
		st, _ := os.Stat(r.path)
		nsfw := i%4 == 1
		if nsfw {
			adult = append(adult, r.id)
		}
		if _, err := env.db.Exec(`UPDATE media SET width=?, height=?, filesize=?, has_nsfw=? WHERE id=?`,
			d[0], d[1], st.Size(), nsfw, r.id); err != nil {
			t.Fatal(err)
		}
	}
	return adult
}

// setNSFWMode picks the 18+ display in the menu bar (the select submits
// itself) and waits for the reloaded page.
func setNSFWMode(b *browserSteps, mode string) {
	b.t.Helper()
	b.Run("18+ display "+mode,
		chromedp.WaitVisible(`#nsfw-select`, chromedp.ByQuery),
		chromedp.Evaluate(`(() => { const s = document.getElementById('nsfw-select'); s.value = '`+mode+`';
			s.dispatchEvent(new Event('change')); })()`, nil),
		chromedp.WaitVisible(`body[data-nsfw="`+mode+`"] #grid`, chromedp.ByQuery),
	)
}

// TestBrowserNSFWBlur (#23 item 7): with the session set to blur, the 18+
// cards carry data-adult and their image a computed CSS blur, the safe
// cards none; a click reveals a card without opening it, the b key
// reveals the focused one; show lists them unblurred; hide lists none.
func TestBrowserNSFWBlur(t *testing.T) {
	env := newE2E(t)
	adult := galleryLibrary(t, env)
	b := newBrowserSteps(t, 30*time.Second, "nsfw")
	b.Login(env.url, "/mediadb.php", `#grid`)
	var n int
	b.Eval("hidden by default", `document.querySelectorAll('#grid .card[data-adult]').length`, &n)
	if n != 0 {
		t.Fatalf("%d 18+ cards in a new session, want none", n)
	}

	setNSFWMode(b, "blur")
	type cardState struct {
		ID     string `json:"id"`
		Adult  bool   `json:"adult"`
		Filter string `json:"filter"`
	}
	states := func() []cardState {
		var s []cardState
		b.Eval("card filters", `Array.from(document.querySelectorAll('#grid .card[data-id]')).map(c => ({id: c.dataset.id,
			adult: c.dataset.adult === '1', filter: getComputedStyle(c.querySelector('img')).filter}))`, &s)
		return s
	}
	blurred, safe := 0, 0
	for _, c := range states() {
		switch {
		case c.Adult && strings.Contains(c.Filter, "blur("):
			blurred++
		case c.Adult:
			t.Fatalf("18+ card %s not blurred: filter %q", c.ID, c.Filter)
		case c.Filter != "none":
			t.Fatalf("safe card %s has filter %q", c.ID, c.Filter)
		default:
			safe++
		}
	}
	if blurred == 0 || safe == 0 {
		t.Fatalf("blurred %d, safe %d: want both on the first page (18+ ids %v)", blurred, safe, adult)
	}
	b.Run("blurred", b.Shot("00-blurred"))

	// A click on a blurred card reveals it and stays on the list.
	first := `#grid .card[data-adult="1"]`
	var loc, filter string
	b.Run("click reveals",
		chromedp.Click(first+` .thumb`, chromedp.ByQuery),
		chromedp.WaitVisible(first+`.revealed`, chromedp.ByQuery),
		chromedp.Location(&loc),
		chromedp.Evaluate(`getComputedStyle(document.querySelector('`+first+`.revealed img')).filter`, &filter),
	)
	if !strings.Contains(loc, "/mediadb.php") || filter != "none" {
		t.Fatalf("after the click: at %s, filter %q (want the list, no blur)", loc, filter)
	}
	// b on the focused (second) 18+ card reveals it; b again blurs it.
	second := `#grid .card[data-adult="1"]:not(.revealed)`
	var id string
	b.Eval("focus an 18+ card", `(() => { const c = document.querySelector('`+second+`'); c.focus(); return c.dataset.id; })()`, &id)
	b.Run("b reveals",
		chromedp.KeyEvent("b"),
		chromedp.WaitVisible(`#grid .card[data-id="`+id+`"].revealed`, chromedp.ByQuery),
		b.Shot("01-revealed"),
		chromedp.KeyEvent("b"),
		chromedp.WaitNotPresent(`#grid .card[data-id="`+id+`"].revealed`, chromedp.ByQuery),
	)

	// The detail page of an 18+ media: its preview is blurred until a
	// click; marking it 18+ by hand shows the lock and its unlock button.
	var detailFilter, revealedFilter string
	b.Run("detail blurred",
		chromedp.Navigate(fmt.Sprintf("%s/media_view.php?id=%d", env.url, adult[0])),
		chromedp.WaitVisible(`.preview[data-adult="1"] #preview-img`, chromedp.ByQuery),
		chromedp.Evaluate(`getComputedStyle(document.getElementById('preview-img')).filter`, &detailFilter),
		b.Shot("02-detail-blurred"),
		chromedp.Click(`#preview-img`, chromedp.ByQuery),
		chromedp.WaitVisible(`.preview.revealed`, chromedp.ByQuery),
		chromedp.Evaluate(`getComputedStyle(document.getElementById('preview-img')).filter`, &revealedFilter),
		chromedp.Click(`#nsfw-toggle`, chromedp.ByQuery), // 18+ -> safe, by hand
		chromedp.WaitVisible(`#nsfw-lock #nsfw-unlock`, chromedp.ByQuery),
		b.Shot("03-detail-locked"),
		chromedp.Click(`#nsfw-unlock`, chromedp.ByQuery),
		chromedp.WaitNotPresent(`#nsfw-lock`, chromedp.ByQuery),
		chromedp.Navigate(env.url+"/mediadb.php"),
		chromedp.WaitVisible(`#grid`, chromedp.ByQuery),
	)
	if !strings.Contains(detailFilter, "blur(") || revealedFilter != "none" {
		t.Fatalf("detail preview filter %q, after the click %q", detailFilter, revealedFilter)
	}

	setNSFWMode(b, "show")
	for _, c := range states() {
		if c.Filter != "none" {
			t.Fatalf("show: card %s filter %q", c.ID, c.Filter)
		}
	}
	b.Eval("shown", `document.querySelectorAll('#grid .card[data-adult="1"]').length`, &n)
	if n == 0 {
		t.Fatal("show lists no 18+ card")
	}
	setNSFWMode(b, "hide")
	b.Eval("hidden", `document.querySelectorAll('#grid .card[data-adult]').length`, &n)
	if n != 0 {
		t.Fatalf("hide lists %d 18+ cards", n)
	}
	for _, id := range adult[1:] { // adult[0] was marked safe above
		var present bool
		b.Eval("absent", fmt.Sprintf(`!!document.querySelector('#grid .card[data-id="%d"]')`, id), &present)
		if present {
			t.Fatalf("hide: 18+ media %d listed", id)
		}
	}
}

// TestBrowserGallery (#23 item 9): the list is a justified grid — cards
// carry their media's dimensions, the cards of a full row share one
// height and end at the grid's right edge — the density switch S/M/L
// changes the row height (and survives a reload), the rarely used filters
// are folded, and arrow down/up move the focus by visual rows.
func TestBrowserGallery(t *testing.T) {
	env := newE2E(t)
	galleryLibrary(t, env)
	b := newBrowserSteps(t, 120*time.Second, "gallery")
	b.Login(env.url, "/mediadb.php", `#grid`)
	setNSFWMode(b, "blur")

	var dims int
	b.Eval("dims", `Array.from(document.querySelectorAll('#grid .card[data-id]')).filter(c => +c.dataset.w > 0 && +c.dataset.h > 0).length`, &dims)
	if dims < 12 {
		t.Fatalf("%d cards carry data-w/data-h, want every card of the page", dims)
	}
	var folded bool
	b.Eval("folded", `!document.getElementById('more-filters').open && !!document.querySelector('#more-filters select[name=curation]')`, &folded)
	if !folded {
		t.Fatal("the rarely used filters are not folded behind more filters")
	}

	type row struct {
		Top     float64   `json:"top"`
		Heights []float64 `json:"heights"`
		Right   float64   `json:"right"`
		N       int       `json:"n"`
		// Capped: every card is at its max-width (a row that would grow
		// past 1.6x the row height stays short on purpose).
		Capped bool `json:"capped"`
	}
	rows := func() ([]row, float64) {
		var out struct {
			Rows  []row   `json:"rows"`
			Right float64 `json:"right"`
		}
		b.Eval("rows", `(() => { const g = document.getElementById('grid'), rows = [];
			for (const c of g.querySelectorAll('.card[data-id]')) { const r = c.getBoundingClientRect();
				let row = rows.find(x => Math.abs(x.top - r.top) < 2);
				if (!row) { row = {top: r.top, heights: [], right: 0, n: 0, capped: true}; rows.push(row); }
				row.capped = row.capped && r.width >= parseFloat(getComputedStyle(c).maxWidth) - 1;
				row.heights.push(r.height); row.right = Math.max(row.right, r.right); row.n++; }
			return {rows, right: g.getBoundingClientRect().right}; })()`, &out)
		return out.Rows, out.Right
	}
	height := map[string]float64{}
	for _, d := range []string{"s", "m", "l"} {
		b.Run("density "+d,
			chromedp.Click(`#density button[data-density="`+d+`"]`, chromedp.ByQuery),
			chromedp.WaitVisible(`body[data-density="`+d+`"]`, chromedp.ByQuery),
			chromedp.Sleep(300*time.Millisecond), // thumbnails settle
			b.Shot("density-"+d),
		)
		rs, right := rows()
		if len(rs) < 2 {
			t.Fatalf("density %s: %d rows", d, len(rs))
		}
		for i, r := range rs[:len(rs)-1] { // the last row may end short
			for _, h := range r.Heights {
				if h < r.Heights[0]-1.5 || h > r.Heights[0]+1.5 {
					t.Fatalf("density %s row %d: heights %v differ", d, i, r.Heights)
				}
			}
			if right-r.Right > 2 && !r.Capped {
				t.Fatalf("density %s row %d ends at %.1f, grid at %.1f", d, i, r.Right, right)
			}
		}
		// The mean card height: one row may be as tall at M as at L
		// (it grew to fill the width), the page is not.
		sum, n := 0.0, 0
		for _, r := range rs {
			for _, h := range r.Heights {
				sum, n = sum+h, n+1
			}
		}
		height[d] = sum / float64(n)
	}
	if !(height["s"] < height["m"] && height["m"] < height["l"]) {
		t.Fatalf("card heights S/M/L %v, want growing", height)
	}
	var kept string
	b.Run("density kept", chromedp.Reload(), chromedp.WaitVisible(`#grid`, chromedp.ByQuery),
		chromedp.Evaluate(`document.body.dataset.density`, &kept))
	if kept != "l" {
		t.Fatalf("density after reload %q, want l", kept)
	}

	// Arrow down from the first card lands in the next visual row (the
	// featured cards, then the grid's rows), up returns; page coordinates,
	// as focusing scrolls.
	var tops []float64
	b.Eval("row tops", `[...new Set(Array.from(document.querySelectorAll('.card[data-id]')).map(c =>
		Math.round(c.getBoundingClientRect().top + window.scrollY)))].sort((a, b) => a - b)`, &tops)
	if len(tops) < 3 {
		t.Fatalf("row tops %v", tops)
	}
	focusTop := `Math.round(document.activeElement.getBoundingClientRect().top + window.scrollY)`
	var top0, top1, top2, back float64
	b.Run("arrows",
		chromedp.KeyEvent(kb.ArrowRight), // focuses the first card
		chromedp.Evaluate(focusTop, &top0),
		chromedp.KeyEvent(kb.ArrowDown),
		chromedp.Evaluate(focusTop, &top1),
		chromedp.KeyEvent(kb.ArrowDown),
		chromedp.Evaluate(focusTop, &top2),
		chromedp.KeyEvent(kb.ArrowUp),
		chromedp.Evaluate(focusTop, &back),
	)
	if top0 != tops[0] || abs(top1-tops[1]) > 1 || abs(top2-tops[2]) > 1 || back != top1 {
		t.Fatalf("arrows: row tops %v; focus went %.0f -> %.0f -> %.0f -> up %.0f", tops[:3], top0, top1, top2, back)
	}
	// From the last card of a row, down lands on the card below it: in
	// the next row, the one nearest by horizontal centre (the rows hold
	// different numbers of cards, so a fixed step would not).
	var toEnd int // cards right of the focused one in its row
	b.Eval("cards in row", `(() => { const row = Array.from(document.querySelectorAll('.card[data-id]')).filter(c =>
		Math.round(c.getBoundingClientRect().top + window.scrollY) === `+fmt.Sprint(back)+`);
		return row.length - 1 - row.indexOf(document.activeElement); })()`, &toEnd)
	for range toEnd {
		b.Run("right", chromedp.KeyEvent(kb.ArrowRight))
	}
	var below struct {
		Top     float64 `json:"top"`
		Nearest bool    `json:"nearest"`
	}
	b.Run("down from the row's end",
		chromedp.Evaluate(`window.svFrom = document.activeElement.getBoundingClientRect()`, nil),
		chromedp.KeyEvent(kb.ArrowDown),
		chromedp.Evaluate(`(() => { const f = window.svFrom, cx = f.left + f.width / 2, a = document.activeElement.getBoundingClientRect();
			const d = r => Math.abs(r.left + r.width / 2 - cx);
			const row = Array.from(document.querySelectorAll('.card[data-id]')).map(c => c.getBoundingClientRect()).filter(r => Math.abs(r.top - a.top) < 2);
			return {top: Math.round(a.top + window.scrollY), nearest: row.every(r => d(a) <= d(r))}; })()`, &below),
	)
	if abs(below.Top-tops[2]) > 1 || !below.Nearest {
		t.Fatalf("down from the end of row 2: at %.0f (row 3 at %.0f), nearest=%v", below.Top, tops[2], below.Nearest)
	}
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}
