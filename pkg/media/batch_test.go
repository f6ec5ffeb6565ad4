package media_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/media"
)

// The batch writers span several statements (999 parameters each) and must
// store exactly what the single-row writers store, in order.
func TestBatchWriters(t *testing.T) {
	for _, n := range []int{1, 66, 67, 250} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			ctx := context.Background()
			d := openDB(t)
			pre := mustMedia(t, d, "/lib/pre.png", "pre")
			ms := make([]media.NewMedia, n)
			groups := make([]media.MediaPairs, n)
			logs := make([]media.ImportLogEntry, n)
			for i := range ms {
				ms[i] = media.NewMedia{Path: fmt.Sprintf("/lib/%d.png", i), Type: "image", Hash: fmt.Sprintf("H%03d", i), Filesize: int64(i), Width: i, HasNSFW: i%2 == 1}
				logs[i] = media.ImportLogEntry{Path: ms[i].Path, Status: media.ImportImported, Message: map[bool]string{true: "scanner_failed"}[i%3 == 0]}
			}
			var ids []int64
			err := db.InTx(ctx, d, func(tx *sql.Tx) error {
				var err error
				if ids, err = media.InsertMany(ctx, tx, ms, t0); err != nil {
					return err
				}
				for i := range groups {
					groups[i] = media.MediaPairs{MediaID: ids[i], Pairs: []media.MetaPair{
						{Source: "import", Key: "a", Value: "1"}, {Source: "import", Key: "b", Value: fmt.Sprint(i)}, {Source: "import", Key: "a", Value: "2"}}}
				}
				if w, err := media.InsertNewMetaPairsMany(ctx, tx, groups, t0); err != nil || w != 2*n {
					return fmt.Errorf("meta rows %d: %v", w, err)
				}
				return media.ImportLogMany(ctx, tx, logs, t0)
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(ids) != n {
				t.Fatalf("%d ids for %d media", len(ids), n)
			}
			for i, id := range ids {
				if id != pre+1+int64(i) {
					t.Fatalf("ids[%d]=%d, want %d", i, id, pre+1+int64(i))
				}
				m, err := media.GetByHash(ctx, d, fmt.Sprintf("h%03d", i))
				if err != nil || m == nil || m.ID != id || m.Path != ms[i].Path || m.Filesize == nil || *m.Filesize != int64(i) || m.HasNSFW != (i%2 == 1) || m.Status != "active" {
					t.Fatalf("media %d: %+v %v", i, m, err)
				}
				if v, ok, _ := media.GetMeta(ctx, d, id, "a"); !ok || v != "2" {
					t.Errorf("media %d meta a=%q %v", id, v, ok)
				}
				if v, ok, _ := media.GetMeta(ctx, d, id, "b"); !ok || v != fmt.Sprint(i) {
					t.Errorf("media %d meta b=%q %v", id, v, ok)
				}
			}
			if c := count(t, d, `SELECT COUNT(*) FROM import_log`); c != n {
				t.Errorf("import_log rows %d", c)
			}
			if c := count(t, d, `SELECT COUNT(*) FROM import_log WHERE message IS NULL`); c != n-(n+2)/3 {
				t.Errorf("import_log rows without message %d", c)
			}
			// Rows in input order.
			rows, err := d.Query(`SELECT path FROM import_log ORDER BY id`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			for i := 0; rows.Next(); i++ {
				var p string
				rows.Scan(&p)
				if p != logs[i].Path {
					t.Fatalf("import_log row %d is %s", i, p)
				}
			}
		})
	}
}

// A duplicate hash fails the statement: no row of it is written.
func TestInsertManyDuplicate(t *testing.T) {
	ctx := context.Background()
	d := openDB(t)
	mustMedia(t, d, "/lib/x.png", "dup")
	_, err := media.InsertMany(ctx, d, []media.NewMedia{{Path: "/a", Type: "image", Hash: "new"}, {Path: "/b", Type: "image", Hash: "DUP"}}, t0)
	if !db.IsUniqueViolation(err) {
		t.Fatalf("err %v, want unique violation", err)
	}
	if c := count(t, d, `SELECT COUNT(*) FROM media`); c != 1 {
		t.Errorf("%d media rows", c)
	}
}
