package catalog

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/forgejob"
)

// The lineage counts the prompt versions an accepted forge replacement
// writes by their source, which catalog names without importing forgejob.
func TestSourceAcceptReplaceMatchesForge(t *testing.T) {
	if sourceAcceptReplace != forgejob.SourceAccept {
		t.Fatalf("catalog counts %q, forgejob writes %q", sourceAcceptReplace, forgejob.SourceAccept)
	}
}

// TestLoadFamily: the family is the tree around a media, root first and
// breadth first, cut at the limit but always holding the path from the
// root to the media asked for; a looping parent chain ends.
func TestLoadFamily(t *testing.T) {
	_, w, r := newDB(t, 70)
	ctx := context.Background()
	// 1 → 2 → 3 → 4; 1 → 5; 2 → 6; 10 → 11 → 10 (a loop); 20 → 21..69
	// (49 children); 7 alone.
	for _, e := range [][2]int64{{2, 1}, {3, 2}, {4, 3}, {5, 1}, {6, 2}, {11, 10}, {10, 11}} {
		if _, err := w.Exec(`UPDATE media SET parent_media_id = ?, source = 'upscale' WHERE id = ?`, e[1], e[0]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Exec(`UPDATE media SET parent_media_id = 20 WHERE id BETWEEN 21 AND 69`); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Exec(`INSERT INTO prompt_history(media_id, prompt_id, version, source, created_at) VALUES (3, NULL, 1, 'forge_accept_replace', 'x'), (3, NULL, 2, 'forge_accept_replace', 'x')`); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		id        int64
		limit     int
		want      []int64
		truncated bool
	}{
		{"from a leaf", 4, 50, []int64{1, 2, 5, 3, 6, 4}, false},
		{"from the root", 1, 50, []int64{1, 2, 5, 3, 6, 4}, false},
		{"alone", 7, 50, []int64{7}, false},
		{"cut, path kept", 4, 4, []int64{1, 2, 3, 4}, true},
		{"cut, room for one more", 3, 4, []int64{1, 2, 5, 3}, true},
		{"loop", 10, 50, []int64{11, 10}, false},
		{"path beyond the children LIMIT", 69, 5, []int64{20, 21, 22, 23, 69}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fam, err := LoadFamily(ctx, r, tc.id, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, n := range fam.Nodes {
				got = append(got, n.ID)
			}
			if !slices.Equal(got, tc.want) || fam.Truncated != tc.truncated {
				t.Fatalf("family %v truncated %v, want %v %v", got, fam.Truncated, tc.want, tc.truncated)
			}
			if fam.Nodes[0].ParentID != 0 {
				t.Fatalf("root %d has parent %d", fam.Nodes[0].ID, fam.Nodes[0].ParentID)
			}
			for _, n := range fam.Nodes {
				if n.ID == 3 && n.Replaced != 2 {
					t.Fatalf("media 3 replaced %d times, want 2", n.Replaced)
				}
			}
		})
	}
	if _, err := LoadFamily(ctx, r, 999, 50); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown media: %v", err)
	}
}

func TestDuplicates(t *testing.T) {
	_, w, r := newDB(t, 8)
	ctx := context.Background()
	for _, id := range []int{1, 3, 4, 5, 6} {
		if _, err := w.Exec(`INSERT INTO media_meta(media_id, source, meta_key, meta_value, created_at) VALUES (?, 'import', 'hash.sha256', 'abc', 'x')`, id); err != nil {
			t.Fatal(err)
		}
	}
	// 4 is 18+, 5 soft-deleted.
	if _, err := w.Exec(`UPDATE media SET has_nsfw = 1 WHERE id = 4; UPDATE media SET is_deleted = 1 WHERE id = 5`); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name          string
		adult         bool
		also          []int64
		same, similar []int64
	}{
		{"safe session", false, []int64{7, 3, 4, 999, 8}, []int64{3, 6}, []int64{7, 8}},
		{"adult session", true, []int64{8, 7}, []int64{3, 4, 6}, []int64{8, 7}},
		{"capped", true, []int64{8, 7, 2, 1}, []int64{3, 4, 6}, []int64{8, 7, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			same, similar, err := Duplicates(ctx, r, 1, "abc", tc.also, tc.adult, 3)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(same, tc.same) || !slices.Equal(similar, tc.similar) {
				t.Fatalf("same %v similar %v, want %v %v", same, similar, tc.same, tc.similar)
			}
		})
	}
}
