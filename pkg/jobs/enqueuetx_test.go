package jobs

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

// EnqueueTx shares the caller's transaction: caps see the caller's earlier
// inserts, a rollback removes the jobs together with the caller's own rows,
// and a commit keeps both.
func TestEnqueueTx(t *testing.T) {
	ctx := context.Background()
	errAbort := errors.New("abort import")
	tests := []struct {
		name      string
		capA      int
		reqs      []EnqueueRequest
		abort     bool
		wantCodes []string // "" = inserted, "dedupe" = deduped
		wantJobs  int      // jobs in the table afterwards
	}{
		{"commit inserts", 10, []EnqueueRequest{{Type: "t_a"}, {Type: "t_b"}}, false, []string{"", ""}, 2},
		{"cap refused inside tx", 2, []EnqueueRequest{{Type: "t_a"}, {Type: "t_a"}, {Type: "t_a"}, {Type: "t_b"}}, false,
			[]string{"", "", CodeQueueFullType, ""}, 3},
		{"dedupe inside tx", 10, []EnqueueRequest{{Type: "t_a", DedupeKey: "k"}, {Type: "t_a", DedupeKey: "k"}}, false,
			[]string{"", "dedupe"}, 1},
		{"rollback leaves no job", 10, []EnqueueRequest{{Type: "t_a"}, {Type: "t_b"}}, true, []string{"", ""}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := newTestQueue(t, newClock(), func(c *Config) { c.QueueMaxPerType = map[string]int{"t_a": tc.capA} })
			var res []EnqueueResult
			err := db.InTx(ctx, q.DB(), func(tx *sql.Tx) error {
				// The caller's own write in the same transaction.
				if _, err := tx.ExecContext(ctx, `INSERT INTO media (id, path, type, source, imported_at) VALUES (7, '/lib/x.png', 'image', 'test', '2026-01-01T00:00:00Z')`); err != nil {
					return err
				}
				var err error
				if res, err = q.EnqueueTx(ctx, tx, tc.reqs); err != nil {
					return err
				}
				if tc.abort {
					return errAbort
				}
				return nil
			})
			if tc.abort != errors.Is(err, errAbort) || (!tc.abort && err != nil) {
				t.Fatalf("tx: %v", err)
			}
			for i, want := range tc.wantCodes {
				switch want {
				case "":
					if res[i].Err != nil || res[i].Deduped || res[i].JobID == 0 {
						t.Fatalf("item %d: want insert, got %+v", i, res[i])
					}
				case "dedupe":
					if !res[i].Deduped || res[i].JobID != res[0].JobID {
						t.Fatalf("item %d: want dedupe to %d, got %+v", i, res[0].JobID, res[i])
					}
				default:
					if res[i].ReasonCode != want || !IsQueueFull(res[i].Err) {
						t.Fatalf("item %d: want %s, got %+v", i, want, res[i])
					}
				}
			}
			var jobs, media int
			if err := q.DB().QueryRow(`SELECT (SELECT count(*) FROM jobs), (SELECT count(*) FROM media)`).Scan(&jobs, &media); err != nil {
				t.Fatal(err)
			}
			wantMedia := 1
			if tc.abort {
				wantMedia = 0
			}
			if jobs != tc.wantJobs || media != wantMedia {
				t.Fatalf("after tx: %d jobs, %d media; want %d, %d", jobs, media, tc.wantJobs, wantMedia)
			}
		})
	}
}

// An unknown type fails before touching the transaction, which stays usable
// for the caller to roll back.
func TestEnqueueTxUnknownType(t *testing.T) {
	ctx := context.Background()
	q := newTestQueue(t, newClock(), nil)
	err := db.InTx(ctx, q.DB(), func(tx *sql.Tx) error {
		_, err := q.EnqueueTx(ctx, tx, []EnqueueRequest{{Type: "t_a"}, {Type: "nope"}})
		return err
	})
	if code := reason.Code(err); code != CodeUnknownType {
		t.Fatalf("want %s, got %v", CodeUnknownType, err)
	}
	var n int
	if err := q.DB().QueryRow(`SELECT count(*) FROM jobs`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("jobs after failed tx: %d %v", n, err)
	}
}
