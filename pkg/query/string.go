package query

import (
	"strings"
	"unicode"
)

// Join ANDs its items into one node: nil items are dropped, nested Ands
// flattened, one item is returned as is and none gives nil (match all).
// The catalog uses it to add the legacy URL filters to a parsed query.
func Join(items ...Node) Node {
	var out []Node
	for _, it := range items {
		switch x := it.(type) {
		case nil:
		case *And:
			if x == nil {
				continue
			}
			out = append(out, x.Items...)
		default:
			out = append(out, it)
		}
	}
	switch len(out) {
	case 0:
		return nil
	case 1:
		return out[0]
	}
	return &And{Items: out}
}

// mkOr builds an Or with nested Ors flattened (items are never nil).
func mkOr(items []Node) Node {
	if len(items) == 1 {
		return items[0]
	}
	var out []Node
	for _, it := range items {
		if o, ok := it.(*Or); ok {
			out = append(out, o.Items...)
			continue
		}
		out = append(out, it)
	}
	return &Or{Items: out}
}

// Walk calls fn for n and then, if fn returned true, for its children,
// depth first in query order. A nil n is not visited.
func Walk(n Node, fn func(Node) bool) {
	if n == nil || !fn(n) {
		return
	}
	switch x := n.(type) {
	case *And:
		for _, it := range x.Items {
			Walk(it, fn)
		}
	case *Or:
		for _, it := range x.Items {
			Walk(it, fn)
		}
	case *Not:
		Walk(x.X, fn)
	}
}

// Terms lists every field term of n in query order, negated ones
// included.
func Terms(n Node) []*Term {
	var out []*Term
	Walk(n, func(n Node) bool {
		if t, ok := n.(*Term); ok {
			out = append(out, t)
		}
		return true
	})
	return out
}

// String is the canonical form of n: canonical field names, operators
// without spaces, phrases in double quotes (\" inside, and \\ where a
// backslash would otherwise escape), " OR ",
// parentheses only where needed, values as typed. Parse(String(n))
// gives n back (positions aside) for every n that Parse returned; a
// built node whose word or value would not parse back unquoted is
// written quoted. String(nil) is "". It can be a few bytes longer than
// the query it came from (a"b"c becomes a"b" c), so near MaxQueryBytes
// it may no longer parse.
func String(n Node) string {
	var b strings.Builder
	write(&b, n)
	return b.String()
}

func write(b *strings.Builder, n Node) {
	switch x := n.(type) {
	case *And:
		writeItems(b, x.Items, " ")
	case *Or:
		writeItems(b, x.Items, " OR ")
	case *Not:
		b.WriteByte('-')
		if needsParens(x.X, true) {
			b.WriteByte('(')
			write(b, x.X)
			b.WriteByte(')')
		} else {
			write(b, x.X)
		}
	case *Text:
		if x.Phrase || !plainWord(x.Value) {
			quote(b, x.Value)
		} else {
			b.WriteString(x.Value)
		}
	case *Term:
		b.WriteString(x.Field)
		b.WriteByte(':')
		switch x.Op {
		case OpGt:
			b.WriteByte('>')
		case OpGe:
			b.WriteString(">=")
		case OpLt:
			b.WriteByte('<')
		case OpLe:
			b.WriteString("<=")
		case OpRange:
			b.WriteString(x.Raw)
			b.WriteString("..")
			b.WriteString(x.Hi)
			return
		}
		if x.Quoted || !plainValue(x.Raw) {
			quote(b, x.Raw)
		} else {
			b.WriteString(x.Raw)
		}
	}
}

// writeItems writes the items of an And (sep " ") or Or (sep " OR "),
// leaving out empty ones; an Or inside an And gets parentheses.
func writeItems(b *strings.Builder, items []Node, sep string) {
	first := true
	for _, it := range items {
		if empty(it) {
			continue
		}
		if !first {
			b.WriteString(sep)
		}
		first = false
		if sep == " " && needsParens(it, false) {
			b.WriteByte('(')
			write(b, it)
			b.WriteByte(')')
		} else {
			write(b, it)
		}
	}
}

// empty reports an And/Or without items (only built by hand), which
// String leaves out.
func empty(n Node) bool {
	switch x := n.(type) {
	case nil:
		return true
	case *And:
		return len(x.Items) == 0
	case *Or:
		return len(x.Items) == 0
	}
	return false
}

// needsParens: an Or inside an And, and any And/Or of several items
// under a Not.
func needsParens(n Node, underNot bool) bool {
	switch x := n.(type) {
	case *Or:
		return len(x.Items) > 1
	case *And:
		return underNot && len(x.Items) > 1
	}
	return false
}

// Quote writes s as a quoted phrase that Parse reads back as s (for
// callers building query text from values, e.g. a saved search).
func Quote(s string) string {
	var b strings.Builder
	quote(&b, s)
	return b.String()
}

func quote(b *strings.Builder, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		// A backslash needs doubling only where Parse would otherwise
		// read it as an escape (before " or \) or the closing quote
		// would become \" (at the end); C:\path stays as typed.
		if s[i] == '"' || s[i] == '\\' && (i+1 == len(s) || s[i+1] == '"' || s[i+1] == '\\') {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
}

// plainValue reports whether s reads back as the same unquoted field
// value: a plain token not starting with a comparison.
func plainValue(s string) bool {
	return plainToken(s) && s[0] != '<' && s[0] != '>'
}

// plainToken: non-empty, no whitespace, no leading quote, and
// parentheses the word scanner keeps.
func plainToken(s string) bool {
	if s == "" || s[0] == '"' {
		return false
	}
	depth := 0
	for _, r := range s {
		switch {
		case unicode.IsSpace(r):
			return false
		case r == '(':
			depth++
		case r == ')':
			if depth == 0 {
				return false
			}
			depth--
		}
	}
	return depth == 0
}

// plainWord reports whether s reads back as the same free word.
func plainWord(s string) bool {
	if !plainToken(s) || s == "OR" || s[0] == '-' || s[0] == '(' {
		return false
	}
	if strings.HasPrefix(s, "OR") && len(s) > 2 && (s[2] == '(' || s[2] == '"') {
		return false
	}
	j := identEnd(s, 0)
	return !(j > 0 && j < len(s) && s[j] == ':')
}
