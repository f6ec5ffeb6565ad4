package jobs

import (
	"context"
	"database/sql"
	"fmt"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/db"
)

// TestEnqueueNewMedia: requests for media inserted in the same
// transaction (NewMedia) skip the catalogue lookups but are decided as
// before: per-media dedupe and caps within the call still apply. A broken
// promise (a live job already holds the key) fails the enqueue on the
// dedupe index instead of queueing a duplicate.
func TestEnqueueNewMedia(t *testing.T) {
	ctx := context.Background()
	insertMedia := func(tx *sql.Tx, id int64) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO media (id, path, type, source, imported_at) VALUES (?, ?, 'image', 'test', '2026-01-01T00:00:00Z')`, id, fmt.Sprint("/lib/", id, ".png"))
		return err
	}
	t.Run("fresh media", func(t *testing.T) {
		q := newTestQueue(t, newClock(), func(c *Config) { c.QueueMaxPerMedia = 1 })
		var res []EnqueueResult
		err := db.InTx(ctx, q.DB(), func(tx *sql.Tx) error {
			for _, id := range []int64{11, 12} {
				if err := insertMedia(tx, id); err != nil {
					return err
				}
			}
			var err error
			res, err = q.EnqueueTx(ctx, tx, []EnqueueRequest{
				{Type: "t_media", MediaID: i64(11), NewMedia: true},
				{Type: "t_media", MediaID: i64(11), NewMedia: true}, // same default key: deduped in the call
				{Type: "t_a", MediaID: i64(12), NewMedia: true},
				{Type: "t_a", MediaID: i64(12), NewMedia: true}, // per-media cap 1
			})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if res[0].JobID == 0 || !res[1].Deduped || res[1].JobID != res[0].JobID || res[2].JobID == 0 || res[3].ReasonCode != CodeQueueFullMedia {
			t.Fatalf("results %+v", res)
		}
	})
	t.Run("broken promise", func(t *testing.T) {
		q := newTestQueue(t, newClock(), nil)
		err := db.InTx(ctx, q.DB(), func(tx *sql.Tx) error { return insertMedia(tx, 21) })
		if err != nil {
			t.Fatal(err)
		}
		first := mustEnqueue(t, q, EnqueueRequest{Type: "t_media", MediaID: i64(21)})
		err = db.InTx(ctx, q.DB(), func(tx *sql.Tx) error {
			_, err := q.EnqueueTx(ctx, tx, []EnqueueRequest{{Type: "t_media", MediaID: i64(21), NewMedia: true}})
			return err
		})
		if !db.IsUniqueViolation(err) {
			t.Fatalf("err %v, want the dedupe index's unique violation", err)
		}
		var n int
		q.DB().QueryRow(`SELECT COUNT(*) FROM jobs`).Scan(&n)
		if n != 1 || first == 0 {
			t.Fatalf("%d jobs after the failed enqueue", n)
		}
	})
}
