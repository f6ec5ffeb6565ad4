package query

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// MaxDepth bounds the nesting of parentheses and negations: the catalog
// turns each level into nested SQL expressions and SQLite refuses
// expressions deeper than 1000, so a 4 KB query of "((((…" or "----…"
// must stop here with CodeTooLong instead of failing in SQL.
const MaxDepth = 32

// Options are the inputs of Parse that do not come from the query text.
type Options struct {
	// Now resolves relative dates (imported:7d). The zero value means
	// time.Now(); callers that need repeatable results pass it.
	Now time.Time
}

// Parse reads a query. An empty or whitespace-only query is (nil, nil),
// which matches everything. Any other failure is a *Error with the byte
// position of the problem; Parse never panics.
//
// Decisions beyond the grammar in the package doc:
//   - a word is everything up to whitespace; "(" inside a word is literal
//     and must be closed inside the same word (image(1).png is one word),
//     a ")" with no "(" in the word ends it; a '"' inside a word is literal;
//   - "-" is negation only at the start of a term (sci-fi is one word) and
//     must touch what it negates ("- a" is an error);
//   - NAME:… where NAME is letters, digits and "_" is always a field term,
//     so http://x or a:b give CodeUnknownField (quote the text to search
//     for it); text before a colon that is not such a name (12:30) is a word;
//   - words with search-engine syntax (*, ^, AND, NOT, NEAR) are plain
//     words; the catalog escapes them;
//   - for number, size, duration, ratio, seed and date fields quotes are
//     mere delimiters (steps:"30" is steps:30, Quoted stays false); for
//     text and path fields Quoted is kept (a phrase match);
//   - a range is lo..hi on an unquoted value without an operator; it is
//     inclusive for numbers, and for dates covers all of hi's period;
//     a reversed or empty range is CodeBadValue;
//   - relative dates (7d, 24h, 2w, 3m months, 1y) denote the instant
//     now−N: imported:7d is [now−7d, open) (open, not "until now", so a
//     clock a little ahead still matches), > and >= mean later than it,
//     < and <= earlier, and in a range it is the bound itself;
//   - tag:name* keeps the * in Raw: the catalog reads it as a prefix.
func Parse(s string, opt Options) (Node, error) {
	if len(s) > MaxQueryBytes {
		return nil, &Error{Code: CodeTooLong, Pos: MaxQueryBytes,
			Msg: fmt.Sprintf("the query is %d bytes long; at most %d are allowed: shorten it", len(s), MaxQueryBytes)}
	}
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	if !utf8.ValidString(s) {
		i := 0
		for i < len(s) {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				break
			}
			i += n
		}
		return nil, errAt(CodeSyntax, i, "", "the query is not valid UTF-8 text at position %d: retype it", i)
	}
	now := opt.Now
	if now.IsZero() {
		now = time.Now()
	}
	p := &parser{lx: lexer{s: s, now: now.UTC()}}
	n, err := p.parseOr(0)
	if err != nil {
		return nil, err
	}
	t, err := p.peek()
	if err != nil {
		return nil, err
	}
	if t.kind == tRParen {
		return nil, errAt(CodeSyntax, t.pos, "", "unmatched \")\" at position %d: remove it or add a \"(\" before it", t.pos)
	}
	if n == nil { // only ")" can stop the top level early, handled above
		return nil, errAt(CodeSyntax, t.pos, "", "nothing to search for at position %d", t.pos)
	}
	return n, nil
}

func errAt(code string, pos int, field, format string, args ...any) *Error {
	return &Error{Code: code, Pos: pos, Field: field, Msg: fmt.Sprintf(format, args...)}
}

type tokKind int

const (
	tEOF tokKind = iota
	tLParen
	tRParen
	tNot
	tOr
	tLeaf
)

type token struct {
	kind tokKind
	pos  int
	leaf Node
}

type parser struct {
	lx     lexer
	tok    token
	has    bool
	leaves int
}

