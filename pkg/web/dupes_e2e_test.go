package web

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/dupes"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/phash"
	"github.com/localsupervisor/supervisor/pkg/similar"
)

// TestBrowserDupes: in Chromium, the review queue shows an exact group
// side by side; key 2 keeps the second media (the first is soft-deleted,
// its tag and prompt move over, audit rows), the page moves on to the
// pHash group, n remembers it as not duplicates and the queue is empty.
func TestBrowserDupes(t *testing.T) {
	env := newE2EN(t, 6)
	ctx := context.Background()
	ids, err := db.QueryIDs(ctx, env.db, `SELECT id FROM media WHERE type = 'image' ORDER BY id LIMIT 4`)
	if err != nil || len(ids) != 4 {
		t.Fatalf("%d images (%v)", len(ids), err)
	}
	now := time.Now()
	for _, id := range ids[:2] {
		if _, err := media.SetMeta(ctx, env.db, id, "hash", "hash.sha256", "same-content", now); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := media.AddTag(ctx, env.db, ids[0], "lighthouse", "", 1, true); err != nil {
		t.Fatal(err)
	}
	if _, err := media.SavePrompt(ctx, env.db, ids[0], media.Prompt{Prompt: "a lighthouse at dusk"}, "import", "", now); err != nil {
		t.Fatal(err)
	}
	for i, h := range []phash.Hash{0xa5a5_0f0f_3c3c_1234, 0xa5a5_0f0f_3c3c_1237} {
		if err := similar.Save(ctx, env.db, ids[2+i], h, "", now); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := dupes.Rebuild(ctx, env.db, dupes.Options{}, now); err != nil {
		t.Fatal(err)
	}

	b := newBrowserSteps(t, 120*time.Second, "dupes")
	b.Login(env.url, "/mediadb.php", `#grid`)
	b.Run("nav link", chromedp.Click(`#nav-dupes`, chromedp.ByQuery), chromedp.WaitVisible(`#dupes`, chromedp.ByQuery))
	group := func(tier string) chromedp.Action {
		return waitJS(fmt.Sprintf(`(function(){var d=document.getElementById('dupes'); return d && d.dataset.ready && d.dataset.tier===%q})()`, tier))
	}
	var cols int
	b.Run("exact group", group("exact"), chromedp.Evaluate(`document.querySelectorAll('#dupes-table thead th[data-id]').length`, &cols), b.Shot("00-exact"))
	if cols != 2 {
		t.Fatalf("%d media side by side, want 2", cols)
	}
	b.Run("keep the second", chromedp.KeyEvent("2"), group("phash"), b.Shot("01-phash"))
	if queryInt(t, env.db, `SELECT is_deleted FROM media WHERE id = ?`, ids[0]) != 1 || queryInt(t, env.db, `SELECT is_deleted FROM media WHERE id = ?`, ids[1]) != 0 {
		t.Fatal("keep this did not soft-delete the other media")
	}
	if queryInt(t, env.db, `SELECT count(*) FROM media_tags WHERE media_id = ? AND locked = 1`, ids[1]) != 1 || queryInt(t, env.db, `SELECT count(*) FROM prompts WHERE media_id = ?`, ids[1]) != 1 {
		t.Fatal("the kept media did not receive the locked tag and the prompt")
	}
	if queryInt(t, env.db, `SELECT count(*) FROM audit_log WHERE action IN (?, ?)`, dupes.ActionKeep, dupes.ActionDiscard) != 2 {
		t.Fatal("audit rows of the resolve missing")
	}
	b.Run("not duplicates", chromedp.KeyEvent("n"), chromedp.WaitVisible(`#dupes-empty`, chromedp.ByQuery), b.Shot("02-empty"))
	if queryInt(t, env.db, `SELECT count(*) FROM dupe_not_duplicates WHERE media_a = ? AND media_b = ?`, ids[2], ids[3]) != 1 {
		t.Fatal("not duplicates was not remembered")
	}
	if queryInt(t, env.db, `SELECT count(*) FROM media WHERE is_deleted = 1`) != 1 {
		t.Fatal("not duplicates deleted a media")
	}
}
