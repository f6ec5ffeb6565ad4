package catalog

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"unicode"

	"github.com/localsupervisor/supervisor/pkg/catalog/ftsindex"
	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/query"
)

// Text search (the list's q + q_scope) runs on the FTS4 table media_fts
// (schema 0301), which the fold (ftsindex) keeps equal to path plus the
// original file name (schema 0305), the newest ollama.title /
// title.override / ollama.caption, the newest prompt and its negative
// prompt, the tag names and the generation parameters (model, sampler,
// scheduler, software, LoRA names; schema 0306) of every media. Scope
// "any" searches all of them; "prompt" only the positive prompt.
//
// Semantics, as a user of a search box expects them:
//   - every whitespace-separated word must match (AND), in any order;
//   - a word matches a token of the searched text by prefix ("cast" finds
//     "castle"), case- and accent-insensitively (unicode61);
//   - a word that contains punctuation ("img_12", "2024-05") matches its
//     parts as adjacent tokens, the last one by prefix;
//   - "quoted words" match as an exact phrase (whole tokens, adjacent);
//   - in scope "any" each word may match a different field, a phrase must lie
//     within one field (scope "title" searches override and Ollama title the
//     same way).
//
// What FTS cannot express falls back to LIKE: a word without any letter or
// digit ("_", "%", "-") is matched as a literal substring (LIKE '%…%') on the
// scope's fields, AND-ed with the FTS part. The one documented difference to
// the original LIKE '%q%': a word inside a token ("ast" in "castle") does not
// match; token prefixes do.

// maxTextTerms bounds the number of words/phrases taken from q, so a pasted
// paragraph cannot build a huge FTS expression.
const maxTextTerms = 16

// textQuery is q split into an FTS4 MATCH expression and the literal items
// that only LIKE can express.
type textQuery struct {
	parts []string // FTS terms/phrases; all must match
	like  []string // items matched with LIKE '%item%'
}

// match is the FTS expression requiring every part (implicit AND).
func (tq textQuery) match() string { return strings.Join(tq.parts, " ") }

// ftsTokens splits s the way the unicode61 tokenizer does: runs of letters,
// digits and combining marks; everything else separates. Tokens are lowered
// so FTS operator words (OR, AND, NOT, NEAR) are never produced.
func ftsTokens(s string) []string {
	f := strings.FieldsFunc(s, func(r rune) bool {
		return !(unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r))
	})
	for i := range f {
		f[i] = strings.ToLower(f[i])
	}
	return f
}

// splitQuery separates quoted phrases from bare words; an unbalanced quote
// runs to the end of the input.
func splitQuery(q string) (items []string, quoted []bool) {
	for q = strings.TrimSpace(q); q != ""; q = strings.TrimSpace(q) {
		if q[0] == '"' {
			end := strings.IndexByte(q[1:], '"')
			if end < 0 {
				items, quoted = append(items, q[1:]), append(quoted, true)
				break
			}
			items, quoted = append(items, q[1:1+end]), append(quoted, true)
			q = q[2+end:]
			continue
		}
		end := strings.IndexFunc(q, func(r rune) bool { return unicode.IsSpace(r) || r == '"' })
		if end < 0 {
			end = len(q)
		}
		items, quoted = append(items, q[:end]), append(quoted, false)
		q = q[end:]
	}
	return items, quoted
}

// parseTextQuery builds the FTS expression for q.
func parseTextQuery(q string) textQuery {
	return textQueryOf(splitQuery(q))
}

// textQueryOf builds the FTS expression for words and phrases (quoted[i]
// says items[i] was a "quoted phrase").
func textQueryOf(items []string, quoted []bool) textQuery {
	var tq textQuery
	for i, it := range items {
		if len(tq.parts)+len(tq.like) >= maxTextTerms {
			break
		}
		toks := ftsTokens(it)
		if len(toks) == 0 {
			if strings.TrimSpace(it) != "" {
				tq.like = append(tq.like, strings.TrimSpace(it))
			}
			continue
		}
		switch {
		case quoted[i]:
			tq.parts = append(tq.parts, `"`+strings.Join(toks, " ")+`"`)
		case len(toks) == 1:
			tq.parts = append(tq.parts, toks[0]+"*")
		default:
			tq.parts = append(tq.parts, `"`+strings.Join(toks, " ")+`*"`)
		}
	}
	return tq
}

