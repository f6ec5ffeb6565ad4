package jobs

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

// HeldTx answers inside the caller's transaction: held, lease lost (other
// owner, finished) or job not found.
func TestHeldTx(t *testing.T) {
	ctx := context.Background()
	q := newTestQueue(t, newClock(), nil)
	a := mustEnqueue(t, q, EnqueueRequest{Type: "t_a"})
	b := mustEnqueue(t, q, EnqueueRequest{Type: "t_a"})
	c := mustEnqueue(t, q, EnqueueRequest{Type: "t_a"})
	js, err := q.Claim(ctx, ClaimRequest{Owner: NewOwner("w", 1), Types: []string{"t_a"}, Limit: 3})
	if err != nil || len(js) != 3 {
		t.Fatalf("claim %v %v", js, err)
	}
	byID := map[int64]*Job{}
	for _, j := range js {
		byID[j.ID] = j
	}
	if err := byID[b].Update(ctx, `status = 'done'`); err != nil {
		t.Fatal(err)
	}
	if _, err := q.db.Exec(`DELETE FROM jobs WHERE id = ?`, c); err != nil {
		t.Fatal(err)
	}
	foreign := &Job{ID: a, Owner: "someone:else:1:x", q: q}
	tests := []struct {
		name string
		job  *Job
		code string // "" = held
	}{
		{"held", byID[a], ""},
		{"other owner", foreign, CodeLeaseLost},
		{"finished", byID[b], CodeLeaseLost},
		{"deleted", byID[c], CodeNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := db.InTx(ctx, q.db, func(tx *sql.Tx) error { return tc.job.HeldTx(ctx, tx) })
			if got := reason.Code(err); got != tc.code || (tc.code == "" && err != nil) {
				t.Fatalf("HeldTx = %v (code %q), want code %q", err, got, tc.code)
			}
			if tc.code == CodeLeaseLost && !errors.Is(err, ErrLeaseLost) {
				t.Fatalf("want ErrLeaseLost, got %v", err)
			}
		})
	}
}
