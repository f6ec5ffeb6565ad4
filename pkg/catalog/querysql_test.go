package catalog

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/db/dbtest"
	"github.com/localsupervisor/supervisor/pkg/phash"
	"github.com/localsupervisor/supervisor/pkg/query"
	"github.com/localsupervisor/supervisor/pkg/similar"
)

// queryNow is the "now" of the query tests: 2026-01-01T00:00:00Z.
var queryNow = time.Unix(testNow, 0).UTC()

// newQueryDB builds a small library whose every generation parameter,
// tag, text and file fact is known, so each query has an exact expected
// id set (TestQueryResults).
func newQueryDB(t *testing.T) (w, r *sql.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "query.db")
	w = dbtest.Open(t, path)
	type med struct {
		path, typ      string
		w, h           int
		dur            any
		size           int64
		imported, crea string
		rating, nsfw   int
		status         string
		deleted        int
	}
	media := []med{
		1:  {"/lib/a/one.png", "image", 832, 1216, nil, 1_000_000, "2025-11-03T10:00:00Z", "2025-10-01T00:00:00Z", 3, 0, "active", 0},
		2:  {"/lib/a/two.png", "image", 1024, 1024, nil, 3_000_000, "2025-11-20T10:00:00Z", "", 2, 0, "active", 0},
		3:  {"/lib/b/three.png", "image", 1920, 1080, nil, 500_000, "2025-12-01T10:00:00Z", "2025-12-01T09:00:00Z", 1, 0, "active", 0},
		4:  {"/lib/b/sub/four.png", "image", 512, 768, nil, 2_500_000, "2025-12-28T10:00:00Z", "", 0, 0, "active", 0},
		5:  {"/lib/ab/five.mp4", "video", 1280, 720, 12.5, 9_000_000, "2025-12-30T10:00:00Z", "", 2, 0, "active", 0},
		6:  {"/lib/c/six.mp4", "video", 1920, 1080, 95.0, 50_000_000, "2025-12-31T10:00:00Z", "", 0, 0, "active", 0},
		7:  {"/lib/c/seven.png", "image", 640, 480, nil, 100, "2025-12-31T11:00:00Z", "", 1, 0, "active", 0},
		8:  {"/lib/c/eight.png", "image", 768, 512, nil, 200, "2025-12-31T12:00:00Z", "", 3, 0, "archived", 0},
		9:  {"/src/x/nine.png", "image", 512, 512, nil, 300, "2025-12-31T13:00:00Z", "", 0, 0, "active", 0},
		10: {"/src/x/ten.png", "image", 512, 512, nil, 400, "2025-12-31T14:00:00Z", "", 0, 0, "missing", 0},
		11: {"/lib/d/eleven.png", "image", 512, 512, nil, 500, "2025-12-31T15:00:00Z", "", 0, 0, "active", 1},
		12: {"/lib/d/twelve.png", "image", 512, 512, nil, 600, "2025-12-31T16:00:00Z", "", 0, 1, "active", 0},
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := w.Exec(q, args...); err != nil {
			t.Fatalf("%v\n%s", err, q)
		}
	}
	for i, m := range media[1:] {
		var created any
		if m.crea != "" {
			created = m.crea
		}
		exec(`INSERT INTO media(id, path, type, source, width, height, duration, filesize, hash, imported_at, created_at, rating, has_nsfw, status, is_deleted)
			VALUES (?, ?, ?, 'import', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, i+1, m.path, m.typ, m.w, m.h, m.dur, m.size,
			strings.Repeat("0", 63)+string(rune('a'+i)), m.imported, created, m.rating, m.nsfw, m.status, m.deleted)
	}
	exec(`UPDATE media SET parent_media_id = 5 WHERE id = 6`)
	for _, g := range []struct {
		id                              int
		sw, model, hash, sampler, sched any
		steps                           int
		cfg                             float64
		seed                            string
		denoise                         any
		prompt, negative                string
	}{
		{1, "comfyui", "juggernautXL_v9", "6ce0161689", "DPM++ 2M", "Karras", 30, 7, "18446744073709551615", nil, "a red castle at sunset", "blurry, lowres"},
		{2, "a1111", "Café Modèle v2", nil, "Euler a", nil, 20, 5.5, "42", 0.5, "blue dragon", "lowres"},
		{3, "forge", "ponyDiffusionV6XL", "blake3:abcdef0123456789", "Euler", "Normal", 25, 7, "42", 0.3, "red dragon flying", ""},
		{4, "invokeai", "juggernaut_reborn", nil, "UniPC", nil, 40, 8, "7", nil, "green forest", ""},
		{5, "novelai", "nai-diffusion-3", nil, "k_euler_ancestral", nil, 28, 5, "123", nil, "cyber city", ""},
	} {
		exec(`INSERT INTO prompts(media_id, prompt, negative_prompt) VALUES (?, ?, ?)`, g.id, g.prompt, g.negative)
		exec(`INSERT INTO media_gen(media_id, software, model, model_hash, sampler, scheduler, steps, cfg, seed, denoise)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, g.id, g.sw, g.model, g.hash, g.sampler, g.sched, g.steps, g.cfg, g.seed, g.denoise)
	}
	exec(`INSERT INTO media_gen_loras(media_id, name, weight) VALUES (1, 'add_detail', 0.8), (3, 'add_detail', 0.5), (3, 'neon_style', 1), (4, 'neonStyleXL', 0.7)`)
	exec(`INSERT INTO tags(id, name, type) VALUES (1, '1girl', 'content'), (2, 'solo', 'content'), (3, 'landscape', 'content'),
		(4, 'cat', 'content'), (5, 'hatsune_miku', 'danbooru.character.v1'), (6, 'solo_focus', 'content')`)
	exec(`INSERT INTO media_tags(media_id, tag_id) VALUES (1, 1), (1, 2), (2, 1), (2, 3), (3, 4), (5, 2), (6, 5), (7, 6)`)
	meta := func(id int, k, v string) {
		exec(`INSERT INTO media_meta(media_id, source, meta_key, meta_value, created_at) VALUES (?, 'test', ?, ?, '2026-01-01T00:00:00Z')`, id, k, v)
	}
	meta(2, "ollama.title", "The Dragon")
	meta(3, "ollama.caption", "A red dragon in the sky")
	meta(4, "ollama.caption", "old caption")
	meta(4, "ollama.caption", " ") // newest wins: 4 has no caption
	meta(6, "title.override", "Robot parade")
	meta(7, "integrity.ok", "0")
	meta(8, "curation.checked", "1")
	meta(9, "curation.checked", "1")
	meta(9, "curation.checked", "0")
	exec(`INSERT INTO collections(id, name, created_at) VALUES (1, 'Favourites', '2026-01-01T00:00:00Z'), (2, 'Other', '2026-01-01T00:00:00Z')`)
	exec(`INSERT INTO collection_media(collection_id, media_id) VALUES (1, 1), (1, 3), (2, 4)`)
	exec(`INSERT INTO library_sources(path, mode, added_at) VALUES ('/src', 'in_place', '2026-01-01T00:00:00Z')`)
	exec(`UPDATE media SET status_vote = 'approved' WHERE id IN (2, 4)`)
	exec(`UPDATE media SET quality_status = 'review' WHERE id = 3`)
	foldAll(t, w)
	var err error
	r, err = db.OpenReadOnly(context.Background(), db.Options{Path: path, BusyTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return w, r
}

// listQueryIDs lists (adult, admin) the ids matching q in id order.
func listQueryIDs(t *testing.T, r *sql.DB, v url.Values) ([]int64, *query.Error) {
	t.Helper()
	f := ParseFilterAt(v, true, queryNow)
	f.Adult = true
	f.Deleted = "all"
	if f.QueryErr != nil {
		return nil, f.QueryErr
	}
	f.Sort = "oldest"
	res, err := List(context.Background(), r, f, Page{Limit: 500}, testNow)
	if err != nil {
		t.Fatalf("%v: %v", v, err)
	}
	n, _, err := Count(context.Background(), r, f, testNow)
	if err != nil {
		t.Fatalf("%v: count: %v", v, err)
	}
	got := ids(res.Cards)
	if n != len(got) {
		t.Errorf("%v: Count %d, List %d", v, n, len(got))
	}
	// Every leaf written for probing (the form of large sets at 1M
	// media, withProbes) finds the same media.
	if rest := f.restQuery(); rest != nil {
		c := compiler{opts: f.compileOptions()}
		c.node(rest)
		f.probe = map[query.Node]bool{}
		for _, s := range c.sets {
			f.probe[s.leaf] = true
		}
		res, err := List(context.Background(), r, f, Page{Limit: 500}, testNow)
		if err != nil {
			t.Fatalf("%v probed: %v", v, err)
		}
		if p := ids(res.Cards); !slices.Equal(p, got) {
			t.Errorf("%v: probed %v, by set %v", v, p, got)
		}
	}
	return got, nil
}

func TestQueryResults(t *testing.T) {
	_, r := newQueryDB(t)
	for _, c := range []struct {
		q    string
		want []int64
	}{
		{"model:juggernaut", []int64{1, 4}},
		{"model:JUGGER", []int64{1, 4}},
		{"model:xl", []int64{1, 3}},                      // juggernautXL, ponyDiffusionV6XL: the case change starts a word
		{"model:juggernautx", []int64{1}},                // prefix across the case change
		{"model:reborn", []int64{4}},                     // a later word of the name
		{"model:cafe", []int64{2}},                       // accents folded
		{`model:"café modèle"`, []int64{2}},              // a phrase of words
		{`model:"cafe mod"`, nil},                        // a phrase matches whole words
		{"model:6ce0161689", []int64{1}},                 // the hash
		{"model:0x6CE0161689", []int64{1}},               // prefixed, any case
		{"model:6ce0161689aaaaaaaaaaaaaaaa", []int64{1}}, // a full hash finds the short one
		{"model:blake3:abcdef0123456789", []int64{3}},
		{"model:abcdef0123456789", []int64{3}},
		{"sampler:euler", []int64{2, 3, 5}}, // "Euler a", "Euler", "k_euler_ancestral"
		{`sampler:"euler a"`, []int64{2}},
		{`sampler:"dpm++ 2m"`, []int64{1}},
		{"scheduler:karras", []int64{1}},
		{"software:comfyui", []int64{1}},
		{"software:a1111", []int64{2}},
		{"lora:add_detail", []int64{1, 3}},
		{"lora:neon", []int64{3, 4}},
		{"seed:42", []int64{2, 3}},
		{"seed:18446744073709551615", []int64{1}},
		{"seed:40..200", []int64{2, 3, 5}}, // by number, not text ("7" < "42" as text)
		{"seed:>1000", []int64{1}},
		{"seed:<=42", []int64{2, 3, 4}},
		{"steps:30", []int64{1}},
		{"steps:>=28", []int64{1, 4, 5}},
		{"steps:20..25", []int64{2, 3}},
		{"cfg:7", []int64{1, 3}},
		{"cfg:<6", []int64{2, 5}},
		{"denoise:<0.4", []int64{3}},
		{"tag:solo", []int64{1, 5}},
		{"tag:solo*", []int64{1, 5, 7}},
		{"tag:1girl tag:solo", []int64{1}},
		{"character:hatsune_miku", []int64{6}},
		{"rating:3", []int64{1, 8}},
		{"rating:>=2", []int64{1, 2, 5, 8}},
		{"nsfw:yes", []int64{12}},
		{"type:video", []int64{5, 6}},
		{"w:1920", []int64{3, 6}},
		{"h:<600", []int64{7, 8, 9, 10, 11, 12}},
		{"ratio:16:9", []int64{3, 5, 6}},
		{"ratio:2:3", []int64{4}}, // 832x1216 (0.684) is 2.6 % off 2:3
		{"dur:>30", []int64{6}},
		{"-dur:>30", []int64{1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12}},
		{"size:>2MB", []int64{2, 4, 5, 6}},
		{"imported:2025-11", []int64{1, 2}},
		{"created:2025-10", []int64{1}},
		{"created:2025-12-01", []int64{3}},
		{"imported:2025-12-31..2025-12-31", []int64{6, 7, 8, 9, 10, 11, 12}},
		{"path:/lib/a", []int64{1, 2}},
		{"path:/lib/b/", []int64{3, 4}},
		{"path:b/sub", []int64{4}},
		{"source:/src", []int64{9, 10}},
		{"source:src", []int64{9, 10}},
		{"collection:favourites", []int64{1, 3}},
		{"has:prompt", []int64{1, 2, 3, 4, 5}},
		{"has:caption", []int64{3}},
		{"has:title", []int64{2, 6}},
		{"has:tags", []int64{1, 2, 3, 5, 6, 7}},
		{"has:parent", []int64{6}},
		{"has:children", []int64{5}},
		{"is:broken", []int64{7}},
		{"is:deleted", []int64{11}},
		{"is:checked", []int64{8}},
		{"is:missing", []int64{10}},
		{"is:archived", []int64{8}},
		{"status:archived", []int64{8}},
		{"curation:review", []int64{3}},
		{"vote:approved", []int64{2, 4}},
		{"id:3", []int64{3}},
		{"id:3..5", []int64{3, 4, 5}},
		{"prompt:dragon", []int64{2, 3}},
		{"prompt:dragon prompt:blue", []int64{2}},
		{"prompt:dragon caption:sky", []int64{3}}, // one field drives, the other is a condition
		{"title:dragon -rating:0", []int64{2}},
		{"prompt:dragon OR name:seven", []int64{2, 3, 7}},
		{"negative:blurry", []int64{1}},
		{"title:robot", []int64{6}},
		{"caption:sky", []int64{3}},
		{"name:seven", []int64{7}},
		{"dragon", []int64{2, 3}},
		{"red dragon", []int64{3}},
		{`"red dragon"`, []int64{3}},
		{"dragon -red", []int64{2}},
		{"dragon OR castle", []int64{1, 2, 3}},
		{"castle OR model:reborn", []int64{1, 4}},
		{"model:juggernaut steps:>=30 tag:solo", []int64{1}},
		{"model:juggernaut steps:>=30 cfg:8", []int64{4}}, // one media_gen set
		// The driving index of a media_gen set (genDriver): the model's
		// covering index with the other columns unindexed (+col keeps their
		// NOCASE collation), an exact seed, or the planner's choice.
		{`model:juggernaut sampler:"DPM++ 2M" scheduler:KARRAS`, []int64{1}},
		{"model:juggernaut seed:>1000", []int64{1}},
		{"seed:42 sampler:euler", []int64{2, 3}},
		{"seed:42 model:nothing", nil},
		{"model:6ce0161689 steps:>=1", []int64{1}},
		{"steps:>=25 -model:pony sampler:euler", []int64{5}},
		{"-tag:1girl has:prompt", []int64{3, 4, 5}},
		{"(model:pony OR model:reborn) -lora:add_detail", []int64{4}},
		{"model:nothing", nil},
		// FTS and SQL syntax in words is text, never syntax.
		{`drag*`, []int64{2, 3}}, // * is not syntax: "drag" by prefix, as every word
		{`x' or 1=1`, nil},
		{`model:"x' OR '1'='1"`, nil},
		{`tag:"'; DROP TABLE media; --"`, nil},
		{"NEAR dragon", nil},
	} {
		got, qerr := listQueryIDs(t, r, url.Values{"q": {c.q}})
		if qerr != nil {
			t.Errorf("%q: %v", c.q, qerr)
			continue
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%q: got %v, want %v", c.q, got, c.want)
		}
	}
	// The library is intact after the injection-ish queries.
	var n int
	if err := r.QueryRow("SELECT count(*) FROM media").Scan(&n); err != nil || n != 12 {
		t.Fatalf("media rows %d, %v", n, err)
	}
}

// TestQueryScope: q_scope turns free words into field terms.
func TestQueryScope(t *testing.T) {
	_, r := newQueryDB(t)
	for _, c := range []struct {
		q, scope string
		want     []int64
	}{
		{"dragon", "prompt", []int64{2, 3}},
		{"dragon", "title", []int64{2}},
		{"dragon", "caption", []int64{3}},
		{"seven", "path", []int64{7}},
		{"seven", "prompt", nil},
		{"dragon type:image", "caption", []int64{3}},
		{"dragon OR seven", "path", []int64{7}},
	} {
		got, qerr := listQueryIDs(t, r, url.Values{"q": {c.q}, "q_scope": {c.scope}})
		if qerr != nil || !slices.Equal(got, c.want) {
			t.Errorf("%q in %s: got %v (%v), want %v", c.q, c.scope, got, qerr, c.want)
		}
	}
}

// TestQueryErrors: an unusable query is a *query.Error with a code and a
// position, and the filter matches nothing instead of everything.
func TestQueryErrors(t *testing.T) {
	_, r := newQueryDB(t)
	for _, c := range []struct {
		q, code string
	}{
		{`"unbalanced`, query.CodeSyntax},
		{strings.Repeat("a ", 3000), query.CodeTooLong},
		{"steps:abc", query.CodeBadValue},
		{"foo:bar", query.CodeUnknownField},
		{"(dragon", query.CodeSyntax},
	} {
		_, qerr := listQueryIDs(t, r, url.Values{"q": {c.q}})
		if qerr == nil || qerr.Code != c.code {
			t.Errorf("%.40q: error %v, want %s", c.q, qerr, c.code)
		}
	}
	// is:deleted lifts the list's default of hiding deleted media.
	f := ParseFilterAt(url.Values{"q": {"is:deleted"}}, true, queryNow)
	f.Adult = true
	if got := matchIDs(t, r, f); !slices.Equal(got, []int64{11}) {
		t.Errorf("is:deleted under the default deleted filter: %v", got)
	}
	// vote: is an admin field.
	f = ParseFilterAt(url.Values{"q": {"vote:approved"}}, false, queryNow)
	if f.QueryErr == nil || f.QueryErr.Code != query.CodeUnknownField || f.QueryErr.Field != "vote" {
		t.Fatalf("vote for a non-admin: %+v", f.QueryErr)
	}
	f.Adult = true
	res, err := List(context.Background(), r, f, Page{}, testNow)
	if err != nil || len(res.Cards) != 0 {
		t.Fatalf("an unusable query lists %d cards (%v), want none", len(res.Cards), err)
	}
	var qe *query.Error
	if _, _, err := CompileQuery(&query.Term{Field: "vote", Enum: "approved", Pos: 3}, testNow, CompileOptions{}); !errors.As(err, &qe) || qe.Pos != 3 {
		t.Fatalf("CompileQuery vote: %v", err)
	}
}

// TestLegacyFiltersUnchanged: the URL filters that now compile through the
// query's concept functions return the ids the old SQL returned (the
// reference predicates below are the old filter.go expressions).
func TestLegacyFiltersUnchanged(t *testing.T) {
	_, r := newQueryDB(t)
	const (
		nm        = "(SELECT mm.meta_value FROM media_meta mm WHERE mm.media_id = m.id AND mm.meta_key = '%s' ORDER BY mm.id DESC LIMIT 1)"
		character = "EXISTS (SELECT 1 FROM media_tags mt JOIN tags t ON t.id = mt.tag_id WHERE mt.media_id = m.id AND t.type = 'danbooru.character.v1')"
	)
	newest := func(k string) string { return strings.Replace(nm, "%s", k, 1) }
	for _, c := range []struct {
		param, value, old string
	}{
		{"type", "video", "m.type = 'video'"},
		{"has_prompt", "with", "EXISTS (SELECT 1 FROM prompts p WHERE p.media_id = m.id)"},
		{"has_prompt", "without", "NOT EXISTS (SELECT 1 FROM prompts p WHERE p.media_id = m.id)"},
		{"has_meta", "with", "EXISTS (SELECT 1 FROM media_meta mm WHERE mm.media_id = m.id)"},
		{"has_meta", "without", "NOT EXISTS (SELECT 1 FROM media_meta mm WHERE mm.media_id = m.id)"},
		{"status", "archived", "m.status = 'archived'"},
		{"curation", "review", "m.quality_status = 'review'"},
		{"curation", "unknown", "(m.quality_status IS NULL OR m.quality_status = 'unknown')"},
		{"min_rating", "2", "m.rating >= 2"},
		{"ai_title", "with", "COALESCE(TRIM(" + newest("ollama.title") + "), '') <> ''"},
		{"ai_title", "without", "COALESCE(TRIM(" + newest("ollama.title") + "), '') = ''"},
		{"ai_caption", "with", "COALESCE(TRIM(" + newest("ollama.caption") + "), '') <> ''"},
		{"ai_caption", "without", "COALESCE(TRIM(" + newest("ollama.caption") + "), '') = ''"},
		{"broken", "broken", newest("integrity.ok") + " = '0'"},
		{"broken", "ok", "COALESCE(" + newest("integrity.ok") + ", '1') <> '0'"},
		{"character", "with", character},
		{"character", "without", "NOT " + character},
		{"vote", "approved", "m.status_vote = 'approved'"},
		{"checked", "checked", newest("curation.checked") + " = '1'"},
		{"checked", "unchecked", "COALESCE(" + newest("curation.checked") + ", '0') <> '1'"},
		{"tag", "solo", "EXISTS (SELECT 1 FROM media_tags mt JOIN tags t ON t.id = mt.tag_id WHERE mt.media_id = m.id AND t.name = 'solo')"},
		{"tag", "1girl", "EXISTS (SELECT 1 FROM media_tags mt JOIN tags t ON t.id = mt.tag_id WHERE mt.media_id = m.id AND t.name = '1girl')"},
	} {
		got, _ := listQueryIDs(t, r, url.Values{c.param: {c.value}})
		want := queryIDs(t, r, "SELECT m.id FROM media m WHERE "+c.old+" ORDER BY m.id")
		if len(want) == 0 || len(want) == 12 {
			t.Errorf("%s=%s: the reference matches %d media: not a useful case", c.param, c.value, len(want))
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s=%s: got %v, the old filter %v", c.param, c.value, got, want)
		}
	}
}

// TestCompileQueryArgsOnly: user text never reaches the SQL text.
func TestCompileQueryArgsOnly(t *testing.T) {
	evil := `x'); DROP TABLE media; --"`
	one := 1.0
	n := &query.And{Items: []query.Node{
		&query.Text{Value: evil},
		&query.Or{Items: []query.Node{
			&query.Term{Field: "model", Raw: evil},
			&query.Term{Field: "tag", Raw: evil + "*"},
			&query.Term{Field: "path", Raw: "/" + evil},
			&query.Term{Field: "path", Raw: evil},
			&query.Term{Field: "source", Raw: evil},
			&query.Term{Field: "collection", Raw: evil},
			&query.Term{Field: "negative", Raw: evil},
			&query.Term{Field: "seed", Raw: evil},
			&query.Term{Field: "prompt", Raw: evil, Quoted: true},
		}},
		&query.Not{X: &query.Term{Field: "steps", Num: &query.Interval{Lo: &one, LoIncl: true}}},
	}}
	where, args, err := CompileQuery(n, testNow, CompileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(where, "DROP") || strings.Contains(where, "x'") {
		t.Fatalf("user text in the SQL: %s", where)
	}
	if got := strings.Count(where, "?"); got != len(args) {
		t.Fatalf("%d placeholders, %d args", got, len(args))
	}
}

// TestGenSetDrivingIndex pins the index that reads a combined media_gen
// set (genDriver): SQLite without statistics picked the cfg index for
// "model:juggernaut steps:>=40 cfg:7" and looked up 58,000 rows at 1M
// media (80 ms) where the model's covering index answers inside itself
// (6 ms). A speed property without a clock: the plan names the index.
func TestGenSetDrivingIndex(t *testing.T) {
	_, r := newQueryDB(t)
	for _, c := range []struct{ q, want string }{
		{"model:juggernaut steps:>=40 cfg:7", "USING COVERING INDEX idx_media_gen_model_cover"},
		{`model:juggernaut sampler:euler denoise:<0.5`, "USING COVERING INDEX idx_media_gen_model_cover"},
		{"seed:42 model:juggernaut cfg:7", "USING INDEX idx_media_gen_seed"},
	} {
		f := ParseFilterAt(url.Values{"q": {c.q}}, true, time.Unix(testNow, 0))
		if f.QueryErr != nil {
			t.Fatal(f.QueryErr)
		}
		where, args := f.Where(testNow)
		p := queryPlan(t, r, "SELECT m.id FROM media m WHERE "+where, args...)
		if !strings.Contains(p, "media_gen "+c.want) || strings.Contains(p, "idx_media_gen_cfg") || strings.Contains(p, "idx_media_gen_steps") {
			t.Errorf("%s: the media_gen set is not read %s:\n%s", c.q, c.want, p)
		}
	}
}

// queryPlan is SQLite's EXPLAIN QUERY PLAN of sqlText, one step a line.
func queryPlan(t *testing.T, r *sql.DB, sqlText string, args ...any) string {
	t.Helper()
	rows, err := r.Query("EXPLAIN QUERY PLAN "+sqlText, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan strings.Builder
	for rows.Next() {
		var a, b, x int
		var d string
		if err := rows.Scan(&a, &b, &x, &d); err != nil {
			t.Fatal(err)
		}
		plan.WriteString(d + "\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan.String()
}

// TestSimilarTerm: similar:N finds the media whose perceptual hash lies
// within the distance of N's (default phash.DefaultThreshold, ~D to set
// it), N included; a media without a hash (refused, or never hashed)
// finds nothing; the set is read through the band indexes.
func TestSimilarTerm(t *testing.T) {
	if query.DefaultSimilarDistance != phash.DefaultThreshold || query.MaxSimilarDistance != similar.MaxDistance {
		t.Fatalf("the query language's similar distances (%d, max %d) differ from pkg/phash's threshold %d / pkg/similar's max %d",
			query.DefaultSimilarDistance, query.MaxSimilarDistance, phash.DefaultThreshold, similar.MaxDistance)
	}
	w, r := newQueryDB(t)
	ctx := context.Background()
	base := phash.Hash(0x0123_4567_89ab_cdef)
	flip := func(h phash.Hash, bits ...int) phash.Hash {
		for _, b := range bits {
			h ^= 1 << b
		}
		return h
	}
	for id, h := range map[int64]phash.Hash{
		1: base,
		2: flip(base, 0, 17, 40),                               // 3 bits: a re-encode
		3: flip(base, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11),       // 11 bits, all in band 0
		5: flip(base, 0, 1, 2, 16, 17, 18, 32, 33, 34, 48, 49), // 11 bits, ≤ 3 per band
		6: ^base,                                               // another picture
	} {
		if err := similar.Save(ctx, w, id, h, "", queryNow); err != nil {
			t.Fatal(err)
		}
	}
	if err := similar.SaveRefusal(ctx, w, 4, phash.CodeLowDetail, "", queryNow); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		q    string
		want []int64
	}{
		{"similar:1", []int64{1, 2}},
		{"similar:1~11", []int64{1, 2, 3, 5}},
		{"similar:1~0", []int64{1}},
		{"similar:2~3", []int64{1, 2}},
		{"similar:1 -id:1", []int64{2}},
		{"similar:4", nil},   // refused: no hash
		{"similar:7", nil},   // never hashed
		{"similar:999", nil}, // no such media
		{"similar:6~11", []int64{6}},
	} {
		got, qerr := listQueryIDs(t, r, url.Values{"q": {c.q}})
		if qerr != nil {
			t.Fatalf("%q: %v", c.q, qerr)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%q: got %v, want %v", c.q, got, c.want)
		}
	}
	f := ParseFilterAt(url.Values{"q": {"similar:1"}}, true, queryNow)
	where, args := f.Where(testNow)
	p := queryPlan(t, r, "SELECT m.id FROM media m WHERE "+where, args...)
	for _, idx := range []string{"idx_media_phash_b0", "idx_media_phash_b3"} {
		if !strings.Contains(p, idx) {
			t.Errorf("similar: does not read %s:\n%s", idx, p)
		}
	}
	if strings.Contains(p, "SCAN p") {
		t.Errorf("similar: scans media_phash:\n%s", p)
	}
}
