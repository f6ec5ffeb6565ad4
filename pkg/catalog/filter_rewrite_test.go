package catalog

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/catalog/catalogtest"
	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/db/dbtest"
)

// newCurationDB generates a small library with tags, hashes and checks
// (catalogtest.Generate) plus the irregular cases the generator does not
// write: media without prompt, meta or tags, a tag name shared by two tag
// types, a check that failed and was repaired, a check mark taken back,
// deleted media.
func newCurationDB(t *testing.T, n int, extra ...string) *sql.DB {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "curation.db")
	w := dbtest.Open(t, path)
	if err := catalogtest.Generate(ctx, w, n, "/lib"); err != nil {
		t.Fatal(err)
	}
	for _, q := range append([]string{
		`DELETE FROM prompts WHERE media_id % 13 = 0`,
		`DELETE FROM media_meta WHERE media_id % 17 = 0`,
		`DELETE FROM media_tags WHERE media_id % 19 = 0`,
		`UPDATE media SET is_deleted = 1 WHERE id % 23 = 0`,
		`INSERT INTO tags(name, type) VALUES ('` + catalogtest.UncommonTag + `', 'danbooru.character.v1')`,
		`INSERT INTO media_tags(media_id, tag_id) SELECT id, (SELECT max(id) FROM tags) FROM media WHERE id % 97 = 5`,
		// Newest row wins: 150 fails then passes, 250 passes then fails;
		// 350's check mark is taken back.
		`INSERT INTO media_meta(media_id, source, meta_key, meta_value, created_at) VALUES
			(150, 't', 'integrity.ok', '0', '2026-01-01T00:00:00Z'), (150, 't', 'integrity.ok', '1', '2026-01-02T00:00:00Z'),
			(250, 't', 'integrity.ok', '1', '2026-01-01T00:00:00Z'), (250, 't', 'integrity.ok', '0', '2026-01-02T00:00:00Z'),
			(251, 't', 'integrity.ok', '0', '2026-01-02T00:00:00Z'),
			(350, 't', 'curation.checked', '1', '2026-01-01T00:00:00Z'), (350, 't', 'curation.checked', '0', '2026-01-02T00:00:00Z')`,
		`UPDATE media SET hash = NULL WHERE id % 31 = 0`,
		// A media hashed twice is no duplicate of itself.
		`INSERT INTO media_meta(media_id, source, meta_key, meta_value, created_at)
			SELECT media_id, 'hash', meta_key, meta_value, '2026-01-03T00:00:00Z' FROM media_meta WHERE media_id = 10 AND meta_key = 'hash.sha256'`,
	}, extra...) {
		if _, err := w.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	r, err := db.OpenReadOnly(ctx, db.Options{Path: path, BusyTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// TestFilterRewritesMatchReference checks every filter whose SQL was
// rewritten for speed at a million media (issue #18 item 6) against the
// predicate it had before, written per row, on a generated library: List
// (paged) and Count must return exactly the reference's matches.
func TestFilterRewritesMatchReference(t *testing.T) {
	r := newCurationDB(t, 3000)
	ctx := context.Background()
	const character = "EXISTS (SELECT 1 FROM media_tags mt JOIN tags t ON t.id = mt.tag_id WHERE mt.media_id = m.id AND t.type = 'danbooru.character.v1')"
	newest := func(key string) string {
		return "(SELECT mm.meta_value FROM media_meta mm WHERE mm.media_id = m.id AND mm.meta_key = '" + key + "' ORDER BY mm.id DESC LIMIT 1)"
	}
	cases := []struct {
		q    url.Values
		ref  string
		args []any
	}{
		{url.Values{"tag": {catalogtest.RareTag}}, "EXISTS (SELECT 1 FROM media_tags mt JOIN tags t ON t.id = mt.tag_id WHERE mt.media_id = m.id AND t.name = ?)", []any{catalogtest.RareTag}},
		{url.Values{"tag": {catalogtest.UncommonTag}}, "EXISTS (SELECT 1 FROM media_tags mt JOIN tags t ON t.id = mt.tag_id WHERE mt.media_id = m.id AND t.name = ?)", []any{catalogtest.UncommonTag}},
		{url.Values{"tag": {catalogtest.CommonTag}}, "EXISTS (SELECT 1 FROM media_tags mt JOIN tags t ON t.id = mt.tag_id WHERE mt.media_id = m.id AND t.name = ?)", []any{catalogtest.CommonTag}},
		{url.Values{"tag": {"no such tag"}}, "EXISTS (SELECT 1 FROM media_tags mt JOIN tags t ON t.id = mt.tag_id WHERE mt.media_id = m.id AND t.name = ?)", []any{"no such tag"}},
		{url.Values{"character": {"with"}}, character, nil},
		{url.Values{"character": {"without"}}, "NOT " + character, nil},
		{url.Values{"has_prompt": {"with"}}, "EXISTS (SELECT 1 FROM prompts p WHERE p.media_id = m.id)", nil},
		{url.Values{"has_prompt": {"without"}}, "NOT EXISTS (SELECT 1 FROM prompts p WHERE p.media_id = m.id)", nil},
		{url.Values{"has_meta": {"with"}}, "EXISTS (SELECT 1 FROM media_meta mm WHERE mm.media_id = m.id)", nil},
		{url.Values{"has_meta": {"without"}}, "NOT EXISTS (SELECT 1 FROM media_meta mm WHERE mm.media_id = m.id)", nil},
		{url.Values{"incomplete": {"tags"}}, "NOT EXISTS (SELECT 1 FROM media_tags mt WHERE mt.media_id = m.id)", nil},
		{url.Values{"incomplete": {"meta"}}, "NOT EXISTS (SELECT 1 FROM media_meta mm WHERE mm.media_id = m.id)", nil},
		{url.Values{"dupes": {"1"}}, "m.hash IS NOT NULL AND EXISTS (SELECT 1 FROM media d WHERE d.hash = m.hash AND d.id <> m.id)", nil},
		{url.Values{"dupes_sha": {"1"}}, `EXISTS (SELECT 1 FROM media_meta a WHERE a.media_id = m.id AND a.meta_key = 'hash.sha256'
			AND EXISTS (SELECT 1 FROM media_meta b WHERE b.meta_key = 'hash.sha256' AND b.meta_value = a.meta_value AND b.media_id <> m.id))`, nil},
		{url.Values{"dupe_sha": {fmt.Sprintf("%064x", 7)}}, "EXISTS (SELECT 1 FROM media_meta mm WHERE mm.media_id = m.id AND mm.meta_key = 'hash.sha256' AND mm.meta_value = ?)", []any{fmt.Sprintf("%064x", 7)}},
		{url.Values{"broken": {"broken"}}, newest("integrity.ok") + " = '0'", nil},
		{url.Values{"broken": {"ok"}}, "COALESCE(" + newest("integrity.ok") + ", '1') <> '0'", nil},
		{url.Values{"checked": {"checked"}}, newest("curation.checked") + " = '1'", nil},
		{url.Values{"checked": {"unchecked"}}, "COALESCE(" + newest("curation.checked") + ", '0') <> '1'", nil},
		{url.Values{"ai_title": {"with"}}, "COALESCE(TRIM(" + newest("ollama.title") + "), '') <> ''", nil},
		{url.Values{"ai_title": {"without"}}, "COALESCE(TRIM(" + newest("ollama.title") + "), '') = ''", nil},
	}
	for _, c := range cases {
		for _, sort := range []string{"newest", "rating"} {
			t.Run(c.q.Encode()+"/"+sort, func(t *testing.T) {
				q := url.Values{"sort": {sort}, "deleted": {"all"}}
				for k, v := range c.q {
					q[k] = v
				}
				f := ParseFilter(q, true)
				f.Adult = true
				want := refIDs(t, r, c.ref, c.args)
				var got []int64
				for _, res := range keysetPages(t, r, f, 250) {
					got = append(got, ids(res.Cards)...)
				}
				slices.Sort(got)
				if !slices.Equal(got, want) {
					t.Fatalf("List: %d matches, reference %d (first got %v, want %v)", len(got), len(want), head(got), head(want))
				}
				n, more, err := Count(ctx, r, f, testNow)
				if err != nil {
					t.Fatal(err)
				}
				if n != len(want) || more {
					t.Fatalf("Count = %d (more %v), reference %d", n, more, len(want))
				}
			})
		}
	}
}

// refIDs lists the ids matching the reference predicate, ascending.
func refIDs(t *testing.T, r *sql.DB, pred string, args []any) []int64 {
	t.Helper()
	return queryIDs(t, r, "SELECT m.id FROM media m WHERE "+pred+" ORDER BY m.id", args...)
}

func head(s []int64) []int64 { return s[:min(len(s), 8)] }
