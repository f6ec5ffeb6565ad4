// Package worddiff computes the shortest edit script between two sequences
// (Myers' O(ND) algorithm) and, on top of it, a word diff of two texts
// rendered with <ins>/<del>. It has no state and no dependencies beyond the
// standard library: the compare page, the lineage edges and the detail
// page's prompt history all diff through it.
package worddiff

import (
	"html"
	"html/template"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Op is one step of an edit script.
type Op int8

const (
	// Equal keeps an element present in both sequences.
	Equal Op = iota
	// Delete drops an element of the first sequence.
	Delete
	// Insert adds an element of the second sequence.
	Insert
)

// MaxEdits bounds the search: the trace Myers keeps grows with the square
// of the edit distance, so two texts further apart than this are reported
// as "all of a deleted, all of b inserted" (at that distance a finer diff
// says nothing a person could read anyway). 1000 edits cost at most about
// 4 MB of trace.
const MaxEdits = 1000

// Ops returns a shortest edit script turning a into b: Equal and Delete
// consume one element of a, Equal and Insert one of b. Within a change the
// deletions come before the insertions.
func Ops[T comparable](a, b []T) []Op {
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	out := make([]Op, 0, len(a)+len(b))
	out = appendN(out, Equal, pre)
	out = append(out, middle(a[pre:len(a)-suf], b[pre:len(b)-suf])...)
	return appendN(out, Equal, suf)
}

func appendN(ops []Op, op Op, n int) []Op {
	for range n {
		ops = append(ops, op)
	}
	return ops
}

// middle is Myers' greedy forward search with a trace of the furthest
// reaching x per diagonal, then a walk back through the trace.
func middle[T comparable](a, b []T) []Op {
	n, m := len(a), len(b)
	if n == 0 || m == 0 {
		return appendN(appendN(nil, Delete, n), Insert, m)
	}
	limit := min(n+m, MaxEdits)
	off := limit + 1
	v := make([]int, 2*limit+3)
	// trace[d] is v over diagonals -d..d before step d (the state step d
	// reads), so the walk back finds where each step came from.
	var trace [][]int
	for d := 0; d <= limit; d++ {
		trace = append(trace, append([]int(nil), v[off-d:off+d+1]...))
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || (k != d && v[off+k-1] < v[off+k+1]) {
				x = v[off+k+1] // down: an insertion
			} else {
				x = v[off+k-1] + 1 // right: a deletion
			}
			y := x - k
			for x < n && y < m && a[x] == b[y] {
				x++
				y++
			}
			v[off+k] = x
			if x >= n && y >= m {
				return backtrack(trace, n, m)
			}
		}
	}
	return appendN(appendN(nil, Delete, n), Insert, m)
}

func backtrack(trace [][]int, n, m int) []Op {
	var rev []Op
	x, y := n, m
	for d := len(trace) - 1; d > 0; d-- {
		prev := trace[d] // index k+d
		k := x - y
		var pk int
		if k == -d || (k != d && prev[k-1+d] < prev[k+1+d]) {
			pk = k + 1
		} else {
			pk = k - 1
		}
		px := prev[pk+d]
		py := px - pk
		for x > px && y > py {
			rev = append(rev, Equal)
			x--
			y--
		}
		if x == px {
			rev = append(rev, Insert)
		} else {
			rev = append(rev, Delete)
		}
		x, y = px, py
	}
	rev = appendN(rev, Equal, x) // d = 0: the leading diagonal
	out := make([]Op, len(rev))
	for i, op := range rev {
		out[len(rev)-1-i] = op
	}
	return deletesFirst(out)
}

// deletesFirst orders each run of changes as all deletions, then all
// insertions (same script length, easier to read: "old → new").
func deletesFirst(ops []Op) []Op {
	for i := 0; i < len(ops); {
		if ops[i] == Equal {
			i++
			continue
		}
		j, dels := i, 0
		for ; j < len(ops) && ops[j] != Equal; j++ {
			if ops[j] == Delete {
				dels++
			}
		}
		for p := i; p < j; p++ {
			ops[p] = Insert
			if p-i < dels {
				ops[p] = Delete
			}
		}
		i = j
	}
	return ops
}

