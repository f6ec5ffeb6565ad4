package web

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/localsupervisor/supervisor/pkg/catalog"
)

// countCacheTTL is how long a capped count ("10000+ matches") is reused.
// Counting to the cap reads CountCap+1 rows per list page — at a million
// media the largest single query of an unsearched page, a third of its
// CPU under 50 concurrent clients — and a capped answer hardly ever changes.
const countCacheTTL = 30 * time.Second

// countCacheMax bounds the remembered filters (distinct filter
// combinations of a library's users, not of requests).
const countCacheMax = 512

// countCache remembers capped counts per filter. Exact counts (below the
// cap) are never cached: they are cheap and users watch them change.
type countCache struct {
	mu sync.Mutex
	m  map[string]time.Time // filter key → when it was counted as capped
}

func countKey(f catalog.Filter) string {
	return f.Values().Encode() + "|" + strconv.FormatBool(f.Adult) + "|" + strconv.FormatBool(f.Internal)
}

func (c *countCache) capped(key string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	at, ok := c.m[key]
	return ok && now.Sub(at) < countCacheTTL && !now.Before(at)
}

func (c *countCache) remember(key string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= countCacheMax {
		c.m = map[string]time.Time{} // rare: start over rather than track recency
	}
	c.m[key] = now
}

// count is catalog.Count with capped results reused for countCacheTTL.
func (s *Server) count(ctx context.Context, f catalog.Filter) (int, bool, error) {
	now := s.clock.Now()
	key := countKey(f)
	if s.counts.capped(key, now) {
		return catalog.CountCap, true, nil
	}
	n, more, err := catalog.Count(ctx, s.rdb, f, now.Unix())
	if err == nil && more {
		s.counts.remember(key, now)
	}
	return n, more, err
}
