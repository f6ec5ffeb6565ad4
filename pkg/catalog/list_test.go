package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"github.com/localsupervisor/supervisor/pkg/db/dbtest"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3" // raw handle for the exclusive-lock test

	"github.com/localsupervisor/supervisor/pkg/db"
)

const testNow = int64(1767225600) // 2026-01-01T00:00:00Z

// newDB creates a migrated catalogue with n media that all share one
// imported_at and have many equal ratings and sizes (ties everywhere), some
// sizes NULL.
func newDB(t testing.TB, n int) (path string, w, r *sql.DB) {
	t.Helper()
	ctx := context.Background()
	path = filepath.Join(t.TempDir(), "sv.db")
	w = dbtest.Open(t, path)
	for i := 1; i <= n; i++ {
		var size any = int64(1000 * (i % 3))
		if i%5 == 0 {
			size = nil
		}
		if _, err := w.Exec(`INSERT INTO media(path, type, source, filesize, hash, imported_at, created_at, rating, has_nsfw)
			VALUES (?, 'image', 'import', ?, ?, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', ?, 0)`,
			fmt.Sprintf("/lib/img%03d.png", i), size, fmt.Sprintf("%064x", i), i%4); err != nil {
			t.Fatal(err)
		}
	}
	r, err := db.OpenReadOnly(ctx, db.Options{Path: path, BusyTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return path, w, r
}

func ids(cs []Card) []int64 {
	out := make([]int64, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

// TestKeysetPagingTies pages forward and back in small pages for every sort
// and requires exactly the single-page order: no card lost or repeated at a
// page boundary, even where the sort key ties or is NULL.
func TestKeysetPagingTies(t *testing.T) {
	const n = 23
	_, _, r := newDB(t, n)
	ctx := context.Background()
	for _, sort := range []string{"newest", "oldest", "rating", "size", "random"} {
		for _, limit := range []int{1, 4, 7} {
			t.Run(fmt.Sprintf("%s/%d", sort, limit), func(t *testing.T) {
				f := ParseFilter(url.Values{"sort": {sort}, "seed": {"7"}}, true)
				all, err := List(ctx, r, f, Page{Limit: 500}, testNow)
				if err != nil {
					t.Fatal(err)
				}
				want := ids(all.Cards)
				if len(want) != n {
					t.Fatalf("single page has %d cards, want %d", len(want), n)
				}
				var got []int64
				var pages []Result
				pg := Page{Limit: limit}
				for guard := 0; ; guard++ {
					if guard > n+1 {
						t.Fatal("paging does not terminate")
					}
					res, err := List(ctx, r, f, pg, testNow)
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, ids(res.Cards)...)
					pages = append(pages, res)
					if res.Next == nil {
						break
					}
					pg = Page{Limit: limit, After: res.Next}
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("forward paging\n got %v\nwant %v", got, want)
				}
				// Backwards from the last page must reproduce every page.
				for i := len(pages) - 1; i > 0; i-- {
					prev, err := List(ctx, r, f, Page{Limit: limit, Before: pages[i].Prev}, testNow)
					if err != nil {
						t.Fatal(err)
					}
					if fmt.Sprint(ids(prev.Cards)) != fmt.Sprint(ids(pages[i-1].Cards)) {
						t.Fatalf("page %d backwards %v, want %v", i-1, ids(prev.Cards), ids(pages[i-1].Cards))
					}
				}
				// Cursors survive their URL form.
				if len(pages) > 1 {
					c, ok := ParseCursor(pages[0].Next.String())
					if !ok || c != *pages[0].Next {
						t.Fatalf("cursor round trip %v -> %v %v", *pages[0].Next, c, ok)
					}
				}
			})
		}
	}
}

// TestListBusy makes the read handle really busy. WAL readers are never
// blocked by ordinary writers, so a second connection switches to
// locking_mode=EXCLUSIVE and writes: it then keeps the database locked
// (and the WAL index private) until it closes, and the 50 ms read handle
// must give up with a busy error that callers map to 503.
func TestListBusy(t *testing.T) {
	path, w, r := newDB(t, 3)
	ctx := context.Background()
	if _, err := List(ctx, r, ParseFilter(url.Values{}, true), Page{}, testNow); err != nil {
		t.Fatal(err)
	}
	// Every open WAL connection holds a shared lock that an exclusive
	// locker must wait for: close the idle pool connections first, so the
	// reader's next query has to open (and lock) the file anew.
	w.SetMaxIdleConns(0)
	r.SetMaxIdleConns(0)
	x, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=0")
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	x.SetMaxOpenConns(1)
	conn, err := x.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, q := range []string{"PRAGMA locking_mode=EXCLUSIVE", "BEGIN EXCLUSIVE", "UPDATE media SET rating = 3 WHERE id = 1"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	_, err = List(ctx, r, ParseFilter(url.Values{}, true), Page{}, testNow)
	if err == nil {
		t.Fatal("list succeeded while another connection held an exclusive lock")
	}
	if !db.IsBusy(err) && !errors.Is(err, db.ErrBusy) {
		t.Fatalf("error %v is not classified busy", err)
	}
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
}