func (p *parser) peek() (token, error) {
	if !p.has {
		t, err := p.lx.next()
		if err != nil {
			return token{}, err
		}
		p.tok, p.has = t, true
	}
	return p.tok, nil
}

func (p *parser) take() (token, error) {
	t, err := p.peek()
	p.has = false
	return t, err
}

// parseOr returns nil (and no error) when there is no term at all before
// ")" or the end; the caller knows which error that is.
func (p *parser) parseOr(depth int) (Node, error) {
	first, err := p.parseAnd(depth)
	if err != nil {
		return nil, err
	}
	if first == nil {
		t, err := p.peek()
		if err != nil {
			return nil, err
		}
		if t.kind == tOr {
			return nil, errAt(CodeSyntax, t.pos, "", "OR at position %d has no search term before it: write a OR b", t.pos)
		}
		return nil, nil
	}
	items := []Node{first}
	for {
		t, err := p.peek()
		if err != nil {
			return nil, err
		}
		if t.kind != tOr {
			break
		}
		p.has = false
		next, err := p.parseAnd(depth)
		if err != nil {
			return nil, err
		}
		if next == nil {
			return nil, errAt(CodeSyntax, t.pos, "", "OR at position %d has no search term after it: write a OR b", t.pos)
		}
		items = append(items, next)
	}
	return mkOr(items), nil
}

func (p *parser) parseAnd(depth int) (Node, error) {
	var items []Node
	for {
		t, err := p.peek()
		if err != nil {
			return nil, err
		}
		if t.kind == tEOF || t.kind == tRParen || t.kind == tOr {
			break
		}
		n, err := p.parseUnary(depth)
		if err != nil {
			return nil, err
		}
		items = append(items, n)
	}
	if len(items) == 0 {
		return nil, nil
	}
	return Join(items...), nil
}

func (p *parser) parseUnary(depth int) (Node, error) {
	t, err := p.take()
	if err != nil {
		return nil, err
	}
	switch t.kind {
	case tNot, tLParen:
		if depth >= MaxDepth {
			return nil, errAt(CodeTooLong, t.pos, "", "the query nests parentheses and \"-\" more than %d levels deep at position %d: simplify it", MaxDepth, t.pos)
		}
	}
	switch t.kind {
	case tNot:
		nt, err := p.peek()
		if err != nil {
			return nil, err
		}
		if nt.kind != tLeaf && nt.kind != tLParen && nt.kind != tNot {
			return nil, errAt(CodeSyntax, t.pos, "", "\"-\" at position %d must be followed directly by the word or term to exclude, like -tag:nsfw", t.pos)
		}
		x, err := p.parseUnary(depth + 1)
		if err != nil {
			return nil, err
		}
		return &Not{X: x}, nil
	case tLParen:
		x, err := p.parseOr(depth + 1)
		if err != nil {
			return nil, err
		}
		end, err := p.take()
		if err != nil {
			return nil, err
		}
		if end.kind != tRParen {
			return nil, errAt(CodeSyntax, t.pos, "", "the \"(\" at position %d is never closed: add a \")\"", t.pos)
		}
		if x == nil {
			return nil, errAt(CodeSyntax, t.pos, "", "empty parentheses at position %d: put search terms inside or remove them", t.pos)
		}
		return x, nil
	case tLeaf:
		p.leaves++
		if p.leaves > MaxTerms {
			return nil, errAt(CodeTooLong, t.pos, "", "the query has more than %d words and terms (at position %d): shorten it", MaxTerms, t.pos)
		}
		return t.leaf, nil
	}
	// tOr, tRParen and tEOF never reach here: parseAnd stops before them
	// and tNot checks what follows.
	return nil, errAt(CodeSyntax, t.pos, "", "unexpected text at position %d", t.pos)
}

// lexer hands out one token at a time so the first problem from the left
// is the one reported.
type lexer struct {
	s   string
	i   int
	now time.Time
}

