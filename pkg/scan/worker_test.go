package scan_test

import (
	"context"
	"encoding/json"
	"github.com/localsupervisor/supervisor/pkg/probe"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/scan"
	"github.com/localsupervisor/supervisor/pkg/sdmeta"
	"github.com/localsupervisor/supervisor/pkg/svtest/pngtest"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

func newRunner(t *testing.T, q *jobs.Queue, types []string, h map[string]jobs.Handler) *jobs.Runner {
	t.Helper()
	r, err := jobs.NewRunner(jobs.RunnerOptions{Queue: q, Worker: "scan_worker", Types: types, Handlers: h,
		LogsDir: t.TempDir(), HeartbeatInterval: 20 * time.Millisecond, Grace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// TestBackfillCheckpointsAndFinishes: the per-run cap re-queues the job
// (never left running) with the cursor in its payload; the next run resumes
// there, every untagged media gets exactly one rescan_media job, and the job
// ends done.
func TestBackfillCheckpointsAndFinishes(t *testing.T) {
	ctx := context.Background()
	d := openDB(t)
	clock := &svtime.FixedClock{T: t0}
	src := t.TempDir()
	for i := 0; i < 7; i++ {
		os.WriteFile(filepath.Join(src, string(rune('a'+i))+".png"), pngtest.PNG(4, 4, uint8(i*30)), 0o644)
	}
	im := newImporter(d, testRoots(t), scan.ModeInPlace)
	if s, err := im.ScanPath(ctx, src, scan.RunOptions{}); err != nil || s.Imported != 7 {
		t.Fatalf("import %+v %v", s, err)
	}
	// One media already tagged: it must not be rescanned.
	d.Exec(`INSERT INTO tags(name, type) VALUES ('cat','content')`)
	d.Exec(`INSERT INTO media_tags(media_id, tag_id, confidence, locked) SELECT (SELECT MIN(id) FROM media), id, 1, 0 FROM tags`)

	q := jobs.NewQueue(jobs.QueueOptions{DB: d, Clock: clock, Config: jobs.DefaultConfig()})
	setup := &scan.Setup{Importer: im}
	h := setup.Handlers(scan.HandlerOptions{Queue: q, BackfillRunCap: 4, BackfillPause: time.Minute})
	res, err := scan.EnqueueBackfill(ctx, q, 3, 0, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	r := newRunner(t, q, []string{jobs.TypeScanBackfillTags}, h)
	s, err := r.RunBatch(ctx, 5)
	if err != nil || s.Snoozed != 1 {
		t.Fatalf("first run %+v %v", s, err)
	}
	row, _ := q.Get(ctx, res.JobID)
	if row.Status != jobs.StatusQueued {
		t.Fatalf("capped backfill status %s, want queued", row.Status)
	}
	var p scan.BackfillPayload
	if err := json.Unmarshal([]byte(row.Payload), &p); err != nil || p.EnqueuedTotal != 4 || p.CursorLastID == 0 {
		t.Fatalf("checkpoint %s %v", row.Payload, err)
	}
	clock.T = clock.T.Add(2 * time.Minute)
	if s, err = r.RunBatch(ctx, 5); err != nil || s.Done != 1 {
		t.Fatalf("second run %+v %v", s, err)
	}
	row, _ = q.Get(ctx, res.JobID)
	var out scan.BackfillResult
	json.Unmarshal([]byte(row.Result), &out)
	if row.Status != jobs.StatusDone || out.Result != "done" || out.EnqueuedTotal != 6 {
		t.Fatalf("final %s %s", row.Status, row.Result)
	}
	var n, distinct int
	d.QueryRow(`SELECT COUNT(*), COUNT(DISTINCT media_id) FROM jobs WHERE type='rescan_media'`).Scan(&n, &distinct)
	if n != 6 || distinct != 6 {
		t.Fatalf("rescan jobs %d (distinct %d), want 6", n, distinct)
	}
	d.QueryRow(`SELECT COUNT(*) FROM jobs WHERE type='rescan_media' AND media_id=(SELECT MIN(id) FROM media)`).Scan(&n)
	if n != 0 {
		t.Fatal("tagged media got a rescan job")
	}
	d.QueryRow(`SELECT COUNT(*) FROM audit_log WHERE action='backfill_no_tags_done'`).Scan(&n)
	if n != 1 {
		t.Fatalf("backfill audits %d", n)
	}
}

// TestScanPathCancel: an operator cancel of a running scan_path job
// reaches the import through ctx and the job ends cancelled.
func TestScanPathCancel(t *testing.T) {
	ctx := context.Background()
	d := openDB(t)
	src := t.TempDir()
	for i := 0; i < 3; i++ {
		os.WriteFile(filepath.Join(src, string(rune('a'+i))+".png"), pngtest.PNG(4, 4, uint8(i*30)), 0o644)
	}
	im := newImporter(d, testRoots(t), scan.ModeInPlace)
	started := make(chan struct{}, 10)
	im.Extract = func(ctx context.Context, _ io.ReadSeeker, _ string, _ *probe.VideoInfo) (sdmeta.Result, error) {
		started <- struct{}{}
		<-ctx.Done()
		return sdmeta.Result{}, ctx.Err()
	}
	q := jobs.NewQueue(jobs.QueueOptions{DB: d, Config: jobs.DefaultConfig()})
	setup := &scan.Setup{Importer: im}
	p, _ := scan.NewScanPathPayload(src, 0, "", "test", t0)
	res, err := scan.EnqueueScanPath(ctx, q, p)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		<-started
		q.Cancel(ctx, res.JobID)
	}()
	r := newRunner(t, q, []string{jobs.TypeScanPath}, setup.Handlers(scan.HandlerOptions{Queue: q}))
	s, err := r.RunBatch(ctx, 1)
	if err != nil || s.Cancelled != 1 {
		t.Fatalf("run %+v %v", s, err)
	}
	row, _ := q.Get(ctx, res.JobID)
	if row.Status != jobs.StatusCancelled {
		t.Fatalf("status %s", row.Status)
	}
	var n int
	d.QueryRow(`SELECT COUNT(*) FROM audit_log WHERE action='scan_job_failed' AND details_json LIKE '%"cancelled":true%'`).Scan(&n)
	if n != 1 {
		t.Fatalf("cancel audit rows %d", n)
	}
}

// TestPathClaimFilterLeavesForeignJobsQueued: with scan-worker --path the
// Runner's claim query skips scan_path jobs outside the prefix, so they stay
// queued with attempts 0 and no snooze (not_before untouched), while jobs
// at or below the prefix and jobs of other types run.
func TestPathClaimFilterLeavesForeignJobsQueued(t *testing.T) {
	ctx := context.Background()
	d := openDB(t)
	q := jobs.NewQueue(jobs.QueueOptions{DB: d, Clock: &svtime.FixedClock{T: t0}, Config: jobs.DefaultConfig()})
	root := filepath.Join(string(filepath.Separator), "lib", "in")
	tests := []struct {
		path string
		want bool // claimed and run
	}{
		{root, true},
		{filepath.Join(root, "sub", "x"), true},
		{"", true},
		{filepath.Join(string(filepath.Separator), "lib", "inbox"), false}, // shares the bytes, not the folder
		{filepath.Join(string(filepath.Separator), "other", "in"), false},
		{filepath.Join(string(filepath.Separator), "lib"), false},
	}
	ids := make([]int64, len(tests))
	for i, tc := range tests {
		res, err := q.Enqueue(ctx, jobs.EnqueueRequest{Type: jobs.TypeScanPath, Payload: scan.ScanPathPayload{Path: tc.path}})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = res.JobID
	}
	ran := map[int64]bool{}
	h := func(_ context.Context, j *jobs.Job) (any, error) { ran[j.ID] = true; return nil, nil }
	r, err := jobs.NewRunner(jobs.RunnerOptions{Queue: q, Worker: "scan_worker", Types: []string{jobs.TypeScanPath},
		Handlers: map[string]jobs.Handler{jobs.TypeScanPath: h}, LogsDir: t.TempDir(), ClaimFilter: scan.PathClaimFilter(root + string(filepath.Separator))})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s, err := r.RunBatch(ctx, 0)
	if err != nil || s.Snoozed != 0 {
		t.Fatalf("batch %+v %v", s, err)
	}
	for i, tc := range tests {
		row, err := q.Get(ctx, ids[i])
		if err != nil {
			t.Fatal(err)
		}
		if tc.want {
			if !ran[ids[i]] || row.Status != jobs.StatusDone {
				t.Errorf("path %q: ran=%v status=%s, want done", tc.path, ran[ids[i]], row.Status)
			}
			continue
		}
		if ran[ids[i]] || row.Status != jobs.StatusQueued || row.Attempts != 0 || row.NotBefore != "" || row.WorkerOwner != "" {
			t.Errorf("foreign path %q: ran=%v row=%+v, want untouched queued", tc.path, ran[ids[i]], row)
		}
	}
	if scan.PathClaimFilter("") != nil {
		t.Fatal("empty prefix must not filter")
	}
}

// TestScanPathReportsLiveProgress: a scan_path job writes its live
// progress (files done of the total a counting walk found, outcomes) to
// progress_json, which the job center shows; at the end done = total.
func TestScanPathReportsLiveProgress(t *testing.T) {
	ctx := context.Background()
	d := openDB(t)
	src := t.TempDir()
	writePNGs(t, src, 12)
	os.WriteFile(filepath.Join(src, "notes.txt"), []byte("not media"), 0o644)
	os.WriteFile(filepath.Join(src, "empty.png"), nil, 0o644)
	im := newImporter(d, testRoots(t), scan.ModeInPlace)
	q := jobs.NewQueue(jobs.QueueOptions{DB: d, Config: jobs.DefaultConfig()})
	setup := &scan.Setup{Importer: im}
	p, _ := scan.NewScanPathPayload(src, 0, "", "test", t0)
	res, err := scan.EnqueueScanPath(ctx, q, p)
	if err != nil {
		t.Fatal(err)
	}
	r := newRunner(t, q, []string{jobs.TypeScanPath}, setup.Handlers(scan.HandlerOptions{Queue: q}))
	if s, err := r.RunBatch(ctx, 1); err != nil || s.Done != 1 {
		t.Fatalf("run %+v %v", s, err)
	}
	var raw string
	if err := d.QueryRow(`SELECT progress_json FROM jobs WHERE id=?`, res.JobID).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	var sp scan.ScanProgress
	if err := json.Unmarshal([]byte(raw), &sp); err != nil {
		t.Fatal(err)
	}
	if sp.Done != 14 || sp.Total != 14 || !sp.Counted || sp.Imported != 12 || sp.Errors != 1 {
		t.Fatalf("progress %+v", sp)
	}
}
