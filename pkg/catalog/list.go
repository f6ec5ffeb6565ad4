package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/query"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// Cursor is a keyset position: the sort key and id of the last (or first)
// card of a page. Key is the id for newest/oldest, the rating, the file size
// or the random key otherwise. KeyNull marks a NULL file size.
type Cursor struct {
	Key     int64
	KeyNull bool
	ID      int64
}

// String encodes the cursor for URLs ("key_id", "n_id" for a NULL key).
func (c Cursor) String() string {
	if c.KeyNull {
		return "n_" + strconv.FormatInt(c.ID, 10)
	}
	return strconv.FormatInt(c.Key, 10) + "_" + strconv.FormatInt(c.ID, 10)
}

// ParseCursor decodes a cursor; ok is false for empty or malformed input.
func ParseCursor(s string) (Cursor, bool) {
	k, id, found := strings.Cut(s, "_")
	if !found || len(s) > 60 {
		return Cursor{}, false
	}
	idn, err := strconv.ParseInt(id, 10, 64)
	if err != nil || idn < 0 {
		return Cursor{}, false
	}
	if k == "n" {
		return Cursor{KeyNull: true, ID: idn}, true
	}
	kn, err := strconv.ParseInt(k, 10, 64)
	if err != nil {
		return Cursor{}, false
	}
	return Cursor{Key: kn, ID: idn}, true
}

// Page asks for one page: After continues forward, Before goes back; with
// neither, the legacy page number (Filter.Page) is turned into the keyset
// position before it (pageStart).
type Page struct {
	After  *Cursor
	Before *Cursor
	Limit  int
}

// Card is everything one grid card or list row shows; it is filled with a
// fixed number of batched queries per page, never one query per card.
type Card struct {
	ID            int64
	Path          string
	Name          string
	Type          string
	Width, Height int64
	Duration      float64
	Filesize      int64
	Rating        int
	NSFW          bool
	Status        string
	Lifecycle     string
	Quality       string
	Vote          string
	Active        bool
	Deleted       bool
	Hash          string
	ImportedAt    string
	Title         string
	// OriginalName is the file's name at import (meta original_name); a
	// move-mode import renames the file itself to its content hash.
	OriginalName string
	Caption      string
	Model        string
	HasPrompt    bool
	TagCount     int
	MetaCount    int
	OpenJobs     int
	HDID         int64 // preferred (upscaled) variant id, 0 if none
	Checked      bool
	Broken       bool
	ScanStale    bool
	// NSFWLocked: a person decided 18+ or safe (media.MetaNSFWManual);
	// no automatic verdict changes NSFW until it is unlocked.
	NSFWLocked bool
	Clicks     int64

	sortKey     int64
	sortKeyNull bool
}

// Cursor returns the keyset position of the card.
func (c Card) Cursor() Cursor { return Cursor{Key: c.sortKey, KeyNull: c.sortKeyNull, ID: c.ID} }

// DisplayTitle is override > ollama title > prettified original file name
// > prettified current file name (DisplayTitle).
func (c Card) DisplayTitle() string { return DisplayTitle(c.Title, c.OriginalName, c.Path) }

// FileName is the name a person knows the file by: the original name when
// the import recorded one, else the current file name.
func (c Card) FileName() string {
	if c.OriginalName != "" {
		return c.OriginalName
	}
	return c.Name
}

// DisplayTitle is the title shown for a media: its title (override or
// Ollama) when set, else the original file name, else the current file
// name — prettified, because a move-mode import names the file by its hash.
func DisplayTitle(title, originalName, path string) string {
	if title != "" {
		return title
	}
	if n := PrettyName(originalName); n != "" {
		return n
	}
	return PrettyName(path)
}