// textItems are the free words and phrases at the top level of the query
// (the query itself, or items of its top-level AND) — or, without any,
// its top-level text field terms of one field (prompt:dragon): they keep
// the index-driven paths below, in scope textScope; the rest of the query
// (restQuery) is an extra condition. ok is false when there are none (a
// word under OR or negation is written by CompileQuery).
func (f Filter) textItems() (items []string, quoted []bool, ok bool) {
	items, quoted, _, _ = f.textSplit()
	return items, quoted, len(items) > 0
}

// textScope is the scope of textItems: q_scope for free words, the
// field's for field terms.
func (f Filter) textScope() string {
	_, _, scope, _ := f.textSplit()
	return scope
}

// textFieldScope is the text index scope of a text field term.
var textFieldScope = map[string]string{"prompt": "prompt", "negative": "negative", "caption": "caption", "title": "title", "name": "path"}

// textSplit computes textItems, their scope and the query nodes they
// stand for (excluded from restQuery).
func (f Filter) textSplit() (items []string, quoted []bool, scope string, taken map[query.Node]bool) {
	scope = f.QScope
	if f.QueryErr != nil {
		return nil, nil, scope, nil
	}
	if f.Query == nil {
		if f.Q == "" {
			return nil, nil, scope, nil
		}
		// A Filter built without ParseFilter: q as plain words.
		items, quoted = splitQuery(f.Q)
		return items, quoted, scope, nil
	}
	taken = map[query.Node]bool{}
	top := topItems(f.Query)
	for _, n := range top {
		if t, isText := n.(*query.Text); isText {
			items, quoted = append(items, t.Value), append(quoted, t.Phrase)
			taken[n] = true
		}
	}
	if len(items) > 0 {
		return items, quoted, scope, taken
	}
	for _, n := range top {
		t, isTerm := n.(*query.Term)
		if !isTerm {
			continue
		}
		sc, isText := textFieldScope[t.Field]
		if !isText || (len(items) > 0 && sc != scope) {
			continue
		}
		scope = sc
		items, quoted = append(items, t.Raw), append(quoted, t.Quoted)
		taken[n] = true
	}
	return items, quoted, scope, taken
}

// restQuery is the query without its textItems; nil when nothing is left.
func (f Filter) restQuery() query.Node {
	if f.Query == nil {
		return nil
	}
	_, _, _, taken := f.textSplit()
	var rest []query.Node
	for _, n := range topItems(f.Query) {
		if !taken[n] {
			rest = append(rest, n)
		}
	}
	switch len(rest) {
	case 0:
		return nil
	case 1:
		return rest[0]
	}
	return &query.And{Items: rest}
}

// topItems are the items of a top-level AND, else the node itself.
func topItems(n query.Node) []query.Node {
	if a, isAnd := n.(*query.And); isAnd {
		return a.Items
	}
	return []query.Node{n}
}

// textOnly reports whether the query has top-level free words (textItems).
func (f Filter) textOnly() bool {
	_, _, ok := f.textItems()
	return ok
}

// textQuery is the FTS expression of a text-only query.
func (f Filter) textQuery() textQuery {
	items, quoted, _ := f.textItems()
	return textQueryOf(items, quoted)
}

// ftsDriven reports whether List can read the matches straight from the
// index in docid order: newest/oldest sort (the key is the id = docid) and
// one MATCH (not the two-column title scope). Then "FROM media_fts f CROSS
// JOIN media m ... ORDER BY f.docid LIMIT n" stops after n matches, where
// "m.id IN (SELECT docid …)" first materialises every match (a common word
// matches 20 % of a library: ~200,000 docids at 1M media).
func (f Filter) ftsDriven() bool {
	return (f.Sort == "newest" || f.Sort == "oldest") && f.ftsJoinable()
}

// ftsJoinable reports whether the text condition can be a MATCH on a joined
// media_fts row (any order; Count uses it to stop at CountCap matches).
func (f Filter) ftsJoinable() bool {
	if !f.textOnly() || f.likeText || f.textScope() == "title" {
		return false
	}
	return len(f.textQuery().parts) > 0
}

// ftsFrom is the FROM clause of a query driven by the index.
const ftsFrom = "media_fts f CROSS JOIN media m ON m.id = f.docid"

// ftsColumn is the MATCH target of a single-column scope on alias f.
func ftsColumn(scope string) string {
	switch scope {
	case "path", "caption", "prompt", "negative":
		return "f." + scope
	}
	return "f.media_fts"
}

