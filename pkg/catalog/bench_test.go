package catalog

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/db"
)

// BenchmarkList generates 1,000,000 media with one recursive-CTE
// INSERT…SELECT (only when benchmarks run) and measures the list page
// queries the web UI issues, plus the detail page load.
func BenchmarkList(b *testing.B) {
	const n = 1_000_000
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "bench.db")
	w, err := db.Open(ctx, db.Options{Path: path, Create: true})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	if _, err := db.Migrate(ctx, w, db.MigrateOptions{}); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if _, err := w.Exec(`WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?)
		INSERT INTO media(path, type, source, width, height, filesize, hash, imported_at, created_at, rating, has_nsfw)
		SELECT '/lib/' || (i % 256) || '/img' || i || CASE WHEN i % 10 = 0 THEN '.mp4' ELSE '.png' END,
			CASE WHEN i % 10 = 0 THEN 'video' ELSE 'image' END, 'import', 512, 768, 1000 + (i * 7919) % 5000000,
			printf('%064x', i), strftime('%Y-%m-%dT%H:%M:%SZ', 1735689600 + i, 'unixepoch'),
			strftime('%Y-%m-%dT%H:%M:%SZ', 1735689600 + i, 'unixepoch'), i % 4, CASE WHEN i % 7 = 0 THEN 1 ELSE 0 END
		FROM seq`, n); err != nil {
		b.Fatal(err)
	}
	if _, err := w.Exec(`ANALYZE`); err != nil {
		b.Fatal(err)
	}
	b.Logf("generated %d media in %v", n, time.Since(start).Round(time.Millisecond))
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
