package db

import (
	"context"
	"fmt"
	"slices"
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

// InsertReturningIDs runs a multi-row INSERT … RETURNING id into an
// AUTOINCREMENT table and returns the ids in VALUES order. RETURNING's
// order is unspecified, but AUTOINCREMENT ids grow in the order the rows
// are inserted and the caller holds the write lock (a transaction), so
// the sorted ids are the rows' order. Errors are Classify'd.
func InsertReturningIDs(ctx context.Context, q Execer, query string, args []any, n int) ([]int64, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, Classify(err)
	}
	got := make([]int64, 0, n)
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, Classify(err)
		}
		got = append(got, id)
	}
	if err := rows.Close(); err != nil {
		return nil, Classify(err)
	}
	if err := rows.Err(); err != nil {
		return nil, Classify(err)
	}
	if len(got) != n {
		return nil, fmt.Errorf("%d ids for %d rows", len(got), n)
	}
	slices.Sort(got)
	return got, nil
}

// QueryIDs runs a query whose rows are one integer each (ids) and returns
// them in row order. Errors are Classify'd.
func QueryIDs(ctx context.Context, q Execer, query string, args ...any) ([]int64, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, Classify(err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, Classify(err)
		}
		out = append(out, id)
	}
	return out, Classify(rows.Err())
}
