package catalog

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/db"
)

// FacetTop is the number of values shown per facet.
const FacetTop = 8

// FacetSample bounds the matches a facet computation reads: beyond it the
// counts come from the newest FacetSample matches (lower bounds, like the
// list's "10000+"), so the cost does not grow with the library. Each
// sampled match costs about seven lookups (media_gen, LoRAs, five tags),
// and a filter matching 5 % of the library walks twenty rows per match:
// at 1M media 10,000 cost 40 ms of CPU for the default list and 5,000
// still 27 ms (93 ms under such a filter). The top eight values of a
// large result rank the same from 2,000.
const FacetSample = 2000

// FacetValue is one value of a facet and how many matches carry it.
type FacetValue struct {
	Value string
	Count int
}

// Facet is the top values of one query field among a list's matches.
type Facet struct {
	// Field is the query field a click adds (FacetTerm): model, sampler,
	// lora, tag or software.
	Field  string
	Values []FacetValue
}

// Facets is the facet panel of one list query.
type Facets struct {
	Facets []Facet
	// Counted is the number of matches the counts come from; Sampled says
	// there are more matches than that (the counts are lower bounds).
	Counted int
	Sampled bool
}

// FacetFields are the facet fields in panel order.
var FacetFields = []string{"model", "sampler", "lora", "tag", "software"}

// facetSQL counts the top values per field over the ids CTE (the sampled
// matches). gen reads each sampled media_gen row once (a rowid lookup per
// id) for the three fields counted from it; LoRAs and tags are looked up
// by their (media_id, …) keys. CROSS JOIN keeps ids outermost: left to
// itself the planner scanned all of media_tags (5M rows at 1M media)
// probing an automatic index on ids. Tags are grouped by id (no tags
// lookup per row) and merged by name afterwards, so twice FacetTop ids
// are kept.
const facetSQL = `,
gen AS MATERIALIZED (SELECT g.model, g.sampler, g.software FROM ids CROSS JOIN media_gen g ON g.media_id = ids.id)
SELECT 'n', '', count(*) FROM ids
UNION ALL SELECT * FROM (SELECT 'model', model, count(*) AS c FROM gen WHERE model <> '' GROUP BY model ORDER BY c DESC, model LIMIT ?)
UNION ALL SELECT * FROM (SELECT 'sampler', sampler, count(*) AS c FROM gen WHERE sampler <> '' GROUP BY sampler ORDER BY c DESC, sampler LIMIT ?)
UNION ALL SELECT * FROM (SELECT 'software', software, count(*) AS c FROM gen WHERE software <> '' GROUP BY software ORDER BY c DESC, software LIMIT ?)
UNION ALL SELECT * FROM (SELECT 'lora', l.name, count(*) AS c FROM ids CROSS JOIN media_gen_loras l ON l.media_id = ids.id
	WHERE l.name <> '' GROUP BY l.name ORDER BY c DESC, l.name LIMIT ?)
UNION ALL SELECT 'tag', t.name, x.c FROM (SELECT mt.tag_id, count(*) AS c FROM ids CROSS JOIN media_tags mt ON mt.media_id = ids.id
	GROUP BY mt.tag_id ORDER BY c DESC LIMIT ?) x JOIN tags t ON t.id = x.tag_id`

// ComputeFacets counts the top models, samplers, LoRAs, tags and software
// among the matches of f (its WHERE, so every filter and the text search
// apply exactly as in the list). The matches are read newest first — for
// a text search straight from the index — and at most FacetSample+1 of
// them are counted.
func ComputeFacets(ctx context.Context, q *sql.DB, f Filter, now int64) (Facets, error) {
	// The facets do not depend on the list's order; newest lets the
	// id-ordered (and index-driven) source stop after the sample.
	f.Sort, f.Page = "newest", 1
	qs, err := f.source(ctx, q, now)
	if err != nil {
		return Facets{}, fmt.Errorf("facets: %w", err)
	}
	ids, args := qs.query("m.id", nil, true, FacetSample+1, 0)
	args = append(args, FacetTop, FacetTop, FacetTop, FacetTop, 2*FacetTop)
	rows, err := q.QueryContext(ctx, "WITH ids AS MATERIALIZED (SELECT id FROM ("+ids+"))"+facetSQL, args...)
	if err != nil {
		return Facets{}, fmt.Errorf("facets: %w", db.Classify(err))
	}
	defer rows.Close()
	byField := map[string][]FacetValue{}
	var out Facets
	for rows.Next() {
		var field string
		var v FacetValue
		if err := rows.Scan(&field, &v.Value, &v.Count); err != nil {
			return Facets{}, fmt.Errorf("facets: %w", db.Classify(err))
		}
		if field == "n" {
			out.Counted = v.Count
			continue
		}
		byField[field] = append(byField[field], v)
	}
	if err := rows.Err(); err != nil {
		return Facets{}, fmt.Errorf("facets: %w", db.Classify(err))
	}
	out.Sampled = out.Counted > FacetSample
	byField["tag"] = mergeByName(byField["tag"])
	for _, field := range FacetFields {
		if vs := byField[field]; len(vs) > 0 {
			out.Facets = append(out.Facets, Facet{Field: field, Values: vs[:min(len(vs), FacetTop)]})
		}
	}
	return out, nil
}

// mergeByName adds up values of the same name (tags of one name in
// several types; the tag: term matches the name) and orders by count.
func mergeByName(vs []FacetValue) []FacetValue {
	at := map[string]int{}
	var out []FacetValue
	for _, v := range vs {
		if i, ok := at[v.Value]; ok {
			out[i].Count += v.Count
			continue
		}
		at[v.Value] = len(out)
		out = append(out, v)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Count > out[j].Count })
	return out
}

// FacetTerm is the query-language term (pkg/query) that selects value of
// field: always a quoted phrase, so names with spaces or punctuation
// ("DPM++ 2M Karras") stay one value. A double quote cannot occur inside a
// phrase and becomes a space.
func FacetTerm(field, value string) string {
	return field + `:"` + strings.TrimSpace(strings.ReplaceAll(value, `"`, " ")) + `"`
}
