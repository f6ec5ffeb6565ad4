package jobs

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/db"
)

// mixedReq is a Mixed claim over t_a, t_b, t_c where t_c waits for t_a and
// t_b of its media (as Ollama's prompt_recon waits for caption).
func mixedReq(owner string, limit int) ClaimRequest {
	return ClaimRequest{Owner: owner, Types: []string{"t_a", "t_b", "t_c"}, Mixed: true, Limit: limit,
		Filter: func(typ string) ClaimFilter {
			if typ == "t_c" {
				return ClaimFilter{WaitFor: []string{"t_a", "t_b"}}
			}
			return ClaimFilter{}
		}}
}

// TestMixedClaimEqualsOneOrderedQuery (issue #17 item 10): the per-type
// Mixed claim takes exactly the jobs the one ordered query over all types
// would (priority, id; not_before; WaitFor), claim after claim, on random
// queues with running jobs, waits and several priorities.
func TestMixedClaimEqualsOneOrderedQuery(t *testing.T) {
	const ref = `SELECT j.id FROM jobs j WHERE j.status = 'queued' AND j.type IN ('t_a', 't_b', 't_c')
		AND (j.not_before IS NULL OR j.not_before <= ?)
		AND (j.type <> 't_c' OR NOT EXISTS (SELECT 1 FROM jobs d WHERE d.media_id = j.media_id AND d.id < j.id
			AND d.status IN ('queued', 'running') AND d.type IN ('t_a', 't_b')))
		ORDER BY j.priority, j.id LIMIT ?`
	for seed := range 6 {
		for _, limit := range []int{1, 3} {
			t.Run(fmt.Sprintf("seed=%d/limit=%d", seed, limit), func(t *testing.T) {
				ctx := context.Background()
				clock := newClock()
				q := newTestQueue(t, clock, func(c *Config) { c.QueueMaxTotal, c.QueueMaxPerTypeDefault, c.QueueMaxPerMedia = 0, 0, 0 })
				seedMixed(t, q.db, rand.New(rand.NewPCG(uint64(seed), 7)), clock.Now().Format("2006-01-02T15:04:05Z"))
				for step := 0; ; step++ {
					now := clock.Now().Format("2006-01-02T15:04:05Z")
					want := queryIDs(t, q.db, ref, now, limit)
					js, err := q.Claim(ctx, mixedReq(fmt.Sprintf("o%d", step), limit))
					if err != nil {
						t.Fatal(err)
					}
					var got []int64
					for _, j := range js {
						got = append(got, j.ID)
					}
					if !slices.Equal(got, want) {
						t.Fatalf("step %d: claimed %v, the ordered query takes %v", step, got, want)
					}
					if len(got) == 0 {
						return
					}
					// Finish every other claim so WaitFor opens up.
					for i, j := range js {
						if (step+i)%2 == 0 {
							if err := j.End(ctx, Done(nil)); err != nil {
								t.Fatal(err)
							}
						}
					}
				}
			})
		}
	}
}

func seedMixed(t *testing.T, d *sql.DB, r *rand.Rand, now string) {
	t.Helper()
	err := db.InTx(context.Background(), d, func(tx *sql.Tx) error {
		for m := 1; m <= 8; m++ {
			if _, err := tx.Exec(`INSERT INTO media (id, path, type, source, imported_at) VALUES (?, ?, 'image', 'import', ?)`, m, fmt.Sprintf("/m/%d.png", m), now); err != nil {
				return err
			}
		}
		for range 60 {
			typ := []string{"t_a", "t_b", "t_c"}[r.IntN(3)]
			status := []string{"queued", "queued", "queued", "running", "done"}[r.IntN(5)]
			var nb any
			if r.IntN(6) == 0 {
				nb = "2099-01-01T00:00:00Z"
			}
			if _, err := tx.Exec(`INSERT INTO jobs (media_id, type, status, priority, not_before, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				1+r.IntN(8), typ, status, []int{5, 100, 100, 200}[r.IntN(4)], nb, now, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func queryIDs(t *testing.T, d *sql.DB, query string, args ...any) []int64 {
	t.Helper()
	rows, err := d.Query(query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestClaimPlansUseTheIndex (issue #17 items 9, 10): every claim statement
// reads its candidates through idx_jobs_claim (status, type, priority, id)
// in index order, never sorting the queue (the Mixed claim over all types
// as one candidate set sorted every queued job inside the write lock), and
// the typed filters' subqueries are index searches too (the folder overlap
// reads the running jobs on idx_jobs_claim, WaitFor on idx_jobs_media).
func TestClaimPlansUseTheIndex(t *testing.T) {
	d, _ := openDB(t)
	tests := []struct {
		name string
		req  ClaimRequest
	}{
		{"mixed with WaitFor", mixedReq("o", 1)},
		{"mixed, one media", func() ClaimRequest { r := mixedReq("o", 2); r.MediaID = i64(1); return r }()},
		{"per type, exclusive folder under a root", ClaimRequest{Owner: "o", Types: []string{"t_a"}, Limit: 1,
			Filter: func(string) ClaimFilter {
				return ClaimFilter{Folder: FolderFilter{Field: "path", Sep: "/", Exclusive: true, Under: "/lib"}}
			}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, c := range claimQueries(tc.req) {
				const now = "2026-01-01T00:00:00Z"
				var args []any
				if tc.req.Mixed {
					// The two ranges below the bound (priority 100, id 5).
					args = append(c.with(now, 100, 1), c.with(now, 100, 5, 1)...)
				} else {
					args = append(claimSetArgs(tc.req, now), c.with(now, 1)...)
				}
				joined := queryPlan(t, d, c.query, args...)
				if strings.Contains(joined, "TEMP B-TREE") || strings.Contains(joined, "SCAN j") || strings.Contains(joined, "SCAN r") ||
					strings.Contains(joined, "SCAN d") || !strings.Contains(joined, "idx_jobs_claim") {
					t.Fatalf("%s: claim of %s does not walk the index:\n%s", tc.name, c.typ, joined)
				}
			}
		})
	}
}