func (l *lexer) spaceAt(i int) bool {
	r, _ := utf8.DecodeRuneInString(l.s[i:])
	return unicode.IsSpace(r)
}

// endsValue reports whether position i cannot start a value: the end,
// whitespace or a closing parenthesis.
func (l *lexer) endsValue(i int) bool {
	return i >= len(l.s) || l.spaceAt(i) || l.s[i] == ')'
}

func (l *lexer) next() (token, error) {
	s := l.s
	for l.i < len(s) {
		r, n := utf8.DecodeRuneInString(s[l.i:])
		if !unicode.IsSpace(r) {
			break
		}
		l.i += n
	}
	start := l.i
	if start >= len(s) {
		return token{kind: tEOF, pos: start}, nil
	}
	switch s[start] {
	case '(':
		l.i++
		return token{kind: tLParen, pos: start}, nil
	case ')':
		l.i++
		return token{kind: tRParen, pos: start}, nil
	case '-':
		if l.endsValue(start + 1) {
			return token{}, errAt(CodeSyntax, start, "", "\"-\" at position %d must be followed directly by the word or term to exclude, like -tag:nsfw", start)
		}
		l.i++
		return token{kind: tNot, pos: start}, nil
	case '"':
		v, end, err := l.quoted(start)
		if err != nil {
			return token{}, err
		}
		if strings.TrimSpace(v) == "" {
			return token{}, errAt(CodeSyntax, start, "", "empty quotes at position %d: put words inside or remove them", start)
		}
		l.i = end
		return token{kind: tLeaf, pos: start, leaf: &Text{Value: v, Phrase: true, Pos: start}}, nil
	}
	if j := identEnd(s, start); j > start && j < len(s) && s[j] == ':' {
		t, err := l.term(start, j)
		if err != nil {
			return token{}, err
		}
		return token{kind: tLeaf, pos: start, leaf: t}, nil
	}
	// "OR(" and `OR"` start a group or phrase after the operator.
	if strings.HasPrefix(s[start:], "OR") && start+2 < len(s) && (s[start+2] == '(' || s[start+2] == '"') {
		l.i = start + 2
		return token{kind: tOr, pos: start}, nil
	}
	w, end, err := l.word(start)
	if err != nil {
		return token{}, err
	}
	l.i = end
	if w == "OR" {
		return token{kind: tOr, pos: start}, nil
	}
	return token{kind: tLeaf, pos: start, leaf: &Text{Value: w, Pos: start}}, nil
}

// identEnd returns the end of an ASCII field name starting at i (i when
// there is none).
func identEnd(s string, i int) int {
	j := i
	for j < len(s) {
		c := s[j]
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || j > i && c >= '0' && c <= '9' {
			j++
			continue
		}
		break
	}
	return j
}

// word scans an unquoted word from i: up to whitespace, or up to a ")"
// that no "(" inside the word opened.
func (l *lexer) word(i int) (string, int, error) {
	s := l.s
	var open []int
	j := i
	for j < len(s) {
		r, n := utf8.DecodeRuneInString(s[j:])
		if unicode.IsSpace(r) {
			break
		}
		if r == '(' {
			open = append(open, j)
		} else if r == ')' {
			if len(open) == 0 {
				break
			}
			open = open[:len(open)-1]
		}
		j += n
	}
	if len(open) > 0 {
		return "", 0, errAt(CodeSyntax, open[0], "", "the \"(\" at position %d inside %q is never closed: close it or put the text in quotes", open[0], s[i:j])
	}
	return s[i:j], j, nil
}

