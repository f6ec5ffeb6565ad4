package web

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/localsupervisor/supervisor/pkg/collections"
	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/media"
)

// TestBrowserCulling: in Chromium, a culling pass over 50 generated
// images (the list filtered to images) with every key — keep, reject (d
// and Delete), rate 0–3, 18+, add to the last used album, undo of a
// rating, an 18+ toggle, an album add and a keep — then a reload mid-pass
// that resumes at the right media with the right counter, the rest kept
// one by one up to the summary. The database holds exactly the decisions
// (checked, deleted, rating, 18+, album membership), undone ones restored
// to their previous state, one audit row per decision and per undo.
func TestBrowserCulling(t *testing.T) {
	const n = 50
	env := newE2EN(t, n)
	ctx := context.Background()
	ids, err := db.QueryIDs(ctx, env.db, `SELECT id FROM media WHERE type = 'image' ORDER BY id DESC`)
	if err != nil || len(ids) != n {
		t.Fatalf("%d images (%v)", len(ids), err)
	}
	album, err := collections.Create(ctx, env.db, "Keepers", "", "", collections.Actor{At: time.Now(), Key: "cli"})
	if err != nil {
		t.Fatal(err)
	}
	// m6 is rated 2 before the pass: undoing its new rating must give 2.
	if err := media.SetRating(ctx, env.db, ids[6], 2); err != nil {
		t.Fatal(err)
	}
	checked := func(id int64) string {
		v, _, err := media.GetMeta(ctx, env.db, id, media.MetaChecked)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	member := func(id int64) int64 {
		return queryInt(t, env.db, `SELECT count(*) FROM collection_media WHERE collection_id = ? AND media_id = ?`, album.ID, id)
	}

	b := newBrowserSteps(t, 240*time.Second, "cull")
	b.Login(env.url, "/mediadb.php?type=image", `#grid`)
	// Show 18+ media in this session: an image marked 18+ stays visible.
	// One script sets and submits the choice (SetValue and a second
	// dispatch raced the navigation the first change starts).
	b.Run("18+ blurred", chromedp.WaitVisible(`#nsfw-select`, chromedp.ByQuery),
		chromedp.Evaluate(`(() => { const s = document.getElementById('nsfw-select'); s.value = 'blur'; s.dispatchEvent(new Event('change')); })()`, nil),
		waitJS(`document.body.dataset.nsfw==='blur' && document.getElementById('cull-this')`))
	b.Run("open culling", chromedp.Navigate(env.url+"/mediadb.php?type=image"), chromedp.WaitVisible(`#cull-this`, chromedp.ByQuery),
		chromedp.Click(`#cull-this`, chromedp.ByQuery), waitJS(`document.getElementById('cull') && document.getElementById('cull').dataset.ready`))
	at := func(i int) chromedp.Action {
		return waitJS(fmt.Sprintf(`(function(){var c=document.getElementById('cull'), m=c.querySelector('.lb-el');
			return c.dataset.current==='%d' && m && m.dataset.id==='%d'})()`, ids[i], ids[i]))
	}
	settled := func(done int) chromedp.Action {
		return waitJS(fmt.Sprintf(`document.getElementById('cull').dataset.done==='%d'`, done))
	}
	key := func(step string, k string, then ...chromedp.Action) {
		t.Helper()
		b.Run(step, append([]chromedp.Action{chromedp.KeyEvent(k)}, then...)...)
	}
	b.Run("first", at(0), b.Shot("00-first"))
	key("m0 keep", "k", at(1), settled(1))
	key("m1 reject", "d", at(2), settled(2))
	key("m2 rate 2", "2", at(3), settled(3))
	key("m3 18+", "a", settled(4), waitJS(`document.getElementById('cull').dataset.adult==='1'`),
		waitJS(`document.querySelector('#cull-stage .lb-media[data-adult="1"]')`))
	// The NSFW contract: the session blurs 18+, so the culling stage does.
	var filter string
	b.Run("m3 blurred", chromedp.Evaluate(`getComputedStyle(document.querySelector('#cull-stage .lb-el')).filter`, &filter), b.Shot("01-blurred"))
	if !strings.Contains(filter, "blur") {
		t.Fatalf("18+ media in the culling stage has filter %q, want a blur", filter)
	}
	key("m3 keep", "k", at(4), settled(4))
	key("m4 album", "c", settled(5))
	key("m4 rate 3", "3", at(5), settled(5))
	key("m5 reject (Delete)", kb.Delete, at(6), settled(6))
	key("m6 rate 1", "1", at(7), settled(7))
	key("m6 undo", "z", at(6), settled(6))
	if r := queryInt(t, env.db, `SELECT rating FROM media WHERE id = ?`, ids[6]); r != 2 {
		t.Fatalf("undo of a rating left %d, want the previous 2", r)
	}
	key("m6 rate 0", "0", at(7), settled(7))
	key("m7 18+", "a", settled(8), waitJS(`document.getElementById('cull').dataset.adult==='1'`))
	key("m7 undo", "z", settled(7), waitJS(`document.getElementById('cull').dataset.adult==='0'`))
	if nsfw := queryInt(t, env.db, `SELECT has_nsfw FROM media WHERE id = ?`, ids[7]); nsfw != 0 {
		t.Fatal("undo of 18+ left the media 18+")
	}
	if _, manual, _ := media.NSFWDecision(ctx, env.db, ids[7]); manual {
		t.Fatal("undo of 18+ left a manual 18+ decision the media did not have")
	}
	key("m7 keep", "k", at(8), settled(8))
	key("m8 album", "c", settled(9))
	key("m8 undo", "z", settled(8))
	if member(ids[8]) != 0 {
		t.Fatal("undo of the album add left the media in the album")
	}
	key("m8 reject", "d", at(9), settled(9))
	key("m9 keep", "k", at(10), settled(10))
	key("m9 undo", "z", at(9), settled(9))
	if c := checked(ids[9]); c != "" {
		t.Fatalf("undo of keep left checked=%q, want no mark", c)
	}
	var counter string
	b.Run("before reload", chromedp.Text(`#cull-counter`, &counter, chromedp.ByQuery), b.Shot("02-mid-pass"))

	// Reload: the same pass, at m9, with the same counter.
	var after string
	b.Run("reload", chromedp.Reload(), waitJS(`document.getElementById('cull').dataset.ready`), at(9),
		chromedp.Text(`#cull-counter`, &after, chromedp.ByQuery))
	if after != counter || !strings.HasPrefix(after, "9 done") || !strings.Contains(after, "41 left") {
		t.Fatalf("after the reload the counter says %q, before %q; want 9 done · 41 left", after, counter)
	}
	key("m9 reject", "d", at(10), settled(10))
	for i := 10; i < n; i++ {
		next := []chromedp.Action{settled(i + 1)}
		if i+1 < n {
			next = append([]chromedp.Action{at(i + 1)}, next...)
		}
		key(fmt.Sprintf("m%d keep", i), "k", next...)
	}
	var sum string
	b.Run("summary", chromedp.WaitVisible(`#cull-summary`, chromedp.ByQuery), waitJS(`document.getElementById('cull').dataset.finished==='1'`),
		chromedp.Text(`#cull-summary`, &sum, chromedp.ByQuery), b.Shot("03-summary"))
	wantCounts := map[string]string{"keep": "43", "reject": "4", "rate:0": "1", "rate:2": "1", "rate:3": "1", "adult": "1", "collect": "1"}
	for k, v := range wantCounts {
		var got string
		b.Eval("count "+k, `document.querySelector('#cull-summary dd[data-key="`+k+`"]').textContent`, &got)
		if got != v {
			t.Fatalf("summary %s = %s, want %s (%q)", k, got, v, sum)
		}
	}

	// The database: every decision in force, nothing of the undone ones.
	for i, id := range ids {
		rating := queryInt(t, env.db, `SELECT rating FROM media WHERE id = ?`, id)
		deleted := queryInt(t, env.db, `SELECT is_deleted FROM media WHERE id = ?`, id)
		nsfw := queryInt(t, env.db, `SELECT has_nsfw FROM media WHERE id = ?`, id)
		wantR, wantD, wantN, wantC, wantM := int64(0), int64(0), int64(0), "1", int64(0)
		switch i {
		case 1, 5, 8, 9:
			wantD, wantC = 1, ""
		case 2:
			wantR, wantC = 2, ""
		case 3:
			wantN = 1
		case 4:
			wantR, wantC, wantM = 3, "", 1
		case 6:
			wantC = ""
		}
		if rating != wantR || deleted != wantD || nsfw != wantN || checked(id) != wantC || member(id) != wantM {
			t.Errorf("m%d (id %d): rating %d deleted %d 18+ %d checked %q album %d; want %d %d %d %q %d",
				i, id, rating, deleted, nsfw, checked(id), member(id), wantR, wantD, wantN, wantC, wantM)
		}
	}
	// 61 decisions (50 advancing + a, c, and the four undone ones' own
	// keys) and 4 undos, each one audit row.
	decisions := queryInt(t, env.db, `SELECT count(*) FROM cull_decisions`)
	undone := queryInt(t, env.db, `SELECT count(*) FROM cull_decisions WHERE undone = 1`)
	audits := queryInt(t, env.db, `SELECT count(*) FROM audit_log WHERE action LIKE 'cull\_%' ESCAPE '\'`)
	undos := queryInt(t, env.db, `SELECT count(*) FROM audit_log WHERE action = 'cull_undo'`)
	t.Logf("decisions %d (undone %d), audit rows %d (undo %d)", decisions, undone, audits, undos)
	if undone != 4 || undos != 4 || audits != decisions+undos || decisions != n+2+4 {
		t.Fatalf("decisions %d undone %d audit %d undo %d; want %d decisions, 4 undone, one audit row each plus 4 undos", decisions, undone, audits, undos, n+6)
	}
	if queryInt(t, env.db, `SELECT count(*) FROM cull_passes WHERE finished_at IS NOT NULL`) != 1 {
		t.Fatal("the pass did not finish at the end of the list")
	}

	// "New since the last session": a media imported after the finished
	// pass began is the next pass's only media.
	newID, err := media.Insert(ctx, env.db, media.NewMedia{Path: "/nonexistent/new.png", Type: "image", Width: 24, Height: 16,
		Filesize: 1, Hash: strings.Repeat("a", 64)}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b.Run("new since", chromedp.Navigate(env.url+"/mediadb.php"), chromedp.Click(`#cull-new`, chromedp.ByQuery),
		waitJS(fmt.Sprintf(`document.getElementById('cull') && document.getElementById('cull').dataset.current==='%d'`, newID)),
		waitJS(`document.getElementById('cull').dataset.left==='1'`), b.Shot("04-new-since"))
	t.Logf("screenshots in %s", b.shots)
}
