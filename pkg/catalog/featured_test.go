package catalog

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"testing"
)

// TestFeaturedMatchesFullOrdering compares the two-candidate-set Featureview
// with ordering every match by score, age and id, on media with mixed ages,
// NULL created_at, clicks old and new, and filters.
func TestFeaturedMatchesFullOrdering(t *testing.T) {
	_, w, r := newDB(t, 60)
	for i := 1; i <= 60; i++ {
		created := any(fmt.Sprintf("2025-%02d-%02dT10:00:00Z", 1+i%12, 1+i%28))
		if i%9 == 0 {
			created = nil // age falls back to imported_at
		}
		if _, err := w.Exec(`UPDATE media SET created_at = ?, imported_at = ?, has_nsfw = ? WHERE id = ?`,
			created, fmt.Sprintf("2025-06-%02dT00:00:00Z", 1+i%28), i%11 == 0, i); err != nil {
			t.Fatal(err)
		}
		if i%4 == 0 { // clicked media, some long ago (score below the never-clicked)
			if _, err := w.Exec(`INSERT INTO media_activity(media_id, clicks, last_click_at) VALUES (?, ?, ?)`,
				i, i%3, testNow-int64(i*86400*9)); err != nil {
				t.Fatal(err)
			}
		}
	}
	ctx := context.Background()
	for _, q := range []url.Values{{}, {"min_rating": {"2"}}, {"type": {"image"}, "sort": {"oldest"}}} {
		for _, n := range []int{1, 4, 10} {
			f := ParseFilter(q, true)
			got, err := Featured(ctx, r, f, n, testNow)
			if err != nil {
				t.Fatal(err)
			}
			where, args := f.Where(testNow)
			rows, err := r.Query("SELECT m.id FROM media m WHERE "+where+" ORDER BY "+ActivityScoreExpr+", "+featuredAge+", m.id LIMIT ?",
				append(append(args, testNow), n)...)
			if err != nil {
				t.Fatal(err)
			}
			var want []int64
			for rows.Next() {
				var id int64
				rows.Scan(&id)
				want = append(want, id)
			}
			rows.Close()
			if !slices.Equal(ids(got), want) || len(want) != n {
				t.Fatalf("%v n=%d: featured %v, full ordering %v", q, n, ids(got), want)
			}
		}
	}
}
