package catalog

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/catalog/catalogtest"
	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/media"
)

// BenchmarkMediaGen reports what storing generation parameters queryably
// (#18 item 5) costs on a generated library of SV_BENCH_N media (default
// 1,000,000): generation time, the pages media_gen, media_gen_loras and
// each of their indexes take (per million media), and the prompts-rebuild
// backfill of the whole library from its stored prompts, then its second,
// empty run. SV_BENCH_DB names a library to reuse (generated there when the
// file does not exist). The build has no dbstat table: b-tree pages are
// counted from the file (btreePages).
func BenchmarkMediaGen(b *testing.B) {
	ctx := context.Background()
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("SV_BENCH_N")); err == nil && v > 0 {
		n = v
	}
	path := os.Getenv("SV_BENCH_DB")
	if path == "" {
		path = filepath.Join(b.TempDir(), "bench.db")
	}
	w, err := db.Open(ctx, db.Options{Path: path, Create: true})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	if _, err := db.Migrate(ctx, w, db.MigrateOptions{}); err != nil {
		b.Fatal(err)
	}
	var have int
	w.QueryRow(`SELECT COUNT(*) FROM media`).Scan(&have)
	if have == 0 {
		t0 := time.Now()
		if err := catalogtest.Generate(ctx, w, n, "/lib"); err != nil {
			b.Fatal(err)
		}
		b.Logf("generated %d media in %s", n, time.Since(t0).Round(time.Second))
		b.ReportMetric(time.Since(t0).Seconds(), "generate_s")
	} else {
		n = have
	}
	perM := float64(1_000_000) / float64(n)
	if _, err := w.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		b.Fatal(err)
	}
	pages, pageSize, err := btreePages(ctx, w, path)
	if err != nil {
		b.Fatal(err)
	}
	var names []string
	var total, gen, genIdx int
	for name, p := range pages {
		total += p
		if strings.Contains(name, "media_gen") {
			names = append(names, name)
			gen += p
			if strings.HasPrefix(name, "idx_") {
				genIdx += p
			}
		}
	}
	sort.Strings(names)
	mb := func(p int) float64 { return float64(p*pageSize) / (1 << 20) * perM }
	for _, name := range names {
		b.Logf("%-28s %8.1f MB per 1M media", name, mb(pages[name]))
	}
	b.Logf("media_gen* total %.1f MB (indexes %.1f MB) of %.1f MB per 1M media", mb(gen), mb(genIdx), mb(total))
	b.ReportMetric(mb(gen), "gen_MB/1M")
	b.ReportMetric(mb(genIdx), "gen_index_MB/1M")
	b.ReportMetric(mb(total), "db_MB/1M")

	// The backfill of a catalogue from before schema 0220.
	if _, err := w.Exec(`DELETE FROM media_gen; DELETE FROM media_gen_loras`); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		filled, err := media.BackfillGen(ctx, w, 0)
		if err != nil || filled != n {
			b.Fatalf("backfill: %d of %d, %v", filled, n, err)
		}
		b.ReportMetric(time.Since(t0).Seconds()*perM, "backfill_s/1M")
		t0 = time.Now()
		if filled, err := media.BackfillGen(ctx, w, 0); err != nil || filled != 0 {
			b.Fatalf("second backfill: %d, %v", filled, err)
		}
		b.ReportMetric(time.Since(t0).Seconds()*perM, "backfill_again_s/1M")
	}
}

// btreePages counts the b-tree pages of every table and index in the
// database file (interior and leaf; overflow pages are not followed: rows
// of the tables measured here are far below the overflow threshold).
// Checkpoint the WAL first.
func btreePages(ctx context.Context, d db.Execer, path string) (map[string]int, int, error) {
	f, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, err
	}
	if len(f) < 100 {
		return nil, 0, fmt.Errorf("%s: too short", path)
	}
	ps := int(binary.BigEndian.Uint16(f[16:18]))
	if ps == 1 {
		ps = 65536
	}
	rows, err := d.QueryContext(ctx, `SELECT name, rootpage FROM sqlite_master WHERE rootpage > 0`)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var name string
		var root int
		if err := rows.Scan(&name, &root); err != nil {
			return nil, 0, err
		}
		n, err := countTree(f, ps, root)
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", name, err)
		}
		out[name] = n
	}
	return out, ps, rows.Err()
}

func countTree(f []byte, ps, page int) (int, error) {
	off := (page - 1) * ps
	if page < 1 || off+ps > len(f) {
		return 0, fmt.Errorf("page %d outside the file", page)
	}
	hdr := off
	if page == 1 {
		hdr += 100
	}
	switch f[hdr] {
	case 0x0a, 0x0d: // leaf index, leaf table
		return 1, nil
	case 0x02, 0x05: // interior index, interior table
	default:
		return 0, fmt.Errorf("page %d: type %#x", page, f[hdr])
	}
	cells := int(binary.BigEndian.Uint16(f[hdr+3:]))
	total := 1
	children := []int{int(binary.BigEndian.Uint32(f[hdr+8:]))}
	for i := 0; i < cells; i++ {
		ptr := int(binary.BigEndian.Uint16(f[hdr+12+2*i:]))
		children = append(children, int(binary.BigEndian.Uint32(f[off+ptr:])))
	}
	for _, c := range children {
		n, err := countTree(f, ps, c)
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}
