package db

import (
	"context"
	"database/sql"
	"sync"
)

// StmtCache prepares each distinct statement once per pool and hands it to
// transactions with Tx.StmtContext, which database/sql prepares once per
// connection and then reuses. The driver has no statement cache of its
// own, so without this a multi-row INSERT of hundreds of placeholders is
// parsed again in every transaction. It is an Execer over the pool; In
// gives one over a transaction. Safe for concurrent use.
type StmtCache struct {
	db *sql.DB
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// NewStmtCache returns an empty cache over d; Close it when done.
func NewStmtCache(d *sql.DB) *StmtCache {
	return &StmtCache{db: d, m: map[string]*sql.Stmt{}}
}

// Prepare returns the cached statement for query, preparing it on first
// use.
func (c *StmtCache) Prepare(ctx context.Context, query string) (*sql.Stmt, error) {
	c.mu.Lock()
	st := c.m[query]
	c.mu.Unlock()
	if st != nil {
		return st, nil
	}
	// Prepared outside the lock: parsing must not serialise other users.
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, Classify(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.m[query]; old != nil {
		st.Close()
		return old, nil
	}
	c.m[query] = st
	return st, nil
}

// Close closes every cached statement.
func (c *StmtCache) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var first error
	for q, st := range c.m {
		if err := st.Close(); err != nil && first == nil {
			first = err
		}
		delete(c.m, q)
	}
	return first
}

// ExecContext runs query over the pool.
func (c *StmtCache) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := c.Prepare(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// QueryContext runs query over the pool.
func (c *StmtCache) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := c.Prepare(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// QueryRowContext runs query over the pool. A statement that fails to
// prepare runs unprepared, so its error surfaces from Scan (a *sql.Row
// cannot carry an error built outside database/sql).
func (c *StmtCache) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := c.Prepare(ctx, query)
	if err != nil {
		return c.db.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// In returns an Execer that runs the cached statements inside tx.
func (c *StmtCache) In(tx *sql.Tx) Execer { return txStmts{c: c, tx: tx} }

type txStmts struct {
	c  *StmtCache
	tx *sql.Tx
}

func (t txStmts) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := t.c.Prepare(ctx, query)
	if err != nil {
		return nil, err
	}
	return t.tx.StmtContext(ctx, st).ExecContext(ctx, args...)
}

func (t txStmts) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := t.c.Prepare(ctx, query)
	if err != nil {
		return nil, err
	}
	return t.tx.StmtContext(ctx, st).QueryContext(ctx, args...)
}

func (t txStmts) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := t.c.Prepare(ctx, query)
	if err != nil {
		return t.tx.QueryRowContext(ctx, query, args...)
	}
	return t.tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
}
