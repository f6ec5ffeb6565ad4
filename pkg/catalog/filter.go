// Package catalog is the web read model: the media list with every filter of
// the original mediadb.php, keyset paging, the batched card data (no query per
// card) and the detail view, plus the few web-only curation writes.
//
// Every list filter is a SQL predicate backed by an index (schema 0300), so the
// cost of a page does not depend on the page number or on loading candidate ids
// into Go (the original loaded whole result sets into PHP for "issues" and
// "prompt_quality").
package catalog

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/localsupervisor/supervisor/pkg/query"
)

// PageSize is the number of cards per page (as the original).
const PageSize = 100

// Filter is the normalised set of list parameters. Unknown values fall back to
// the default, as in the original.
type Filter struct {
	View      string // grid | list
	Type      string // all | image | video
	HasPrompt string // all | with | without
	HasMeta   string // all | with | without
	Q         string // the query as typed (query.MaxQueryBytes; longer is QueryErr)
	QScope    string // any | path | title | caption | prompt: where free words of Q search
	// Query is Q parsed (pkg/query); nil for an empty or unusable Q.
	Query query.Node
	// QueryErr is why Q cannot be used (syntax, unknown field, bad value,
	// too long): the list shows it under the search box, /api/media
	// answers 400, and the filter matches nothing.
	QueryErr      *query.Error
	Status        string // all | active | archived | deleted | missing | deleted_logical
	Curation      string // all | unknown | ok | review | blocked
	MinRating     int    // 0..3
	Incomplete    string // none | prompt | tags | meta | any
	PromptQuality string // all | A | B | C
	Active        string // all | active | inactive
	Deleted       string // exclude_deleted | only_deleted | all
	AITitle       string // all | with | without
	AICaption     string // all | with | without
	Broken        string // all | broken | ok
	Character     string // all | with | without
	Dupes         bool
	DupeHash      string
	DupesSHA      bool
	DupeSHA       string
	Issues        bool
	Vote          string // all | neutral | approved | rejected (internal only)
	Checked       string // any | checked | unchecked (internal only)
	LowActivity   string // all | low (internal only)
	Tag           string
	Sort          string // newest | oldest | rating | size | random
	Seed          int64  // random sort seed
	Page          int    // legacy p=, 1..10000
	// Jump is the list's "jump to date" (?jump=2025-06, 2025-06-01, 30d):
	// the newest-first list starts at the last media imported in that
	// period, the oldest-first list at the first. One index seek, so a
	// far position costs what the first page costs (numbered pages walk
	// every earlier match).
	Jump *query.TimeInterval
	// Adult shows has_nsfw media; the web layer sets it from the session
	// opt-in, never from the URL alone.
	Adult bool
	// Internal enables the admin-only filters (vote, checked, low_activity).
	Internal bool
	// likeText forces the LIKE text search (the reference the FTS results
	// are tested against).
	likeText bool
	// probe are the query leaves with a large id set (probeLeaves).
	probe map[query.Node]bool
}

func pick(v string, allowed ...string) string {
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	return allowed[0]
}

func clampInt(s string, lo, hi, def int) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return def
	}
	if n < lo {
		return lo
	}
	if n > hi {
		return hi
	}
	return n
}

func truncRunes(s string, n int) string {
	s = strings.TrimSpace(s)
	r := []rune(s)
	if len(r) > n {
		return string(r[:n])
	}
	return s
}

