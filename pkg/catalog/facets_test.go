package catalog

import (
	"context"
	"database/sql"
	"net/url"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/db/dbtest"
)

// facetDB writes 12 media with known generation parameters and tags:
// media 1..12; model A on 1..6, B on 7..10, none on 11..12; sampler
// "Euler a" on odd ids, "UniPC" on even; LoRA "detail" on 1..3, "glow" on
// 3; tags "1girl" (two types) on 1..4, "solo" on 5..6; media 12 is NSFW
// with model "hidden". Prompts say "castle" on 1..4, "forest" elsewhere.
func facetDB(t *testing.T) (w, r *sql.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "facets.db")
	w = dbtest.Open(t, path)
	exec := func(q string, a ...any) {
		t.Helper()
		if _, err := w.Exec(q, a...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`INSERT INTO tags(id, name, type) VALUES (1, '1girl', 'content'), (2, '1girl', 'danbooru.general.v1'), (3, 'solo', 'content')`)
	for i := 1; i <= 12; i++ {
		nsfw := 0
		if i == 12 {
			nsfw = 1
		}
		exec(`INSERT INTO media(id, path, type, source, hash, imported_at, has_nsfw) VALUES (?, ?, 'image', 'import', ?, '2026-01-01T00:00:00Z', ?)`,
			i, filepath.Join("/lib", "img"+string(rune('a'+i))+".png"), i, nsfw)
		word := "forest"
		if i <= 4 {
			word = "castle"
		}
		exec(`INSERT INTO prompts(media_id, prompt) VALUES (?, ?)`, i, word)
		model := map[bool]string{true: "modelA", false: "modelB"}[i <= 6]
		if i == 12 {
			model = "hidden"
		}
		if i <= 10 || i == 12 {
			exec(`INSERT INTO media_gen(media_id, software, model, sampler) VALUES (?, 'comfyui', ?, ?)`, i, model,
				map[bool]string{true: "Euler a", false: "UniPC"}[i%2 == 1])
		}
		if i <= 3 {
			exec(`INSERT INTO media_gen_loras(media_id, name, weight) VALUES (?, 'detail', 1)`, i)
		}
		if i <= 4 {
			exec(`INSERT INTO media_tags(media_id, tag_id) VALUES (?, ?)`, i, 1+i%2)
		} else if i <= 6 {
			exec(`INSERT INTO media_tags(media_id, tag_id) VALUES (?, 3)`, i)
		}
	}
	exec(`INSERT INTO media_gen_loras(media_id, name, weight) VALUES (3, 'glow', 1)`)
	r, err := db.OpenReadOnly(context.Background(), db.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return w, r
}

// TestComputeFacets checks exact counts on a small library, for the
// default list (the NSFW media stays out), a text query (found through
// the indexed model name, before and after the fold) and a filter.
func TestComputeFacets(t *testing.T) {
	w, r := facetDB(t)
	type fv = []FacetValue
	all := []Facet{
		{"model", fv{{"modelA", 6}, {"modelB", 4}}},
		{"sampler", fv{{"Euler a", 5}, {"UniPC", 5}}},
		{"lora", fv{{"detail", 3}, {"glow", 1}}},
		{"tag", fv{{"1girl", 4}, {"solo", 2}}},
		{"software", fv{{"comfyui", 10}}},
	}
	castle := []Facet{
		{"model", fv{{"modelA", 4}}},
		{"sampler", fv{{"Euler a", 2}, {"UniPC", 2}}},
		{"lora", fv{{"detail", 3}, {"glow", 1}}},
		{"tag", fv{{"1girl", 4}}},
		{"software", fv{{"comfyui", 4}}},
	}
	modelB := []Facet{
		{"model", fv{{"modelB", 4}}},
		{"sampler", fv{{"Euler a", 2}, {"UniPC", 2}}},
		{"software", fv{{"comfyui", 4}}},
	}
	cases := []struct {
		name    string
		q       url.Values
		counted int
		want    []Facet
	}{
		{"default list", url.Values{}, 11, all},
		{"text query", url.Values{"q": {"castle"}}, 4, castle},
		{"text query, any sort", url.Values{"q": {"castle"}, "sort": {"rating"}}, 4, castle},
		{"model name as a free word", url.Values{"q": {"modelb"}}, 4, modelB},
		{"filter", url.Values{"type": {"video"}}, 0, nil},
	}
	for _, phase := range []string{"marked", "folded"} {
		if phase == "folded" {
			foldAll(t, w)
		} else if markedCount(t, w) == 0 {
			t.Fatal("nothing marked before the fold")
		}
		for _, c := range cases {
			got, err := ComputeFacets(context.Background(), r, ParseFilter(c.q, false), testNow)
			if err != nil {
				t.Fatalf("%s/%s: %v", phase, c.name, err)
			}
			if got.Counted != c.counted || got.Sampled || !reflect.DeepEqual(got.Facets, c.want) {
				t.Errorf("%s/%s: counted %d sampled %v facets %+v\nwant counted %d facets %+v", phase, c.name,
					got.Counted, got.Sampled, got.Facets, c.counted, c.want)
			}
		}
	}
}

// TestComputeFacetsSampled: beyond FacetSample matches the counts come
// from the newest FacetSample+1 and are marked as sampled.
func TestComputeFacetsSampled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "many.db")
	w := dbtest.Open(t, path)
	if _, err := w.Exec(`WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?)
		INSERT INTO media(id, path, type, source, hash, imported_at) SELECT i, '/lib/img' || i || '.png', 'image', 'import', 'h' || i,
		'2026-01-01T00:00:00Z' FROM seq`, FacetSample+500); err != nil {
		t.Fatal(err)
	}
	// The oldest 500 media have model "old": outside the newest sample.
	if _, err := w.Exec(`INSERT INTO media_gen(media_id, model) SELECT id, CASE WHEN id <= 500 THEN 'old' ELSE 'new' END FROM media`); err != nil {
		t.Fatal(err)
	}
	r, err := db.OpenReadOnly(context.Background(), db.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	got, err := ComputeFacets(context.Background(), r, ParseFilter(url.Values{}, false), testNow)
	if err != nil {
		t.Fatal(err)
	}
	want := []Facet{{"model", []FacetValue{{"new", FacetSample}, {"old", 1}}}}
	if !got.Sampled || got.Counted != FacetSample+1 || !reflect.DeepEqual(got.Facets, want) {
		t.Fatalf("sampled %v counted %d facets %+v; want sampled, %d, %+v", got.Sampled, got.Counted, got.Facets, FacetSample+1, want)
	}
}

func TestFacetTerm(t *testing.T) {
	for _, c := range []struct{ field, value, want string }{
		{"model", "juggernautXL_v9", `model:"juggernautXL_v9"`},
		{"sampler", "DPM++ 2M Karras", `sampler:"DPM++ 2M Karras"`},
		{"tag", `say "hi"`, `tag:"say  hi"`},
	} {
		if got := FacetTerm(c.field, c.value); got != c.want {
			t.Errorf("FacetTerm(%q, %q) = %q, want %q", c.field, c.value, got, c.want)
		}
	}
}
