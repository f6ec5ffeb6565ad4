package cull

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/collections"
	"github.com/localsupervisor/supervisor/pkg/db/dbtest"
	"github.com/localsupervisor/supervisor/pkg/library"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

// snapshot is everything a decision may change on a media.
type snapshot struct {
	Rating                       int
	Deleted, NSFW                bool
	DeletedAt                    sql.NullString
	Checked, CheckedAt, NSFWMark string
	Member                       bool
}

func snap(t *testing.T, d *sql.DB, id, album int64) snapshot {
	t.Helper()
	ctx := context.Background()
	var s snapshot
	if err := d.QueryRow(`SELECT rating, is_deleted, has_nsfw, deleted_at FROM media WHERE id = ?`, id).
		Scan(&s.Rating, &s.Deleted, &s.NSFW, &s.DeletedAt); err != nil {
		t.Fatal(err)
	}
	s.Checked, _, _ = media.GetMeta(ctx, d, id, media.MetaChecked)
	s.CheckedAt, _, _ = media.GetMeta(ctx, d, id, media.MetaCheckedAt)
	s.NSFWMark, _, _ = media.GetMeta(ctx, d, id, media.MetaNSFWManual)
	var n int
	if err := d.QueryRow(`SELECT count(*) FROM collection_media WHERE collection_id = ? AND media_id = ?`, album, id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	s.Member = n > 0
	return s
}

// TestDecideUndo: every decision changes what it should, and undo puts
// back exactly the state before — from a fresh media and from one that
// already had a rating, a checked mark (also "0"), a deleted flag, a
// manual 18+ decision or the album membership.
func TestDecideUndo(t *testing.T) {
	ctx := context.Background()
	d := dbtest.Open(t, filepath.Join(t.TempDir(), "sv.db"))
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	actor := collections.Actor{At: now, IP: "127.0.0.1", Key: "session"}
	album, err := collections.Create(ctx, d, "Keepers", "", "", actor)
	if err != nil {
		t.Fatal(err)
	}
	// Files outside the library roots: 18+ flags them without a move.
	env := Env{DB: d, Roots: library.Roots{}, Actor: actor}
	newMedia := func(i int) int64 {
		id, err := media.Insert(ctx, d, media.NewMedia{Path: filepath.Join("/elsewhere", string(rune('a'+i))+".png"), Type: "image",
			Filesize: 1, Hash: string(rune('a'+i)) + "0"}, now)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	pass, err := Start(ctx, d, "type=image", 10, album.ID, now)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		action string
		value  string
		before func(id int64)
		check  func(s snapshot) bool
	}{
		{"keep fresh", Keep, "", nil, func(s snapshot) bool { return s.Checked == "1" && s.CheckedAt != "" }},
		{"keep unchecked", Keep, "", func(id int64) {
			if err := media.SetChecked(ctx, d, id, false, now.Add(-time.Hour)); err != nil {
				t.Fatal(err)
			}
		}, func(s snapshot) bool { return s.Checked == "1" }},
		{"reject fresh", Reject, "", nil, func(s snapshot) bool { return s.Deleted && s.DeletedAt.Valid }},
		{"reject deleted", Reject, "", func(id int64) {
			if err := media.SoftDelete(ctx, d, id, now.Add(-time.Hour)); err != nil {
				t.Fatal(err)
			}
		}, func(s snapshot) bool { return s.Deleted }},
		{"rate fresh", Rate, "3", nil, func(s snapshot) bool { return s.Rating == 3 }},
		{"rate rated", Rate, "0", func(id int64) {
			if err := media.SetRating(ctx, d, id, 2); err != nil {
				t.Fatal(err)
			}
		}, func(s snapshot) bool { return s.Rating == 0 }},
		{"adult fresh", Adult, "", nil, func(s snapshot) bool { return s.NSFW && s.NSFWMark == "1" }},
		{"adult decided safe", Adult, "", func(id int64) {
			if _, err := media.SetNSFW(ctx, d, env.Roots, id, false, now.Add(-time.Hour)); err != nil {
				t.Fatal(err)
			}
		}, func(s snapshot) bool { return s.NSFW && s.NSFWMark == "1" }},
		{"collect fresh", Collect, "", nil, func(s snapshot) bool { return s.Member }},
		{"collect member", Collect, "", func(id int64) {
			if _, err := collections.Add(ctx, d, album.ID, []int64{id}, actor); err != nil {
				t.Fatal(err)
			}
		}, func(s snapshot) bool { return s.Member }},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := newMedia(i)
			if tc.before != nil {
				tc.before(id)
			}
			before := snap(t, d, id, album.ID)
			dec, err := Decide(ctx, env, pass.ID, id, tc.action, tc.value)
			if err != nil {
				t.Fatal(err)
			}
			if after := snap(t, d, id, album.ID); !tc.check(after) {
				t.Fatalf("after %s: %+v", tc.action, after)
			}
			if dec.Advanced != Advances(tc.action) {
				t.Fatalf("advanced %v", dec.Advanced)
			}
			st, err := Load(ctx, d, pass.ID)
			if err != nil || st.Last == nil || st.Last.ID != dec.ID || st.Done != 1 {
				t.Fatalf("state after the decision: %+v %v", st, err)
			}
			undone, err := Undo(ctx, env, pass.ID)
			if err != nil || undone.ID != dec.ID {
				t.Fatalf("undo: %+v %v", undone, err)
			}
			if got := snap(t, d, id, album.ID); got != before {
				t.Fatalf("after undo\n got %+v\nwant %+v", got, before)
			}
			if st, _ := Load(ctx, d, pass.ID); st.Done != 0 || st.Last != nil {
				t.Fatalf("state after undo: %+v", st)
			}
		})
	}
	var audits, undos int
	if err := d.QueryRow(`SELECT count(*) FROM audit_log WHERE action LIKE 'cull%'`).Scan(&audits); err != nil {
		t.Fatal(err)
	}
	if err := d.QueryRow(`SELECT count(*) FROM audit_log WHERE action = 'cull_undo'`).Scan(&undos); err != nil {
		t.Fatal(err)
	}
	if audits != 2*len(tests) || undos != len(tests) {
		t.Fatalf("%d culling audit rows (%d undo), want one per decision and per undo", audits, undos)
	}
}

