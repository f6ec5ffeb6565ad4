package web

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/localsupervisor/supervisor/pkg/media"
)

// addCompareImage writes a 480×320 picture (a pattern seeded by i, so the
// two differ visibly) into the library and catalogues it with a prompt, as
// the newest media of the e2e library.
func addCompareImage(t *testing.T, env *e2eEnv, i int, at time.Time, parent int64, p media.Prompt) int64 {
	t.Helper()
	path := filepath.Join(env.cfg.Paths.ImagesSFW, fmt.Sprintf("compare%d.png", i))
	img := image.NewRGBA(image.Rect(0, 0, 480, 320))
	for y := range 320 {
		for x := range 480 {
			c := color.RGBA{uint8(x / 2), uint8(y * i % 256), uint8((x ^ y) * i), 255}
			if (x/40+y/40)%2 == 0 {
				c.R, c.G = c.G, c.R
			}
			img.Set(x, y, c)
		}
	}
	savePNG(t, path, img)
	sha, size, err := sha256File(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id, err := media.Insert(ctx, env.db, media.NewMedia{Path: path, Type: "image", Source: "forge", Width: 480, Height: 320,
		Filesize: size, Hash: sha, ParentID: parent}, at)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := media.SavePrompt(ctx, env.db, id, p, media.PromptSourceImport, "", at); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestBrowserCompare: two cards selected on the list open the compare page
// through the selection bar's Compare button; the page shows both, marks
// the differing parameters and shows the prompt's word diff; zooming or
// panning one pane moves the other; the detail page's lineage edge opens
// the same comparison; bad input gets a page with the reason.
func TestBrowserCompare(t *testing.T) {
	env := newE2E(t)
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	a := addCompareImage(t, env, 3, at, 0, media.Prompt{Prompt: "a lighthouse at dusk, oil painting, warm light",
		NegativePrompt: "blurry", Model: "dreamXL", Sampler: "Euler a", Steps: ptrOf(int64(20)), Seed: "1234", CFGScale: ptrOf(7.0)})
	b := addCompareImage(t, env, 5, at.Add(time.Minute), a, media.Prompt{Prompt: "a lighthouse at night, oil painting, cold light, stars",
		NegativePrompt: "blurry", Model: "dreamXL", Sampler: "DPM++ 2M", Steps: ptrOf(int64(28)), Seed: "1234", CFGScale: ptrOf(7.0)})
	// A sibling of b: the lineage branches.
	addCompareImage(t, env, 7, at.Add(2*time.Minute), a, media.Prompt{Prompt: "a lighthouse at dusk, oil painting, warm light, seagulls",
		NegativePrompt: "blurry", Model: "dreamXL", Sampler: "Euler a", Steps: ptrOf(int64(20)), Seed: "987", CFGScale: ptrOf(7.0)})
	br := newBrowserSteps(t, 120*time.Second, "compare")
	run, shot := br.Run, br.Shot
	var s string
	eval := func(step, js string) string {
		run(step, chromedp.Evaluate(js, &s))
		return s
	}

	br.Login(env.url, "/mediadb.php", `#grid`)
	sel := func(id int64) string { return fmt.Sprintf(`#grid .card[data-id="%d"] input.sel`, id) }
	var disabled bool
	run("select one", chromedp.Click(sel(a), chromedp.ByQuery), chromedp.WaitVisible(`#bulk-compare`, chromedp.ByQuery),
		chromedp.Evaluate(`document.getElementById('bulk-compare').disabled`, &disabled))
	if !disabled {
		t.Fatal("Compare is enabled with one card selected")
	}
	run("select two", chromedp.Click(sel(b), chromedp.ByQuery),
		chromedp.Evaluate(`document.getElementById('bulk-compare').disabled`, &disabled), shot("01-selection"))
	if disabled {
		t.Fatal("Compare is disabled with two cards selected")
	}
	run("open compare", chromedp.Click(`#bulk-compare`, chromedp.ByQuery), chromedp.WaitVisible(`#compare`, chromedp.ByQuery),
		// Both pictures loaded and laid out.
		chromedp.Poll(`document.querySelectorAll('.cmp-pane[data-scale]').length === 2`, nil, chromedp.WithPollingTimeout(20*time.Second)),
		shot("02-compare"))
	// The list is newest first, so the selection (and the panes) are b, a.
	if got, want := eval("panes", `Array.from(document.querySelectorAll('.cmp-pane')).map(p => p.dataset.id).join(',')`), fmt.Sprintf("%d,%d", b, a); got != want {
		t.Fatalf("panes %s, want %s", got, want)
	}
	differ := eval("differing rows", `Array.from(document.querySelectorAll('#cmp-params tr.differ')).map(r => r.dataset.param).join(',')`)
	for _, p := range []string{"sampler", "steps", "filesize"} {
		if !strings.Contains(differ, p) {
			t.Errorf("row %s not marked as differing (marked: %s)", p, differ)
		}
	}
	for _, p := range []string{"model", "seed", "cfg", "dims"} {
		if strings.Contains(differ, p) {
			t.Errorf("equal row %s marked as differing (marked: %s)", p, differ)
		}
	}
	// a's prompt against b's: dusk and warm are a's words, night, cold
	// and stars only b's.
	cell := fmt.Sprintf(`#cmp-prompts tr[data-param="prompt"] td[data-id="%d"]`, a)
	ins := eval("inserted words", `Array.from(document.querySelectorAll('`+cell+` ins')).map(e => e.textContent.trim()).join('|')`)
	del := eval("deleted words", `Array.from(document.querySelectorAll('`+cell+` del')).map(e => e.textContent.trim()).join('|')`)
	if ins != "dusk|warm" || del != "night|cold|, stars" {
		t.Errorf("word diff: inserted %q deleted %q", ins, del)
	}
	if got := eval("negative", `document.querySelector('#cmp-prompts tr[data-param="negative"] td[data-id="`+strconv.FormatInt(a, 10)+`"]').innerHTML`); strings.Contains(got, "<ins>") || !strings.Contains(got, "same as") {
		t.Errorf("equal negative prompts shown as %q", got)
	}

	// Synced zoom: the wheel over the first pane magnifies the second too.
	scales := func() (float64, float64) {
		v := strings.Split(eval("scales", `Array.from(document.querySelectorAll('.cmp-pane')).map(p => p.dataset.scale).join(',')`), ",")
		x, _ := strconv.ParseFloat(v[0], 64)
		y, _ := strconv.ParseFloat(v[1], 64)
		return x, y
	}
	fit1, fit2 := scales()
	var box []float64
	run("pane box", chromedp.Evaluate(`(r => [r.left + r.width / 2, r.top + r.height / 2])(document.querySelector('.cmp-pane .cmp-view').getBoundingClientRect())`, &box))
	run("wheel zoom", chromedp.ActionFunc(func(ctx context.Context) error {
		return input.DispatchMouseEvent(input.MouseWheel, box[0], box[1]).WithDeltaX(0).WithDeltaY(-600).Do(ctx)
	}), chromedp.Poll(`document.getElementById('compare').dataset.zoom > 1.5`, nil, chromedp.WithPollingTimeout(5*time.Second)), shot("03-zoomed"))
	z1, z2 := scales()
	if z1 <= fit1*1.5 || z2 <= fit2*1.5 || z1/fit1-z2/fit2 > 0.01 || z2/fit2-z1/fit1 > 0.01 {
		t.Fatalf("after the wheel on pane 1: scales %v, %v (fit %v, %v): both must grow alike", z1, z2, fit1, fit2)
	}
	// Dragging pane 1 pans pane 2 the same way.
	transform := func() string {
		return eval("transform", `document.querySelectorAll('.cmp-pane .cmp-media')[1].style.transform`)
	}
	before := transform()
	run("drag", chromedp.ActionFunc(func(ctx context.Context) error {
		steps := []*input.DispatchMouseEventParams{
			input.DispatchMouseEvent(input.MousePressed, box[0], box[1]).WithButton(input.Left).WithButtons(1).WithClickCount(1),
			input.DispatchMouseEvent(input.MouseMoved, box[0]+40, box[1]+20).WithButton(input.Left).WithButtons(1),
			input.DispatchMouseEvent(input.MouseMoved, box[0]+80, box[1]+40).WithButton(input.Left).WithButtons(1),
			input.DispatchMouseEvent(input.MouseReleased, box[0]+80, box[1]+40).WithButton(input.Left).WithButtons(0).WithClickCount(1),
		}
		for _, st := range steps {
			if err := st.Do(ctx); err != nil {
				return err
			}
		}
		return nil
	}))
	if after := transform(); after == before {
		t.Fatalf("pane 2 did not pan with pane 1: %s", after)
	}
	// f goes back to fit; the 100 % button shows pixels one to one.
	run("key f", chromedp.KeyEvent("f"), chromedp.Poll(`document.getElementById('compare').dataset.zoom === '1.0000'`, nil, chromedp.WithPollingTimeout(5*time.Second)))
	run("100 %", chromedp.Click(`#cmp-100`, chromedp.ByQuery))
	if x, y := scales(); x != 1 || y != 1 {
		t.Fatalf("100 %%: scales %v, %v", x, y)
	}

	// The detail page's lineage: the edge from a to b says what changed
	// and opens the same comparison.
	run("lineage", chromedp.Navigate(fmt.Sprintf("%s/media_view.php?id=%d", env.url, b)),
		chromedp.WaitVisible(`#lineage-tree`, chromedp.ByQuery),
		chromedp.ScrollIntoView(`#lineage`, chromedp.ByQuery), shot("04-lineage"))
	edge := eval("edge", `document.querySelector('#lineage-tree .lin-edge').textContent`)
	for _, want := range []string{"Steps: 20 → 28", "Sampler: Euler a → DPM++ 2M", "dusk", "night"} {
		if !strings.Contains(edge, want) {
			t.Errorf("lineage edge lacks %q: %s", want, edge)
		}
	}
	var loc string
	run("compare from lineage", chromedp.Click(`#lineage-tree a.lin-compare`, chromedp.ByQuery),
		chromedp.WaitVisible(`#compare`, chromedp.ByQuery), chromedp.Location(&loc),
		chromedp.Poll(`document.querySelectorAll('.cmp-pane[data-scale]').length === 2`, nil, chromedp.WithPollingTimeout(20*time.Second)),
		shot("05-from-lineage"))
	if want := fmt.Sprintf("/compare?ids=%d,%d", a, b); !strings.HasSuffix(loc, want) {
		t.Fatalf("lineage edge opened %s, want %s", loc, want)
	}

	// Four panes, one a video: all laid out, the zoom shared.
	run("four panes", chromedp.Navigate(fmt.Sprintf("%s/compare?ids=%d,%d,%d,%d", env.url, a, b, env.videoID, env.firstID)),
		chromedp.WaitVisible(`#compare`, chromedp.ByQuery),
		chromedp.Poll(`document.querySelectorAll('.cmp-pane[data-scale]').length === 4`, nil, chromedp.WithPollingTimeout(20*time.Second)),
		chromedp.Click(`#cmp-in`, chromedp.ByQuery), chromedp.Click(`#cmp-in`, chromedp.ByQuery), shot("06-four"))
	if z := eval("four zoom", `document.getElementById('compare').dataset.zoom`); z != "1.5625" {
		t.Fatalf("two zoom-in clicks: zoom %s, want 1.5625", z)
	}

	// One id: the page says why and what to do.
	var reason string
	run("bad input", chromedp.Navigate(fmt.Sprintf("%s/compare?ids=%d", env.url, a)),
		chromedp.WaitVisible(`#compare-problem`, chromedp.ByQuery), chromedp.Text(`#compare-reason`, &reason, chromedp.ByQuery), shot("07-bad-input"))
	if !strings.Contains(reason, "two to four") {
		t.Fatalf("bad input reason %q", reason)
	}
}
