package query

import (
	"strings"
	"time"
)

// TEMPORARY (branch qcompile): stands in for the parser until it is merged from main.

type Options struct{ Now time.Time }

func Parse(s string, opt Options) (Node, error) {
	if len(s) > MaxQueryBytes {
		return nil, &Error{Code: CodeTooLong, Msg: "too long"}
	}
	var items []Node
	for q := strings.TrimSpace(s); q != ""; q = strings.TrimSpace(q) {
		if q[0] == '"' {
			end := strings.IndexByte(q[1:], '"')
			if end < 0 {
				return nil, &Error{Code: CodeSyntax, Pos: strings.Index(s, `"`), Msg: "unbalanced quote"}
			}
			items = append(items, &Text{Value: q[1 : 1+end], Phrase: true})
			q = q[2+end:]
			continue
		}
		end := strings.IndexAny(q, " \t\"")
		if end < 0 {
			end = len(q)
		}
		items = append(items, &Text{Value: q[:end]})
		q = q[end:]
	}
	switch len(items) {
	case 0:
		return nil, nil
	case 1:
		return items[0], nil
	}
	return &And{Items: items}, nil
}
