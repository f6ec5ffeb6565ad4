package jobs

import (
	"context"
	"database/sql"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/db"
)

// Stuck recovery of Resumable types: a crashed run that advanced its
// durable progress (Job.AdvanceTx) since its claim gets its attempt back and
// is re-queued without backoff, even on its last attempt; a crashed run
// without progress, or any run of a type that is not Resumable, spends its
// attempt as before. Every recovery counts in jobs.recoveries, which the
// next claim hands to the handler.
func TestRecoverResumableProgress(t *testing.T) {
	ctx := context.Background()
	dead := "w:" + hostname() + ":999999999:"
	cases := []struct {
		name string
		typ  string
		// advance per run; one claim + crash + recovery per entry
		runs         []int
		wantStatus   string
		wantAttempts int
		wantCode     string
		wantBackoff  bool // not_before set (queued rows only)
	}{
		{"resumable, advanced", "t_res", []int{5}, StatusQueued, 0, CodeStuckProgressed, false},
		{"resumable, no progress", "t_res", []int{0}, StatusQueued, 1, CodeStuckWorkerGone, true},
		{"resumable, progress only in an earlier run", "t_res", []int{5, 0}, StatusQueued, 1, CodeStuckWorkerGone, true},
		{"resumable, advancing on every run never exhausts", "t_res", []int{1, 1, 1, 1, 1}, StatusQueued, 0, CodeStuckProgressed, false},
		{"resumable, crash loop without progress exhausts", "t_res", []int{3, 0, 0}, StatusError, 2, CodeStuckWorkerGone, false},
		{"not resumable, advanced", "t_plain", []int{5}, StatusQueued, 1, CodeStuckWorkerGone, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clock := newClock()
			d, _ := openDB(t)
			reg := NewRegistry(TypeSpec{Name: "t_res", Group: "g", MaxAttempts: 2, Resumable: true},
				TypeSpec{Name: "t_plain", Group: "g", MaxAttempts: 2})
			q := NewQueue(QueueOptions{DB: d, Clock: clock, Config: DefaultConfig(), Registry: reg, Jitter: func() float64 { return 0.5 }})
			id := mustEnqueue(t, q, EnqueueRequest{Type: c.typ})
			var last []Recovered
			for i, n := range c.runs {
				clock.Advance(24 * 3600e9) // past any backoff
				js, err := q.Claim(ctx, ClaimRequest{Owner: dead + string(rune('a'+i)), Types: []string{c.typ}})
				if err != nil || len(js) != 1 {
					t.Fatalf("run %d: claim %v %v", i, js, err)
				}
				if js[0].Recoveries != i {
					t.Fatalf("run %d: Recoveries = %d, want %d", i, js[0].Recoveries, i)
				}
				if n > 0 {
					if err := db.InTx(ctx, d, func(tx *sql.Tx) error { return js[0].AdvanceTx(ctx, tx, n) }); err != nil {
						t.Fatal(err)
					}
				}
				if last, err = q.RecoverStuck(ctx, nil); err != nil || len(last) != 1 {
					t.Fatalf("run %d: recover %+v %v", i, last, err)
				}
			}
			row := status(t, q, id)
			if row.Status != c.wantStatus || row.Attempts != c.wantAttempts || row.LastErrorCode != c.wantCode ||
				(row.Status == StatusQueued && (row.NotBefore != "") != c.wantBackoff) {
				t.Fatalf("row %+v; want status %s attempts %d code %s backoff %v", row, c.wantStatus, c.wantAttempts, c.wantCode, c.wantBackoff)
			}
			if last[0].Progressed != (c.wantCode == CodeStuckProgressed) {
				t.Fatalf("recovered %+v", last[0])
			}
			var rec int
			d.QueryRow(`SELECT recoveries FROM jobs WHERE id = ?`, id).Scan(&rec)
			if rec != len(c.runs) {
				t.Fatalf("recoveries = %d, want %d", rec, len(c.runs))
			}
		})
	}
}

// AdvanceTx is fenced: once the job is no longer ours it changes nothing.
func TestAdvanceTxFenced(t *testing.T) {
	ctx := context.Background()
	clock := newClock()
	q := newTestQueue(t, clock, nil)
	id := mustEnqueue(t, q, EnqueueRequest{Type: "t_a"})
	j := claimOne(t, q, "w:h:1:x", "t_a")
	if err := db.InTx(ctx, q.db, func(tx *sql.Tx) error { return j.AdvanceTx(ctx, tx, 3) }); err != nil {
		t.Fatal(err)
	}
	stale := &Job{ID: j.ID, Owner: "w:h:1:other", q: q}
	err := db.InTx(ctx, q.db, func(tx *sql.Tx) error { return stale.AdvanceTx(ctx, tx, 3) })
	if err != ErrLeaseLost {
		t.Fatalf("stale owner: %v, want lease lost", err)
	}
	if row := status(t, q, id); row.ProgressBits != 3 {
		t.Fatalf("progress_bits = %d, want 3", row.ProgressBits)
	}
}
