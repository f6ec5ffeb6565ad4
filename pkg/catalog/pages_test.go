package catalog

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/catalog/catalogtest"
	"github.com/localsupervisor/supervisor/pkg/query"
)

// TestNumberedPagesMatchKeyset requires the legacy numbered page ?p=N to
// show exactly the N-th page of the keyset walk (next links from page 1),
// for every sort, with ties and NULL keys, with and without a filter, and
// to be empty past the end; its links continue as keyset links.
func TestNumberedPagesMatchKeyset(t *testing.T) {
	r := newCurationDB(t, 600)
	ctx := context.Background()
	for _, q := range []url.Values{
		{},
		{"tag": {catalogtest.CommonTag}},
		{"type": {"video"}, "min_rating": {"1"}},
		{"q": {"dragon"}},
	} {
		for _, sort := range []string{"newest", "oldest", "rating", "size", "random"} {
			const limit = 7
			t.Run(q.Encode()+"/"+sort, func(t *testing.T) {
				v := url.Values{"sort": {sort}, "seed": {"5"}}
				for k, x := range q {
					v[k] = x
				}
				f := ParseFilter(v, true)
				keyset := keysetPages(t, r, f, limit)
				if len(keyset) < 3 {
					t.Fatalf("only %d pages: the case does not test deep pages", len(keyset))
				}
				for n := 1; n <= len(keyset)+1; n++ {
					v.Set("p", strconv.Itoa(n))
					fp := ParseFilter(v, true)
					res, err := List(ctx, r, fp, Page{Limit: limit}, testNow)
					if err != nil {
						t.Fatal(err)
					}
					if n > len(keyset) {
						if len(res.Cards) != 0 || res.Next != nil {
							t.Fatalf("p=%d past the end: %v, next %v", n, ids(res.Cards), res.Next)
						}
						continue
					}
					want := keyset[n-1]
					if fmt.Sprint(ids(res.Cards)) != fmt.Sprint(ids(want.Cards)) {
						t.Fatalf("p=%d: %v, keyset page %v", n, ids(res.Cards), ids(want.Cards))
					}
					if fmt.Sprint(res.Next) != fmt.Sprint(want.Next) || (res.Prev == nil) != (n == 1) {
						t.Fatalf("p=%d links: next %v prev %v, keyset next %v", n, res.Next, res.Prev, want.Next)
					}
					if res.Prev != nil {
						back, err := List(ctx, r, f, Page{Limit: limit, Before: res.Prev}, testNow)
						if err != nil {
							t.Fatal(err)
						}
						if fmt.Sprint(ids(back.Cards)) != fmt.Sprint(ids(keyset[n-2].Cards)) {
							t.Fatalf("p=%d prev: %v, want %v", n, ids(back.Cards), ids(keyset[n-2].Cards))
						}
					}
				}
			})
		}
	}
}

// keysetPages pages through f's matches by next links from page 1.
func keysetPages(t *testing.T, r *sql.DB, f Filter, limit int) []Result {
	t.Helper()
	var pages []Result
	pg := Page{Limit: limit}
	for guard := 0; ; guard++ {
		if guard > 1000 {
			t.Fatal("paging does not terminate")
		}
		res, err := List(context.Background(), r, f, pg, testNow)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, res)
		if res.Next == nil {
			return pages
		}
		pg = Page{Limit: limit, After: res.Next}
	}
}

// TestJumpToDate requires ?jump= to start the id-ordered lists at the
// period: newest first at the last match imported before the period
// ends, oldest first at the first match imported from its start, with
// filters kept; an open end starts at the list's top, a period before
// every import gives an empty newest-first page, and a value that is no
// date is the query's bad-value error.
func TestJumpToDate(t *testing.T) {
	// One import an hour: 24 media per day from 2025-01-01.
	r := newCurationDB(t, 600, `UPDATE media SET imported_at = strftime('%Y-%m-%dT%H:%M:%SZ', 1735689600 + id * 3600, 'unixepoch')`)
	ctx := context.Background()
	day := func(id int64) string { return time.Unix(1735689600+id*3600, 0).UTC().Format("2006-01-02") }
	for _, c := range []struct {
		name string
		v    url.Values
		// want picks the expected first card from the full list in order.
		want func(id int64) bool
		none bool
	}{
		{"newest", url.Values{"jump": {"2025-01-10"}}, func(id int64) bool { return day(id) <= "2025-01-10" }, false},
		{"newest month", url.Values{"jump": {"2025-01"}}, func(id int64) bool { return day(id) <= "2025-01-31" }, false},
		{"oldest", url.Values{"jump": {"2025-01-10"}, "sort": {"oldest"}}, func(id int64) bool { return day(id) >= "2025-01-10" }, false},
		{"newest filtered", url.Values{"jump": {"2025-01-10"}, "type": {"video"}}, func(id int64) bool { return day(id) <= "2025-01-10" }, false},
		{"open end", url.Values{"jump": {"2025-01-10.."}}, func(int64) bool { return true }, false},
		{"before every import", url.Values{"jump": {"2024-06-01"}}, nil, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := ParseFilterAt(c.v, true, time.Unix(testNow, 0))
			if f.QueryErr != nil {
				t.Fatal(f.QueryErr)
			}
			base := c.v
			base.Del("jump")
			var all []int64
			for _, p := range keysetPages(t, r, ParseFilter(base, true), 50) {
				all = append(all, ids(p.Cards)...)
			}
			res, err := List(ctx, r, f, Page{Limit: 7}, testNow)
			if err != nil {
				t.Fatal(err)
			}
			if c.none {
				if len(res.Cards) != 0 {
					t.Fatalf("cards %v, want none", ids(res.Cards))
				}
				return
			}
			start := slices.IndexFunc(all, c.want)
			if start < 0 {
				t.Fatal("the case matches nothing")
			}
			want := all[start:min(start+7, len(all))]
			if fmt.Sprint(ids(res.Cards)) != fmt.Sprint(want) {
				t.Fatalf("jump page %v, want %v", ids(res.Cards), want)
			}
			if start > 0 && res.Prev == nil {
				t.Fatal("a jump past the top has no Previous link")
			}
		})
	}
	for _, bad := range []string{"yesterday", "2025-13-40", "(("} {
		f := ParseFilterAt(url.Values{"jump": {bad}}, true, time.Unix(testNow, 0))
		if f.QueryErr == nil || f.QueryErr.Code != query.CodeBadValue || f.QueryErr.Field != "jump" {
			t.Errorf("jump=%s: %v, want a bad-value error for jump", bad, f.QueryErr)
		}
	}
}
