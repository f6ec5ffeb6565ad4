package thumb

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Size cap (Options.MaxBytes): the cache is an LRU over files. A file's
// mtime is its last access: a cache hit older than touchAfter is touched,
// so the mtime is never more than touchAfter behind the real last use and
// a hot thumbnail costs one extra syscall per touchAfter, not per request.
// Eviction walks the cache once it has grown past the cap (and once after
// start to learn its size), deletes the least recently used files down to
// lowWaterPercent of the cap, and runs in one background goroutine at a
// time so no request waits for it.
const (
	touchAfter      = time.Hour
	lowWaterPercent = 90
)

// touch marks a cache hit as recently used.
func (g *Generator) touch(path string, mod time.Time) {
	if g.opts.MaxBytes <= 0 {
		return
	}
	now := g.now()
	if now.Sub(mod) < touchAfter {
		return
	}
	_ = os.Chtimes(path, now, now) // best effort: a missed touch only ages the file
}

// noteWrite accounts a new cache file and starts eviction when the cache is
// over its cap (or its size is not known yet).
func (g *Generator) noteWrite(n int64) {
	if g.opts.MaxBytes <= 0 {
		return
	}
	used := g.used.Add(n)
	if g.sized.Load() && used <= g.opts.MaxBytes {
		return
	}
	if !g.evicting.CompareAndSwap(false, true) {
		return
	}
	g.bg.Add(1)
	go func() {
		defer g.bg.Done()
		defer g.evicting.Store(false)
		_, _, _ = g.Evict()
	}()
}

// Wait blocks until a running background eviction has finished (tests and
// orderly shutdown).
func (g *Generator) Wait() { g.bg.Wait() }

type cacheFile struct {
	path string
	size int64
	mod  time.Time
}

// Evict measures the cache and, when it exceeds Options.MaxBytes, deletes
// the least recently used thumbnails (and failure records) until it is at
// most lowWaterPercent of the cap. It returns the number of files removed
// and the bytes freed. Without a cap it does nothing.
func (g *Generator) Evict() (removed int, freed int64, err error) {
	if g.opts.MaxBytes <= 0 {
		return 0, 0, nil
	}
	var files []cacheFile
	var total int64
	err = filepath.WalkDir(g.opts.CacheDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil // removed meanwhile (purge) or no cache yet
			}
			return err
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), ".tmp-") {
			return nil // a write in progress is not evictable yet
		}
		switch filepath.Ext(p) {
		case ".jpg", ".png", ".err":
		default:
			return nil // not ours
		}
		info, err := d.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		files = append(files, cacheFile{path: p, size: info.Size(), mod: info.ModTime()})
		total += info.Size()
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	if total > g.opts.MaxBytes {
		target := g.opts.MaxBytes * lowWaterPercent / 100
		slices.SortFunc(files, func(a, b cacheFile) int { return a.mod.Compare(b.mod) })
		for _, f := range files {
			if total <= target {
				break
			}
			if err := os.Remove(f.path); err != nil && !os.IsNotExist(err) {
				continue
			}
			total -= f.size
			freed += f.size
			removed++
			// Drop the media's folder once empty (fails harmlessly if not).
			_ = os.Remove(filepath.Dir(f.path))
		}
	}
	g.used.Store(total)
	g.sized.Store(true)
	return removed, freed, nil
}
