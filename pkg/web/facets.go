package web

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/localsupervisor/supervisor/pkg/catalog"
)

// facetCacheTTL is how long a facet panel is reused. The panel is a
// summary of up to catalog.FacetSample matches; a list being browsed
// (pages, back and forth to detail pages) asks for the same panel again
// and again, and an answer some seconds old is as useful.
const facetCacheTTL = 30 * time.Second

// facetCacheMax bounds the remembered queries (as countCacheMax).
const facetCacheMax = 256

// facetCache remembers facet panels per list query.
type facetCache struct {
	mu sync.Mutex
	m  map[string]facetEntry
}

type facetEntry struct {
	at time.Time
	f  catalog.Facets
}

func (c *facetCache) get(key string, now time.Time) (catalog.Facets, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || now.Sub(e.at) >= facetCacheTTL || now.Before(e.at) {
		return catalog.Facets{}, false
	}
	return e.f, true
}

func (c *facetCache) put(key string, now time.Time, f catalog.Facets) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= facetCacheMax {
		c.m = map[string]facetEntry{} // rare: start over rather than track recency
	}
	c.m[key] = facetEntry{at: now, f: f}
}

// facets is catalog.ComputeFacets, reused for facetCacheTTL. The list's
// order and view do not change the facets, so they are not part of the key.
func (s *Server) facets(ctx context.Context, f catalog.Filter) (catalog.Facets, error) {
	now := s.clock.Now()
	k := f
	k.Sort, k.Seed, k.View, k.Page = "newest", 0, "grid", 1
	key := countKey(k)
	if v, ok := s.facetCache.get(key, now); ok {
		return v, nil
	}
	v, err := catalog.ComputeFacets(ctx, s.rdb, f, now.Unix())
	if err == nil {
		s.facetCache.put(key, now, v)
	}
	return v, err
}

// facetValueJSON is one clickable facet value.
type facetValueJSON struct {
	Value string `json:"value"`
	Count int    `json:"count"`
	// Text is the count as shown ("1234", or "1234+" when sampled: the
	// count is then a lower bound).
	Text string `json:"text"`
	Term string `json:"term"`
	// URL is the list with Term added to q; Active marks a term q has
	// already (its URL is then the list without it).
	URL    string `json:"url"`
	Active bool   `json:"active"`
}

type facetJSON struct {
	Field  string           `json:"field"`
	Label  string           `json:"label"`
	Values []facetValueJSON `json:"values"`
}

// handleFacetsJSON serves the facet panel of a list query (the same query
// string as the list). The list page asks for it after it is shown, so the
// facets never delay the cards.
func (s *Server) handleFacetsJSON(w http.ResponseWriter, r *http.Request) {
	f, _ := s.listParams(r)
	res, err := s.facets(r.Context(), f)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	lang := info(r).lang
	out := make([]facetJSON, 0, len(res.Facets))
	for _, fc := range res.Facets {
		fj := facetJSON{Field: fc.Field, Label: s.i18n.T(lang, "facet."+fc.Field), Values: make([]facetValueJSON, 0, len(fc.Values))}
		for _, v := range fc.Values {
			term := catalog.FacetTerm(fc.Field, v.Value)
			text := strconv.Itoa(v.Count)
			if res.Sampled {
				text += "+"
			}
			link, active := facetLink(f, term)
			fj.Values = append(fj.Values, facetValueJSON{Value: v.Value, Count: v.Count, Text: text, Term: term,
				URL: link, Active: active})
		}
		out = append(out, fj)
	}
	resp := map[string]any{"ok": true, "facets": out, "counted": res.Counted, "sampled": res.Sampled}
	switch {
	case len(out) == 0:
		resp["note"] = s.i18n.T(lang, "facet.none")
	case res.Sampled:
		resp["note"] = s.i18n.T(lang, "facet.sampled", catalog.FacetSample)
	}
	writeJSON(w, http.StatusOK, resp)
}

// facetLink is the list of f with term added to its search, or — when the
// search has the term already (active) — removed from it. Paging starts
// over; every other parameter stays.
func facetLink(f catalog.Filter, term string) (link string, active bool) {
	active = strings.Contains(f.Q, term)
	q := strings.TrimSpace(f.Q + " " + term)
	if active {
		q = strings.Join(strings.Fields(strings.Replace(f.Q, term, " ", 1)), " ")
	}
	vals := f.Values()
	vals.Del("q")
	vals.Del("q_scope")
	if q != "" {
		vals.Set("q", q)
		if f.QScope != "any" {
			vals.Set("q_scope", f.QScope)
		}
	}
	return "/mediadb.php?" + vals.Encode(), active
}