func isHex(s string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// ParseFilter is ParseFilterAt with the current time (relative dates of
// the query, such as created:7d, end now).
func ParseFilter(v url.Values, internal bool) Filter {
	return ParseFilterAt(v, internal, time.Now())
}

// ParseFilterAt normalises query parameters; internal enables admin
// filters; now resolves the query's relative dates.
func ParseFilterAt(v url.Values, internal bool, now time.Time) Filter {
	f := Filter{
		View:      pick(v.Get("view"), "grid", "list"),
		Type:      pick(v.Get("type"), "all", "image", "video"),
		HasPrompt: pick(v.Get("has_prompt"), "all", "with", "without"),
		HasMeta:   pick(v.Get("has_meta"), "all", "with", "without"),
		// One byte over the limit is kept so the parser reports it.
		Q:             truncRunes(v.Get("q"), query.MaxQueryBytes+1),
		QScope:        pick(v.Get("q_scope"), "any", "path", "title", "caption", "prompt"),
		Status:        pick(v.Get("status"), "all", "active", "archived", "deleted", "missing", "deleted_logical"),
		Curation:      pick(v.Get("curation"), "all", "unknown", "ok", "review", "blocked"),
		MinRating:     clampInt(v.Get("min_rating"), 0, 3, 0),
		Incomplete:    pick(v.Get("incomplete"), "none", "prompt", "tags", "meta", "any"),
		PromptQuality: pick(v.Get("prompt_quality"), "all", "A", "B", "C"),
		Active:        pick(v.Get("active"), "all", "active", "inactive"),
		Deleted:       pick(v.Get("deleted"), "exclude_deleted", "only_deleted", "all"),
		AITitle:       pick(v.Get("ai_title"), "all", "with", "without"),
		AICaption:     pick(v.Get("ai_caption"), "all", "with", "without"),
		Broken:        pick(v.Get("broken"), "all", "broken", "ok"),
		Character:     pick(v.Get("character"), "all", "with", "without"),
		Dupes:         v.Get("dupes") == "1",
		DupesSHA:      v.Get("dupes_sha") == "1",
		Issues:        v.Get("issues") == "1",
		Tag:           truncRunes(v.Get("tag"), 200),
		Sort:          pick(v.Get("sort"), "newest", "oldest", "rating", "size", "random"),
		Page:          clampInt(v.Get("p"), 1, 10000, 1),
		Vote:          "all",
		Checked:       "any",
		LowActivity:   "all",
		Internal:      internal,
	}
	if h := truncRunes(v.Get("dupe_hash"), 64); isHex(h) {
		f.DupeHash = h
	}
	if h := truncRunes(v.Get("dupe_sha"), 64); isHex(h) {
		f.DupeSHA = strings.ToLower(h)
	}
	if s, err := strconv.ParseInt(v.Get("seed"), 10, 64); err == nil && s > 0 {
		f.Seed = s % 1000003
	}
	if internal {
		f.Vote = pick(v.Get("vote"), "all", "neutral", "approved", "rejected")
		f.Checked = pick(v.Get("checked"), "any", "checked", "unchecked")
		f.LowActivity = pick(v.Get("low_activity"), "all", "low")
	}
	f.Query, f.QueryErr = parseQuery(f.Q, internal, now)
	if j := strings.TrimSpace(v.Get("jump")); j != "" && f.QueryErr == nil {
		f.Jump, f.QueryErr = parseJump(j, len(f.Q), now)
	}
	return f
}

// parseJump reads a jump date as the value of an imported: term, so it
// takes what the query language takes (2025, 2025-06, 2025-06-01, 7d).
// Its error points after the search box's text (pos), where the page
// shows the marker.
func parseJump(v string, pos int, now time.Time) (*query.TimeInterval, *query.Error) {
	bad := &query.Error{Code: query.CodeBadValue, Pos: pos, Field: "jump",
		Msg: "jump: " + v + " is not a date (2026-11-05, 2026-11 or 7d)"}
	n, err := query.Parse("imported:"+v, query.Options{Now: now})
	t, ok := n.(*query.Term)
	if err != nil || !ok || t.Time == nil {
		return nil, bad
	}
	return t.Time, nil
}

// parseQuery parses q and checks that it compiles (vote: for a
// non-admin is refused here), so a Filter's query either works or
// carries its error.
func parseQuery(q string, internal bool, now time.Time) (query.Node, *query.Error) {
	if q == "" {
		return nil, nil
	}
	n, err := query.Parse(q, query.Options{Now: now})
	if err == nil {
		_, _, err = CompileQuery(n, now.Unix(), CompileOptions{Internal: internal})
	}
	if err != nil {
		var qe *query.Error
		if !errors.As(err, &qe) {
			qe = &query.Error{Code: query.CodeSyntax, Msg: err.Error()}
		}
		return nil, qe
	}
	return n, nil
}

// compileOptions are the CompileQuery options of f's query.
func (f Filter) compileOptions() CompileOptions {
	return CompileOptions{Internal: f.Internal, TextScope: f.QScope, Probe: f.probe}
}

// Values renders the non-default parameters back into a query (for links,
// chips and the prev/next navigation of the detail page). adult and paging
// are not included.
func (f Filter) Values() url.Values {
	v := url.Values{}
	set := func(k, val, def string) {
		if val != def {
			v.Set(k, val)
		}
	}
	set("view", f.View, "grid")
	set("type", f.Type, "all")
	set("has_prompt", f.HasPrompt, "all")
	set("has_meta", f.HasMeta, "all")
	set("q", f.Q, "")
	if f.Q != "" {
		set("q_scope", f.QScope, "any")
	}
	set("status", f.Status, "all")
	set("curation", f.Curation, "all")
	if f.MinRating > 0 {
		v.Set("min_rating", strconv.Itoa(f.MinRating))
	}
	set("incomplete", f.Incomplete, "none")
	set("prompt_quality", f.PromptQuality, "all")
	set("active", f.Active, "all")
	set("deleted", f.Deleted, "exclude_deleted")
	set("ai_title", f.AITitle, "all")
	set("ai_caption", f.AICaption, "all")
	set("broken", f.Broken, "all")
	set("character", f.Character, "all")
	if f.Dupes {
		v.Set("dupes", "1")
	}
	set("dupe_hash", f.DupeHash, "")
	if f.DupesSHA {
		v.Set("dupes_sha", "1")
	}
	set("dupe_sha", f.DupeSHA, "")
	if f.Issues {
		v.Set("issues", "1")
	}
	set("vote", f.Vote, "all")
	set("checked", f.Checked, "any")
	set("low_activity", f.LowActivity, "all")
	set("tag", f.Tag, "")
	set("sort", f.Sort, "newest")
	if f.Sort == "random" && f.Seed > 0 {
		v.Set("seed", strconv.FormatInt(f.Seed, 10))
	}
	return v
}

// Chip is one active filter, shown above the list with a link removing it.
type Chip struct {
	Key, Value string
}

// Chips lists the active (non-default) filters except view and sort.
func (f Filter) Chips() []Chip {
	v := f.Values()
	var out []Chip
	for _, k := range []string{"type", "has_prompt", "has_meta", "q", "q_scope", "status", "curation", "min_rating",
		"incomplete", "prompt_quality", "active", "deleted", "ai_title", "ai_caption", "broken", "character", "dupes",
		"dupe_hash", "dupes_sha", "dupe_sha", "issues", "vote", "checked", "low_activity", "tag"} {
		if val := v.Get(k); val != "" {
			out = append(out, Chip{Key: k, Value: val})
		}
	}
	return out
}

// escapeLike escapes LIKE wildcards so user text matches literally.
func escapeLike(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(s) + "%"
}

// newestMeta is the newest value of one meta key for m (media_meta is an
// append-only log: newest row wins). Served by idx_media_meta_media_key.
func newestMeta(key string) string {
	return "(SELECT mm.meta_value FROM media_meta mm WHERE mm.media_id = m.id AND mm.meta_key = '" + key + "' ORDER BY mm.id DESC LIMIT 1)"
}

const newestPrompt = "(SELECT p.prompt FROM prompts p WHERE p.media_id = m.id ORDER BY p.id DESC LIMIT 1)"

// promptQualityExpr grades the newest prompt A/B/C in SQL. It is a length-
// and structure-based approximation of the original sv_analyze_prompt_quality
// (start 85; empty −35; fewer than 6 words −25; more than 20 words +5;
// multi-fragment +5); A ≥ 75, B ≥ 55, else C. Words are approximated by
// spaces+1, fragments by commas+1, because SQLite has no regex by default.
const promptQualityExpr = `(SELECT CASE
	WHEN s >= 75 THEN 'A' WHEN s >= 55 THEN 'B' ELSE 'C' END FROM (SELECT
	85 + CASE WHEN pt = '' THEN -35 ELSE 0 END
	   + CASE WHEN pt <> '' AND w < 6 THEN -25 WHEN w > 20 THEN 5 ELSE 0 END
	   + CASE WHEN fr >= 3 THEN 5 ELSE 0 END AS s FROM (SELECT
	COALESCE(TRIM(` + newestPrompt + `), '') AS pt,
	LENGTH(TRIM(COALESCE(` + newestPrompt + `, ''))) - LENGTH(REPLACE(TRIM(COALESCE(` + newestPrompt + `, '')), ' ', '')) + 1 AS w,
	LENGTH(COALESCE(` + newestPrompt + `, '')) - LENGTH(REPLACE(COALESCE(` + newestPrompt + `, ''), ',', '')) + 1 AS fr)))`

// Where builds the WHERE clause (without the keyword) and its arguments.
// now is unix seconds, used by the activity filter.
func (f Filter) Where(now int64) (string, []any) { return f.where(now, textIDSet) }

// where builds the clause with the text condition written as mode says
// (search.go): textJoined for queries reading media_fts as f joined to
// media, textProbe when a common word must not drive the query.
func (f Filter) where(now int64, mode textMode) (string, []any) {
	var conds []string
	var args []any
	add := func(c string, a ...any) {
		conds = append(conds, c)
		args = append(args, a...)
	}
	// concept adds a condition written by the functions the query
	// compiler uses (querysql.go), so a URL filter and its query term
	// are one SQL.
	concept := func(fn func(c *compiler) string) {
		c := &compiler{now: now}
		cond := fn(c)
		add(cond, c.args...)
	}
	withWithout := func(val, cond string) {
		switch val {
		case "with":
			add(cond)
		case "without":
			add("NOT (" + cond + ")")
		}
	}
	if !f.Adult {
		add("m.has_nsfw = 0")
	}
	switch f.Type {
	case "image", "video":
		concept(func(c *compiler) string { return typeCond(c, f.Type) })
	}
	withWithout(f.HasPrompt, hasCond("prompt"))
	withWithout(f.HasMeta, hasCond("meta"))
	if f.QueryErr != nil {
		// An unusable query matches nothing; the handlers show the
		// error (or answer 400) instead of a list.
		add("0")
	}
	if f.textOnly() {
		// Top-level free words: the full-text index with the list's fast
		// paths, LIKE only for what FTS cannot express (search.go).
		c, a := f.textWhere(mode)
		add(c, a...)
	}
	if rest := f.restQuery(); rest != nil && f.QueryErr == nil {
		c, a, err := CompileQuery(rest, now, f.compileOptions())
		if err != nil {
			c, a = "0", nil // ParseFilter refuses such a query (QueryErr)
		}
		add(c, a...)
	}
	switch f.Status {
	case "active", "archived", "deleted", "missing", "deleted_logical":
		concept(func(c *compiler) string { return statusCond(c, f.Status) })
	}
	switch f.Curation {
	case "unknown", "ok", "review", "blocked":
		concept(func(c *compiler) string { return curationCond(c, f.Curation) })
	}
	if f.MinRating > 0 {
		lo := float64(f.MinRating)
		concept(func(c *compiler) string { return c.interval("m.rating", &query.Interval{Lo: &lo, LoIncl: true}) })
	}
	const promptIncomplete = `NOT EXISTS (SELECT 1 FROM prompts p WHERE p.media_id = m.id AND p.prompt IS NOT NULL
		AND p.negative_prompt IS NOT NULL AND p.source_metadata IS NOT NULL AND p.model IS NOT NULL
		AND p.sampler IS NOT NULL AND p.cfg_scale IS NOT NULL AND p.steps IS NOT NULL AND p.seed IS NOT NULL
		AND p.width IS NOT NULL AND p.height IS NOT NULL AND p.scheduler IS NOT NULL)`
	const tagsIncomplete = "NOT EXISTS (SELECT 1 FROM media_tags mt WHERE mt.media_id = m.id)"
	const metaIncomplete = "NOT EXISTS (SELECT 1 FROM media_meta mm WHERE mm.media_id = m.id)"
	switch f.Incomplete {
	case "prompt":
		add(promptIncomplete)
	case "tags":
		add(tagsIncomplete)
	case "meta":
		add(metaIncomplete)
	case "any":
		add("(" + promptIncomplete + " OR " + tagsIncomplete + " OR " + metaIncomplete + ")")
	}
	if f.PromptQuality != "all" {
		add(promptQualityExpr+" = ?", f.PromptQuality)
	}
	switch f.Active {
	case "active":
		add("m.is_active = 1")
	case "inactive":
		add("m.is_active = 0")
	}
	switch f.Deleted {
	case "exclude_deleted":
		// The default hides deleted media, unless the query asks for
		// them (is:deleted would otherwise never match).
		if !mentions(f.Query, "is", "deleted") {
			add("m.is_deleted = 0")
		}
	case "only_deleted":
		add("m.is_deleted = 1")
	}
	withWithout(f.AITitle, nonEmptyMeta("ollama.title"))
	withWithout(f.AICaption, nonEmptyMeta("ollama.caption"))
	switch f.Broken {
	case "broken":
		add(isCond("broken"))
	case "ok":
		add("NOT (" + isCond("broken") + ")")
	}
	switch f.Character {
	case "with", "without":
		concept(func(c *compiler) string { return c.tagIDs("", tagTypeCharacter) })
		if f.Character == "without" {
			conds[len(conds)-1] = "NOT (" + conds[len(conds)-1] + ")"
		}
	}
	if f.DupeHash != "" {
		add("m.hash = ?", f.DupeHash)
	} else if f.Dupes {
		add(isCond("duplicate"))
	}
	if f.DupeSHA != "" {
		add("EXISTS (SELECT 1 FROM media_meta mm WHERE mm.media_id = m.id AND mm.meta_key = 'hash.sha256' AND mm.meta_value = ?)", f.DupeSHA)
	} else if f.DupesSHA {
		add("m.id IN (" + dupeSHAIDs + ")")
	}
	if f.Issues {
		// The original also stat()ed every file; here a missing file is the
		// status the cleanup worker writes, so the filter stays pure SQL.
		// A failed integrity check (the media worker decodes every
		// import) is an issue too: the set of such media comes from a
		// partial index, not a lookup per listed row.
		add(`(m.hash IS NULL OR m.status = 'missing'
			OR EXISTS (SELECT 1 FROM prompts p WHERE p.media_id = m.id AND p.source_metadata IS NULL)
			OR EXISTS (SELECT 1 FROM media_tags mt WHERE mt.media_id = m.id AND mt.confidence IS NULL)
			OR m.id IN (` + IntegrityFailedIDs + `))`)
	}
	if f.Internal {
		switch f.Vote {
		case "neutral", "approved", "rejected":
			concept(func(c *compiler) string { return voteCond(c, f.Vote) })
		}
		switch f.Checked {
		case "checked":
			add(isCond("checked"))
		case "unchecked":
			add("NOT (" + isCond("checked") + ")")
		}
		if f.LowActivity == "low" {
			add(ActivityScoreExpr+" <= 0", now)
		}
	}
	if f.Tag != "" {
		// The tag ids first, then their media (idx_media_tags_tag): the
		// correlated EXISTS this replaced walked every media row (issue
		// #18 item 6: 0.9–2.6 s per page at 1M media).
		concept(func(c *compiler) string { return c.tagIDs(f.Tag, "") })
	}
	if len(conds) == 0 {
		return "1", nil
	}
	return strings.Join(conds, " AND "), args
}

// ActivityScoreExpr is clicks − whole days since the last click (or since
// creation/import when never clicked); it takes one argument, now in unix
// seconds. Clicks live in media_activity, not in appended meta rows.
const ActivityScoreExpr = `(COALESCE((SELECT a.clicks FROM media_activity a WHERE a.media_id = m.id), 0)
	- ((? - COALESCE((SELECT a.last_click_at FROM media_activity a WHERE a.media_id = m.id),
	   CAST(strftime('%s', COALESCE(m.created_at, m.imported_at)) AS INTEGER), 0)) / 86400))`

// dupeSHAIDs selects the media sharing a SHA-256 with another media: the
// values occurring more than once come from one index-only walk of
// idx_media_meta_sha256 (duplicates are few), each candidate row then
// confirmed against another media (a media hashed twice has two rows).
// Checking every listed media's hash instead probed the index twice per
// media and walked the whole library for a page of rare duplicates.
const dupeSHAIDs = `SELECT a.media_id FROM media_meta a WHERE a.meta_key = 'hash.sha256' AND a.meta_value IN
		(SELECT v.meta_value FROM media_meta v WHERE v.meta_key = 'hash.sha256' GROUP BY v.meta_value HAVING count(*) > 1)
	AND EXISTS (SELECT 1 FROM media_meta b WHERE b.meta_key = 'hash.sha256' AND b.meta_value = a.meta_value AND b.media_id <> a.media_id)`

// IntegrityFailedIDs selects the ids of media whose newest integrity check
// failed (integrity.ok is an append-only meta log): the candidates come
// from idx_media_meta_integrity_failed, each confirmed newest through
// idx_media_meta_media_key.
const IntegrityFailedIDs = `SELECT b.media_id FROM media_meta b INDEXED BY idx_media_meta_integrity_failed
	WHERE b.meta_key = 'integrity.ok' AND b.meta_value = '0'
	AND NOT EXISTS (SELECT 1 FROM media_meta c WHERE c.media_id = b.media_id AND c.meta_key = 'integrity.ok' AND c.id > b.id)`
