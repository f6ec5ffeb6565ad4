package catalog

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/library"
	"github.com/localsupervisor/supervisor/pkg/query"
	"github.com/localsupervisor/supervisor/pkg/similar"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// CompileQuery turns a parsed query (pkg/query) into a WHERE fragment over
// "media m". Values only ever travel as ? arguments; the SQL text is made
// of constants, so no user text reaches the SQL.
//
// Every term is either a predicate on an indexed media column or
// "m.id IN (SELECT … FROM <table> WHERE <indexed condition>)": a set
// computed once per query, never a correlated subquery per media row
// (the old tag filter's EXISTS walked every row: issue #18 item 6).
// Word-prefix terms on small vocabularies (model, sampler, scheduler,
// software, LoRA) pick the matching DISTINCT names with sv_wordmatch (a
// skip-ahead scan of the column's index, pkg/db/wordmatch.go) and then the
// media by index equality.
//
// A nil query matches everything ("1").
func CompileQuery(n query.Node, now int64, opts CompileOptions) (where string, args []any, err error) {
	if n == nil {
		return "1", nil, nil
	}
	c := compiler{now: now, opts: opts}
	where = c.node(n)
	if c.err != nil {
		return "", nil, c.err
	}
	return where, c.args, nil
}

// CompileOptions are the caller's context of a query.
type CompileOptions struct {
	// Internal allows the admin-only field vote:. For everybody else
	// vote: is an unknown field (query_unknown_field): the vote is not
	// shown to them, so filtering by it would leak it.
	Internal bool
	// TextScope restricts free words to one text field (the list's legacy
	// q_scope): "prompt", "path" (file name and path), "title",
	// "caption"; "" or "any" searches all text fields.
	TextScope string
	// Probe marks the leaves (terms, words) whose id set is large: they
	// are written "+m.id IN (…)", so SQLite walks the list's order and
	// probes the set instead of reading every id of the set and sorting
	// (SQLite cannot tell, the sets come from subqueries). Filter fills it
	// by counting each set up to CountCap (probeLeaves).
	Probe map[query.Node]bool
}

// compiler collects the arguments in SQL text order.
type compiler struct {
	now  int64
	opts CompileOptions
	args []any
	err  error
	// sets are the leaves written as "m.id IN (set)" (probeLeaves).
	sets []leafSet
	// unindexed writes media_gen columns as "+col" so that SQLite
	// cannot pick their index: inside a combined media_gen set the
	// driving term's index is chosen by genDriver, not by the planner
	// (which has no statistics on a user's database).
	unindexed bool
}

// leafSet is the id set of one leaf with its arguments.
type leafSet struct {
	leaf query.Node
	set  string
	args []any
}

// columnFields are the terms that are a predicate on media's own columns.
var columnFields = map[string]bool{"rating": true, "w": true, "h": true, "dur": true, "size": true, "ratio": true,
	"imported": true, "created": true, "nsfw": true, "type": true, "status": true, "curation": true, "vote": true}

// columnSet writes a media column predicate as an id set of media
// (through the column's index) unless it is large: SQLite's statistics
// average over values, so a rare value of a common column (is:deleted,
// vote:approved, w:1920) was checked row by row over all media; the
// density count (withProbes) tells the two apart. A large set stays the
// plain predicate (the walk in list order finds a page soon).
func (c *compiler) columnSet(n query.Node, cond string, before int) string {
	if c.opts.Probe[n] {
		c.sets = append(c.sets, leafSet{leaf: n, set: "SELECT m.id FROM media m WHERE " + cond, args: append([]any(nil), c.args[before:]...)})
		if t, ok := n.(*query.Term); ok && (t.Field == "imported" || t.Field == "created") && t.Time != nil {
			// Its id bound (timeRange) is what the list walks: a plus
			// would hide it from the planner.
			return cond
		}
		// The unary plus keeps the planner off the column's index: for
		// a large set it would read the whole range and sort it (10 s
		// for ratio:2:3 matching every media) instead of walking the
		// list order.
		return "+(" + cond + ")"
	}
	return "m.id IN (SELECT m.id FROM media m WHERE " + cond + ")"
}

