package catalog

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strconv"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/catalog/catalogtest"
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