// quoted scans a "…" starting at the quote at i; \" is a literal quote
// and \\ a literal backslash, any other backslash is kept as typed.
func (l *lexer) quoted(i int) (string, int, error) {
	s := l.s
	if k := strings.IndexAny(s[i+1:], "\"\\"); k >= 0 && s[i+1+k] == '"' {
		return s[i+1 : i+1+k], i + 2 + k, nil // no escapes: no copy
	}
	var b strings.Builder
	j := i + 1
	for j < len(s) {
		c := s[j]
		switch {
		case c == '\\' && j+1 < len(s) && (s[j+1] == '"' || s[j+1] == '\\'):
			b.WriteByte(s[j+1])
			j += 2
		case c == '"':
			return b.String(), j + 1, nil
		default:
			b.WriteByte(c)
			j++
		}
	}
	return "", 0, errAt(CodeSyntax, i, "", "the quote at position %d is never closed: add a closing \"", i)
}

// term scans NAME:[op]value with the name at [i, colon).
func (l *lexer) term(i, colon int) (*Term, error) {
	s := l.s
	name := s[i:colon]
	field, spec, ok := Lookup(name)
	if !ok {
		hint := ""
		if near := nearField(name); near != "" {
			hint = " (did you mean " + near + ":?)"
		}
		return nil, errAt(CodeUnknownField, i, name,
			"unknown field %q at position %d%s; fields are: %s (to search for text with a colon, put it in quotes)",
			name, i, hint, strings.Join(FieldNames(), ", "))
	}
	if l.endsValue(colon + 1) {
		return nil, errAt(CodeSyntax, colon, field, "%s: at position %d needs a value right after the colon, like %s", name, colon, example(spec.Kind, name))
	}
	t := &Term{Field: field, Pos: i}
	v := colon + 1
	opPos := v
	switch {
	case strings.HasPrefix(s[v:], ">="):
		t.Op, v = OpGe, v+2
	case strings.HasPrefix(s[v:], "<="):
		t.Op, v = OpLe, v+2
	case s[v] == '>':
		t.Op, v = OpGt, v+1
	case s[v] == '<':
		t.Op, v = OpLt, v+1
	}
	if t.Op != OpEq && l.endsValue(v) {
		return nil, errAt(CodeSyntax, opPos, field, "%s: needs a value after the comparison at position %d, like %s", name, opPos, example(spec.Kind, name))
	}
	var err error
	if s[v] == '"' {
		t.Raw, l.i, err = l.quoted(v)
		if err != nil {
			return nil, err
		}
		if strings.TrimSpace(t.Raw) == "" {
			return nil, errAt(CodeSyntax, v, field, "%s: at position %d has empty quotes: put the value inside", name, v)
		}
		t.Quoted = true
	} else {
		t.Raw, l.i, err = l.word(v)
		if err != nil {
			return nil, err
		}
	}
	if err := typeTerm(t, spec, name, opPos, v, l.now); err != nil {
		return nil, err
	}
	return t, nil
}

// nearField is the canonical field whose name or alias is within two
// typing mistakes of name ("modle" → model), "" if none is that close.
func nearField(name string) string {
	if len(name) > 20 { // no field name is that long
		return ""
	}
	name = strings.ToLower(name)
	best, bestD := "", 3
	try := func(cand, canonical string) {
		// Ties go to the smaller name, so map order does not matter.
		if d := editDistance(name, cand); d < len(cand) && (d < bestD || d == bestD && canonical < best) {
			best, bestD = canonical, d
		}
	}
	for _, f := range FieldNames() {
		try(f, f)
	}
	for a, f := range aliases {
		try(a, f)
	}
	return best
}

// editDistance is the optimal-string-alignment distance of two short
// ASCII names: Levenshtein with a swap of neighbours counting as one
// mistake (stpes → steps).
func editDistance(a, b string) int {
	rows := [3][]int{make([]int, len(b)+1), make([]int, len(b)+1), make([]int, len(b)+1)}
	for j := range rows[1] {
		rows[1][j] = j
	}
	for i := 1; i <= len(a); i++ {
		pp, prev, cur := rows[0], rows[1], rows[2]
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], pp[j-2]+1)
			}
		}
		rows[0], rows[1], rows[2] = prev, cur, pp
	}
	return rows[1][len(b)]
}