// textMode is how the FTS part of the text condition is written.
type textMode int

const (
	// textIDSet: "m.id IN (docids)"; the planner may drive the query by
	// the set (one primary-key lookup per match: best when it is small).
	textIDSet textMode = iota
	// textJoined: a MATCH on the joined index row f (see ftsDriven).
	textJoined
	// textProbe: "+m.id IN (docids)"; the unary plus keeps the planner
	// from driving by the set, so it walks the sort index and probes the
	// set: best for a common word under another sort (choseTextMode).
	textProbe
	// textMarked: the LIKE reference alone, for the arm of a driven query
	// that reads the media marked in media_fts_pending (their index rows
	// may be stale or missing; textJoined excludes them).
	textMarked
)

// markedFrom is the FROM clause of the marked-media arm.
const markedFrom = "media_fts_pending fp CROSS JOIN media m ON m.id = fp.media_id"

// docidSet is the SELECT of the docids matching every FTS part in scope.
func docidSet(scope string, tq textQuery) (string, []any) {
	switch scope {
	case "path", "caption", "prompt", "negative":
		return "SELECT docid FROM media_fts WHERE " + scope + " MATCH ?", []any{tq.match()}
	case "title":
		// Two columns but no column filter for phrases in FTS4 query
		// syntax: per part the union of both columns, then intersected.
		var sets []string
		var args []any
		for _, p := range tq.parts {
			sets = append(sets, "SELECT docid FROM (SELECT docid FROM media_fts WHERE title MATCH ? UNION ALL SELECT docid FROM media_fts WHERE override MATCH ?)")
			args = append(args, p, p)
		}
		return strings.Join(sets, " INTERSECT "), args
	}
	return "SELECT docid FROM media_fts WHERE media_fts MATCH ?", []any{tq.match()}
}

// pendingAwareSet extends the docid set by the media marked in
// media_fts_pending (schema 0304: changed since the last fold, so their
// index rows may be stale or missing): a marked media matches by the LIKE
// reference (every one of words) instead of its index row. With nothing
// marked the extra branches cost two empty-table probes, and a search
// result never depends on whether a fold ran.
func pendingAwareSet(scope string, tq textQuery, words []string) (string, []any) {
	set, args := docidSet(scope, tq)
	like, largs := likeAll(likeFields(scope), words)
	return "SELECT docid FROM (" + set + ") WHERE docid NOT IN (SELECT media_id FROM media_fts_pending)" +
			" UNION ALL SELECT m.id FROM media_fts_pending fp CROSS JOIN media m ON m.id = fp.media_id WHERE " + like,
		append(args, largs...)
}

// indexCurrent reports whether no media is marked for folding, so a query
// driven by the index needs no arm for marked media (querySource).
func indexCurrent(ctx context.Context, q *sql.DB) (bool, error) {
	var marked bool
	if err := q.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM media_fts_pending)").Scan(&marked); err != nil {
		return false, fmt.Errorf("text index marks: %w", db.Classify(err))
	}
	return !marked, nil
}

// chooseTextMode picks how a list query that is not ftsDriven uses the
// index: by id set when at most CountCap media match (counted from the
// index alone, stopping at the cap), else by probing. The FTS4 planner
// interface has no row estimate, so SQLite cannot make this choice: it
// always drives by the set, which for a common word under sort=rating
// meant ~200,000 row lookups and a sort (1.4 s at 1M media).
func (f Filter) chooseTextMode(ctx context.Context, q *sql.DB) (textMode, error) {
	if !f.textOnly() || f.likeText {
		return textIDSet, nil
	}
	tq := f.textQuery()
	if len(tq.parts) == 0 {
		return textIDSet, nil
	}
	set, args := docidSet(f.textScope(), tq)
	var n int
	if err := q.QueryRowContext(ctx, "SELECT count(*) FROM ("+set+" LIMIT ?)", append(args, CountCap+1)...).Scan(&n); err != nil {
		return textIDSet, fmt.Errorf("count text matches: %w", db.Classify(err))
	}
	if n > CountCap {
		return textProbe, nil
	}
	return textIDSet, nil
}

// textWhere is the predicate of a text-only query (textItems) in
// q_scope, the FTS part written as mode says.
func (f Filter) textWhere(mode textMode) (string, []any) {
	items, quoted, _ := f.textItems()
	if f.likeText {
		return likeAll(likeFields(f.textScope()), items)
	}
	return textCondition(f.textScope(), items, quoted, mode)
}