// PrettyName turns a file name into a title: no extension, separators as spaces.
func PrettyName(p string) string {
	b := filepath.Base(strings.ReplaceAll(p, `\`, "/"))
	b = strings.TrimSuffix(b, filepath.Ext(b))
	b = strings.NewReplacer("_", " ", "-", " ").Replace(b)
	return strings.TrimSpace(b)
}

// Result is one list page.
type Result struct {
	Cards []Card
	// Next/Prev are set when there is a page in that direction.
	Next, Prev *Cursor
	// Total is the number of matches, counted up to CountCap.
	Total     int
	TotalMore bool
}

// CountCap bounds the match count so counting never scans a million rows.
const CountCap = 10000

type sortSpec struct {
	key      string // SQL expression of the sort key
	desc     bool
	nullable bool
	idKey    bool // the key is the media id itself (newest/oldest)
}

func (f Filter) sortSpec() sortSpec {
	switch f.Sort {
	case "oldest":
		return sortSpec{key: "m.id", desc: false, idKey: true}
	case "rating":
		return sortSpec{key: "m.rating", desc: true}
	case "size":
		return sortSpec{key: "m.filesize", desc: true, nullable: true}
	case "random":
		seed := f.Seed
		if seed <= 0 {
			seed = 1
		}
		return sortSpec{key: fmt.Sprintf("((m.id * 7919 + %d) %% 1000003)", seed), desc: false}
	}
	return sortSpec{key: "m.id", desc: true, idKey: true}
}

// keysetCond is the predicate "strictly after c" in direction desc.
func keysetCond(s sortSpec, c Cursor, desc bool) (string, []any) {
	lt := "<"
	if !desc {
		lt = ">"
	}
	if s.idKey {
		return s.key + " " + lt + " ?", []any{c.ID}
	}
	if s.nullable {
		// NULLs sort lowest in SQLite: last when descending, first ascending.
		if c.KeyNull {
			if desc {
				return "(" + s.key + " IS NULL AND m.id " + lt + " ?)", []any{c.ID}
			}
			return "(" + s.key + " IS NOT NULL OR m.id " + lt + " ?)", []any{c.ID}
		}
		if desc {
			return "(" + s.key + " " + lt + " ? OR (" + s.key + " = ? AND m.id " + lt + " ?) OR " + s.key + " IS NULL)", []any{c.Key, c.Key, c.ID}
		}
		return "(" + s.key + " " + lt + " ? OR (" + s.key + " = ? AND m.id " + lt + " ?))", []any{c.Key, c.Key, c.ID}
	}
	return "(" + s.key + " " + lt + " ? OR (" + s.key + " = ? AND m.id " + lt + " ?))", []any{c.Key, c.Key, c.ID}
}

// keysetParts splits "strictly after c" into seeks the planner can serve
// from the sort key's index (whose entries end in the rowid): first the
// same key with an id beyond c, then a key beyond c's. The single OR of
// keysetCond made SQLite walk every row of c's key before c (4 s at 1M
// media for a prev/next under sort=rating). An id key is one seek already.
func keysetParts(s sortSpec, c Cursor, desc bool) []keysetPart {
	if s.idKey {
		cond, args := keysetCond(s, c, desc)
		return []keysetPart{{cond, args}}
	}
	lt := "<"
	if !desc {
		lt = ">"
	}
	if s.nullable && c.KeyNull {
		// NULLs sort lowest: last when descending, first ascending.
		parts := []keysetPart{{s.key + " IS NULL AND m.id " + lt + " ?", []any{c.ID}}}
		if !desc {
			parts = append(parts, keysetPart{s.key + " IS NOT NULL", nil})
		}
		return parts
	}
	parts := []keysetPart{{s.key + " = ? AND m.id " + lt + " ?", []any{c.Key, c.ID}}, {s.key + " " + lt + " ?", []any{c.Key}}}
	if s.nullable && desc {
		parts = append(parts, keysetPart{s.key + " IS NULL", nil})
	}
	return parts
}

// keysetPart is one seek of keysetParts.
type keysetPart struct {
	cond string
	args []any
}

func orderBy(s sortSpec, desc bool) string {
	dir := " ASC"
	if desc {
		dir = " DESC"
	}
	if s.idKey {
		return s.key + dir
	}
	return s.key + dir + ", m.id" + dir
}

const cardColumns = `m.id, m.path, m.type, COALESCE(m.width,0), COALESCE(m.height,0), COALESCE(m.duration,0),
	COALESCE(m.filesize,0), m.rating, m.has_nsfw, COALESCE(m.status,''), COALESCE(m.lifecycle_status,''),
	COALESCE(m.quality_status,''), COALESCE(m.status_vote,''), m.is_active, m.is_deleted, COALESCE(m.hash,''),
	COALESCE(m.imported_at,'')`

// List returns one page of cards matching f. q is the read handle.
func List(ctx context.Context, q *sql.DB, f Filter, pg Page, now int64) (Result, error) {
	if pg.Limit <= 0 || pg.Limit > 500 {
		pg.Limit = PageSize
	}
	qs, err := f.source(ctx, q, now)
	if err != nil {
		return Result{}, fmt.Errorf("list media: %w", err)
	}
	reverse := false
	qdesc := qs.s.desc
	after := pg.After
	switch {
	case pg.After != nil:
	case pg.Before != nil:
		reverse, qdesc, after = true, !qdesc, pg.Before
	case f.Jump != nil && qs.s.idKey:
		c, ok, err := jumpStart(ctx, q, *f.Jump, qdesc)
		if err != nil || !ok {
			return Result{}, err // nothing imported then or before: an empty page
		}
		after = &c
	case f.Page > 1:
		c, ok, err := qs.pageStart(ctx, q, f.Page, pg.Limit)
		if err != nil || !ok {
			return Result{}, err // past the end: an empty page
		}
		after = &c
	}
	sqlText, args := qs.query(cardColumns, after, qdesc, pg.Limit+1, 0)
	rows, err := q.QueryContext(ctx, sqlText, args...)
	if err != nil {
		return Result{}, fmt.Errorf("list media: %w", db.Classify(err))
	}
	var cards []Card
	for rows.Next() {
		var c Card
		var key sql.NullInt64
		if err := rows.Scan(&c.ID, &c.Path, &c.Type, &c.Width, &c.Height, &c.Duration, &c.Filesize, &c.Rating,
			&c.NSFW, &c.Status, &c.Lifecycle, &c.Quality, &c.Vote, &c.Active, &c.Deleted, &c.Hash, &c.ImportedAt, &key); err != nil {
			rows.Close()
			return Result{}, fmt.Errorf("scan media row: %w", db.Classify(err))
		}
		c.sortKey, c.sortKeyNull = key.Int64, !key.Valid
		c.Name = filepath.Base(strings.ReplaceAll(c.Path, `\`, "/"))
		cards = append(cards, c)
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return Result{}, fmt.Errorf("list media: %w", db.Classify(err))
	}
	rows.Close()
	more := len(cards) > pg.Limit
	if more {
		cards = cards[:pg.Limit]
	}
	if reverse {
		for i, j := 0, len(cards)-1; i < j; i, j = i+1, j-1 {
			cards[i], cards[j] = cards[j], cards[i]
		}
	}
	res := Result{Cards: cards}
	if len(cards) > 0 {
		first, last := cards[0].Cursor(), cards[len(cards)-1].Cursor()
		switch {
		case reverse:
			res.Next = &last
			if more {
				res.Prev = &first
			}
		default:
			if after != nil {
				res.Prev = &first
			}
			if more {
				res.Next = &last
			}
		}
	}
	if err := FillCards(ctx, q, res.Cards); err != nil {
		return Result{}, err
	}
	return res, nil
}

// pageStart is the keyset position just before the legacy numbered page
// n: the sort key and id of the last match of page n−1, ok false past the
// end. Only those two columns are read, and the page itself is then a
// keyset page like every next link, so the cards and their batched data
// are read for one page only. The walk to the start still visits every
// earlier match (SQLite keeps no positions); the list's own links are
// keyset links, so only an old ?p= URL pays it. An index over the default
// filter (is_deleted, has_nsfw) made the walk index-only but, without
// ANALYZE statistics, drew sorted filter lists onto it (1.2 s instead of
// 12 ms for type+rating sorted by rating).
func (qs querySource) pageStart(ctx context.Context, q *sql.DB, n, limit int) (Cursor, bool, error) {
	sqlText, args := qs.query("m.id", nil, qs.s.desc, 1, (n-1)*limit-1)
	var c Cursor
	var key sql.NullInt64
	switch err := q.QueryRowContext(ctx, sqlText, args...).Scan(&c.ID, &key); {
	case errors.Is(err, sql.ErrNoRows):
		return Cursor{}, false, nil
	case err != nil:
		return Cursor{}, false, fmt.Errorf("list media: page %d: %w", n, db.Classify(err))
	}
	c.Key, c.KeyNull = key.Int64, !key.Valid
	return c, true, nil
}

// jumpStart is the keyset position of a jump to a date (Filter.Jump) in
// an id-ordered list: just above the last media imported before the
// period ends (newest first) or just below the first imported from its
// start (oldest first). Ids follow import order, so the page shows the
// period's media at its top; one seek of idx_media_imported_at (its rowid
// breaks ties), whatever the position.
func jumpStart(ctx context.Context, q *sql.DB, ti query.TimeInterval, desc bool) (Cursor, bool, error) {
	sqlText, arg, step := "SELECT id FROM media WHERE imported_at < ? ORDER BY imported_at DESC, id DESC LIMIT 1", ti.To, int64(1)
	if !desc {
		sqlText, arg, step = "SELECT id FROM media WHERE imported_at >= ? ORDER BY imported_at, id LIMIT 1", ti.From, -1
	}
	if arg.IsZero() { // an open end (2025-06.. newest first): the list's own start
		if desc {
			return Cursor{Key: math.MaxInt64, ID: math.MaxInt64}, true, nil
		}
		return Cursor{}, true, nil
	}
	var id int64
	switch err := q.QueryRowContext(ctx, sqlText, svtime.Format(arg)).Scan(&id); {
	case errors.Is(err, sql.ErrNoRows):
		return Cursor{}, false, nil
	case err != nil:
		return Cursor{}, false, fmt.Errorf("list media: jump to date: %w", db.Classify(err))
	}
	return Cursor{Key: id + step, ID: id + step}, true, nil
}

// querySource is an ordered query over f's matches: FROM, sort and WHERE,
// plus — for a text search driven by the index while media are marked for
// folding (schema 0304) — a second arm over the marked media, whose
// matches the LIKE reference decides. Both arms are ordered by the same
// key, so a UNION ALL ... ORDER BY merges them and still stops at the page.
type querySource struct {
	from  string
	s     sortSpec
	where string
	args  []any
	// markedWhere is the WHERE of the marked arm ("" when none).
	markedWhere string
	markedArgs  []any
}

// sortKeyAlias names the sort key column in both arms (a compound ORDER BY
// refers to result columns).
const sortKeyAlias = "sort_key"

// query is "SELECT cols, key ... WHERE where [AND keyset] ORDER BY key
// LIMIT ? OFFSET ?" over every arm. after is the keyset position (nil:
// none), in direction desc.
func (qs querySource) query(cols string, after *Cursor, desc bool, limit, offset int) (string, []any) {
	return qs.queryWith(cols, func(s sortSpec) (string, []any) {
		if after == nil {
			return "", nil
		}
		return keysetCond(s, *after, desc)
	}, desc, limit, offset)
}

// queryWith is query with the keyset condition of each arm from cond
// ("" for none), given the arm's sort spec.
func (qs querySource) queryWith(cols string, cond func(s sortSpec) (string, []any), desc bool, limit, offset int) (string, []any) {
	arm := func(from, where string, wargs []any, s sortSpec) (string, []any) {
		args := append([]any(nil), wargs...)
		if c, a := cond(s); c != "" {
			where += " AND " + c
			args = append(args, a...)
		}
		return "SELECT " + cols + ", " + s.key + " AS " + sortKeyAlias + " FROM " + from + " WHERE " + where, args
	}
	text, args := arm(qs.from, qs.where, qs.args, qs.s)
	order := orderBy(qs.s, desc)
	if qs.markedWhere != "" {
		ms := qs.s
		// fp.media_id equals m.id and f.docid of the first arm; keyed by
		// it the arm walks the marks' primary key in order and the merge
		// stops at the page. Keyed by m.id SQLite sorted every marked
		// match first: 9 s per search at 1M media while the fold of
		// schema 0306 ran.
		ms.key = "fp.media_id"
		t2, a2 := arm(markedFrom, qs.markedWhere, qs.markedArgs, ms)
		text += " UNION ALL " + t2
		args = append(args, a2...)
		// Only id keys are driven (ftsDriven), so the key alone orders.
		order = strings.Replace(order, qs.s.key, sortKeyAlias, 1)
	}
	return text + " ORDER BY " + order + " LIMIT ? OFFSET ?", append(args, limit, offset)
}

// source builds the querySource. A text search in id order walks the
// index in docid order and stops at the page (search.go, ftsDriven; CROSS
// JOIN keeps f outermost); other text searches use the index as an id set
// or a probe (chooseTextMode).
func (f Filter) source(ctx context.Context, q *sql.DB, now int64) (querySource, error) {
	qs := querySource{from: "media m", s: f.sortSpec()}
	f, err := f.withProbes(ctx, q, now, pageProbe)
	if err != nil {
		return qs, err
	}
	if f.ftsDriven() {
		qs.from, qs.s.key = ftsFrom, "f.docid"
		qs.where, qs.args = f.where(now, textJoined)
		current, err := indexCurrent(ctx, q)
		if err != nil {
			return qs, err
		}
		if !current {
			qs.markedWhere, qs.markedArgs = f.where(now, textMarked)
		}
		return qs, nil
	}
	mode, err := f.chooseTextMode(ctx, q)
	if err != nil {
		return qs, err
	}
	qs.where, qs.args = f.where(now, mode)
	return qs, nil
}

// Count counts matches of f up to CountCap (more reports the cap was hit).
func Count(ctx context.Context, q *sql.DB, f Filter, now int64) (n int, more bool, err error) {
	if f, err = f.withProbes(ctx, q, now, countProbe); err != nil {
		return 0, false, fmt.Errorf("count media: %w", err)
	}
	count := func(from string, mode textMode) (int, error) {
		where, args := f.where(now, mode)
		var c int
		err := q.QueryRowContext(ctx, "SELECT count(*) FROM (SELECT 1 FROM "+from+" WHERE "+where+" LIMIT ?)", append(args, CountCap+1)...).Scan(&c)
		if err != nil {
			return 0, fmt.Errorf("count media: %w", db.Classify(err))
		}
		return c, nil
	}
	if !f.ftsJoinable() {
		n, err = count("media m", textIDSet)
	} else {
		// A text query counts from the index, so the cap ends the walk
		// instead of first collecting every matching id; marked media
		// (excluded there) are counted by the LIKE reference.
		var current bool
		if current, err = indexCurrent(ctx, q); err != nil {
			return 0, false, fmt.Errorf("count media: %w", err)
		}
		n, err = count(ftsFrom, textJoined)
		if err == nil && !current && n <= CountCap {
			var m int
			m, err = count(markedFrom, textMarked)
			n += m
		}
	}
	if err != nil {
		return 0, false, err
	}
	if n > CountCap {
		return CountCap, true, nil
	}
	return n, false, nil
}

// featuredAge is a media's age key; its text must equal the expression of
// idx_media_age (schema 0303).
const featuredAge = "COALESCE(m.created_at, m.imported_at)"

// Featured returns the Featureview: the n lowest-activity cards of f,
// ordered by activity score, then age, then id. Ordering every match by a
// computed score cost seconds at 1M media, so the candidates come from two
// small sets: never-clicked media, whose score falls with age (the first n
// of idx_media_age in order are theirs), and clicked media (media_activity,
// scored one by one).
func Featured(ctx context.Context, q *sql.DB, f Filter, n int, now int64) ([]Card, error) {
	f, err := f.withProbes(ctx, q, now, pageProbe)
	if err != nil {
		return nil, fmt.Errorf("featureview: %w", err)
	}
	where, wargs := f.Where(now)
	sel := "SELECT " + cardColumns + ", " + ActivityScoreExpr + " AS score, " + featuredAge + " AS age FROM media m "
	// INDEXED BY: with an equality filter such as has_nsfw = 0 the planner
	// prefers that index and sorts every match (6 s at 1M media); walking
	// the age index in order stops after n rows. A very selective filter
	// walks further, at worst the whole index — the old cost.
	sqlText := "SELECT * FROM (SELECT * FROM (" + sel + "INDEXED BY idx_media_age WHERE " + where +
		" AND NOT EXISTS (SELECT 1 FROM media_activity a WHERE a.media_id = m.id) ORDER BY " + featuredAge + ", m.id LIMIT ?)" +
		" UNION ALL " + sel + "WHERE m.id IN (SELECT media_id FROM media_activity) AND " + where +
		") ORDER BY score, age, id LIMIT ?"
	var args []any
	args = append(append(append(args, now), wargs...), n)
	args = append(append(append(args, now), wargs...), n)
	rows, err := q.QueryContext(ctx, sqlText, args...)
	if err != nil {
		return nil, fmt.Errorf("featureview: %w", db.Classify(err))
	}
	defer rows.Close()
	var cards []Card
	for rows.Next() {
		var c Card
		var score int64
		var age sql.NullString
		if err := rows.Scan(&c.ID, &c.Path, &c.Type, &c.Width, &c.Height, &c.Duration, &c.Filesize, &c.Rating,
			&c.NSFW, &c.Status, &c.Lifecycle, &c.Quality, &c.Vote, &c.Active, &c.Deleted, &c.Hash, &c.ImportedAt, &score, &age); err != nil {
			return nil, fmt.Errorf("featureview row: %w", db.Classify(err))
		}
		c.sortKey = score
		c.Name = filepath.Base(strings.ReplaceAll(c.Path, `\`, "/"))
		cards = append(cards, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("featureview: %w", db.Classify(err))
	}
	rows.Close()
	return cards, FillCards(ctx, q, cards)
}

func idList(cards []Card) (string, []any, map[int64]*Card) {
	ph := make([]string, len(cards))
	args := make([]any, len(cards))
	idx := make(map[int64]*Card, len(cards))
	for i := range cards {
		ph[i] = "?"
		args[i] = cards[i].ID
		idx[cards[i].ID] = &cards[i]
	}
	return strings.Join(ph, ","), args, idx
}

// FillCards adds titles, tags, prompts, jobs and activity to cards with five
// queries in total (the original ran several queries and a stat per card).
func FillCards(ctx context.Context, q *sql.DB, cards []Card) error {
	if len(cards) == 0 {
		return nil
	}
	in, args, idx := idList(cards)
	// Meta: ascending id so the newest row of each key wins.
	rows, err := q.QueryContext(ctx, `SELECT media_id, meta_key, COALESCE(meta_value,'') FROM media_meta
		WHERE media_id IN (`+in+`) AND meta_key IN ('ollama.title','ollama.caption','title.override','integrity.ok',
		'curation.checked','variant.preferred_media_id','scan_stale','original_name','`+media.MetaNSFWManual+`') ORDER BY id`, args...)
	if err != nil {
		return fmt.Errorf("card meta: %w", db.Classify(err))
	}
	override := map[int64]string{}
	for rows.Next() {
		var id int64
		var k, v string
		if err := rows.Scan(&id, &k, &v); err != nil {
			rows.Close()
			return fmt.Errorf("card meta: %w", db.Classify(err))
		}
		c := idx[id]
		switch k {
		case "ollama.title":
			c.Title = v
		case "ollama.caption":
			c.Caption = v
		case "title.override":
			override[id] = v
		case "integrity.ok":
			c.Broken = v == "0"
		case "curation.checked":
			c.Checked = v == "1"
		case "variant.preferred_media_id":
			c.HDID, _ = strconv.ParseInt(v, 10, 64)
		case "scan_stale":
			c.ScanStale = v == "1"
		case "original_name":
			c.OriginalName = v
		case media.MetaNSFWManual:
			c.NSFWLocked = true
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("card meta: %w", db.Classify(err))
	}
	for id, v := range override {
		if v != "" {
			idx[id].Title = v
		}
	}
	counts := []struct {
		sql string
		set func(c *Card, n int64, s string)
	}{
		{`SELECT media_id, count(*), COALESCE(MAX(CASE WHEN model IS NOT NULL THEN model END),'') FROM prompts WHERE media_id IN (` + in + `) GROUP BY media_id`,
			func(c *Card, n int64, s string) { c.HasPrompt = n > 0; c.Model = s }},
		{`SELECT media_id, count(*), '' FROM media_tags WHERE media_id IN (` + in + `) GROUP BY media_id`,
			func(c *Card, n int64, _ string) { c.TagCount = int(n) }},
		{`SELECT media_id, count(*), '' FROM jobs WHERE media_id IN (` + in + `) AND status IN ('queued','running') GROUP BY media_id`,
			func(c *Card, n int64, _ string) { c.OpenJobs = int(n) }},
		{`SELECT media_id, clicks, '' FROM media_activity WHERE media_id IN (` + in + `)`,
			func(c *Card, n int64, _ string) { c.Clicks = n }},
	}
	for _, cq := range counts {
		rows, err := q.QueryContext(ctx, cq.sql, args...)
		if err != nil {
			return fmt.Errorf("card details: %w", db.Classify(err))
		}
		for rows.Next() {
			var id, n int64
			var s string
			if err := rows.Scan(&id, &n, &s); err != nil {
				rows.Close()
				return fmt.Errorf("card details: %w", db.Classify(err))
			}
			cq.set(idx[id], n, s)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fmt.Errorf("card details: %w", db.Classify(err))
		}
	}
	return nil
}
