package collections

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/catalog"
	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/db/dbtest"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

var at = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

func setup(t *testing.T, n int) (*sql.DB, []int64) {
	t.Helper()
	d := dbtest.Open(t, filepath.Join(t.TempDir(), "sv.sqlite"))
	var ids []int64
	for i := range n {
		id, err := media.Insert(context.Background(), d, media.NewMedia{Path: fmt.Sprintf("/lib/img%02d.png", i), Type: "image",
			Hash: fmt.Sprintf("h%02d", i), HasNSFW: i == n-1}, at)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return d, ids
}

func order(t *testing.T, d *sql.DB, id int64) []int64 {
	t.Helper()
	got, _, err := members(context.Background(), d, id)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if reason.Code(err) != code {
		t.Fatalf("err = %v, want code %s", err, code)
	}
}

func count(t *testing.T, d *sql.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := d.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	d, m := setup(t, 6)
	by := Actor{At: at, Key: "test"}
	c, err := Create(ctx, d, "  Holiday 2026 ", "the sea", "", by)
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "Holiday 2026" || c.Saved || c.Description != "the sea" {
		t.Fatalf("created %+v", c)
	}
	// Names: taken (also in another case), invalid.
	for _, tc := range []struct{ name, code string }{
		{"holiday 2026", CodeNameTaken}, {"", CodeNameInvalid}, {"   ", CodeNameInvalid}, {"2026", CodeNameInvalid},
		{strings.Repeat("x", MaxNameRunes+1), CodeNameInvalid}, {"a\x00b", CodeNameInvalid},
	} {
		_, err := Create(ctx, d, tc.name, "", "", by)
		wantCode(t, err, tc.code)
	}
	other, err := Create(ctx, d, "Other", "", "", by)
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, Rename(ctx, d, other.ID, "HOLIDAY 2026", by), CodeNameTaken)
	if err := Rename(ctx, d, c.ID, "Holiday", by); err != nil {
		t.Fatal(err)
	}
	if err := Rename(ctx, d, c.ID, "holiday", by); err != nil { // its own name in another case
		t.Fatal(err)
	}
	if err := Describe(ctx, d, c.ID, "", by); err != nil {
		t.Fatal(err)
	}
	wantCode(t, Rename(ctx, d, 999, "x", by), CodeNotFound)
	wantCode(t, Describe(ctx, d, c.ID, strings.Repeat("d", MaxDescriptionRunes+1), by), CodeDescTooLong)

	// Add keeps the order given; a second add of members only appends new ones.
	r, err := Add(ctx, d, c.ID, []int64{m[2], m[0], m[1]}, by)
	if err != nil || r.Added != 3 {
		t.Fatalf("add: %+v %v", r, err)
	}
	r, err = Add(ctx, d, c.ID, []int64{m[0], m[3]}, by)
	if err != nil || r.Added != 1 || r.Already != 1 {
		t.Fatalf("add again: %+v %v", r, err)
	}
	if got := order(t, d, c.ID); !slices.Equal(got, []int64{m[2], m[0], m[1], m[3]}) {
		t.Fatalf("order %v", got)
	}
	// An unknown media id refuses the whole add.
	_, err = Add(ctx, d, c.ID, []int64{m[4], 9999}, by)
	wantCode(t, err, CodeMediaMissing)
	if got := order(t, d, c.ID); len(got) != 4 {
		t.Fatalf("partial add: %v", got)
	}

	byName, err := Resolve(ctx, d, "holiday")
	if err != nil || byName.ID != c.ID || byName.Count != 4 {
		t.Fatalf("resolve by name: %+v %v", byName, err)
	}
	if byID, err := Resolve(ctx, d, fmt.Sprint(c.ID)); err != nil || byID.ID != c.ID {
		t.Fatalf("resolve by id: %+v %v", byID, err)
	}
	_, err = Resolve(ctx, d, "nope")
	wantCode(t, err, CodeNotFound)

	of, err := OfMedia(ctx, d, m[0])
	if err != nil || len(of) != 1 || of[0].ID != c.ID {
		t.Fatalf("of media: %+v %v", of, err)
	}
	if n, err := Remove(ctx, d, c.ID, []int64{m[0], m[5]}, by); err != nil || n != 1 {
		t.Fatalf("remove: %d %v", n, err)
	}
	if got := order(t, d, c.ID); !slices.Equal(got, []int64{m[2], m[1], m[3]}) {
		t.Fatalf("order after remove %v", got)
	}
	if n := count(t, d, `SELECT count(*) FROM audit_log WHERE entity_type = 'collection' AND entity_id = ?`, c.ID); n < 6 {
		t.Fatalf("%d audit rows", n)
	}

	// Deleting the collection keeps every media.
	if err := Delete(ctx, d, c.ID, by); err != nil {
		t.Fatal(err)
	}
	if n := count(t, d, `SELECT count(*) FROM media`); n != 6 {
		t.Fatalf("%d media after deleting the collection, want 6", n)
	}
	if n := count(t, d, `SELECT count(*) FROM collection_media WHERE collection_id = ?`, c.ID); n != 0 {
		t.Fatalf("%d membership rows left", n)
	}
	wantCode(t, Delete(ctx, d, c.ID, by), CodeNotFound)
}

