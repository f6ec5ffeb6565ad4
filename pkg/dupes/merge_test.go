package dupes

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/collections"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

var cli = collections.Actor{At: now, Key: "cli"}

// mergeLib: keep is a re-saved JPEG without a prompt; d1 the PNG with
// the prompt history, locked tags, the best rating, an album and a
// title; d2 a third copy with one more tag.
func mergeLib(t *testing.T) (l *lib, keep, d1, d2 int64, album int64) {
	l = newLib(t)
	ctx := context.Background()
	keep, d1, d2 = l.add("k.jpg", 64, 64), l.add("d1.png", 64, 64), l.add("d2.webp", 64, 64)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	tag := func(id int64, name string, conf float64, lock bool) {
		_, err := media.AddTag(ctx, l.d, id, name, "", conf, lock)
		must(err)
	}
	tag(keep, "cat", 0.5, false)
	tag(d1, "cat", 0.9, true)
	tag(d1, "dog", 1, true)
	tag(d1, "sky", 0.7, false)
	tag(d2, "tree", 0.6, false)
	must(media.SetRating(ctx, l.d, keep, 1))
	must(media.SetRating(ctx, l.d, d1, 3))
	must(media.SetRating(ctx, l.d, d2, 2))
	_, err := media.SavePrompt(ctx, l.d, d1, media.Prompt{Prompt: "a cat", Model: "m1"}, "import", "a cat\nModel: m1", now)
	must(err)
	_, err = media.SavePrompt(ctx, l.d, d1, media.Prompt{Prompt: "a cat at sunset"}, "edit", "", now)
	must(err)
	_, err = media.SetMeta(ctx, l.d, d1, "web", "title.override", "Sunset cat", now)
	must(err)
	col, err := collections.Create(ctx, l.d, "Album", "", "", cli)
	must(err)
	_, err = collections.Add(ctx, l.d, col.ID, []int64{d1}, cli)
	must(err)
	return l, keep, d1, d2, col.ID
}

type tagState struct {
	Name   string
	Locked bool
}

func tagsOf(t *testing.T, l *lib, id int64) []tagState {
	tags, err := media.Tags(context.Background(), l.d, id)
	if err != nil {
		t.Fatal(err)
	}
	out := []tagState{}
	for _, x := range tags {
		out = append(out, tagState{x.Name, x.Locked})
	}
	return out
}

// TestResolveMerges: what moves to the kept media, what stays with the
// discarded ones (all of it: they are only soft-deleted), the audit rows.
func TestResolveMerges(t *testing.T) {
	l, keep, d1, d2, album := mergeLib(t)
	ctx := context.Background()
	before := tagsOf(t, l, d1)
	p, err := Resolve(ctx, l.d, keep, []int64{d1, d2}, ResolveOptions{Actor: cli})
	if err != nil {
		t.Fatal(err)
	}
	if p.DryRun || p.Rating == nil || p.Rating.Rating != 3 || p.Prompt == nil || p.Prompt.From != d1 || p.Prompt.Versions != 2 {
		t.Fatalf("plan %+v", p)
	}
	want := []tagState{{"dog", true}, {"cat", true}, {"sky", false}, {"tree", false}}
	if got := tagsOf(t, l, keep); !reflect.DeepEqual(got, want) {
		t.Errorf("kept tags %v, want %v", got, want)
	}
	if got := tagsOf(t, l, d1); !reflect.DeepEqual(got, before) {
		t.Errorf("discarded tags changed: %v, was %v", got, before)
	}
	m, _ := media.Get(ctx, l.d, keep)
	if m.Rating != 3 || m.IsDeleted {
		t.Errorf("kept media: rating %d deleted %v", m.Rating, m.IsDeleted)
	}
	for _, id := range []int64{d1, d2} {
		if m, _ := media.Get(ctx, l.d, id); !m.IsDeleted || m.DeletedAt == "" {
			t.Errorf("media %d not soft-deleted", id)
		}
	}
	if n := l.count(`SELECT count(*) FROM collection_media WHERE collection_id = ? AND media_id = ?`, album, keep); n != 1 {
		t.Errorf("kept media in the album: %d", n)
	}
	if v, _, _ := media.GetMeta(ctx, l.d, keep, "title.override"); v != "Sunset cat" {
		t.Errorf("title %q", v)
	}
	_, cur, _ := media.CurrentPrompt(ctx, l.d, keep)
	_, src, _ := media.CurrentPrompt(ctx, l.d, d1)
	if !reflect.DeepEqual(cur, src) {
		t.Errorf("prompt %+v, want %+v", cur, src)
	}
	hist, _ := media.History(ctx, l.d, keep)
	if len(hist) != 2 || hist[0].Source != MergeSource || hist[1].RawText != "a cat\nModel: m1" {
		t.Errorf("history %+v", hist)
	}
	if n := l.count(`SELECT count(*) FROM media_gen WHERE media_id = ?`, keep); n != 1 {
		t.Errorf("media_gen rows of the kept media: %d", n)
	}
	if n := l.count(`SELECT count(*) FROM audit_log WHERE action = ? AND entity_id = ?`, ActionKeep, keep); n != 1 {
		t.Errorf("keep audit rows: %d", n)
	}
	if n := l.count(`SELECT count(*) FROM audit_log WHERE action = ? AND entity_id IN (?, ?)`, ActionDiscard, d1, d2); n != 2 {
		t.Errorf("discard audit rows: %d", n)
	}
	// Restorable: the soft delete is undone the ordinary way.
	if err := media.Restore(ctx, l.d, d1); err != nil {
		t.Fatal(err)
	}
}

