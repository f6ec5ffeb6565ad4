package db_test

import (
	"context"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/db"
)

// TestMultiInsertChunks: rows on both sides of the per-statement bound
// (MaxParams/cols) all arrive, in order, with the tail applied to each
// statement.
func TestMultiInsertChunks(t *testing.T) {
	ctx := context.Background()
	d, _ := openFresh(t)
	if _, err := d.Exec(`CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	const cols = 2
	per := db.MaxParams / cols
	for _, n := range []int{1, per, per + 1, 2*per + 3} {
		if _, err := d.Exec(`DELETE FROM t`); err != nil {
			t.Fatal(err)
		}
		args := make([]any, 0, n*cols)
		for i := range n {
			args = append(args, i, "x")
		}
		if err := db.MultiInsert(ctx, d, `INSERT INTO t(k, v) VALUES `, ` ON CONFLICT(k) DO UPDATE SET v = 'dup'`, cols, args); err != nil {
			t.Fatalf("%d rows: %v", n, err)
		}
		var count, maxK, dups int
		d.QueryRow(`SELECT count(*), max(k), sum(v = 'dup') FROM t`).Scan(&count, &maxK, &dups)
		if count != n || maxK != n-1 || dups != 0 {
			t.Fatalf("%d rows: count %d, max %d, dups %d", n, count, maxK, dups)
		}
	}
	if got := db.ValuesSQL("INSERT INTO t VALUES ", 3, 2, " RETURNING k"); got != "INSERT INTO t VALUES (?,?,?),(?,?,?) RETURNING k" {
		t.Fatalf("ValuesSQL = %q", got)
	}
}
