package catalog

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/catalog/catalogtest"
	"github.com/localsupervisor/supervisor/pkg/catalog/ftsindex"
	"github.com/localsupervisor/supervisor/pkg/db"
)

// BenchmarkList generates 1,000,000 media with prompts and titles
// (catalogtest.Generate, only when benchmarks run) and measures the list
// page queries the web UI issues — text queries through the FTS index —
// plus the detail page load.
func BenchmarkList(b *testing.B) {
	const n = 1_000_000
	ctx := context.Background()
	// SV_BENCH_DB names an already generated library (e.g. the web
	// benchmark's $TMPDIR/sv-webbench-1000000/DB/local.sqlite) to measure
	// without generating again.
	path := os.Getenv("SV_BENCH_DB")
	if path == "" {
		path = filepath.Join(b.TempDir(), "bench.db")
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
	}
	for _, c := range cases {
		f := ParseFilter(c.q, true)
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				// List includes the batched card data (FillCards).
				if _, err := List(ctx, r, f, c.pg, now); err != nil {
					b.Fatal(err)
				}
			}
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
	if _, err := db.Migrate(ctx, w, db.MigrateOptions{}); err != nil {
		b.Fatal(err)
	}
	if _, err := ftsindex.FoldAll(ctx, w, 100_000); err != nil {
		b.Fatal(err)
	}
}