// Span is a run of text with one operation: what both texts share, what
// only the first has (Delete) or only the second (Insert).
type Span struct {
	Op   Op
	Text string
}

// token is a word or punctuation mark at s[start:end] followed by the
// whitespace up to s[next]; key (the text without that whitespace) is what
// is compared, so "a,  b" and "a, b" differ in nothing but spacing and diff
// as equal.
type token struct {
	key         string
	start, next int
}

// wordRune: letters, digits and the characters that stay inside a prompt
// word or number ("1.2", "high-res", "don't", "score_9").
func wordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '.' || r == '_' || r == '-' || r == '\'' || unicode.Is(unicode.Mn, r)
}

// tokens splits s into words and single punctuation marks (the "(", ":"
// and ")" of a "(word:1.2)" weight each on their own, so a weight change
// is a one-token change); leading whitespace is a token with an empty key.
// Keys are substrings of s: no copies.
func tokens(s string) []token {
	out := make([]token, 0, len(s)/2+1) // a prompt has a token every few bytes: one allocation
	skip := func(i int, in func(rune) bool) int {
		for i < len(s) {
			r, n := utf8.DecodeRuneInString(s[i:])
			if !in(r) {
				break
			}
			i += n
		}
		return i
	}
	for i := 0; i < len(s); {
		start := i
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case unicode.IsSpace(r):
			i = skip(i, unicode.IsSpace)
			out = append(out, token{start: start, next: i})
			continue
		case wordRune(r):
			i = skip(i, wordRune)
		default:
			i += n
		}
		end := i
		i = skip(i, unicode.IsSpace)
		out = append(out, token{key: s[start:end], start: start, next: i})
	}
	return out
}

// Words diffs two texts word by word. Equal spans carry b's spacing.
// Adjacent tokens with the same operation form one span, a substring of a
// (deletions) or b (the rest): no text is copied.
func Words(a, b string) []Span {
	ta, tb := tokens(a), tokens(b)
	ka, kb := make([]string, len(ta)), make([]string, len(tb))
	for i, t := range ta {
		ka[i] = t.key
	}
	for i, t := range tb {
		kb[i] = t.key
	}
	var out []Span
	// from/to: the open span's byte range in its source text.
	var from, to int
	flush := func() {
		if n := len(out); n > 0 {
			src := b
			if out[n-1].Op == Delete {
				src = a
			}
			out[n-1].Text = src[from:to]
		}
	}
	add := func(op Op, t token) {
		if n := len(out); n > 0 && out[n-1].Op == op && t.start == to {
			to = t.next
			return
		}
		flush()
		out = append(out, Span{Op: op})
		from, to = t.start, t.next
	}
	i, j := 0, 0
	for _, op := range Ops(ka, kb) {
		switch op {
		case Equal:
			add(Equal, tb[j])
			i++
			j++
		case Delete:
			add(Delete, ta[i])
			i++
		case Insert:
			add(Insert, tb[j])
			j++
		}
	}
	flush()
	return out
}

// Same reports whether a diff has no change.
func Same(spans []Span) bool {
	for _, s := range spans {
		if s.Op != Equal {
			return false
		}
	}
	return true
}

// Changes keeps only the deleted and inserted spans, trimmed, at most max
// of them (a short "what changed" for a lineage edge); more reports
// whether some were left out.
func Changes(spans []Span, max int) (out []Span, more bool) {
	for _, s := range spans {
		if s.Op == Equal {
			continue
		}
		t := strings.TrimSpace(s.Text)
		if t == "" {
			continue
		}
		if len(out) == max {
			return out, true
		}
		out = append(out, Span{s.Op, t})
	}
	return out, false
}

// HTML renders spans as escaped text with deletions in <del> and
// insertions in <ins>.
func HTML(spans []Span) template.HTML {
	var b strings.Builder
	for _, s := range spans {
		t := html.EscapeString(s.Text)
		switch s.Op {
		case Delete:
			b.WriteString("<del>" + t + "</del>")
		case Insert:
			b.WriteString("<ins>" + t + "</ins>")
		default:
			b.WriteString(t)
		}
	}
	return template.HTML(b.String()) // #nosec G203 -- every text is escaped above
}