// TestResolveKeepsOwnPrompt: a kept media with a prompt keeps it (no
// history copied), and a tag it has locked stays locked.
func TestResolveKeepsOwnPrompt(t *testing.T) {
	l, keep, d1, _, _ := mergeLib(t)
	ctx := context.Background()
	if _, err := media.SavePrompt(ctx, l.d, keep, media.Prompt{Prompt: "mine"}, "import", "", now); err != nil {
		t.Fatal(err)
	}
	p, err := Resolve(ctx, l.d, keep, []int64{d1}, ResolveOptions{Actor: cli})
	if err != nil || p.Prompt != nil {
		t.Fatalf("plan %+v, %v", p, err)
	}
	if _, cur, _ := media.CurrentPrompt(ctx, l.d, keep); cur.Prompt != "mine" {
		t.Errorf("prompt %q", cur.Prompt)
	}
	if hist, _ := media.History(ctx, l.d, keep); len(hist) != 1 {
		t.Errorf("history %d versions", len(hist))
	}
}

// TestResolveDryRun writes nothing.
func TestResolveDryRun(t *testing.T) {
	l, keep, d1, d2, _ := mergeLib(t)
	tables := []string{"audit_log", "media_tags", "prompts", "prompt_history", "media_meta", "collection_media", "media_gen",
		"media WHERE is_deleted = 1", "media WHERE rating = 3"}
	snap := func() []int {
		var out []int
		for _, tb := range tables {
			out = append(out, l.count(`SELECT count(*) FROM `+tb))
		}
		return out
	}
	before := snap()
	p, err := Resolve(context.Background(), l.d, keep, []int64{d1, d2}, ResolveOptions{DryRun: true, Actor: cli})
	if err != nil || !p.DryRun || len(p.Tags) != 4 || len(p.Collections) != 1 || p.Prompt == nil {
		t.Fatalf("plan %+v, %v", p, err)
	}
	if after := snap(); !reflect.DeepEqual(after, before) {
		t.Fatalf("a dry run wrote: %v → %v (%v)", before, after, tables)
	}
}

// TestResolveBadInput: clear reason codes, nothing written.
func TestResolveBadInput(t *testing.T) {
	l, keep, d1, d2, _ := mergeLib(t)
	ctx := context.Background()
	if err := media.SoftDelete(ctx, l.d, d2, now); err != nil {
		t.Fatal(err)
	}
	audits := l.count(`SELECT count(*) FROM audit_log`)
	for _, c := range []struct {
		keep    int64
		discard []int64
		code    string
	}{
		{keep, nil, CodeDiscardEmpty},
		{keep, []int64{keep}, CodeKeepDiscarded},
		{keep, []int64{d1, keep}, CodeKeepDiscarded},
		{9999, []int64{d1}, media.CodeNotFound},
		{keep, []int64{d1, 9999}, media.CodeNotFound},
		{keep, []int64{d2}, CodeDeleted},
		{d2, []int64{d1}, CodeDeleted},
	} {
		for _, dry := range []bool{false, true} {
			_, err := Resolve(ctx, l.d, c.keep, c.discard, ResolveOptions{DryRun: dry, Actor: cli})
			if reason.Code(err) != c.code {
				t.Errorf("Resolve(%d, %v, dry %v): %v, want %s", c.keep, c.discard, dry, err, c.code)
			}
		}
	}
	if m, _ := media.Get(ctx, l.d, d1); m.IsDeleted {
		t.Error("a refused resolve deleted a media")
	}
	if n := l.count(`SELECT count(*) FROM audit_log`); n != audits {
		t.Errorf("audit rows %d → %d", audits, n)
	}
}

// TestAutoRules: larger resolution first, then PNG over JPEG of the same
// pixels, then metadata; ties are left for a person; off tiers skipped.
func TestAutoRules(t *testing.T) {
	all := Rules{Tiers: []string{TierExact, TierPhash}, PreferResolution: true, PreferPNG: true, PreferMetadata: true}
	mb := func(id int64, f string, w int64, prompt bool) Member {
		return Member{ID: id, Format: f, Width: w, Height: w, HasPrompt: prompt}
	}
	cases := []struct {
		name    string
		r       Rules
		tier    string
		members []Member
		keep    int64
		why     string
	}{
		{"resolution", all, TierPhash, []Member{mb(1, "jpg", 512, true), mb(2, "jpg", 1024, false)}, 2, "larger resolution"},
		{"png over jpeg", all, TierPhash, []Member{mb(1, "jpg", 512, true), mb(2, "png", 512, false)}, 2, "PNG over JPEG"},
		{"metadata", all, TierExact, []Member{mb(1, "png", 512, false), mb(2, "png", 512, true), mb(3, "png", 512, false)}, 2, "has metadata"},
		{"tie", all, TierExact, []Member{mb(1, "png", 512, true), mb(2, "png", 512, true)}, 0, "do not tell"},
		{"rule off", Rules{Tiers: all.Tiers, PreferMetadata: true}, TierPhash, []Member{mb(1, "jpg", 512, false), mb(2, "jpg", 1024, false)}, 0, "do not tell"},
		{"tier off", all, TierEmbedding, []Member{mb(1, "jpg", 512, true), mb(2, "jpg", 1024, false)}, 0, "not in dupes.auto.tiers"},
	}
	for _, c := range cases {
		ap := c.r.Choose(ListedGroup{ID: 7, Tier: c.tier, Members: c.members})
		if ap.Keep != c.keep || !strings.Contains(ap.Why, c.why) {
			t.Errorf("%s: %+v, want keep %d (%s)", c.name, ap, c.keep, c.why)
		}
	}
}
