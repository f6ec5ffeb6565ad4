package catalog

import (
	"context"
	"net/url"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/catalog/ftsindex"
)

// TestNeighboursFollowTheList: for every filter and sort, prev/next of
// each match are its neighbours in the list's own order (List with the same
// filter), the first match has no prev and the last no next, and a media
// outside the filter still gets neighbours inside it.
func TestNeighboursFollowTheList(t *testing.T) {
	const n = 40
	_, w, r := newDB(t, n)
	ctx := context.Background()
	// Half of the media are videos; a text query must find the original
	// names of a few renamed media.
	if _, err := w.Exec(`UPDATE media SET type = 'video' WHERE id % 2 = 0`); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Exec(`INSERT INTO media_meta(media_id, source, meta_key, meta_value, created_at)
		SELECT id, 'import', 'original_name', 'beach_' || id || '.png', 'x' FROM media WHERE id % 3 = 0`); err != nil {
		t.Fatal(err)
	}
	if _, err := ftsindex.FoldAll(ctx, w, 0); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		q    url.Values
	}{
		{"all newest", url.Values{}},
		{"videos newest", url.Values{"type": {"video"}}},
		{"videos oldest", url.Values{"type": {"video"}, "sort": {"oldest"}}},
		{"rating ties", url.Values{"min_rating": {"1"}, "sort": {"rating"}}},
		{"size with NULLs", url.Values{"type": {"image"}, "sort": {"size"}}},
		{"random", url.Values{"sort": {"random"}, "seed": {"42"}}},
		{"text query newest", url.Values{"q": {"beach"}}},
		{"text query rating", url.Values{"q": {"beach"}, "sort": {"rating"}, "type": {"video"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := ParseFilter(tc.q, true)
			res, err := List(ctx, r, f, Page{Limit: 500}, testNow)
			if err != nil {
				t.Fatal(err)
			}
			order := ids(res.Cards)
			if len(order) < 3 {
				t.Fatalf("only %d matches: the case does not exercise neighbours", len(order))
			}
			for i, id := range order {
				prev, next, err := Neighbours(ctx, r, f, id, testNow)
				if err != nil {
					t.Fatal(err)
				}
				var wantPrev, wantNext int64
				if i > 0 {
					wantPrev = order[i-1]
				}
				if i+1 < len(order) {
					wantNext = order[i+1]
				}
				if prev != wantPrev || next != wantNext {
					t.Fatalf("media %d (position %d of %v): prev %d next %d, want %d %d", id, i, order, prev, next, wantPrev, wantNext)
				}
			}
		})
	}
	t.Run("media outside the filter", func(t *testing.T) {
		// Media 21 is an image; in the video list (newest first) its
		// neighbours are the videos 22 (before it) and 20 (after it).
		prev, next, err := Neighbours(ctx, r, ParseFilter(url.Values{"type": {"video"}}, true), 21, testNow)
		if err != nil || prev != 22 || next != 20 {
			t.Fatalf("prev %d next %d (%v), want 22 20", prev, next, err)
		}
	})
}

// TestOriginalNameTitleAndSearch: a renamed media's original file name is
// its title when no title is set, and a search finds it both through the
// index (folded) and through the LIKE reference (marked, not yet folded).
func TestOriginalNameTitleAndSearch(t *testing.T) {
	_, w, r := newDB(t, 5)
	ctx := context.Background()
	if _, err := w.Exec(`UPDATE media SET path = '/lib/ab/' || hash || '.png' WHERE id = 2`); err != nil {
		t.Fatal(err)
	}
	if _, err := ftsindex.FoldAll(ctx, w, 0); err != nil {
		t.Fatal(err)
	}
	// The name arrives after the fold: media 2 is marked, not folded.
	if _, err := w.Exec(`INSERT INTO media_meta(media_id, source, meta_key, meta_value, created_at)
		VALUES (2, 'import', 'original_name', 'Summer_Holiday-2019.png', 'x')`); err != nil {
		t.Fatal(err)
	}
	search := func(q, scope string) []int64 {
		t.Helper()
		res, err := List(ctx, r, ParseFilter(url.Values{"q": {q}, "q_scope": {scope}}, true), Page{Limit: 50}, testNow)
		if err != nil {
			t.Fatal(err)
		}
		return ids(res.Cards)
	}
	for _, phase := range []string{"marked (LIKE fallback)", "folded (FTS)"} {
		if phase == "folded (FTS)" {
			if n, err := ftsindex.FoldAll(ctx, w, 0); err != nil || n == 0 {
				t.Fatalf("fold: %d, %v", n, err)
			}
		}
		for _, tc := range []struct{ q, scope string }{
			{"holiday", "any"}, {"summer holiday", "any"}, {"Holiday-2019", "path"}, {`"summer_holiday"`, "any"},
		} {
			if got := search(tc.q, tc.scope); len(got) != 1 || got[0] != 2 {
				t.Errorf("%s: q=%q scope=%s found %v, want [2]", phase, tc.q, tc.scope, got)
			}
		}
		if got := search("holiday", "prompt"); len(got) != 0 {
			t.Errorf("%s: scope prompt found the name: %v", phase, got)
		}
	}
	res, err := List(ctx, r, ParseFilter(url.Values{}, true), Page{Limit: 50}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Cards {
		want := PrettyName(c.Path)
		if c.ID == 2 {
			want = "Summer Holiday 2019"
		}
		if c.DisplayTitle() != want {
			t.Errorf("media %d: title %q, want %q", c.ID, c.DisplayTitle(), want)
		}
	}
	d, err := LoadDetail(ctx, r, 2)
	if err != nil {
		t.Fatal(err)
	}
	if d.DisplayTitle() != "Summer Holiday 2019" {
		t.Errorf("detail title %q", d.DisplayTitle())
	}
	if _, err := w.Exec(`INSERT INTO media_meta(media_id, source, meta_key, meta_value, created_at) VALUES (2, 'web', 'title.override', 'Mine', 'x')`); err != nil {
		t.Fatal(err)
	}
	if d, _ = LoadDetail(ctx, r, 2); d.DisplayTitle() != "Mine" {
		t.Errorf("a set title must win over the name: %q", d.DisplayTitle())
	}
}

func TestDisplayTitle(t *testing.T) {
	for _, tc := range []struct{ title, name, path, want string }{
		{"Set", "a_b.png", "/x/y.png", "Set"},
		{"", "my_cat-photo.jpg", "/lib/ab/0123abcd.jpg", "my cat photo"},
		{"", "", `C:\lib\night_sky.png`, "night sky"},
		{"", "  ", "/lib/z.png", "z"},
	} {
		if got := DisplayTitle(tc.title, tc.name, tc.path); got != tc.want {
			t.Errorf("DisplayTitle(%q, %q, %q) = %q, want %q", tc.title, tc.name, tc.path, got, tc.want)
		}
	}
}