// TestCascadeDirection: the schema's foreign keys cascade from a deleted
// collection to its rows and from a deleted media to its rows, never from
// membership rows to media.
func TestCascadeDirection(t *testing.T) {
	ctx := context.Background()
	d, m := setup(t, 3)
	by := Actor{At: at}
	a, _ := Create(ctx, d, "A", "", "", by)
	b, _ := Create(ctx, d, "B", "", "", by)
	for _, c := range []Collection{a, b} {
		if _, err := Add(ctx, d, c.ID, m, by); err != nil {
			t.Fatal(err)
		}
	}
	// A plain DELETE (the cascade alone, as another tool would do it).
	if _, err := d.Exec(`DELETE FROM collections WHERE id = ?`, a.ID); err != nil {
		t.Fatal(err)
	}
	if n := count(t, d, `SELECT count(*) FROM media`); n != 3 {
		t.Fatalf("deleting a collection deleted media: %d left", n)
	}
	if n := count(t, d, `SELECT count(*) FROM collection_media WHERE collection_id = ?`, a.ID); n != 0 {
		t.Fatalf("cascade from collections left %d rows", n)
	}
	// Deleting a media removes its memberships and nothing else.
	if _, err := media.Forget(ctx, d, []int64{m[1]}); err != nil {
		t.Fatal(err)
	}
	if got := order(t, d, b.ID); !slices.Equal(got, []int64{m[0], m[2]}) {
		t.Fatalf("members after media delete %v", got)
	}
	if c, err := Get(ctx, d, b.ID); err != nil || c.Count != 2 {
		t.Fatalf("collection after media delete: %+v %v", c, err)
	}
}

func TestOrderMoves(t *testing.T) {
	ctx := context.Background()
	d, m := setup(t, 6)
	by := Actor{At: at}
	c, _ := Create(ctx, d, "Order", "", "", by)
	if _, err := Add(ctx, d, c.ID, m, by); err != nil {
		t.Fatal(err)
	}
	ix := func(is ...int) []int64 {
		out := make([]int64, len(is))
		for i, x := range is {
			out[i] = m[x]
		}
		return out
	}
	steps := []struct {
		name string
		do   func() error
		want []int64
	}{
		{"up one", func() error { return Shift(ctx, d, c.ID, ix(2), -1, by) }, ix(0, 2, 1, 3, 4, 5)},
		{"up at the top stays", func() error { return Shift(ctx, d, c.ID, ix(0), -1, by) }, ix(0, 2, 1, 3, 4, 5)},
		{"block down", func() error { return Shift(ctx, d, c.ID, ix(2, 1), 1, by) }, ix(0, 3, 2, 1, 4, 5)},
		{"down past the end stops", func() error { return Shift(ctx, d, c.ID, ix(4), 10, by) }, ix(0, 3, 2, 1, 5, 4)},
		{"to the start", func() error { return MoveTo(ctx, d, c.ID, ix(5, 1), 1, by) }, ix(1, 5, 0, 3, 2, 4)},
		{"to position 3", func() error { return MoveTo(ctx, d, c.ID, ix(4), 3, by) }, ix(1, 5, 4, 0, 3, 2)},
		{"to the end", func() error { return MoveTo(ctx, d, c.ID, ix(1), 0, by) }, ix(5, 4, 0, 3, 2, 1)},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := order(t, d, c.ID); !slices.Equal(got, s.want) {
			t.Fatalf("%s: order %v, want %v", s.name, got, s.want)
		}
	}
	wantCode(t, MoveTo(ctx, d, c.ID, []int64{9999}, 1, by), CodeNotMember)

	// Keyset pages follow the order; the adult media (m[5]) only with adult.
	var seen, prevPage []int64
	ids := func(cs []catalog.Card) []int64 {
		var out []int64
		for _, c := range cs {
			out = append(out, c.ID)
		}
		return out
	}
	pg := catalog.Page{Limit: 2}
	for {
		p, err := Items(ctx, d, c.ID, pg, true)
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, ids(p.Cards)...)
		if p.Prev != nil {
			// The way back is exactly the page before.
			back, err := Items(ctx, d, c.ID, catalog.Page{Limit: 2, Before: p.Prev}, true)
			if err != nil || !slices.Equal(ids(back.Cards), prevPage) || back.Next == nil {
				t.Fatalf("before page: %v, want %v (%v)", ids(back.Cards), prevPage, err)
			}
		}
		if p.Next == nil {
			break
		}
		pg.After, prevPage = p.Next, ids(p.Cards)
	}
	if want := ix(5, 4, 0, 3, 2, 1); !slices.Equal(seen, want) {
		t.Fatalf("pages %v, want %v", seen, want)
	}
	// Neighbours in the album's order (5, 4, 0, 3, 2, 1), the adult m[5]
	// skipped without adult.
	for _, tc := range []struct {
		m           int
		adult       bool
		prev, next  int64
		wantsMember bool
	}{
		{0, true, m[4], m[3], true}, {4, true, m[5], m[0], true}, {4, false, 0, m[0], true}, {1, true, m[2], 0, true},
	} {
		prev, next, member, err := Neighbours(ctx, d, c.ID, m[tc.m], tc.adult)
		if err != nil || prev != tc.prev || next != tc.next || member != tc.wantsMember {
			t.Fatalf("neighbours of m[%d] (adult %v): %d %d %v %v", tc.m, tc.adult, prev, next, member, err)
		}
	}
	other, _ := Create(ctx, d, "Other", "", "", by)
	if _, _, member, err := Neighbours(ctx, d, other.ID, m[0], true); member || err != nil {
		t.Fatalf("non-member: %v %v", member, err)
	}
	p, err := Items(ctx, d, c.ID, catalog.Page{Limit: 10}, false)
	if err != nil || len(p.Cards) != 5 || slices.ContainsFunc(p.Cards, func(c catalog.Card) bool { return c.ID == m[5] }) {
		t.Fatalf("without adult: %d cards %v", len(p.Cards), err)
	}
}