// TestPassLifecycle: refusals carry their reason code; a finished pass
// takes no decision until undo reopens it; "last session" is the newest
// finished pass's start.
func TestPassLifecycle(t *testing.T) {
	ctx := context.Background()
	d := dbtest.Open(t, filepath.Join(t.TempDir(), "sv.db"))
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	env := Env{DB: d, Actor: collections.Actor{At: now}}
	id, err := media.Insert(ctx, d, media.NewMedia{Path: "/elsewhere/x.png", Type: "image", Filesize: 1, Hash: "x"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if last, err := LastSession(ctx, d); err != nil || last != 0 {
		t.Fatalf("last session before any pass: %d %v", last, err)
	}
	p, err := Start(ctx, d, "q=x", 1, 0, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		pass          int64
		media         int64
		action, value string
		code          string
	}{
		{p.ID, id, "explode", "", CodeUnknownAction},
		{p.ID, id, Rate, "4", CodeBadValue},
		{p.ID, id, Rate, "x", CodeBadValue},
		{p.ID, id, Collect, "", CodeNoCollection},
		{p.ID + 100, id, Keep, "", CodeNoPass},
		{p.ID, id + 100, Keep, "", media.CodeNotFound},
	} {
		if _, err := Decide(ctx, env, tc.pass, tc.media, tc.action, tc.value); reason.Code(err) != tc.code {
			t.Errorf("%s %s: %v, want %s", tc.action, tc.value, err, tc.code)
		}
	}
	if _, err := Undo(ctx, env, p.ID); reason.Code(err) != CodeNothingToUndo {
		t.Fatalf("undo of nothing: %v", err)
	}
	if _, ok, _ := Unfinished(ctx, d, "q=x"); !ok {
		t.Fatal("the open pass is not found to resume")
	}
	if _, err := Decide(ctx, env, p.ID, id, Keep, ""); err != nil {
		t.Fatal(err)
	}
	if err := Finish(ctx, d, p.ID, now); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := Unfinished(ctx, d, "q=x"); ok {
		t.Fatal("a finished pass is resumed")
	}
	if last, _ := LastSession(ctx, d); last != id {
		t.Fatalf("last session %d, want the newest media id %d at the pass start", last, id)
	}
	if _, err := Decide(ctx, env, p.ID, id, Reject, ""); reason.Code(err) != CodePassFinished {
		t.Fatalf("decision on a finished pass: %v", err)
	}
	if _, err := Undo(ctx, env, p.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := Unfinished(ctx, d, "q=x"); !ok {
		t.Fatal("undo did not reopen the finished pass")
	}
}