// idSet notes cond as leaf n's id set when it is one "m.id IN (set)"
// and writes it for probing when opts.Probe says so.
func (c *compiler) idSet(n query.Node, cond string, before int) string {
	set, ok := singleIn(cond)
	if !ok {
		return cond
	}
	c.sets = append(c.sets, leafSet{leaf: n, set: set, args: append([]any(nil), c.args[before:]...)})
	if !c.opts.Probe[n] {
		return cond
	}
	for _, p := range rowProbes {
		if rest, ok := strings.CutPrefix(set, p.set); ok {
			return p.probe + "(" + rest + "))"
		}
	}
	return "+" + cond // the planner walks the list order and probes the set
}

// rowProbes rewrite a large set "SELECT … WHERE cond" into the lookup of
// one media's row ("EXISTS (… WHERE media_id = m.id AND (cond))"), served
// by the table's primary key or media index: a lookup per listed row
// stops with the page (a 1-in-12 model needs ~1,200 lookups for 100
// cards), where the set would first read and sort every one of its ids.
var rowProbes = []struct{ set, probe string }{
	{"SELECT media_id FROM media_gen WHERE ", "EXISTS (SELECT 1 FROM media_gen WHERE media_id = m.id AND "},
	{"SELECT media_id FROM media_gen_loras WHERE ", "EXISTS (SELECT 1 FROM media_gen_loras WHERE media_id = m.id AND "},
	{"SELECT b.media_id FROM media_meta b WHERE ", "EXISTS (SELECT 1 FROM media_meta b WHERE b.media_id = m.id AND "},
	{"SELECT mt.media_id FROM tags t JOIN media_tags mt ON mt.tag_id = t.id WHERE ",
		"EXISTS (SELECT 1 FROM media_tags mt JOIN tags t ON t.id = mt.tag_id WHERE mt.media_id = m.id AND "},
}

// singleIn returns set when cond is exactly "m.id IN (set)".
func singleIn(cond string) (string, bool) {
	const pre = "m.id IN ("
	if !strings.HasPrefix(cond, pre) || !strings.HasSuffix(cond, ")") {
		return "", false
	}
	depth := 0
	for i := len(pre) - 1; i < len(cond); i++ {
		switch cond[i] {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 && i != len(cond)-1 {
				return "", false // "m.id IN (a) AND (b)"
			}
		}
	}
	return cond[len(pre) : len(cond)-1], depth == 0
}

func (c *compiler) arg(a ...any) { c.args = append(c.args, a...) }

func (c *compiler) fail(t *query.Term, code, msg string) string {
	if c.err == nil {
		c.err = &query.Error{Code: code, Pos: t.Pos, Field: t.Field, Msg: msg}
	}
	return "0"
}

func (c *compiler) node(n query.Node) string {
	switch x := n.(type) {
	case *query.And:
		return c.and(x)
	case *query.Or:
		return c.join(x.Items, " OR ")
	case *query.Not:
		// COALESCE: a NULL column (no duration, no size) is "not
		// matching", so its negation matches.
		return "NOT COALESCE((" + c.node(x.X) + "), 0)"
	case *query.Text:
		before := len(c.args)
		return c.idSet(x, c.text(c.opts.TextScope, x.Value, x.Phrase), before)
	case *query.Term:
		before := len(c.args)
		cond := c.term(x)
		if columnFields[x.Field] || (x.Field == "is" && x.Enum != "broken" && x.Enum != "checked" && x.Enum != "duplicate") ||
			(x.Field == "has" && x.Enum == "parent") {
			cond = c.columnSet(x, cond, before)
		}
		return c.idSet(x, cond, before)
	}
	return "0"
}

// combinedGen is 1 for the set of several media_gen terms (and), else 0.
func combinedGen(set string) int {
	if strings.HasPrefix(set, genPrefix+"(") {
		return 1
	}
	return 0
}

// genPrefix starts the id set of a media_gen term (genIDs).
const genPrefix = "SELECT media_id FROM media_gen WHERE "

