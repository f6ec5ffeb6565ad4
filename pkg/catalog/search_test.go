package catalog

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/catalog/ftsindex"
	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/db/dbtest"
	"github.com/localsupervisor/supervisor/pkg/query"
)

// searchVocab: no query word below is an infix of a vocabulary word except
// as its prefix, so LIKE '%w%' and the FTS token-prefix match must agree.
var searchVocab = []string{"red", "blue", "green", "castle", "forest", "river", "dragon", "knight", "portrait",
	"sunset", "mountain", "ocean", "neon", "city", "robot", "garden", "winter", "cyber"}

// searchNegatives, searchModels, searchSamplers fill the columns of schema
// 0306; like searchVocab, no query word is an infix of them except as a
// prefix ("" = no negative prompt).
var (
	searchNegatives = []string{"", "lowres, bad anatomy", "blurry, jpeg artifacts", ""}
	searchModels    = []string{"juggernautXL_v9", "ponyDiffusion_v6", "dreamshaper_8"}
	searchSamplers  = []string{"UniPC", "DPM++ 2M Karras", "Euler a"}
)

// newSearchDB generates n media with paths, prompt histories (older prompts
// differ from the newest) and title/override/caption meta logs, written in
// the order workers write them, so the FTS rows come from the triggers.
func newSearchDB(t *testing.T, n int) (w, r *sql.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "search.db")
	w = dbtest.Open(t, path)
	rng := rand.New(rand.NewPCG(7, 11))
	words := func(k int) string {
		out := make([]string, k)
		for i := range out {
			out[i] = searchVocab[rng.IntN(len(searchVocab))]
		}
		return strings.Join(out, " ")
	}
	for i := 1; i <= n; i++ {
		p := fmt.Sprintf("/lib/set_%c/img%d_%s.png", 'a'+rune(i%4), i, searchVocab[i%len(searchVocab)])
		if _, err := w.Exec(`INSERT INTO media(path, type, source, hash, imported_at) VALUES (?, 'image', 'import', ?, '2026-01-01T00:00:00Z')`,
			p, fmt.Sprintf("%064x", i)); err != nil {
			t.Fatal(err)
		}
		for k := range rng.IntN(3) {
			if _, err := w.Exec(`INSERT INTO prompts(media_id, prompt, negative_prompt) VALUES (?, ?, ?)`, i, words(3+rng.IntN(4)),
				searchNegatives[(i+k)%len(searchNegatives)]); err != nil {
				t.Fatal(err)
			}
		}
		// Generation parameters and tags (schema 0306 indexes them): for
		// most media, as media.SyncGen and the tagger write them.
		if i%4 != 3 {
			if _, err := w.Exec(`INSERT INTO media_gen(media_id, software, model, sampler, scheduler) VALUES (?, ?, ?, ?, ?)`, i,
				[]string{"comfyui", "a1111"}[i%2], searchModels[i%len(searchModels)], searchSamplers[i%len(searchSamplers)],
				[]any{nil, "karras"}[i%2]); err != nil {
				t.Fatal(err)
			}
		}
		for j, l := range []string{"add_detail", "epiNoiseOffset"} {
			if i%(6+3*j) == 0 {
				if _, err := w.Exec(`INSERT INTO media_gen_loras(media_id, name, weight) VALUES (?, ?, 0.7)`, i, l); err != nil {
					t.Fatal(err)
				}
			}
		}
		for j, tag := range []string{"1girl", "landscape", "solo"} {
			if i%(2+j*3) == 0 {
				if _, err := w.Exec(`INSERT OR IGNORE INTO tags(name) VALUES (?)`, tag); err != nil {
					t.Fatal(err)
				}
				if _, err := w.Exec(`INSERT INTO media_tags(media_id, tag_id) SELECT ?, id FROM tags WHERE name = ?`, i, tag); err != nil {
					t.Fatal(err)
				}
			}
		}
		// The importer's original name: a different file name (a move-mode
		// import renamed the file) for most, the path's own name for some
		// (an in-place import), none for the rest.
		switch i % 3 {
		case 0:
			if _, err := w.Exec(`INSERT INTO media_meta(media_id, source, meta_key, meta_value, created_at) VALUES (?, 'import', 'original_name', ?, '2026-01-01T00:00:00Z')`,
				i, fmt.Sprintf("holiday%d_%s.jpg", i, searchVocab[(i*5)%len(searchVocab)])); err != nil {
				t.Fatal(err)
			}
		case 1:
			if _, err := w.Exec(`INSERT INTO media_meta(media_id, source, meta_key, meta_value, created_at) VALUES (?, 'import', 'original_name', ?, '2026-01-01T00:00:00Z')`,
				i, filepath.Base(p)); err != nil {
				t.Fatal(err)
			}
		}
		for _, k := range []string{"ollama.title", "title.override", "ollama.caption"} {
			for range rng.IntN(3) {
				if _, err := w.Exec(`INSERT INTO media_meta(media_id, source, meta_key, meta_value, created_at) VALUES (?, 'test', ?, ?, '2026-01-01T00:00:00Z')`,
					i, k, words(1+rng.IntN(3))); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	r, err := db.OpenReadOnly(context.Background(), db.Options{Path: path, BusyTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return w, r
}

func matchIDs(t *testing.T, r *sql.DB, f Filter) []int64 {
	t.Helper()
	res, err := List(context.Background(), r, f, Page{Limit: 500}, testNow)
	if err != nil {
		t.Fatalf("q=%q scope=%s like=%v: %v", f.Q, f.QScope, f.likeText, err)
	}
	return ids(res.Cards)
}

// foldAll folds every marked media into media_fts and requires a fold
// happened when want says so.
func foldAll(t *testing.T, w *sql.DB) int {
	t.Helper()
	n, err := ftsindex.FoldAll(context.Background(), w, 64) // small batches: several transactions
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func markedCount(t *testing.T, w *sql.DB) int {
	t.Helper()
	var n int
	if err := w.QueryRow(`SELECT count(*) FROM media_fts_pending`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// staleEdits changes media after a fold without folding again: paths of
// indexed media change (their index rows are stale), prompts and titles are
// added or removed, new media appear (no index row at all), one goes.
func staleEdits(t *testing.T, w *sql.DB) {
	t.Helper()
	for _, q := range []string{
		`UPDATE media SET path = '/moved/knight_' || id || '.png' WHERE id % 17 = 0`,
		`INSERT INTO prompts(media_id, prompt) SELECT id, 'neon dragon garden' FROM media WHERE id % 13 = 0`,
		`DELETE FROM prompts WHERE media_id % 11 = 0`,
		`INSERT INTO media_meta(media_id, source, meta_key, meta_value, created_at) SELECT id, 'test', 'title.override', 'ocean castle', 'x' FROM media WHERE id % 19 = 0`,
		`DELETE FROM media_meta WHERE media_id % 23 = 0 AND meta_key = 'ollama.caption'`,
		`INSERT INTO media(path, type, source, hash, imported_at) VALUES ('/new/img777_sky.png', 'image', 'import', 'n1', '2026-01-01T00:00:00Z')`,
		`INSERT INTO prompts(media_id, prompt) SELECT id, 'blue forest river' FROM media WHERE hash = 'n1'`,
		`DELETE FROM media WHERE id = 5`,
		`INSERT INTO media_meta(media_id, source, meta_key, meta_value, created_at) SELECT id, 'import', 'original_name', 'vacation_' || id || '.png', 'x' FROM media WHERE id % 29 = 0`,
		// Schema 0306 columns: negative prompts, tags, generation parameters.
		`UPDATE prompts SET negative_prompt = 'watermark, lowres' WHERE media_id % 31 = 0`,
		`UPDATE tags SET name = 'retagged' WHERE name = 'solo'`,
		`DELETE FROM media_tags WHERE media_id % 37 = 0`,
		`UPDATE media_gen SET model = 'sharpmodel' WHERE media_id % 41 = 0`,
		`INSERT OR REPLACE INTO media_gen_loras(media_id, name, weight) SELECT media_id, 'glowlora', 1 FROM media_gen WHERE media_id % 43 = 0`,
		`DELETE FROM media_gen WHERE media_id % 47 = 0`,
	} {
		if _, err := w.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// TestTextSearchEqualsLike runs a table of queries in every scope through
// the FTS index and through the LIKE reference and requires equal results,
// once while many media are marked (stale or missing index rows, schema
// 0304) and once after folding: the results must be identical.
func TestTextSearchEqualsLike(t *testing.T) {
	w, r := newSearchDB(t, 400)
	foldAll(t, w)
	staleEdits(t, w)
	if markedCount(t, w) < 50 {
		t.Fatalf("only %d marked media: the edits do not exercise the unfolded path", markedCount(t, w))
	}
	before := searchTable(t, r)
	if foldAll(t, w) == 0 || markedCount(t, w) != 0 {
		t.Fatal("fold left marks")
	}
	after := searchTable(t, r)
	for k, ids := range before {
		if !slices.Equal(ids, after[k]) {
			t.Errorf("%s: before folding %v, after %v", k, ids, after[k])
		}
	}
}

// searchTable runs the query table and returns the listed ids per case.
func searchTable(t *testing.T, r *sql.DB) map[string][]int64 {
	t.Helper()
	out := map[string][]int64{}
	queries := []struct {
		q        string
		wantSome bool // the fixture has matches in scope "any"
	}{
		{"red", true},
		{"RED", true},
		{"cast", true},
		{"drag knight", true},
		{`"red castle"`, true},
		{"neon city ocean", true},
		{"img12", true},
		{"set_b", true},
		{"castle.png", true},
		{"_", true},     // punctuation only: LIKE fallback
		{"red _", true}, // FTS part AND LIKE part
		{"zzz", false},
		{`"castle red" forest`, true},
		{"moved knight", true},  // only in paths changed after the fold
		{"img777", true},        // only in a media added after the fold
		{"ocean castle", true},  // titles added after the fold
		{"neon dragon", true},   // prompts added after the fold
		{"holiday", true},       // original file names (not in the path)
		{"holiday12", true},     // one original name by prefix
		{"holiday3_gard", true}, // name with punctuation: adjacent tokens
		{"vacation", true},      // names added after the fold
		// Schema 0306: generation parameters, tags, negative prompt.
		{"juggernautxl", true},
		{"unipc", true},
		{"karras", true},   // sampler name and scheduler
		{"dpm 2m", true},   // two tokens of one sampler name
		{"epinoise", true}, // a LoRA by prefix
		{"add_detail", true},
		{"comfyui pony", true},
		{"1girl", true},
		{"landscape 1girl", true},
		{"lowres", true},
		{`"bad anatomy"`, true},
		{"watermark", true},  // negative prompts edited after the fold
		{"retagged", true},   // a tag renamed after the fold
		{"sharpmodel", true}, // models changed after the fold
		{"glowlora", true},
	}
	for _, qc := range queries {
		for _, scope := range []string{"any", "path", "title", "caption", "prompt"} {
			for _, sort := range []string{"newest", "oldest", "rating"} {
				t.Run(qc.q+"/"+scope+"/"+sort, func(t *testing.T) {
					f := ParseFilter(url.Values{"q": {qc.q}, "q_scope": {scope}, "sort": {sort}}, true)
					got := matchIDs(t, r, f)
					n, _, err := Count(context.Background(), r, f, testNow)
					if err != nil || n != len(got) {
						t.Fatalf("count %d (%v), listed %d", n, err, len(got))
					}
					// Probe mode (chosen for >CountCap matches, which this
					// fixture never reaches) selects the same media.
					if probe := modeIDs(t, r, f, textProbe); !slices.Equal(probe, modeIDs(t, r, f, textIDSet)) {
						t.Fatalf("probe mode ids %v differ from id-set mode", probe)
					}
					f.likeText = true
					want := matchIDs(t, r, f)
					if !slices.Equal(got, want) {
						t.Fatalf("fts %d ids %v\nlike %d ids %v", len(got), got, len(want), want)
					}
					if scope == "any" && qc.wantSome != (len(got) > 0) {
						t.Fatalf("matches %d, want some=%v", len(got), qc.wantSome)
					}
					out[qc.q+"/"+scope+"/"+sort] = got
				})
			}
		}
	}
	return out
}

// modeIDs lists f's matches in id order with the text condition in mode.
func modeIDs(t *testing.T, r *sql.DB, f Filter, mode textMode) []int64 {
	t.Helper()
	where, args := f.where(testNow, mode)
	return queryIDs(t, r, "SELECT m.id FROM media m WHERE "+where+" ORDER BY m.id", args...)
}

// queryIDs runs a query of ids.
func queryIDs(t *testing.T, r *sql.DB, q string, args ...any) []int64 {
	t.Helper()
	ids, err := db.QueryIDs(context.Background(), r, q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return ids
}

// TestTextSearchPaging pages through text results read in index order
// (the ftsDriven path) forward and back in small pages and requires the
// single-page result.
func TestTextSearchPaging(t *testing.T) {
	w, r := newSearchDB(t, 300)
	foldAll(t, w)
	ctx := context.Background()
	// Once with marked media (the driven query gets a second, merged arm
	// for them), once after folding.
	staleEdits(t, w)
	for _, phase := range []string{"marked", "folded"} {
		if phase == "folded" {
			foldAll(t, w)
		}
		if current, err := indexCurrent(ctx, r); err != nil || current != (phase == "folded") {
			t.Fatalf("%s: index current %v (%v)", phase, current, err)
		}
		pagingWalk(t, r)
	}
}

func pagingWalk(t *testing.T, r *sql.DB) {
	t.Helper()
	ctx := context.Background()
	for _, sort := range []string{"newest", "oldest"} {
		f := ParseFilter(url.Values{"q": {"red"}, "sort": {sort}}, true)
		if !f.ftsDriven() {
			t.Fatal("newest/oldest text query not driven by the index")
		}
		all := matchIDs(t, r, f)
		if len(all) < 20 {
			t.Fatalf("only %d matches", len(all))
		}
		var fwd []int64
		var res Result
		var err error
		for pg := (Page{Limit: 7}); ; pg = (Page{Limit: 7, After: res.Next}) {
			if res, err = List(ctx, r, f, pg, testNow); err != nil {
				t.Fatal(err)
			}
			fwd = append(fwd, ids(res.Cards)...)
			if res.Next == nil {
				break
			}
		}
		if !slices.Equal(fwd, all) {
			t.Fatalf("%s forward pages %v, want %v", sort, fwd, all)
		}
		last := len(res.Cards) // the backward walk starts before the last page
		var back []int64
		for res.Prev != nil {
			if res, err = List(ctx, r, f, Page{Limit: 7, Before: res.Prev}, testNow); err != nil {
				t.Fatal(err)
			}
			back = append(ids(res.Cards), back...)
		}
		if want := all[:len(all)-last]; !slices.Equal(back, want) {
			t.Fatalf("%s backward pages %v, want %v", sort, back, want)
		}
		// The detail page's prev/next walk the same order.
		for _, i := range []int{0, 1, len(all) / 2, len(all) - 1} {
			prev, next, err := Neighbours(ctx, r, f, all[i], testNow)
			wantPrev, wantNext := int64(0), int64(0)
			if i > 0 {
				wantPrev = all[i-1]
			}
			if i < len(all)-1 {
				wantNext = all[i+1]
			}
			if err != nil || prev != wantPrev || next != wantNext {
				t.Fatalf("%s neighbours of %d: %d/%d (%v), want %d/%d", sort, all[i], prev, next, err, wantPrev, wantNext)
			}
		}
	}
}

// TestTextSearchFTSOnly checks what only the index gives: case/accent
// folding and that the query uses media_fts, not a LIKE scan.
func TestTextSearchFTSOnly(t *testing.T) {
	w, r := newSearchDB(t, 20)
	if _, err := w.Exec(`INSERT INTO prompts(media_id, prompt) VALUES (3, 'Café Crème at night')`); err != nil {
		t.Fatal(err)
	}
	foldAll(t, w) // folding (not LIKE) is what ignores accents
	for _, q := range []string{"cafe creme", "CAFÉ", `"café crème"`, "crè"} {
		f := ParseFilter(url.Values{"q": {q}, "q_scope": {"prompt"}}, true)
		if got := matchIDs(t, r, f); !slices.Equal(got, []int64{3}) {
			t.Errorf("q=%q: got %v, want [3]", q, got)
		}
	}
	where, args := ParseFilter(url.Values{"q": {"red castle"}}, true).Where(testNow)
	plan := queryPlan(t, r, "SELECT m.id FROM media m WHERE "+where+" ORDER BY m.id DESC LIMIT 10", args...)
	if !strings.Contains(plan, "VIRTUAL TABLE INDEX") {
		t.Fatalf("text query does not use the FTS index:\n%s\n%s", where, plan)
	}
}

func TestParseTextQuery(t *testing.T) {
	cases := []struct {
		q     string
		parts []string
		like  []string
	}{
		{"red castle", []string{"red*", "castle*"}, nil},
		{`"Red Castle" night`, []string{`"red castle"`, "night*"}, nil},
		{"img_12", []string{`"img 12*"`}, nil},
		{"OR NOT near", []string{"or*", "not*", "near*"}, nil},
		{"_ % red", []string{"red*"}, []string{"_", "%"}},
		{`"unclosed phrase`, []string{`"unclosed phrase"`}, nil},
		{`""`, nil, nil},
		{`a*b" (x)`, []string{`"a b*"`, `"x"`}, nil}, // the stray quote opens a phrase
	}
	for _, c := range cases {
		tq := parseTextQuery(c.q)
		if !slices.Equal(tq.parts, c.parts) || !slices.Equal(tq.like, c.like) {
			t.Errorf("%q: parts %q like %q, want %q %q", c.q, tq.parts, tq.like, c.parts, c.like)
		}
	}
	many := strings.Repeat("w ", 40)
	if n := len(parseTextQuery(many).parts); n != maxTextTerms {
		t.Errorf("%d parts from 40 words, want cap %d", n, maxTextTerms)
	}
}

// ftsRow is media_fts's content for one media.
func ftsRow(t *testing.T, w *sql.DB, id int64) (row [8]string, ok bool) {
	t.Helper()
	var v [8]sql.NullString
	err := w.QueryRow(`SELECT path, title, override, caption, prompt, negative, tags, params FROM media_fts WHERE docid = ?`, id).
		Scan(&v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7])
	if err == sql.ErrNoRows {
		return row, false
	}
	if err != nil {
		t.Fatal(err)
	}
	for i := range v {
		row[i] = v[i].String
	}
	return row, true
}

// TestFTSFold changes media, prompts and meta and checks after every step
// that the change marked the media and that after folding the index row
// equals the newest values, and that every index row of the table matches
// a fresh computation.
func TestFTSFold(t *testing.T) {
	w, _ := newSearchDB(t, 30)
	exec := func(q string, a ...any) {
		t.Helper()
		if _, err := w.Exec(q, a...); err != nil {
			t.Fatal(err)
		}
	}
	exec(`INSERT INTO media(id, path, type, source, hash, imported_at) VALUES (100, '/x/first.png', 'image', 'import', 'h100', '2026-01-01T00:00:00Z')`)
	exec(`INSERT INTO tags(id, name) VALUES (500, 'sunlit'), (501, 'abbey')`)
	steps := []struct {
		name string
		sql  string
		args []any
		want [8]string // path, title, override, caption, prompt, negative, tags, params
		gone bool
	}{
		{"media insert", ``, nil, [8]string{"/x/first.png"}, false},
		{"path update", `UPDATE media SET path = '/x/second.png' WHERE id = 100`, nil, [8]string{"/x/second.png"}, false},
		{"prompt insert", `INSERT INTO prompts(id, media_id, prompt) VALUES (9001, 100, 'old prompt')`, nil, [8]string{"/x/second.png", "", "", "", "old prompt"}, false},
		{"newer prompt", `INSERT INTO prompts(id, media_id, prompt) VALUES (9002, 100, 'new prompt')`, nil, [8]string{"/x/second.png", "", "", "", "new prompt"}, false},
		{"prompt update", `UPDATE prompts SET prompt = 'edited' WHERE id = 9002`, nil, [8]string{"/x/second.png", "", "", "", "edited"}, false},
		{"older prompt update is no-op", `UPDATE prompts SET prompt = 'older edited' WHERE id = 9001`, nil, [8]string{"/x/second.png", "", "", "", "edited"}, false},
		{"newest prompt delete", `DELETE FROM prompts WHERE id = 9002`, nil, [8]string{"/x/second.png", "", "", "", "older edited"}, false},
		{"prompt moves away", `UPDATE prompts SET media_id = 1 WHERE id = 9001`, nil, [8]string{"/x/second.png"}, false},
		{"title", `INSERT INTO media_meta(id, media_id, source, meta_key, meta_value, created_at) VALUES (99001, 100, 't', 'ollama.title', 'Sky', 'x')`, nil, [8]string{"/x/second.png", "Sky"}, false},
		{"override", `INSERT INTO media_meta(id, media_id, source, meta_key, meta_value, created_at) VALUES (99002, 100, 't', 'title.override', 'Mine', 'x')`, nil, [8]string{"/x/second.png", "Sky", "Mine"}, false},
		{"caption", `INSERT INTO media_meta(id, media_id, source, meta_key, meta_value, created_at) VALUES (99003, 100, 't', 'ollama.caption', 'A sky', 'x')`, nil, [8]string{"/x/second.png", "Sky", "Mine", "A sky"}, false},
		{"other key ignored", `INSERT INTO media_meta(media_id, source, meta_key, meta_value, created_at) VALUES (100, 't', 'scan.x', 'zz', 'x')`, nil, [8]string{"/x/second.png", "Sky", "Mine", "A sky"}, false},
		{"newer title", `INSERT INTO media_meta(id, media_id, source, meta_key, meta_value, created_at) VALUES (99010, 100, 't', 'ollama.title', 'Sea', 'x')`, nil, [8]string{"/x/second.png", "Sea", "Mine", "A sky"}, false},
		{"meta value update", `UPDATE media_meta SET meta_value = 'Lake' WHERE id = 99010`, nil, [8]string{"/x/second.png", "Lake", "Mine", "A sky"}, false},
		{"meta delete", `DELETE FROM media_meta WHERE id = 99010`, nil, [8]string{"/x/second.png", "Sky", "Mine", "A sky"}, false},
		{"meta key update", `UPDATE media_meta SET meta_key = 'old.caption' WHERE id = 99003`, nil, [8]string{"/x/second.png", "Sky", "Mine"}, false},
		{"original name", `INSERT INTO media_meta(id, media_id, source, meta_key, meta_value, created_at) VALUES (99020, 100, 'import', 'original_name', 'beach.jpg', 'x')`, nil, [8]string{"/x/second.png beach.jpg", "Sky", "Mine"}, false},
		{"original name ends the path", `UPDATE media SET path = '/x/beach.jpg' WHERE id = 100`, nil, [8]string{"/x/beach.jpg", "Sky", "Mine"}, false},
		// Schema 0306: negative prompt, tag names, generation parameters.
		{"prompt with negative", `INSERT INTO prompts(id, media_id, prompt, negative_prompt) VALUES (9003, 100, 'p3', 'blurry')`, nil, [8]string{"/x/beach.jpg", "Sky", "Mine", "", "p3", "blurry"}, false},
		{"negative update", `UPDATE prompts SET negative_prompt = 'lowres' WHERE id = 9003`, nil, [8]string{"/x/beach.jpg", "Sky", "Mine", "", "p3", "lowres"}, false},
		{"tag added", `INSERT INTO media_tags(media_id, tag_id) VALUES (100, 500)`, nil, [8]string{"/x/beach.jpg", "Sky", "Mine", "", "p3", "lowres", "sunlit"}, false},
		{"second tag", `INSERT INTO media_tags(media_id, tag_id) VALUES (100, 501)`, nil, [8]string{"/x/beach.jpg", "Sky", "Mine", "", "p3", "lowres", "abbey sunlit"}, false},
		{"tag renamed", `UPDATE tags SET name = 'zenith' WHERE id = 501`, nil, [8]string{"/x/beach.jpg", "Sky", "Mine", "", "p3", "lowres", "sunlit zenith"}, false},
		{"tag removed", `DELETE FROM media_tags WHERE media_id = 100 AND tag_id = 500`, nil, [8]string{"/x/beach.jpg", "Sky", "Mine", "", "p3", "lowres", "zenith"}, false},
		{"tag deleted", `DELETE FROM tags WHERE id = 501`, nil, [8]string{"/x/beach.jpg", "Sky", "Mine", "", "p3", "lowres"}, false},
		{"gen", `INSERT INTO media_gen(media_id, software, model, sampler, scheduler) VALUES (100, 'comfyui', 'juggernautXL', 'euler', 'karras')`, nil, [8]string{"/x/beach.jpg", "Sky", "Mine", "", "p3", "lowres", "", "juggernautXL euler karras comfyui"}, false},
		{"lora", `INSERT INTO media_gen_loras(media_id, name, weight) VALUES (100, 'detailer', 0.8)`, nil, [8]string{"/x/beach.jpg", "Sky", "Mine", "", "p3", "lowres", "", "juggernautXL euler karras comfyui detailer"}, false},
		{"gen update", `UPDATE media_gen SET model = 'pony', scheduler = NULL WHERE media_id = 100`, nil, [8]string{"/x/beach.jpg", "Sky", "Mine", "", "p3", "lowres", "", "pony euler comfyui detailer"}, false},
		{"lora delete", `DELETE FROM media_gen_loras WHERE media_id = 100`, nil, [8]string{"/x/beach.jpg", "Sky", "Mine", "", "p3", "lowres", "", "pony euler comfyui"}, false},
		{"gen delete", `DELETE FROM media_gen WHERE media_id = 100`, nil, [8]string{"/x/beach.jpg", "Sky", "Mine", "", "p3", "lowres"}, false},
		{"media delete", `DELETE FROM media WHERE id = 100`, nil, [8]string{}, true},
	}
	foldAll(t, w)
	for _, s := range steps {
		if s.sql != "" {
			exec(s.sql, s.args...)
		}
		if s.sql != "" && s.name != "other key ignored" && s.name != "older prompt update is no-op" {
			if n := markedCount(t, w); n == 0 {
				t.Fatalf("%s: nothing marked", s.name)
			}
		}
		if s.name == "other key ignored" && markedCount(t, w) != 0 {
			t.Fatalf("%s: an unsearched meta key marked the media", s.name)
		}
		foldAll(t, w)
		got, ok := ftsRow(t, w, 100)
		if ok == s.gone || got != s.want {
			t.Fatalf("%s: row %q present=%v, want %q present=%v", s.name, got, ok, s.want, !s.gone)
		}
	}
	// Every index row equals the newest values (media 1 got prompt 9001).
	var bad int
	if err := w.QueryRow(`SELECT count(*) FROM media m LEFT JOIN media_fts f ON f.docid = m.id WHERE f.docid IS NULL
		OR f.path IS NOT ` + ftsindex.PathText + ` OR f.prompt IS NOT ` + newestPrompt + ` OR f.title IS NOT ` + newestMeta("ollama.title") +
		` OR f.override IS NOT ` + newestMeta("title.override") + ` OR f.caption IS NOT ` + newestMeta("ollama.caption") +
		` OR f.negative IS NOT ` + ftsindex.NegativeText + ` OR f.tags IS NOT ` + ftsindex.TagsText + ` OR f.params IS NOT ` + ftsindex.ParamsText).Scan(&bad); err != nil {
		t.Fatal(err)
	}
	var extra int
	if err := w.QueryRow(`SELECT count(*) FROM media_fts WHERE docid NOT IN (SELECT id FROM media)`).Scan(&extra); err != nil {
		t.Fatal(err)
	}
	if bad != 0 || extra != 0 {
		t.Fatalf("%d media with a stale index row, %d index rows without media", bad, extra)
	}
	if got, _ := ftsRow(t, w, 1); got[4] != "older edited" {
		t.Fatalf("media 1 prompt %q, want the moved prompt", got[4])
	}
}

// TestChooseTextMode: a word matching more than CountCap media is probed,
// a rare one drives the query by its id set; both list the same cards.
func TestChooseTextMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mode.db")
	w := dbtest.Open(t, path)
	if _, err := w.Exec(`WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?)
		INSERT INTO media(path, type, source, hash, imported_at, rating)
		SELECT '/lib/common/img' || i || '.png', 'image', 'import', 'h' || i, '2026-01-01T00:00:00Z', i % 4 FROM seq`, CountCap+50); err != nil {
		t.Fatal(err)
	}
	foldAll(t, w)
	r, err := db.OpenReadOnly(context.Background(), db.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	for _, c := range []struct {
		q    string
		want textMode
	}{{"common", textProbe}, {"img1234", textIDSet}} {
		f := ParseFilter(url.Values{"q": {c.q}, "sort": {"rating"}}, true)
		got, err := f.chooseTextMode(context.Background(), r)
		if err != nil || got != c.want {
			t.Fatalf("%s: mode %d (%v), want %d", c.q, got, err, c.want)
		}
		listed := matchIDs(t, r, f)
		f.likeText = true
		if want := matchIDs(t, r, f); !slices.Equal(listed, want) {
			t.Fatalf("%s: listed %d, LIKE %d", c.q, len(listed), len(want))
		}
	}
}

// TestFTSMatchIDs: the column scopes of the query language select the
// same media through the index (folded or marked) as the LIKE reference
// of that scope, and a scope only searches its column: a negative-prompt
// word is not found by prompt:, a model name only by free words.
func TestFTSMatchIDs(t *testing.T) {
	w, r := newSearchDB(t, 200)
	foldAll(t, w)
	staleEdits(t, w)
	idsOf := func(q string, args ...any) []int64 { t.Helper(); return queryIDs(t, r, q, args...) }
	cases := []struct {
		column string
		words  []query.Text
		some   bool
	}{
		{"", []query.Text{{Value: "juggernautXL"}}, true},
		{"any", []query.Text{{Value: "unipc"}, {Value: "1girl"}}, true},
		{"prompt", []query.Text{{Value: "juggernautXL"}}, false},
		{"negative", []query.Text{{Value: "lowres"}}, true},
		{"prompt", []query.Text{{Value: "lowres"}}, false},
		{"negative", []query.Text{{Value: "bad anatomy", Phrase: true}}, true},
		{"negative", []query.Text{{Value: "anatomy bad", Phrase: true}}, false},
		{"prompt", []query.Text{{Value: "red"}, {Value: "drag"}}, true},
		{"title", []query.Text{{Value: "ocean castle", Phrase: true}}, true},
		{"caption", []query.Text{{Value: "river"}}, true},
		{"name", []query.Text{{Value: "holiday"}}, true},
		{"name", []query.Text{{Value: "_"}}, true}, // LIKE only
		{"", []query.Text{{Value: "retagged"}, {Value: "_"}}, true},
		{"", nil, false},
	}
	for _, phase := range []string{"marked", "folded"} {
		if phase == "folded" {
			foldAll(t, w)
		}
		for _, c := range cases {
			set, args := ftsMatchIDs(c.column, c.words)
			if len(c.words) == 0 {
				if set != "" {
					t.Fatalf("no words: %q", set)
				}
				continue
			}
			got := idsOf("SELECT m.id FROM media m WHERE m.id IN ("+set+") ORDER BY m.id", args...)
			scope := map[string]string{"": "any", "name": "path"}[c.column]
			if scope == "" {
				scope = c.column
			}
			var items []string
			for _, w := range c.words {
				items = append(items, w.Value)
			}
			like, largs := likeAll(likeFields(scope), items)
			want := idsOf("SELECT m.id FROM media m WHERE "+like+" ORDER BY m.id", largs...)
			if !slices.Equal(got, want) || c.some != (len(got) > 0) {
				t.Errorf("%s %s %+v: got %v, LIKE %v, want some=%v", phase, c.column, c.words, got, want, c.some)
			}
		}
	}
}
