package sources_test

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/catalog/catalogtest"
	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/sources"
)

// BenchmarkMediaCount measures the dashboard's per-source media count (an
// index range on media.path) over a generated library of 1,000,000 media
// (SV_BENCH_SOURCES_N overrides), generated once under
// $TMPDIR/sv-sourcesbench-<n> by catalogtest.Generate: paths
// /lib/<i%256>/img<i>.png|.mp4. Cases: a source holding every media, one
// folder (~3,900 media; /lib/1 must not count /lib/10…), and an empty one.
func BenchmarkMediaCount(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("SV_BENCH_SOURCES_N")); err == nil && v > 0 {
		n = v
	}
	ctx := context.Background()
	dir := filepath.Join(os.TempDir(), "sv-sourcesbench-"+strconv.Itoa(n))
	path := filepath.Join(dir, "bench.sqlite")
	marker := path + ".generated"
	_, statErr := os.Stat(marker)
	if statErr != nil {
		os.RemoveAll(dir)
		os.MkdirAll(dir, 0o755)
	}
	w, err := db.Open(ctx, db.Options{Path: path, Create: true})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	if _, err := db.Migrate(ctx, w, db.MigrateOptions{}); err != nil {
		b.Fatal(err)
	}
	if statErr != nil {
		start := time.Now()
		if err := catalogtest.Generate(ctx, w, n, "/lib"); err != nil {
			b.Fatal(err)
		}
		os.WriteFile(marker, nil, 0o644)
		b.Logf("generated %d media in %v", n, time.Since(start).Round(time.Second))
	}
	r, err := db.OpenReadOnly(ctx, db.Options{Path: path})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	for _, c := range []struct {
		name, dir string
		want      int
	}{
		{"AllMedia", "/lib", n},
		{"OneFolder", "/lib/1", -1},
		{"Empty", "/elsewhere", 0},
	} {
		b.Run(c.name, func(b *testing.B) {
			var lat []time.Duration
			for b.Loop() {
				start := time.Now()
				got, err := sources.MediaCount(ctx, r, c.dir)
				lat = append(lat, time.Since(start))
				if err != nil || (c.want >= 0 && got != c.want) {
					b.Fatalf("MediaCount(%s) = %d, %v; want %d", c.dir, got, err, c.want)
				}
			}
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			pct := func(p int) float64 { return float64(lat[(len(lat)-1)*p/100].Microseconds()) / 1000 }
			b.ReportMetric(pct(50), "p50-ms")
			b.ReportMetric(pct(95), "p95-ms")
		})
	}
}