// textCondition is words and phrases (all required) in scope: the FTS
// part written as mode says (joined on f, or an id set of the index plus
// the marked media), LIKE for the items FTS cannot express.
func textCondition(scope string, items []string, quoted []bool, mode textMode) (string, []any) {
	fields := likeFields(scope)
	tq := textQueryOf(items, quoted)
	var conds []string
	var args []any
	switch {
	case mode == textMarked:
		return likeAll(fields, items)
	case len(tq.parts) == 0:
	case mode == textJoined:
		// Marked media come from the textMarked arm (querySource).
		conds = append(conds, ftsColumn(scope)+" MATCH ? AND f.docid NOT IN (SELECT media_id FROM media_fts_pending)")
		args = append(args, tq.match())
	default:
		set, a := pendingAwareSet(scope, tq, items)
		col := "m.id"
		if mode == textProbe {
			col = "+m.id"
		}
		conds = append(conds, col+" IN ("+set+")")
		args = append(args, a...)
	}
	if len(tq.like) > 0 {
		c, a := likeAll(fields, tq.like)
		conds = append(conds, c)
		args = append(args, a...)
	}
	if len(conds) == 0 {
		return "1", nil
	}
	return strings.Join(conds, " AND "), args
}

// likeFields are the searched SQL expressions of a scope. Scope path
// covers the file's names: its path and the original file name a move-mode
// import renamed away (the index's path column holds both, ftsindex.PathText).
// The expressions of the columns added by schema 0306 are the fold's own
// (ftsindex), so index and reference cannot disagree.
func likeFields(scope string) []string {
	title, override, name := newestMeta("ollama.title"), newestMeta("title.override"), newestMeta("original_name")
	switch scope {
	case "path":
		return []string{"m.path", name}
	case "title":
		return []string{title, override}
	case "caption":
		return []string{newestMeta("ollama.caption")}
	case "prompt":
		return []string{newestPrompt}
	case "negative":
		return []string{ftsindex.NegativeText}
	}
	return []string{"m.path", name, title, override, newestMeta("ollama.caption"), newestPrompt,
		ftsindex.NegativeText, ftsindex.TagsText, ftsindex.ParamsText}
}

// likeAll requires every word as a literal substring of at least one field.
// It is the fallback for items FTS cannot express and, with
// Filter.likeText, the reference the FTS results are tested against.
func likeAll(fields, words []string) (string, []any) {
	var conds []string
	var args []any
	for _, w := range words {
		var ors []string
		for _, fl := range fields {
			ors = append(ors, fl+` LIKE ? ESCAPE '\'`)
			args = append(args, escapeLike(w))
		}
		conds = append(conds, "("+strings.Join(ors, " OR ")+")")
	}
	if len(conds) == 0 {
		return "1", nil
	}
	return strings.Join(conds, " AND "), args
}

// ftsMatchIDs is the text search of one column scope for the query
// language (querysql.go): a SELECT of the ids of the media matching every
// word or phrase of words, for "m.id IN (…)". column is a query field —
// "prompt", "negative", "title" (override or AI title), "caption", "name"
// (path and original file name) — or "" / "any" for free words (every
// indexed column). Matching is the list's (search.go): token prefix,
// accents folded, phrases adjacent; marked media by the LIKE reference.
// The user's text only ever travels as arguments. No words: "", nil.
func ftsMatchIDs(column string, words []query.Text) (string, []any) {
	scope := column
	switch column {
	case "name":
		scope = "path"
	case "":
		scope = "any"
	}
	items := make([]string, 0, len(words))
	quoted := make([]bool, 0, len(words))
	for _, w := range words {
		items, quoted = append(items, w.Value), append(quoted, w.Phrase)
	}
	tq := textQueryOf(items, quoted)
	var sets []string
	var args []any
	if len(tq.parts) > 0 {
		set, a := pendingAwareSet(scope, tq, items)
		sets, args = append(sets, set), append(args, a...)
	}
	if len(tq.like) > 0 {
		// Words without a letter or digit: only LIKE can express them.
		c, a := likeAll(likeFields(scope), tq.like)
		sets, args = append(sets, "SELECT m.id FROM media m WHERE "+c), append(args, a...)
	}
	if len(sets) == 0 {
		return "", nil
	}
	return strings.Join(sets, " INTERSECT "), args
}