func TestSavedSearch(t *testing.T) {
	ctx := context.Background()
	d, m := setup(t, 2)
	by := Actor{At: at}
	s, err := Create(ctx, d, "Juggernaut at cfg 7", "", "model:juggernaut cfg:7", by)
	if err != nil || !s.Saved || s.Query != "model:juggernaut cfg:7" {
		t.Fatalf("saved: %+v %v", s, err)
	}
	_, err = Add(ctx, d, s.ID, m, by)
	wantCode(t, err, CodeNotManual)
	_, err = Create(ctx, d, "Long", "", strings.Repeat("a", 5000), by)
	wantCode(t, err, "query_too_long")
	all, err := List(ctx, d)
	if err != nil || len(all) != 1 {
		t.Fatalf("list: %+v %v", all, err)
	}
	if _, err := Create(ctx, d, "zebra album", "", "", by); err != nil {
		t.Fatal(err)
	}
	if names, err := AlbumNames(ctx, d, 10); err != nil || !slices.Equal(names, []string{"zebra album"}) {
		t.Fatalf("album names (saved searches left out): %v %v", names, err)
	}
	// Collections and saved searches share the name space.
	_, err = Create(ctx, d, "juggernaut AT cfg 7", "", "", by)
	wantCode(t, err, CodeNameTaken)
}

// TestOriginalDatabase: collections the original's schema holds (no
// position, added_at, updated_at or query) survive the upgrade as albums
// in id order, and new members go after them.
func TestOriginalDatabase(t *testing.T) {
	ctx := context.Background()
	path := dbtest.OpenLegacy(t, filepath.Join(t.TempDir(), "local.sqlite"),
		`INSERT INTO media (id, path, type, source, filesize, hash, created_at, imported_at, rating, has_nsfw, status)
		 VALUES (1, 'D:/lib/a.png', 'image', 'import', 1, 'a', '2024-03-01T12:00:00+01:00', '2024-03-02T08:00:00+01:00', 0, 0, 'active'),
		        (2, 'D:/lib/b.png', 'image', 'import', 1, 'b', '2024-03-01T12:00:00+01:00', '2024-03-02T08:00:00+01:00', 0, 0, 'active'),
		        (3, 'D:/lib/c.png', 'image', 'import', 1, 'c', '2024-03-01T12:00:00+01:00', '2024-03-02T08:00:00+01:00', 0, 0, 'active')`,
		`INSERT INTO collections (id, name, description, created_at) VALUES (7, 'Old album', NULL, '2024-03-05T10:00:00+01:00')`,
		`INSERT INTO collection_media (collection_id, media_id) VALUES (7, 2), (7, 1)`)
	d, err := db.Open(ctx, db.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := db.Migrate(ctx, d, db.MigrateOptions{}); err != nil {
		t.Fatal(err)
	}
	c, err := Resolve(ctx, d, "Old album")
	if err != nil || c.Saved || c.Count != 2 {
		t.Fatalf("old album: %+v %v", c, err)
	}
	if _, err := Add(ctx, d, c.ID, []int64{3}, Actor{At: at}); err != nil {
		t.Fatal(err)
	}
	if got := order(t, d, c.ID); !slices.Equal(got, []int64{1, 2, 3}) {
		t.Fatalf("order %v", got)
	}
	if err := Shift(ctx, d, c.ID, []int64{3}, -2, Actor{At: at}); err != nil {
		t.Fatal(err)
	}
	if got := order(t, d, c.ID); !slices.Equal(got, []int64{3, 1, 2}) {
		t.Fatalf("order after shift %v", got)
	}
}
