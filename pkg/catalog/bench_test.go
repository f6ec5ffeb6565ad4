package catalog

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/catalog/catalogtest"
	"github.com/localsupervisor/supervisor/pkg/catalog/ftsindex"
	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/svtest"
	"github.com/localsupervisor/supervisor/schema"
)

// BenchmarkList generates 1,000,000 media with prompts and titles
// (catalogtest.Generate, only when benchmarks run) and measures the list
// page queries the web UI issues — text queries through the FTS index —
// plus the detail page load.
func BenchmarkList(b *testing.B) {
	const n = 1_000_000
	ctx := context.Background()
	// SV_BENCH_DB names a generated library (e.g. the web benchmark's
	// $TMPDIR/sv-webbench-1000000/DB/local.sqlite) to measure without
	// generating again; a path that does not exist yet is generated there
	// once and kept.
	path := os.Getenv("SV_BENCH_DB")
	if _, err := os.Stat(path); path == "" || err != nil {
		if path == "" {
			path = filepath.Join(b.TempDir(), "bench.db")
		}
		generateBenchDB(ctx, b, path, n)
	} else {
		migrateBenchDB(ctx, b, path)
	}
	r, err := db.OpenReadOnly(ctx, db.Options{Path: path})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	now := int64(1767225600)

	deep := Cursor{Key: 400_000, ID: 400_000} // newest sort: key is the id
	// Page 5000 of the default list (?p=5000) and the keyset link to the
	// same place: the cursor is the last card of page 4999.
	deepPage := 5000
	var at5000 Cursor
	{
		f := ParseFilter(url.Values{}, true)
		where, args := f.Where(now)
		if err := r.QueryRowContext(ctx, "SELECT m.id FROM media m WHERE "+where+" ORDER BY m.id DESC LIMIT 1 OFFSET ?",
			append(args, (deepPage-1)*PageSize-1)...).Scan(&at5000.ID); err != nil {
			b.Fatal(err)
		}
		at5000.Key = at5000.ID
	}
	cases := []struct {
		name string
		q    url.Values
		pg   Page
	}{
		{"NoFilter", url.Values{}, Page{}},
		{"ThreeFilters", url.Values{"type": {"image"}, "min_rating": {"2"}, "sort": {"rating"}}, Page{}},
		{"TextQuery", url.Values{"q": {"img12345"}, "q_scope": {"path"}}, Page{}},
		{"TextQueryAnyRare", url.Values{"q": {"img98765"}}, Page{}},
		{"TextQueryCommonWord", url.Values{"q": {"dragon"}}, Page{}},
		{"TextQueryTwoWordsPrompt", url.Values{"q": {"red castle"}, "q_scope": {"prompt"}}, Page{}},
		{"TextQueryPhrase", url.Values{"q": {`"neon city"`}}, Page{}},
		{"TextQueryTitle", url.Values{"q": {"robot"}, "q_scope": {"title"}}, Page{}},
		{"TextQueryPrefix2", url.Values{"q": {"dr"}, "q_scope": {"prompt"}}, Page{}},
		{"TextQueryNoMatch", url.Values{"q": {"zzzz"}}, Page{}},
		{"TextQueryPlusFilters", url.Values{"q": {"dragon"}, "type": {"image"}, "min_rating": {"2"}, "sort": {"rating"}}, Page{}},
		{"DeepPage", url.Values{}, Page{After: &deep}},
		{"DeepPageNumbered", url.Values{"p": {strconv.Itoa(deepPage)}}, Page{}},
		{"DeepPageKeyset", url.Values{}, Page{After: &at5000}},
		{"DeepPageNumberedRating", url.Values{"p": {strconv.Itoa(deepPage)}, "sort": {"rating"}}, Page{}},
		// Tags with about 10 and 600 matches and one on every 4th media
		// (catalogtest.generateCuration).
		{"TagRare", url.Values{"tag": {catalogtest.RareTag}}, Page{}},
		{"TagUncommon", url.Values{"tag": {catalogtest.UncommonTag}}, Page{}},
		{"TagCommon", url.Values{"tag": {catalogtest.CommonTag}}, Page{}},
		{"TagUncommonSortRating", url.Values{"tag": {catalogtest.UncommonTag}, "sort": {"rating"}}, Page{}},
		// The other per-row filters (filter.go).
		{"CharacterWith", url.Values{"character": {"with"}}, Page{}},
		{"CharacterWithout", url.Values{"character": {"without"}}, Page{}},
		{"HasPromptWithout", url.Values{"has_prompt": {"without"}}, Page{}},
		{"HasMetaWithout", url.Values{"has_meta": {"without"}}, Page{}},
		{"IncompleteTags", url.Values{"incomplete": {"tags"}}, Page{}},
		{"Dupes", url.Values{"dupes": {"1"}}, Page{}},
		{"DupesSHA", url.Values{"dupes_sha": {"1"}}, Page{}},
		{"Broken", url.Values{"broken": {"broken"}}, Page{}},
		{"Checked", url.Values{"checked": {"checked"}}, Page{}},
		{"Issues", url.Values{"issues": {"1"}}, Page{}},
	}
	for _, c := range cases {
		f := ParseFilter(c.q, true)
		b.Run(c.name, func(b *testing.B) {
			var lat []time.Duration
			cpu := svtest.StartCPU()
			for b.Loop() {
				start := time.Now()
				// List includes the batched card data (FillCards).
				if _, err := List(ctx, r, f, c.pg, now); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			cpu.Report(b, b.N)
			reportPercentiles(b, lat)
		})
	}
	// The count a list page shows beside a filter (capped at CountCap).
	for _, c := range []struct {
		name string
		q    url.Values
	}{
		{"CountTagRare", url.Values{"tag": {catalogtest.RareTag}}},
		{"CountTagUncommon", url.Values{"tag": {catalogtest.UncommonTag}}},
		{"CountTagCommon", url.Values{"tag": {catalogtest.CommonTag}}},
		{"CountCharacterWith", url.Values{"character": {"with"}}},
		{"CountDupesSHA", url.Values{"dupes_sha": {"1"}}},
		{"CountBroken", url.Values{"broken": {"broken"}}},
		{"CountChecked", url.Values{"checked": {"checked"}}},
	} {
		f := ParseFilter(c.q, true)
		b.Run(c.name, func(b *testing.B) {
			var lat []time.Duration
			for b.Loop() {
				start := time.Now()
				if _, _, err := Count(ctx, r, f, now); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			reportPercentiles(b, lat)
		})
	}
	// While media are marked for the text index (a writer changed them
	// since the last fold), text queries take the id-set path.
	b.Run("TextQueryCommonWordMarked", func(b *testing.B) {
		w, err := db.Open(ctx, db.Options{Path: path})
		if err != nil {
			b.Fatal(err)
		}
		defer w.Close()
		if _, err := w.Exec(`INSERT OR IGNORE INTO media_fts_pending(media_id) VALUES (?)`, n/2); err != nil {
			b.Fatal(err)
		}
		defer func() {
			if _, err := ftsindex.FoldAll(ctx, w, 0); err != nil {
				b.Fatal(err)
			}
		}()
		f := ParseFilter(url.Values{"q": {"dragon"}}, true)
		for b.Loop() {
			if _, err := List(ctx, r, f, Page{}, now); err != nil {
				b.Fatal(err)
			}
			if _, _, err := Count(ctx, r, f, now); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Count", func(b *testing.B) {
		f := ParseFilter(url.Values{"type": {"image"}}, true)
		for b.Loop() {
			if _, _, err := Count(ctx, r, f, now); err != nil {
				b.Fatal(err)
			}
		}
	})
	// Prev/next of the detail page inside filtered lists, and searches for
	// an original file name (DSC<id>_<word>.png, catalogtest.Generate).
	for _, c := range []struct {
		name string
		q    url.Values
	}{
		{"NeighboursFiltered", url.Values{"type": {"video"}, "min_rating": {"2"}, "sort": {"rating"}}},
		{"NeighboursFilteredNewest", url.Values{"type": {"video"}, "min_rating": {"2"}}},
		{"NeighboursTextQuery", url.Values{"q": {"dragon"}, "sort": {"rating"}}},
	} {
		f := ParseFilter(c.q, true)
		b.Run(c.name, func(b *testing.B) {
			// The detail page is opened from the list: ids of the list's
			// pages 1 and 200 (a media outside the filter costs more,
			// see keysetParts).
			var idsIn []int64
			for _, p := range []int{1, 200} {
				f.Page = p
				res, err := List(ctx, r, f, Page{Limit: 100}, now)
				if err != nil {
					b.Fatal(err)
				}
				idsIn = append(idsIn, ids(res.Cards)...)
			}
			f.Page = 1
			if len(idsIn) == 0 {
				b.Fatal("empty list")
			}
			var lat []time.Duration
			i := 0
			for b.Loop() {
				i++
				id := idsIn[(i*37)%len(idsIn)]
				start := time.Now()
				if _, _, err := Neighbours(ctx, r, f, id, now); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			reportPercentiles(b, lat)
		})
	}
	for _, c := range []struct {
		name string
		q    url.Values
	}{
		{"NameSearch", url.Values{"q": {"DSC0123457"}}},
		{"NameSearchPathScope", url.Values{"q": {"DSC0123457_"}, "q_scope": {"path"}}},
		{"NameSearchPrefix", url.Values{"q": {"DSC01234"}}},
		{"NameSearchSortRating", url.Values{"q": {"DSC0123457"}, "sort": {"rating"}}},
	} {
		f := ParseFilter(c.q, true)
		b.Run(c.name, func(b *testing.B) {
			var lat []time.Duration
			for b.Loop() {
				start := time.Now()
				res, err := List(ctx, r, f, Page{}, now)
				if err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
				if len(res.Cards) == 0 {
					b.Fatal("the name search found nothing")
				}
			}
			reportPercentiles(b, lat)
		})
	}
	b.Run("Detail", func(b *testing.B) {
		f := ParseFilter(url.Values{}, true)
		i := int64(0)
		for b.Loop() {
			i++
			id := 1 + (i*104729)%n
			if _, err := LoadDetail(ctx, r, id); err != nil {
				b.Fatal(fmt.Errorf("detail %d: %w", id, err))
			}
			if _, _, err := Neighbours(ctx, r, f, id, now); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// generateBenchDB creates the benchmark library at path and times the
// migration-0301 style FTS rebuild over it.
func generateBenchDB(ctx context.Context, b *testing.B, path string, n int) {
	w, err := db.Open(ctx, db.Options{Path: path, Create: true})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	if _, err := db.Migrate(ctx, w, db.MigrateOptions{}); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if err := catalogtest.Generate(ctx, w, n, "/lib"); err != nil {
		b.Fatal(err)
	}
	b.Logf("generated %d media, prompts, titles (FTS rows folded) in %v", n, time.Since(start).Round(time.Millisecond))
	// The legacy-upgrade path: migration 0301's backfill over all rows.
	start = time.Now()
	if _, err := w.Exec(`DELETE FROM media_fts; INSERT INTO media_fts(docid, path, title, override, caption, prompt)
		SELECT m.id, ` + ftsindex.PathText + `, ` + newestMeta("ollama.title") + `, ` + newestMeta("title.override") + `, ` +
		newestMeta("ollama.caption") + `, ` + newestPrompt + ` FROM media m`); err != nil {
		b.Fatal(err)
	}
	b.Logf("rebuilt media_fts like migration 0301 in %v", time.Since(start).Round(time.Millisecond))
}

// migrateBenchDB brings an existing generated library to the current schema
// (it may predate media_fts_pending, schema 0304) and folds any marks.
func migrateBenchDB(ctx context.Context, b *testing.B, path string) {
	w, err := db.Open(ctx, db.Options{Path: path})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	fillGenBench(ctx, b, w)
	start := time.Now()
	if _, err := db.Migrate(ctx, w, db.MigrateOptions{}); err != nil {
		b.Fatal(err)
	}
	b.Logf("migrated in %v", time.Since(start).Round(time.Millisecond))
	var marked int
	if err := w.QueryRowContext(ctx, `SELECT count(*) FROM media_fts_pending`).Scan(&marked); err != nil {
		b.Fatal(err)
	}
	if marked > 1000 {
		// A migration that marked the library (schema 0306): a text search
		// meanwhile, then the fold as webui runs it (DefaultBatch).
		start = time.Now()
		if _, err := List(ctx, w, ParseFilter(url.Values{"q": {"dragon"}}, true), Page{}, 1767225600); err != nil {
			b.Fatal(err)
		}
		b.Logf("text search with %d marked media: %v", marked, time.Since(start).Round(time.Millisecond))
		start = time.Now()
		n, err := ftsindex.FoldAll(ctx, w, ftsindex.DefaultBatch)
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("folded %d marked media (batch %d) in %v", n, ftsindex.DefaultBatch, time.Since(start).Round(time.Millisecond))
	}
	if _, err := ftsindex.FoldAll(ctx, w, 100_000); err != nil {
		b.Fatal(err)
	}
}

// fillGenBench gives a generated library generation parameters and tags
// when it has none (catalogtest.Generate predating media_gen writes none):
// a few models and samplers in skewed shares, LoRAs on a third of the
// media, five of 300 tags per media — what the facets count.
func fillGenBench(ctx context.Context, b *testing.B, w *sql.DB) {
	var have bool
	if err := w.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM media_gen)`).Scan(&have); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if !have {
		for _, q := range []string{
			`INSERT INTO media_gen(media_id, software, model, sampler, scheduler, steps, cfg, seed, width, height)
			SELECT p.media_id,
				json_extract('["a1111","comfyui","forge","a1111","comfyui","novelai","invokeai","fooocus"]', '$[' || (p.media_id % 8) || ']'),
				json_extract('["juggernautXL_v9","ponyDiffusionV6XL","dreamshaper_8","realisticVision_v51","sd_xl_base_1.0","animagineXL_v31","epicrealism_v5","deliberate_v3"]',
					'$[' || ((p.media_id % 7) * (p.media_id % 5) % 8) || ']') || CASE WHEN p.media_id % 11 = 0 THEN '_alt' || (p.media_id % 13) ELSE '' END,
				json_extract('["Euler a","DPM++ 2M Karras","UniPC","DPM++ SDE","Euler","DDIM","LMS","Heun"]', '$[' || ((p.media_id / 3) % 8) || ']'),
				CASE p.media_id % 3 WHEN 0 THEN 'karras' WHEN 1 THEN 'normal' END,
				20 + p.media_id % 30, 4 + (p.media_id % 9) * 0.5, CAST(p.media_id * 7919 AS TEXT), 512, 768
			FROM prompts p`,
			`INSERT OR IGNORE INTO media_gen_loras(media_id, name, weight)
			SELECT media_id, 'lora_' || (media_id % 40), 0.8 FROM media_gen WHERE media_id % 3 = 0
			UNION ALL SELECT media_id, 'detail_tweaker_' || (media_id % 7), 0.5 FROM media_gen WHERE media_id % 5 = 0`,
		} {
			if _, err := w.ExecContext(ctx, q); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := w.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM media_tags)`).Scan(&have); err != nil {
		b.Fatal(err)
	}
	if !have {
		for _, q := range []string{
			`WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < 300)
			INSERT OR IGNORE INTO tags(id, name, type) SELECT i, 'tag' || i, 'content' FROM seq`,
			`WITH k(k) AS (VALUES (0), (1), (2), (3), (4))
			INSERT OR IGNORE INTO media_tags(media_id, tag_id, confidence)
			SELECT m.id, 1 + ((m.id % (20 + k.k * 40)) + k.k * 60) % 300, 0.9 FROM media m, k`,
		} {
			if _, err := w.ExecContext(ctx, q); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Logf("generation parameters and tags present after %v", time.Since(start).Round(time.Millisecond))
}

// measure runs fn as the benchmark loop and reports its p50/p95 and the
// process CPU time per call (on a shared, loaded machine the wall time
// mostly measures the wait for a core).
func measure(b *testing.B, fn func() error) {
	var lat []time.Duration
	cpu0 := cpuTime(b)
	for b.Loop() {
		start := time.Now()
		if err := fn(); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	reportPercentiles(b, lat)
	if len(lat) > 0 {
		b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/1000/float64(len(lat)), "cpu-ms/op")
	}
}

// reportPercentiles adds p50/p95 of the per-iteration latencies.
func reportPercentiles(b *testing.B, lat []time.Duration) { reportPercentilesAs(b, "", lat) }

// reportPercentilesAs is reportPercentiles with a name prefix per metric.
func reportPercentilesAs(b *testing.B, prefix string, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	at := func(p int) time.Duration { return lat[min(len(lat)-1, len(lat)*p/100)] }
	b.ReportMetric(float64(at(50).Microseconds())/1000, prefix+"p50-ms")
	b.ReportMetric(float64(at(95).Microseconds())/1000, prefix+"p95-ms")
}

// BenchmarkQuery measures the query language (CompileQuery through List
// and Count, as a list page runs them) at 1M media: every field term, a
// three-term AND, a negated tag, a common free word, an OR and deep
// paging, each with p50/p95 per page (List + Count). SV_BENCH_DB names
// the library: generated there once when the file does not exist, reused
// afterwards.
func BenchmarkQuery(b *testing.B) {
	const n = 1_000_000
	ctx := context.Background()
	path := os.Getenv("SV_BENCH_DB")
	if path == "" {
		path = filepath.Join(b.TempDir(), "bench.db")
	}
	if _, err := os.Stat(path); err != nil {
		generateBenchDB(ctx, b, path, n)
	} else {
		migrateBenchDB(ctx, b, path)
	}
	fillQueryBenchData(ctx, b, path)
	fillPHashBench(ctx, b, path)
	r, err := db.OpenReadOnly(ctx, db.Options{Path: path})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	deep := Cursor{Key: 400_000, ID: 400_000}
	cases := []struct {
		name, q string
		pg      Page
	}{
		{"model", "model:juggernaut", Page{}},
		{"model_rare_word", "model:v3", Page{}},
		{"model_hash", "model:" + benchModelHash(7), Page{}},
		{"sampler", `sampler:"dpm++ 2m"`, Page{}},
		{"scheduler", "scheduler:karras", Page{}},
		{"software", "software:comfyui", Page{}},
		{"lora", "lora:dragon", Page{}},
		{"seed", "seed:" + benchSeed(123457), Page{}},
		{"steps", "steps:33", Page{}},
		{"steps_range", "steps:>=48", Page{}},
		{"cfg", "cfg:7", Page{}},
		{"denoise", "denoise:>=0.5", Page{}},
		{"tag", "tag:tag1234", Page{}},
		{"tag_prefix", "tag:tag123*", Page{}},
		{"character", "character:char_7", Page{}},
		{"rating", "rating:3", Page{}},
		{"nsfw", "nsfw:no", Page{}},
		{"type", "type:video", Page{}},
		{"w", "w:>=512", Page{}},
		{"w_rare", "w:1920", Page{}},
		{"h", "h:<700", Page{}},
		{"ratio", "ratio:2:3", Page{}},
		{"dur", "dur:>30", Page{}},
		{"size", "size:>4MB", Page{}},
		{"imported", "imported:2025-01-05", Page{}},
		{"created", "created:2025-01-03..2025-01-04", Page{}},
		{"path", "path:/lib/17", Page{}},
		{"source", "source:17", Page{}},
		{"collection", "collection:favourites", Page{}},
		{"has_prompt", "has:prompt", Page{}},
		{"has_caption", "has:caption", Page{}},
		{"has_title", "has:title", Page{}},
		{"has_tags", "has:tags", Page{}},
		{"has_parent", "has:parent", Page{}},
		{"has_children", "has:children", Page{}},
		{"is_broken", "is:broken", Page{}},
		{"is_deleted", "is:deleted", Page{}},
		{"is_checked", "is:checked", Page{}},
		{"status", "status:active", Page{}},
		{"curation", "curation:review", Page{}},
		{"vote", "vote:approved", Page{}},
		{"id", "id:500000", Page{}},
		{"prompt", "prompt:dragon", Page{}},
		{"negative", "negative:blurry", Page{}},
		{"title", "title:robot", Page{}},
		{"name", "name:DSC0123457", Page{}},
		{"and3_model_steps_tag", "model:juggernaut steps:33 tag:tag1234", Page{}},
		{"and3_model_steps_cfg", "model:juggernaut steps:>=40 cfg:7", Page{}},
		{"not_tag", "-tag:tag1234", Page{}},
		{"word_common", "dragon", Page{}},
		{"words_and_field", "dragon castle type:image", Page{}},
		{"or_terms", "model:juggernaut OR sampler:euler", Page{}},
		{"or_words", "dragon OR robot rating:>=2", Page{}},
		{"deep_page", "model:juggernaut", Page{After: &deep}},
		{"deep_page_rating", "rating:>=1 steps:>=30", Page{After: &deep}},
		// Jump to date (?jump=): the UI's way to a far position, one seek
		// wherever it lands (the generator imports one media a second
		// from 2025-01-01, so 2025-01-07 is ~520,000 media down).
		// Perceptual hashes: every fifth media starts a group of five
		// variants a few bits apart (fillPHashBench).
		{"similar", "similar:500001", Page{}},
		{"similar_widest", "similar:500001~11", Page{}},
		{"jump_date", "jump=2025-01-07", Page{}},
		{"jump_date_filtered", "jump=2025-01-07 type:video", Page{}},
	}
	for _, c := range cases {
		v := url.Values{"q": {c.q}}
		if j, rest, ok := strings.Cut(c.q, " "); strings.HasPrefix(c.q, "jump=") {
			v = url.Values{"jump": {strings.TrimPrefix(j, "jump=")}}
			if ok {
				v.Set("q", rest)
			}
		}
		f := ParseFilterAt(v, true, now)
		if f.QueryErr != nil {
			b.Fatalf("%s: %v", c.q, f.QueryErr)
		}
		b.Run(c.name, func(b *testing.B) {
			// The page (List) and its count (Count: the web list asks
			// for it after showing a query's cards) separately.
			var lat, clat []time.Duration
			for b.Loop() {
				start := time.Now()
				if _, err := List(ctx, r, f, c.pg, now.Unix()); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
				if c.pg.After == nil {
					start = time.Now()
					if _, _, err := Count(ctx, r, f, now.Unix()); err != nil {
						b.Fatal(err)
					}
					clat = append(clat, time.Since(start))
				}
			}
			reportPercentiles(b, lat)
			reportPercentilesAs(b, "count-", clat)
		})
	}
}

// benchModelHash and benchSeed are values fillQueryBenchData writes.
func benchModelHash(i int) string { return fmt.Sprintf("%010x", i*104729) }
func benchSeed(id int) string     { return fmt.Sprint((int64(id) * 2654435761) % 4294967296) }

// fillPHashBench gives every media a perceptual hash, once per library:
// groups of five (a random hash and four variants 1–4 bits off (id % 5 low bits), like a
// render and its exports), the bands as pkg/similar writes them.
func fillPHashBench(ctx context.Context, b *testing.B, path string) {
	w, err := db.Open(ctx, db.Options{Path: path})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	var have int
	if err := w.QueryRow("SELECT EXISTS (SELECT 1 FROM media_phash)").Scan(&have); err != nil || have == 1 {
		if err != nil {
			b.Fatal(err)
		}
		return
	}
	start := time.Now()
	if _, err := w.ExecContext(ctx, `INSERT INTO media_phash(media_id, phash, b0, b1, b2, b3, computed_at)
		SELECT id, h, h & 65535, (h >> 16) & 65535, (h >> 32) & 65535, (h >> 48) & 65535, '2026-01-01T00:00:00Z' FROM (
			-- base XOR the variant's low bits (SQLite has no XOR operator)
			SELECT m.id, (g.base | ((1 << (m.id % 5)) - 1)) & ~(g.base & ((1 << (m.id % 5)) - 1)) AS h
			FROM media m JOIN (SELECT id AS gid, random() AS base FROM media WHERE id % 5 = 1) g ON g.gid = m.id - ((m.id + 4) % 5))`); err != nil {
		b.Fatal(err)
	}
	b.Logf("perceptual hashes filled in %s", time.Since(start).Round(time.Second))
}

// fillQueryBenchData adds what BenchmarkQuery filters on and the
// generator does not (yet) write, once per library: media_gen rows from
// the prompts (60 models of 12 names, 8 samplers, 4 schedulers, 5
// programs, steps 20..50, cfg 3..11, seeds), a LoRA for every third media,
// 5,000 tags (three per media, ~600 media each), character tags, a few
// collections, parents, captions, checks and a library source.
func fillQueryBenchData(ctx context.Context, b *testing.B, path string) {
	w, err := db.Open(ctx, db.Options{Path: path})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	// The library source is the last row written: its presence means
	// done. Rows another benchmark filled first (fillGenBench) stay.
	var have int
	if err := w.QueryRow("SELECT count(*) FROM library_sources WHERE path = '/lib/17'").Scan(&have); err != nil {
		b.Fatal(err)
	}
	if have > 0 {
		return
	}
	start := time.Now()
	models := `'["juggernautXL","ponyDiffusionV6XL","realisticVision","dreamshaper","animagineXL","sdxl_base","epicRealism","deliberate","revAnimated","majicMix","counterfeit","absoluteReality"]'`
	samplers := `'["Euler a","Euler","DPM++ 2M","DPM++ 2M SDE","DPM++ SDE","DDIM","UniPC","LMS"]'`
	schedulers := `'["Karras","Exponential","Normal","SGM Uniform"]'`
	software := `'["a1111","comfyui","forge","invokeai","novelai"]'`
	loraWords := `'["dragon","detail","style","lighting","anime","armor","neon","film"]'`
	steps := []string{
		`INSERT OR IGNORE INTO media_gen(media_id, software, model, model_hash, sampler, scheduler, steps, cfg, seed, width, height, denoise)
		SELECT p.media_id, json_extract(` + software + `, '$[' || (p.media_id % 5) || ']'),
			json_extract(` + models + `, '$[' || (p.media_id % 12) || ']') || '_v' || (p.media_id % 5),
			printf('%010x', (p.media_id % 60) * 104729),
			json_extract(` + samplers + `, '$[' || ((p.media_id / 3) % 8) || ']'),
			CASE WHEN p.media_id % 2 = 0 THEN json_extract(` + schedulers + `, '$[' || ((p.media_id / 7) % 4) || ']') END,
			20 + (p.media_id * 13) % 31, 3.0 + ((p.media_id * 7) % 17) * 0.5,
			CAST((p.media_id * 2654435761) % 4294967296 AS TEXT), 512, 768,
			CASE WHEN p.media_id % 4 = 0 THEN 0.3 + (p.media_id % 7) * 0.1 END
		FROM prompts p`,
		`INSERT OR IGNORE INTO media_gen_loras(media_id, name, weight)
		SELECT id, 'lora_' || json_extract(` + loraWords + `, '$[' || (id % 8) || ']') || '_' || (id % 25), 0.8
		FROM media WHERE id % 3 = 0`,
		`WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 5000)
		INSERT OR IGNORE INTO tags(id, name, type) SELECT i, 'tag' || i, 'content' FROM s`,
		`WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 50)
		INSERT OR IGNORE INTO tags(id, name, type) SELECT 5000 + i, 'char_' || i, 'danbooru.character.v1' FROM s`,
		`INSERT OR IGNORE INTO media_tags(media_id, tag_id, confidence)
		SELECT id, 1 + id % 5000, 0.9 FROM media UNION ALL SELECT id, 1 + (id * 7 + 1) % 5000, 0.9 FROM media
		UNION ALL SELECT id, 1 + (id * 13 + 2) % 5000, 0.9 FROM media
		UNION ALL SELECT id, 5001 + id % 50, 0.9 FROM media WHERE id % 20 = 0`,
		`UPDATE prompts SET negative_prompt = CASE WHEN media_id % 5 = 0 THEN 'blurry, lowres' ELSE 'lowres' END`,
		`INSERT INTO media_meta(media_id, source, meta_key, meta_value, created_at)
		SELECT id, 'ollama', 'ollama.caption', 'A picture of a castle', '2026-01-01T00:00:00Z' FROM media WHERE id % 50 = 0`,
		`INSERT INTO media_meta(media_id, source, meta_key, meta_value, created_at)
		SELECT id, 'web', 'curation.checked', '1', '2026-01-01T00:00:00Z' FROM media WHERE id % 1000 = 0`,
		`INSERT INTO media_meta(media_id, source, meta_key, meta_value, created_at)
		SELECT id, 'media', 'integrity.ok', '0', '2026-01-01T00:00:00Z' FROM media WHERE id % 10000 = 7`,
		`UPDATE media SET parent_media_id = id - 1 WHERE id % 500 = 0`,
		`UPDATE media SET duration = (id % 120) WHERE type = 'video'`,
		`UPDATE media SET quality_status = 'review' WHERE id % 300 = 0`,
		`UPDATE media SET status_vote = 'approved' WHERE id % 700 = 0`,
		`INSERT OR IGNORE INTO collections(name, created_at) VALUES ('favourites', '2026-01-01T00:00:00Z')`,
		`INSERT OR IGNORE INTO collection_media(collection_id, media_id) SELECT c.id, m.id FROM media m, collections c WHERE m.id % 997 = 0 AND c.name = 'favourites'`,
		`INSERT INTO library_sources(path, mode, added_at) VALUES ('/lib/17', 'in_place', '2026-01-01T00:00:00Z')`,
		`ANALYZE`,
	}
	for _, s := range steps {
		if _, err := w.ExecContext(ctx, s); err != nil {
			b.Fatalf("%v\n%s", err, s)
		}
	}
	if _, err := ftsindex.FoldAll(ctx, w, 100_000); err != nil {
		b.Fatal(err)
	}
	b.Logf("query bench data filled in %v", time.Since(start).Round(time.Millisecond))
}

// BenchmarkFacets measures the facet panel (ComputeFacets, uncached) at
// 1M media: the default list, a common word, a model name and a tag
// filter; p50/p95 per case. SV_BENCH_DB as for BenchmarkList.
func BenchmarkFacets(b *testing.B) {
	ctx := context.Background()
	path := os.Getenv("SV_BENCH_DB")
	if path == "" {
		path = filepath.Join(b.TempDir(), "bench.db")
		generateBenchDB(ctx, b, path, 1_000_000)
	}
	migrateBenchDB(ctx, b, path)
	r, err := db.OpenReadOnly(ctx, db.Options{Path: path})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	now := int64(1767225600)
	for _, c := range []struct {
		name string
		q    url.Values
	}{
		{"Unfiltered", url.Values{}},
		{"CommonWord", url.Values{"q": {"dragon"}}},
		{"ModelWord", url.Values{"q": {"juggernautxl"}}},
		{"RareWord", url.Values{"q": {"DSC0123457"}}},
		{"Filters", url.Values{"type": {"video"}, "min_rating": {"2"}}},
		{"TagFilter", url.Values{"tag": {"tag7"}}},
	} {
		f := ParseFilter(c.q, false)
		b.Run(c.name, func(b *testing.B) {
			measure(b, func() error {
				res, err := ComputeFacets(ctx, r, f, now)
				if err == nil && len(res.Facets) == 0 {
					err = fmt.Errorf("no facets")
				}
				return err
			})
		})
	}
	// The alternative for the default list: an index-only GROUP BY over
	// the whole library (exact, but blind to the NSFW and deleted filters).
	b.Run("IndexGroupByModel", func(b *testing.B) {
		measure(b, func() error {
			rows, err := r.QueryContext(ctx, `SELECT model, count(*) AS c FROM media_gen GROUP BY model ORDER BY c DESC LIMIT 8`)
			if err != nil {
				return err
			}
			for rows.Next() {
			}
			rows.Close()
			return rows.Err()
		})
	})
}

// BenchmarkRefold measures what schema 0306 leaves to webui at 1M media:
// every media marked and the index empty (as the migration leaves it),
// text searches meanwhile (marked media by the LIKE reference), then
// FoldAll in webui's batches. Run with -benchtime 1x on SV_BENCH_DB.
func BenchmarkRefold(b *testing.B) {
	ctx := context.Background()
	path := os.Getenv("SV_BENCH_DB")
	if path == "" {
		b.Skip("SV_BENCH_DB names the generated library")
	}
	migrateBenchDB(ctx, b, path)
	w, err := db.Open(ctx, db.Options{Path: path})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	r, err := db.OpenReadOnly(ctx, db.Options{Path: path})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	// The table part of migration 0306 (drop, create, mark every media);
	// a DELETE of the index rows instead costs a minute at 1M.
	text, err := schema.FS.ReadFile("0306_media_fts_params.sql")
	if err != nil {
		b.Fatal(err)
	}
	tablePart, _, _ := strings.Cut(string(text), "DROP TRIGGER")
	markAll := func(b *testing.B) {
		if _, err := w.ExecContext(ctx, tablePart); err != nil {
			b.Fatal(err)
		}
	}
	now := int64(1767225600)
	b.Run("MarkAll", func(b *testing.B) {
		for b.Loop() {
			markAll(b)
		}
	})
	for _, c := range []struct {
		name string
		q    url.Values
	}{
		{"ListWhileMarked", url.Values{"q": {"dragon"}}},
		{"ListWhileMarkedSortRating", url.Values{"q": {"dragon"}, "sort": {"rating"}}},
		{"ListWhileMarkedModel", url.Values{"q": {"juggernautxl"}}},
	} {
		f := ParseFilter(c.q, true)
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := List(ctx, r, f, Page{}, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("FoldAll", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			if current, err := indexCurrent(ctx, w); err != nil {
				b.Fatal(err)
			} else if current {
				markAll(b) // a second iteration
			}
			b.StartTimer()
			n, err := ftsindex.FoldAll(ctx, w, ftsindex.DefaultBatch)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(n), "media")
		}
	})
}
