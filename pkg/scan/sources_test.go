package scan_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/scan"
	"github.com/localsupervisor/supervisor/pkg/sources"
	"github.com/localsupervisor/supervisor/pkg/svtest/pngtest"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// TestScanRecordsSource: an in_place or copy import records its folder (a
// single file records the file's folder) as a library source with the
// scan's outcome; a move import records nothing. A scan_path job records
// its job id, scan-path --now (no job) none.
func TestScanRecordsSource(t *testing.T) {
	for _, tc := range []struct {
		name, mode string
		file       bool
		want       bool
	}{
		{"in_place folder", scan.ModeInPlace, false, true},
		{"copy folder", scan.ModeCopy, false, true},
		{"in_place single file records its folder", scan.ModeInPlace, true, true},
		{"move records nothing", scan.ModeMove, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			d := openDB(t)
			src := filepath.Join(t.TempDir(), "in box")
			os.MkdirAll(src, 0o755)
			for i := 0; i < 3; i++ {
				os.WriteFile(filepath.Join(src, string(rune('a'+i))+".png"), pngtest.PNG(4, 4, uint8(i*40)), 0o644)
			}
			root := src
			if tc.file {
				root = filepath.Join(src, "a.png")
			}
			im := newImporter(d, testRoots(t), tc.mode)
			if _, err := im.ScanPath(ctx, root, scan.RunOptions{}); err != nil {
				t.Fatal(err)
			}
			list, err := sources.List(ctx, d)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.want {
				if len(list) != 0 {
					t.Fatalf("move import recorded %+v", list)
				}
				return
			}
			if len(list) != 1 {
				t.Fatalf("sources %+v, want one", list)
			}
			s := list[0]
			if s.Path != src || s.Mode != tc.mode || s.Watch || s.LastScanStatus != sources.StatusDone ||
				s.LastScanJobID != 0 || s.LastScanAt != svtime.Format(t0) {
				t.Fatalf("source %+v, want %s %s done without job", s, src, tc.mode)
			}
		})
	}
}

// TestScanPathJobRecordsSourceJob: the scan_path handler records the job
// id, and a second scan of the same folder updates the row (one source per
// folder, mode follows the latest scan, watch stays).
func TestScanPathJobRecordsSourceJob(t *testing.T) {
	ctx := context.Background()
	d := openDB(t)
	clock := &svtime.FixedClock{T: t0}
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "a.png"), pngtest.PNG(4, 4, 1), 0o644)
	im := newImporter(d, testRoots(t), scan.ModeCopy)
	q := jobs.NewQueue(jobs.QueueOptions{DB: d, Clock: clock, Config: jobs.DefaultConfig()})
	h := (&scan.Setup{Importer: im}).Handlers(scan.HandlerOptions{Queue: q})
	r := newRunner(t, q, []string{jobs.TypeScanPath}, h)
	var lastJob int64
	for _, mode := range []string{scan.ModeCopy, scan.ModeInPlace} {
		p, err := scan.NewScanPathPayload(src, 0, mode, "test", clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		res, err := scan.EnqueueScanPath(ctx, q, p)
		if err != nil {
			t.Fatal(err)
		}
		lastJob = res.JobID
		if s, err := r.RunBatch(ctx, 1); err != nil || s.Done != 1 {
			t.Fatalf("%s: run %+v %v", mode, s, err)
		}
		if mode == scan.ModeCopy {
			list, _ := sources.List(ctx, d)
			if err := sources.SetWatch(ctx, d, list[0].ID, true); err != nil {
				t.Fatal(err)
			}
		}
		clock.Advance(time.Minute)
	}
	list, err := sources.List(ctx, d)
	if err != nil || len(list) != 1 {
		t.Fatalf("sources %+v %v", list, err)
	}
	if s := list[0]; s.LastScanJobID != lastJob || s.Mode != scan.ModeInPlace || !s.Watch || s.LastScanStatus != sources.StatusDone {
		t.Fatalf("source %+v, want job %d in_place watched done", s, lastJob)
	}
}
