package web

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/dupes"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// TestDupesRebuildFromThePage: with no groups the review page offers
// "Look for duplicates now"; its POST (admin, CSRF) queues one
// dupes_rebuild job for media-worker (a second click gets the same job),
// the page says so, and once the job has run the group is there. Without
// CSRF or as a visitor nothing is queued.
func TestDupesRebuildFromThePage(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a := f.insert(f.cfg.MediaRoots()[0]+"/copy-a.png", "image", 0, "ha")
	b := f.insert(f.cfg.MediaRoots()[0]+"/copy-b.png", "image", 0, "hb")
	for _, id := range []int64{a, b} {
		if _, err := media.SetMeta(ctx, f.db, id, "hash", "hash.sha256", "same-bytes", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	// b is an upscale of a: the review page shows the lineage.
	if _, err := f.db.Exec(`UPDATE media SET parent_media_id = ? WHERE id = ?`, a, b); err != nil {
		t.Fatal(err)
	}
	c := f.client()
	if rec := c.post("/dupes/rebuild", url.Values{}, true); rec.Code == http.StatusSeeOther {
		t.Fatal("a visitor queued a rebuild")
	}
	c.login()
	page := c.do("GET", "/dupes", nil).Body.String()
	if !strings.Contains(page, `id="dupes-empty"`) || !strings.Contains(page, `id="dupes-rebuild"`) {
		t.Fatalf("empty review page without the rebuild button: %s", page)
	}
	if rec := c.post("/dupes/rebuild", url.Values{}, false); rec.Code == http.StatusSeeOther {
		t.Fatal("a rebuild without CSRF was queued")
	}
	rec := c.post("/dupes/rebuild", url.Values{}, true)
	loc := rec.Header().Get("Location")
	if rec.Code != http.StatusSeeOther || !strings.HasPrefix(loc, "/dupes?msg=dupes_rebuild_queued") {
		t.Fatalf("rebuild: %d %q", rec.Code, loc)
	}
	if rec2 := c.post("/dupes/rebuild", url.Values{}, true); rec2.Header().Get("Location") != loc {
		t.Errorf("a second click queued another job: %q, first %q", rec2.Header().Get("Location"), loc)
	}
	var n int
	if err := f.db.QueryRow(`SELECT count(*) FROM jobs WHERE type = ? AND status = 'queued'`, jobs.TypeDupesRebuild).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d queued dupes_rebuild jobs (%v), want 1", n, err)
	}
	if b := c.do("GET", loc, nil).Body.String(); !strings.Contains(b, `id="dupes-msg"`) || !strings.Contains(b, "Looking for duplicates") {
		t.Error("the page does not say the search was started")
	}
	// What media-worker runs for the job.
	if _, err := dupes.RebuildHandler(f.db, dupes.OptionsFrom(f.cfg.Dupes), &svtime.FixedClock{T: time.Now()})(ctx, nil); err != nil {
		t.Fatal(err)
	}
	page = c.do("GET", "/dupes", nil).Body.String()
	if !strings.Contains(page, `data-tier="exact"`) || !strings.Contains(page, `class="dupes-thumb"`) || strings.Contains(page, `style="`) {
		t.Errorf("after the rebuild: no exact group, or a thumbnail sized inline (the CSP refuses inline styles)")
	}
	for _, want := range []string{"derived from <a href=\"/media_view.php?id=" + strconv.FormatInt(a, 10) + "\">", ">1 derived</a>",
		`id="dupes-compare" href="/compare?ids=` + strconv.FormatInt(a, 10) + "," + strconv.FormatInt(b, 10) + `"`} {
		if !strings.Contains(page, want) {
			t.Errorf("review page lacks %s", want)
		}
	}
}
