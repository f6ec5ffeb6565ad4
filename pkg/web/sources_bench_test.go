package web

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/db/dbtest"
	"github.com/localsupervisor/supervisor/pkg/sources"
)

// BenchmarkServable measures the serving check of every thumbnail and
// stream with 20 library sources besides the LIBRARY roots: Cached is the
// per-request cost (string comparisons against the resolved set), Reload
// what each request would cost with a query and root resolution instead
// (and what a cache reload costs once per TTL or blocked miss).
func BenchmarkServable(b *testing.B) {
	ctx := context.Background()
	base := b.TempDir()
	cfg := testConfig(b, base)
	w := dbtest.Open(b, cfg.DB.Path)
	r, err := db.OpenReadOnly(ctx, db.Options{Path: cfg.DB.Path})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	s, err := New(Options{Config: cfg, DB: w, ReadDB: r, Log: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	var file string
	for i := 0; i < 20; i++ {
		dir := filepath.Join(base, "sources", "src"+strconv.Itoa(i), "deep", "folder")
		os.MkdirAll(dir, 0o755)
		file = filepath.Join(dir, "img.png")
		os.WriteFile(file, []byte("x"), 0o644)
		if _, err := sources.RecordScan(ctx, w, sources.Scan{Root: dir, Mode: sources.ModeInPlace, Status: sources.StatusDone, At: time.Now()}); err != nil {
			b.Fatal(err)
		}
	}
	real, err := filepath.EvalSymlinks(file)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Cached", func(b *testing.B) {
		for b.Loop() {
			if ok, err := s.servable(ctx, real); !ok || err != nil {
				b.Fatal("not servable", err)
			}
		}
	})
	b.Run("Reload", func(b *testing.B) {
		for b.Loop() {
			s.servableCache.invalidate()
			if ok, err := s.servable(ctx, real); !ok || err != nil {
				b.Fatal("not servable", err)
			}
		}
	})
}
