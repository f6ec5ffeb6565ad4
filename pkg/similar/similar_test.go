package similar

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/db/dbtest"
	"github.com/localsupervisor/supervisor/pkg/phash"
)

var testNow = time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)

// library fills media and media_phash with n hashes: clusters of a random
// base hash and variants up to 8 bits off (re-encodes, crops), like a
// folder of AI renders and their exports. It returns the hashes by id.
func library(tb testing.TB, w *sql.DB, n int, seed uint64) map[int64]phash.Hash {
	tb.Helper()
	ctx := context.Background()
	if _, err := w.ExecContext(ctx, `WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?)
		INSERT INTO media(id, path, type, source, imported_at) SELECT i, '/lib/' || i || '.png', 'image', 'import', '2026-01-01T00:00:00Z' FROM seq`, n); err != nil {
		tb.Fatal(err)
	}
	r := rand.New(rand.NewPCG(seed, seed+1))
	hashes := make(map[int64]phash.Hash, n)
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		tb.Fatal(err)
	}
	var base phash.Hash
	for id := int64(1); id <= int64(n); id++ {
		h := base
		if id%5 == 1 {
			base = phash.Hash(r.Uint64())
			h = base
		} else {
			for range r.IntN(9) {
				h ^= 1 << r.IntN(64)
			}
		}
		hashes[id] = h
		if err := Save(ctx, tx, id, h, "", testNow); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
	return hashes
}

// TestNearIsExact: the banded lookup returns exactly the hashes a full
// scan finds within the distance — none missed at any distance up to
// MaxDistance, none beyond — nearest first; refusals never match.
func TestNearIsExact(t *testing.T) {
	w := dbtest.Open(t, filepath.Join(t.TempDir(), "sv.db"))
	ctx := context.Background()
	hashes := library(t, w, 3000, 7)
	if _, err := w.Exec(`INSERT INTO media(id, path, type, source, imported_at) VALUES (9001, '/lib/black.png', 'image', 'import', '2026-01-01T00:00:00Z')`); err != nil {
		t.Fatal(err)
	}
	if err := SaveRefusal(ctx, w, 9001, phash.CodeLowDetail, "abc", testNow); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	for trial := range 60 {
		q := hashes[int64(1+r.IntN(len(hashes)))]
		for range r.IntN(7) {
			q ^= 1 << r.IntN(64)
		}
		d := trial % (MaxDistance + 1)
		got, err := Near(ctx, w, q, d, 0)
		if err != nil {
			t.Fatal(err)
		}
		var want []Match
		for id, h := range hashes {
			if x := phash.Distance(q, h); x <= d {
				want = append(want, Match{MediaID: id, Hash: h, Distance: x})
			}
		}
		sort.Slice(want, func(i, j int) bool {
			if want[i].Distance != want[j].Distance {
				return want[i].Distance < want[j].Distance
			}
			return want[i].MediaID < want[j].MediaID
		})
		if !slices.Equal(got, want) {
			t.Fatalf("distance %d: banded lookup %d matches, full scan %d", d, len(got), len(want))
		}
	}
	if _, err := Near(ctx, w, 0, MaxDistance+1, 0); err == nil {
		t.Fatal("a distance past MaxDistance was accepted")
	}
	if h, ok, err := Of(ctx, w, 9001); err != nil || ok || h != 0 {
		t.Fatalf("refused media: %v %v %v", h, ok, err)
	}
	if h, ok, err := Of(ctx, w, 42); err != nil || !ok || h != hashes[42] {
		t.Fatalf("media 42: %v %v %v", h, ok, err)
	}
}

// BenchmarkNear measures a similar lookup (distance 10, the default
// threshold) at 100k and 1M hashes; p50/p95 per size. SV_BENCH_PHASH_DIR
// keeps the generated databases between runs.
func BenchmarkNear(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			dir := os.Getenv("SV_BENCH_PHASH_DIR")
			if dir == "" {
				dir = b.TempDir()
			}
			path := filepath.Join(dir, fmt.Sprintf("phash-%d.db", n))
			_, statErr := os.Stat(path)
			w := dbtest.Open(b, path)
			var hashes map[int64]phash.Hash
			if statErr != nil {
				hashes = library(b, w, n, 11)
			} else {
				hashes = map[int64]phash.Hash{}
				rows, err := w.Query("SELECT media_id, phash FROM media_phash")
				if err != nil {
					b.Fatal(err)
				}
				for rows.Next() {
					var id, v int64
					if err := rows.Scan(&id, &v); err != nil {
						b.Fatal(err)
					}
					hashes[id] = phash.FromInt64(v)
				}
				rows.Close()
			}
			ctx := context.Background()
			r := rand.New(rand.NewPCG(5, 6))
			var lat []time.Duration
			for b.Loop() {
				q := hashes[int64(1+r.IntN(n))]
				start := time.Now()
				if _, err := Near(ctx, w, q, phash.DefaultThreshold, 50); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*95/100].Microseconds())/1000, "p95-ms")
		})
	}
}