// and writes an AND; its media_gen terms become one set ("model +
// steps + cfg": each alone matches a tenth of a library, together a few
// hundred media, which only the combined set knows), written first.
func (c *compiler) and(x *query.And) string {
	sub := &compiler{now: c.now, opts: c.opts}
	drive := genDriver(x.Items)
	var gen, other []query.Node
	var conds []string
	for _, it := range x.Items {
		if t, ok := it.(*query.Term); ok && !columnFields[t.Field] {
			b := len(sub.args)
			sub.unindexed = drive != "" && t.Field != drive
			if set, ok := singleIn(sub.term(t)); ok && strings.HasPrefix(set, genPrefix) {
				gen, conds = append(gen, it), append(conds, strings.TrimPrefix(set, genPrefix))
				continue
			}
			sub.args = sub.args[:b]
		}
		other = append(other, it)
	}
	if len(gen) < 2 || sub.err != nil {
		return c.join(x.Items, " AND ")
	}
	before := len(c.args)
	c.arg(sub.args...)
	parts := []string{"(" + c.idSet(gen[0], "m.id IN ("+genPrefix+"("+strings.Join(conds, ") AND (")+"))", before) + ")"}
	for _, it := range other {
		parts = append(parts, "("+c.node(it)+")")
	}
	return "(" + strings.Join(parts, " AND ") + ")"
}

// genDriver is the media_gen field whose index reads the combined set
// of an AND's media_gen terms, "" to leave it to SQLite: an exact seed
// (a handful of rows), else a model name (idx_media_gen_model_cover
// carries sampler, scheduler, software, steps, cfg and denoise, so
// "model:juggernaut steps:>=40 cfg:7" is checked inside the index: 6 ms
// at 1M media where the cfg index SQLite chose read 58,000 rows, 80 ms).
// A model term that may be a hash also reads idx_media_gen_model_hash,
// an OR the covering index cannot serve.
func genDriver(items []query.Node) string {
	drive := ""
	for _, it := range items {
		t, ok := it.(*query.Term)
		if !ok {
			continue
		}
		switch {
		case t.Field == "seed" && (t.Seed == nil || (t.Seed.Lo != nil && t.Seed.Hi != nil && *t.Seed.Lo == *t.Seed.Hi)):
			return "seed"
		case t.Field == "model" && len(hashCandidates(t.Raw)) == 0:
			drive = "model"
		}
	}
	return drive
}

// genCol is a media_gen column as a condition writes it (genDriver).
func (c *compiler) genCol(col string) string {
	if c.unindexed {
		return "+" + col
	}
	return col
}

func (c *compiler) join(items []query.Node, op string) string {
	if len(items) == 0 {
		return "1"
	}
	parts := make([]string, len(items))
	for i, it := range items {
		parts[i] = "(" + c.node(it) + ")"
	}
	return "(" + strings.Join(parts, op) + ")"
}

// text is a free word or phrase (or a text field term) through the FTS
// index in scope (search.go ftsMatchIDs): the docid set plus the marked
// media by the LIKE reference, LIKE for a word FTS cannot express.
func (c *compiler) text(scope, value string, phrase bool) string {
	set, args := ftsMatchIDs(scope, []query.Text{{Value: value, Phrase: phrase}})
	if set == "" {
		return "1" // nothing to search for (a blank word)
	}
	c.arg(args...)
	return "m.id IN (" + set + ")"
}

// genIDs selects media by a condition on media_gen.
func genIDs(cond string) string { return "m.id IN (SELECT media_id FROM media_gen WHERE " + cond + ")" }

// wordMatchIn is "col IN (the distinct values of col matching ?)". The
// distinct values come from a loose index scan (a recursive seek to the
// next larger value: one index probe per distinct name), not from
// SELECT DISTINCT, which reads every index entry (33 ms at 1M media for
// 60 models against 0.1 ms). sv_wordmatch runs once per distinct name,
// outside the scan. col's index and NOCASE collation serve both the seek
// and the IN.
func wordMatchIn(table, col, outer string) string {
	// "IS NOT NULL" lets the seeks use a partial index (scheduler,
	// model_hash: WHERE col IS NOT NULL); without it MIN read the table.
	return outer + " IN (WITH RECURSIVE d(v) AS (SELECT MIN(" + col + ") FROM " + table + " WHERE " + col + " IS NOT NULL" +
		" UNION ALL SELECT (SELECT MIN(" + col + ") FROM " + table + " WHERE " + col + " IS NOT NULL AND " + col + " > d.v) FROM d WHERE d.v IS NOT NULL LIMIT " +
		strconv.Itoa(maxNames) + ") SELECT v FROM d WHERE v IS NOT NULL AND sv_wordmatch(v, ?, ?))"
}

// maxNames bounds the distinct names a vocabulary term looks at (model,
// sampler, LoRA names: hundreds in a real library).
const maxNames = 100_000

