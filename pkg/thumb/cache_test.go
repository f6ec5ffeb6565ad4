package thumb

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestCacheCapEvictsLeastRecentlyUsed fills a capped cache with equal-sized
// thumbnails at known access times, re-uses the oldest one, and requires
// that going over the cap evicts the least recently used files (not the
// re-used one) down to the low-water mark.
func TestCacheCapEvictsLeastRecentlyUsed(t *testing.T) {
	ctx := context.Background()
	probeFx := newFixture(t, nil)
	src := filepath.Join(probeFx.dir, "a.png")
	writePNG(t, src, 300, 200, false)
	p, _, err := probeFx.g.Get(ctx, source(t, 1, src, "image", 128))
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	size := st.Size() // every thumbnail below has exactly these bytes

	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	fx := newFixture(t, func(o *Options) {
		o.MaxBytes = 5*size + size/2
		o.Now = func() time.Time { return now }
	})
	paths := map[int64]string{}
	get := func(id int64) {
		t.Helper()
		p, _, err := fx.g.Get(ctx, source(t, id, src, "image", 128))
		if err != nil {
			t.Fatal(err)
		}
		paths[id] = p
		fx.g.Wait()
	}
	for id := int64(1); id <= 5; id++ {
		now = now.Add(time.Hour)
		get(id)
	}
	if fx.count.Load() != 5 {
		t.Fatalf("%d generations, want 5", fx.count.Load())
	}
	now = now.Add(2 * time.Hour)
	get(1) // a hit: media 1 becomes the most recently used
	if fx.count.Load() != 5 {
		t.Fatal("cache hit regenerated")
	}
	now = now.Add(time.Hour)
	get(6) // 6 files > cap: evict down to 90 % of the cap → 4 files stay
	for id, want := range map[int64]bool{1: true, 2: false, 3: false, 4: true, 5: true, 6: true} {
		_, err := os.Stat(paths[id])
		if got := err == nil; got != want {
			t.Errorf("media %d cached=%v, want %v", id, got, want)
		}
	}
	if _, err := os.Stat(filepath.Dir(paths[2])); !os.IsNotExist(err) {
		t.Errorf("empty media folder left behind: %v", err)
	}
	if used := fx.g.used.Load(); used != 4*size {
		t.Errorf("accounted %d bytes, want %d", used, 4*size)
	}
	// An evicted thumbnail is simply made again.
	get(2)
	if fx.count.Load() != 7 {
		t.Fatalf("%d generations, want 7", fx.count.Load())
	}
}

// TestEvictWithoutCap never deletes.
func TestEvictWithoutCap(t *testing.T) {
	fx := newFixture(t, nil)
	src := filepath.Join(fx.dir, "a.png")
	writePNG(t, src, 64, 64, false)
	p, _, err := fx.g.Get(context.Background(), source(t, 1, src, "image", 64))
	if err != nil {
		t.Fatal(err)
	}
	if n, _, err := fx.g.Evict(); n != 0 || err != nil {
		t.Fatalf("evicted %d (%v) without a cap", n, err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
}
