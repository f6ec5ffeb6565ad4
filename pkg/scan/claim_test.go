package scan_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/scan"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// TestScanPathClaimFilterSerialisesOverlaps: while a scan_path job runs,
// a queued scan_path job for the same folder, a folder below or above it is
// not claimed (queued, attempts 0, no owner, no snooze); sibling folders
// that merely share leading bytes (/lib/in vs /lib/inbox) and disjoint
// trees are; combined with a --path prefix, foreign jobs stay queued too.
// Once the running job ends, the held-back job is claimed.
func TestScanPathClaimFilterSerialisesOverlaps(t *testing.T) {
	sep := string(filepath.Separator)
	abs := func(p string) string { return filepath.FromSlash(p) }
	tests := []struct {
		name      string
		running   string
		prefix    string // --path
		candidate string
		claimed   bool
		foreign   bool // outside --path
	}{
		{"same folder", "/lib/in", "", "/lib/in", false, false},
		{"subfolder of the running one", "/lib/in", "", "/lib/in/sub/x", false, false},
		{"parent of the running one", "/lib/in/sub", "", "/lib", false, false},
		{"root above everything", "/lib/in", "", sep, false, false},
		{"running root", sep, "", "/lib/in", false, false},
		{"sibling sharing a name prefix", "/lib/in", "", "/lib/inbox", true, false},
		{"running sibling sharing a name prefix", "/lib/inbox", "", "/lib/in", true, false},
		{"shorter name, not a parent", "/lib/in", "", "/lib/i", true, false},
		{"disjoint tree", "/lib/in", "", "/other", true, false},
		{"candidate without path", "/lib/in", "", "", true, false},
		{"below --path, disjoint", "/lib/in", "/lib", "/lib/out", true, false},
		{"below --path, overlapping", "/lib/in", "/lib", "/lib/in/a", false, false},
		{"outside --path", "/lib/in", "/lib", "/other", false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			d := openDB(t)
			q := jobs.NewQueue(jobs.QueueOptions{DB: d, Clock: &svtime.FixedClock{T: t0}, Config: jobs.DefaultConfig()})
			enqueue := func(p string) int64 {
				if p != "" && p != sep {
					p = abs(p)
				}
				res, err := q.Enqueue(ctx, jobs.EnqueueRequest{Type: jobs.TypeScanPath, Payload: scan.ScanPathPayload{Path: p}})
				if err != nil {
					t.Fatal(err)
				}
				return res.JobID
			}
			claim := func(filter jobs.ClaimFilterFunc) []*jobs.Job {
				js, err := q.Claim(ctx, jobs.ClaimRequest{Owner: jobs.NewOwner("scan_worker", 1), Types: []string{jobs.TypeScanPath}, Filter: filter, Limit: 5})
				if err != nil {
					t.Fatal(err)
				}
				return js
			}
			runID := enqueue(tc.running)
			run := claim(scan.ScanPathClaimFilter(""))
			if len(run) != 1 || run[0].ID != runID {
				t.Fatalf("first claim %v", run)
			}
			candID := enqueue(tc.candidate)
			prefix := tc.prefix
			if prefix != "" {
				prefix = abs(prefix)
			}
			got := claim(scan.ScanPathClaimFilter(prefix))
			if claimed := len(got) == 1 && got[0].ID == candID; claimed != tc.claimed || len(got) > 1 {
				t.Fatalf("claimed %v, want candidate claimed=%v", got, tc.claimed)
			}
			if tc.claimed {
				return
			}
			row, err := q.Get(ctx, candID)
			if err != nil {
				t.Fatal(err)
			}
			if row.Status != jobs.StatusQueued || row.Attempts != 0 || row.NotBefore != "" || row.WorkerOwner != "" {
				t.Fatalf("held-back job touched: %+v", row)
			}
			if tc.foreign {
				return // outside --path: stays queued whatever runs
			}
			if err := run[0].End(ctx, jobs.Done(nil)); err != nil {
				t.Fatal(err)
			}
			if got := claim(scan.ScanPathClaimFilter(prefix)); len(got) != 1 || got[0].ID != candID {
				t.Fatalf("after the overlapping job ended: claimed %v, want job %d", got, candID)
			}
		})
	}
}