func boolArg(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (c *compiler) term(t *query.Term) string {
	switch t.Field {
	case "model":
		c.arg(t.Raw, boolArg(t.Quoted))
		cond := wordMatchIn("media_gen", "model", c.genCol("model"))
		if hs := hashCandidates(t.Raw); len(hs) > 0 {
			cond += " OR model_hash IN (" + placeholders(len(hs)) + ")"
			for _, h := range hs {
				c.arg(h)
			}
		}
		return genIDs(cond)
	case "sampler", "scheduler", "software":
		c.arg(t.Raw, boolArg(t.Quoted))
		return genIDs(wordMatchIn("media_gen", t.Field, c.genCol(t.Field)))
	case "lora":
		c.arg(t.Raw, boolArg(t.Quoted))
		return "m.id IN (SELECT media_id FROM media_gen_loras WHERE " + wordMatchIn("media_gen_loras", "name", "name") + ")"
	case "seed":
		return genIDs(c.seed(t))
	case "steps", "cfg", "denoise":
		return genIDs(c.interval(c.genCol(t.Field), t.Num))
	case "similar":
		return c.similar(t.Similar)
	case "tag":
		return c.tagIDs(t.Raw, "")
	case "character":
		return c.tagIDs(t.Raw, tagTypeCharacter)
	case "rating", "id", "w", "h", "dur", "size":
		return c.interval(mediaColumn(t.Field), t.Num)
	case "ratio":
		return c.ratio(t.Num)
	case "imported":
		return c.timeRange("m.imported_at", t.Time)
	case "created":
		return c.timeRange(featuredAge, t.Time)
	case "nsfw":
		if t.Enum == "yes" {
			return "m.has_nsfw = 1"
		}
		return "m.has_nsfw = 0"
	case "type":
		return typeCond(c, t.Enum)
	case "status":
		return statusCond(c, t.Enum)
	case "curation":
		return curationCond(c, t.Enum)
	case "vote":
		if !c.opts.Internal {
			return c.fail(t, query.CodeUnknownField, "vote: is only available to administrators")
		}
		return voteCond(c, t.Enum)
	case "has":
		return hasCond(t.Enum)
	case "is":
		return isCond(t.Enum)
	case "path":
		return c.pathPrefix(t.Raw)
	case "source":
		return c.source(t.Raw)
	case "collection":
		c.arg(t.Raw)
		return "m.id IN (SELECT cm.media_id FROM collection_media cm JOIN collections c ON c.id = cm.collection_id WHERE c.name = ? COLLATE NOCASE)"
	case "prompt", "caption", "title":
		return c.text(t.Field, t.Raw, t.Quoted)
	case "name":
		return c.text("path", t.Raw, t.Quoted)
	case "negative":
		return c.text("negative", t.Raw, t.Quoted)
	}
	return c.fail(t, query.CodeUnknownField, "unknown field "+t.Field)
}

// mediaColumn is the media column of a numeric field.
func mediaColumn(field string) string {
	switch field {
	case "w":
		return "m.width"
	case "h":
		return "m.height"
	case "dur":
		return "m.duration"
	case "size":
		return "m.filesize"
	}
	return "m." + field // rating, id
}

// placeholders is "?,?,…" (n ≥ 1).
func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?,", n), ",") }

// hashCandidates are the stored forms a model hash typed as value may
// have: as typed, without its prefix (blake3:, sha256:, 0x) and the
// 10-character short hash A1111 writes. None when value does not look
// like a hash (hex of at least 8 digits, optionally prefixed).
func hashCandidates(value string) []string {
	v := strings.ToLower(strings.TrimSpace(value))
	bare := v
	for _, p := range []string{"blake3:", "sha256:", "0x"} {
		bare = strings.TrimPrefix(bare, p)
	}
	if len(bare) < 8 || !isHex(bare) {
		return nil
	}
	out := []string{bare, "blake3:" + bare, "sha256:" + bare}
	if bare != v && v != "blake3:"+bare && v != "sha256:"+bare {
		out = append(out, v)
	}
	if len(bare) > 10 {
		out = append(out, bare[:10])
	}
	return out
}

// seed is the seed condition on media_gen: exact through
// idx_media_gen_seed; a range compares the decimal text by length, then
// lexically (seeds are stored without leading zeros and may exceed
// SQLite's signed 64-bit integers, so no CAST).
func (c *compiler) seed(t *query.Term) string {
	si := t.Seed
	col := c.genCol("seed")
	if si == nil {
		c.arg(strings.TrimSpace(t.Raw))
		return col + " = ?"
	}
	if si.Lo != nil && si.Hi != nil && *si.Lo == *si.Hi {
		c.arg(strconv.FormatUint(*si.Lo, 10))
		return col + " = ?"
	}
	parts := []string{col + " IS NOT NULL"}
	bound := func(v uint64, gt, incl bool) {
		d := strconv.FormatUint(v, 10)
		op := "<"
		if gt {
			op = ">"
		}
		eq := op
		if incl {
			eq += "="
		}
		parts = append(parts, "(length(seed) "+op+" ? OR (length(seed) = ? AND "+col+" "+eq+" ?))")
		c.arg(len(d), len(d), d)
	}
	if si.Lo != nil {
		bound(*si.Lo, true, si.LoIncl)
	}
	if si.Hi != nil {
		bound(*si.Hi, false, si.HiIncl)
	}
	return strings.Join(parts, " AND ")
}

// similar is the media whose perceptual hash lies within ref.Distance of
// media ref.MediaID's (itself included; nothing when it has no hash):
// pkg/similar's banded lookup, so the set is a few index seeks at 1M
// media, not a scan of every hash.
func (c *compiler) similar(ref *query.SimilarRef) string {
	if ref == nil {
		return "0"
	}
	c.arg(ref.MediaID)
	c.arg(similar.SetArgs(ref.Distance)...)
	return "m.id IN (" + similar.SetSQL("SELECT phash FROM media_phash WHERE media_id = ? AND phash IS NOT NULL") + ")"
}

// tagTypeCharacter is the tag type of character tags (the danbooru tagger).
const tagTypeCharacter = "danbooru.character.v1"

// tagIDs selects media carrying the tag name (exact; a trailing * makes
// it a prefix; "" with a type: any tag of that type). The tag ids come
// from idx_tags_name_type, the media from idx_media_tags_tag.
func (c *compiler) tagIDs(name, tagType string) string {
	var conds []string
	switch {
	case strings.HasSuffix(name, "*"):
		lo := strings.TrimSuffix(name, "*")
		if lo != "" {
			conds = append(conds, "t.name >= ? AND t.name < ?")
			c.arg(lo, lo+"\U0010FFFF")
		}
	case name != "":
		conds = append(conds, "t.name = ?")
		c.arg(name)
	}
	if tagType != "" {
		conds = append(conds, "t.type = ?")
		c.arg(tagType)
	}
	if len(conds) == 0 {
		return "m.id IN (SELECT media_id FROM media_tags)"
	}
	return "m.id IN (SELECT mt.media_id FROM tags t JOIN media_tags mt ON mt.tag_id = t.id WHERE " + strings.Join(conds, " AND ") + ")"
}

// interval is the numeric interval on col (a media column or a media_gen
// column), as a range the column's index serves.
func (c *compiler) interval(col string, iv *query.Interval) string {
	if iv == nil || (iv.Lo == nil && iv.Hi == nil) {
		return col + " IS NOT NULL"
	}
	if iv.Lo != nil && iv.Hi != nil && *iv.Lo == *iv.Hi && iv.LoIncl && iv.HiIncl {
		c.arg(*iv.Lo)
		return col + " = ?"
	}
	var parts []string
	bound := func(v *float64, strict, inclusive string, incl bool) {
		if v == nil {
			return
		}
		if incl {
			strict = inclusive
		}
		parts = append(parts, col+strict)
		c.arg(*v)
	}
	bound(iv.Lo, " > ?", " >= ?", iv.LoIncl)
	bound(iv.Hi, " < ?", " <= ?", iv.HiIncl)
	return strings.Join(parts, " AND ")
}

// ratioTolerance is how far from a typed ratio a media may be and still
// match ratio:16:9 (relative): 1920x1080 and 1366x768 (1.7786) are 16:9;
// 832x1216 (0.684) is not 2:3 (0.667, 2.6 % off).
const ratioTolerance = 0.01

func (c *compiler) ratio(iv *query.Interval) string {
	const expr = "(m.width * 1.0 / NULLIF(m.height, 0))"
	if iv != nil && iv.Lo != nil && iv.Hi != nil && *iv.Lo == *iv.Hi {
		c.arg(*iv.Lo*(1-ratioTolerance), *iv.Lo*(1+ratioTolerance))
		return expr + " BETWEEN ? AND ?"
	}
	return c.interval(expr, iv)
}

// timeRange is [From, To) on a timestamp column; stored timestamps are
// svtime's UTC RFC 3339 text, whose lexical order is chronological.
func (c *compiler) timeRange(col string, ti *query.TimeInterval) string {
	if ti == nil {
		return col + " IS NOT NULL"
	}
	var parts []string
	if !ti.From.IsZero() {
		parts = append(parts, col+" >= ?")
		c.arg(svtime.Format(ti.From))
	}
	if !ti.To.IsZero() {
		parts = append(parts, col+" < ?")
		c.arg(svtime.Format(ti.To))
	}
	if len(parts) == 0 {
		return col + " IS NOT NULL"
	}
	cond := strings.Join(parts, " AND ")
	if col != "m.imported_at" && col != featuredAge {
		return cond
	}
	// A date range is also an id range: the ids of its media lie between
	// the smallest and the largest matching id, read once from the date's
	// index (idx_media_imported_at / idx_media_age carry the id). Ids
	// follow import order, so the list walks little more than the range
	// itself; without the bound a range far from the newest media walked
	// every newer media first (0.5–1.9 s at 1M media). The bound is
	// implied by the range, so the result is the same.
	n := len(c.args) - len(parts)
	rangeArgs := append([]any(nil), c.args[n:]...)
	x := strings.ReplaceAll(cond, "m.", "x.")
	c.arg(rangeArgs...)
	c.arg(rangeArgs...)
	return "(" + cond + " AND m.id BETWEEN (SELECT MIN(x.id) FROM media x WHERE " + x + ") AND (SELECT MAX(x.id) FROM media x WHERE " + x + "))"
}

// pathPrefix is the folder prefix: an absolute folder is a range on
// idx_media_path (library.PrefixRange); a relative one ("2026/11") is a
// folder anywhere in the path, which only a substring match can find.
func (c *compiler) pathPrefix(p string) string {
	p = strings.TrimSpace(p)
	if strings.HasPrefix(p, "/") {
		lo, hi := library.PrefixRange(strings.TrimRight(p, "/"))
		if strings.TrimRight(p, "/") == "" {
			return "1"
		}
		c.arg(lo, hi)
		return "m.path >= ? AND m.path < ?"
	}
	c.arg("%/" + strings.Trim(escapeLike(strings.Trim(p, "/")), "%") + "/%")
	return `m.path LIKE ? ESCAPE '\'`
}

// source is a library source by its folder (as recorded) or the folder's
// last name ("photos" for /data/photos): the media below it, by a range
// on idx_media_path per matching source.
func (c *compiler) source(v string) string {
	v = strings.TrimRight(strings.TrimSpace(v), "/")
	c.arg(v, "%/"+strings.Trim(escapeLike(v), "%"))
	return `m.id IN (SELECT x.id FROM library_sources s JOIN media x ON x.path >= s.path || '/' AND x.path < s.path || '0'
		WHERE s.path = ? OR s.path LIKE ? ESCAPE '\')`
}

// The concept functions below are shared by query terms and the legacy
// URL filters (filter.go), so each concept has one SQL.

func typeCond(c *compiler, t string) string {
	c.arg(t)
	return "m.type = ?"
}

func statusCond(c *compiler, s string) string {
	c.arg(s)
	return "m.status = ?"
}

func voteCond(c *compiler, v string) string {
	c.arg(v)
	return "m.status_vote = ?"
}

func curationCond(c *compiler, s string) string {
	if s == "unknown" {
		return "(m.quality_status IS NULL OR m.quality_status = 'unknown')"
	}
	c.arg(s)
	return "m.quality_status = ?"
}

// newestMetaIDs selects the media whose newest meta row of one of keys
// satisfies cond on b.meta_value: the candidates from
// idx_media_meta_key_value, each confirmed newest of its key through
// idx_media_meta_media_key (media_meta is an append-only log). keys and
// cond are constants.
func newestMetaIDs(cond string, keys ...string) string {
	return `SELECT b.media_id FROM media_meta b WHERE b.meta_key IN ('` + strings.Join(keys, "', '") + `') AND ` + cond + `
	AND NOT EXISTS (SELECT 1 FROM media_meta c WHERE c.media_id = b.media_id AND c.meta_key = b.meta_key AND c.id > b.id)`
}

// nonEmptyMeta is "the newest value of one of keys is not blank".
func nonEmptyMeta(keys ...string) string {
	return "m.id IN (" + newestMetaIDs("TRIM(b.meta_value) <> ''", keys...) + ")"
}

func hasCond(what string) string {
	switch what {
	case "prompt":
		return "m.id IN (SELECT media_id FROM prompts)"
	case "caption":
		return nonEmptyMeta("ollama.caption")
	case "title":
		return nonEmptyMeta("title.override", "ollama.title")
	case "tags":
		return "m.id IN (SELECT media_id FROM media_tags)"
	case "meta":
		return "m.id IN (SELECT media_id FROM media_meta)"
	case "parent":
		return "m.parent_media_id IS NOT NULL"
	case "children":
		return "m.id IN (SELECT parent_media_id FROM media WHERE parent_media_id IS NOT NULL)"
	}
	return "0"
}

// dupesCond is "another media has the same content hash".
const dupesCond = "m.hash IS NOT NULL AND EXISTS (SELECT 1 FROM media d WHERE d.hash = m.hash AND d.id <> m.id)"

func isCond(what string) string {
	switch what {
	case "broken":
		return "m.id IN (" + IntegrityFailedIDs + ")"
	case "duplicate":
		return dupesCond
	case "deleted":
		return "m.is_deleted = 1"
	case "checked":
		return "m.id IN (" + newestMetaIDs("b.meta_value = '1'", "curation.checked") + ")"
	case "missing":
		return "m.status = 'missing'"
	case "archived":
		return "m.status = 'archived'"
	}
	return "0"
}

// mentions reports whether the query has the term field:value anywhere
// (negated or not).
func mentions(n query.Node, field, enum string) bool {
	return slices.ContainsFunc(query.Terms(n), func(t *query.Term) bool { return t.Field == field && t.Enum == enum })
}

// Probe thresholds (withProbes): a page needs ~100 matches, so a set of
// more than CountCap ids is found faster by looking at each listed row
// (≤ 100 × 1M/CountCap rows walked at 1M media); a count needs
// CountCap+1 matches, so only a set of more than countProbe ids (walk ≤
// ~10 rows per match) beats reading the set.
const (
	pageProbe  = CountCap
	countProbe = 10 * CountCap
)

// withProbes returns f with the id sets of its query larger than
// threshold marked for probing (CompileOptions.Probe): each leaf's set is
// counted up to threshold+1 index entries.
func (f Filter) withProbes(ctx context.Context, q *sql.DB, now int64, threshold int) (Filter, error) {
	rest := f.restQuery()
	if rest == nil || f.QueryErr != nil || f.probe != nil {
		return f, nil
	}
	c := compiler{now: now, opts: f.compileOptions()}
	c.node(rest)
	if c.err != nil {
		return f, nil // matches nothing (where)
	}
	probe := map[query.Node]bool{}
	size := map[query.Node]int{}
	top := topItems(rest)
	isTop := func(n query.Node) bool { return slices.Contains(top, n) }
	// A combined media_gen set (and) is counted last: reading it may
	// filter many rows, and a small set found before makes its count
	// unnecessary (it is probed per candidate anyway).
	sets := slices.Clone(c.sets)
	slices.SortStableFunc(sets, func(a, b leafSet) int { return combinedGen(a.set) - combinedGen(b.set) })
	smallest := threshold + 1
	for _, s := range sets {
		if isTop(s.leaf) && smallest <= CountCap {
			probe[s.leaf] = true
			continue
		}
		var n int
		if err := q.QueryRowContext(ctx, "SELECT count(*) FROM ("+s.set+" LIMIT ?)", append(s.args, threshold+1)...).Scan(&n); err != nil {
			return f, fmt.Errorf("size of a query term: %w", db.Classify(err))
		}
		size[s.leaf] = n
		if n > threshold {
			probe[s.leaf] = true
		}
		if isTop(s.leaf) && n < smallest {
			smallest = n
		}
	}
	// In a top-level AND the smallest set drives; every larger one is
	// looked up per candidate instead of being read whole (model +
	// steps + a rare tag: the tag's few hundred media, two lookups each).
	for _, n := range top {
		if k, ok := size[n]; ok && k > smallest {
			probe[n] = true
		}
	}
	f.probe = probe
	return f, nil
}
