package db_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/db"
)

// TestStmtCache: one prepared statement per query text, usable over the
// pool and inside transactions (a rolled-back insert leaves nothing), a
// bad query's error surfaces, and Close empties the cache.
func TestStmtCache(t *testing.T) {
	ctx := context.Background()
	d, _ := openFresh(t)
	if _, err := d.Exec(`CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	c := db.NewStmtCache(d)
	defer c.Close()
	const ins = `INSERT INTO t(v) VALUES (?)`
	a, err := c.Prepare(ctx, ins)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := c.Prepare(ctx, ins); b != a {
		t.Fatal("second Prepare of the same text prepared again")
	}
	if _, err := c.ExecContext(ctx, ins, "pool"); err != nil {
		t.Fatal(err)
	}
	for i, commit := range []bool{true, false, true} {
		err := db.InTx(ctx, d, func(tx *sql.Tx) error {
			if _, err := c.In(tx).ExecContext(ctx, ins, fmt.Sprint("tx", i)); err != nil {
				return err
			}
			if !commit {
				return errors.New("roll back")
			}
			return nil
		})
		if (err == nil) != commit {
			t.Fatalf("tx %d: %v", i, err)
		}
	}
	var got []string
	rows, err := c.QueryContext(ctx, `SELECT v FROM t ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var v string
		rows.Scan(&v)
		got = append(got, v)
	}
	rows.Close()
	if fmt.Sprint(got) != "[pool tx0 tx2]" {
		t.Fatalf("rows %v", got)
	}
	var n int
	if err := c.QueryRowContext(ctx, `SELECT count(*) FROM missing_table`).Scan(&n); err == nil {
		t.Fatal("query of a missing table succeeded")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if b, err := c.Prepare(ctx, ins); err != nil || b == a {
		t.Fatalf("after Close: same statement %v, err %v", b == a, err)
	}
}

// InsertReturningIDs gives ids in VALUES order.
func TestInsertReturningIDs(t *testing.T) {
	ctx := context.Background()
	d, _ := openFresh(t)
	if _, err := d.Exec(`CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, v INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	var ids []int64
	err := db.InTx(ctx, d, func(tx *sql.Tx) error {
		var err error
		ids, err = db.InsertReturningIDs(ctx, tx, db.ValuesSQL(`INSERT INTO t(v) VALUES `, 1, 50, ` RETURNING id`), func() []any {
			a := make([]any, 50)
			for i := range a {
				a[i] = i * 10
			}
			return a
		}(), 50)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		var v int
		if err := d.QueryRow(`SELECT v FROM t WHERE id=?`, id).Scan(&v); err != nil || v != i*10 {
			t.Fatalf("ids[%d]=%d holds %d (%v)", i, id, v, err)
		}
	}
}
