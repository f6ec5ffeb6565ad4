package db

import (
	"context"
	"strings"
)

// MaxParams bounds the bound parameters of one multi-row statement
// (SQLite builds before 3.32 allow 999).
const MaxParams = 999

// ValuesSQL is head + n tuples of cols placeholders ("(?,?),(?,?)") + tail.
func ValuesSQL(head string, cols, n int, tail string) string {
	tuple := "(" + strings.Repeat("?,", cols-1) + "?)"
	var sb strings.Builder
	sb.Grow(len(head) + n*(len(tuple)+1) + len(tail))
	sb.WriteString(head)
	for i := 0; i < n; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(tuple)
	}
	sb.WriteString(tail)
	return sb.String()
}

// MultiInsert runs head + "(?,…),(?,…)…" + tail for rows of cols values
// each (args holds them row after row), in as few statements as MaxParams
// allows. Full chunks share one SQL text, so a statement cache prepares it
// once. Errors are Classify'd.
func MultiInsert(ctx context.Context, q Execer, head, tail string, cols int, args []any) error {
	per := MaxParams / cols
	for len(args) > 0 {
		n := min(len(args)/cols, per)
		if _, err := q.ExecContext(ctx, ValuesSQL(head, cols, n, tail), args[:n*cols]...); err != nil {
			return Classify(err)
		}
		args = args[n*cols:]
	}
	return nil
}
