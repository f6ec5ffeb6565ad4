package sources_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/db/dbtest"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/scan"
	"github.com/localsupervisor/supervisor/pkg/sources"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func openDB(t testing.TB) *sql.DB {
	t.Helper()
	return dbtest.Open(t, filepath.Join(t.TempDir(), "t.sqlite"))
}

// addSource records dir (created) as an in_place source and n media files
// below it (files on disk, rows with a tag, meta and a job each).
func addSource(t *testing.T, d *sql.DB, dir string, n int) int64 {
	t.Helper()
	ctx := context.Background()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := sources.RecordScan(ctx, d, sources.Scan{Root: dir, Mode: sources.ModeInPlace, Status: sources.StatusDone, At: t0}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		p := filepath.Join(dir, "f"+string(rune('a'+i))+".png")
		if err := os.WriteFile(p, []byte("png"), 0o644); err != nil {
			t.Fatal(err)
		}
		res, err := d.Exec(`INSERT INTO media(path, type, source, hash, imported_at) VALUES (?, 'image', 'import', ?, '2026-01-01T00:00:00Z')`, p, p)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := res.LastInsertId()
		d.Exec(`INSERT OR IGNORE INTO tags(name, type) VALUES ('cat', 'content')`)
		d.Exec(`INSERT INTO media_tags(media_id, tag_id) SELECT ?, id FROM tags`, id)
		d.Exec(`INSERT INTO media_meta(media_id, source, meta_key, meta_value, created_at) VALUES (?, 'test', 'k', 'v', '2026-01-01T00:00:00Z')`, id)
		d.Exec(`INSERT INTO jobs(media_id, type, status, created_at, updated_at) VALUES (?, 'integrity_check', 'done', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')`, id)
		d.Exec(`INSERT INTO scan_files(path, size, mtime_ns, media_id, status, seen_at) VALUES (?, 3, 1, ?, 'imported', '2026-01-01T00:00:00Z')`, p, id)
	}
	var id int64
	if err := d.QueryRow(`SELECT id FROM library_sources WHERE path = ?`, dir).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

func count(t *testing.T, d *sql.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := d.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestMediaCountIsARange: media exactly below the folder count; a sibling
// sharing the name prefix (/a/inbox vs /a/in) and the folder itself do not.
func TestMediaCountIsARange(t *testing.T) {
	ctx := context.Background()
	d := openDB(t)
	base := t.TempDir()
	in := filepath.Join(base, "in")
	addSource(t, d, in, 3)
	addSource(t, d, filepath.Join(base, "inbox"), 2)
	addSource(t, d, filepath.Join(in, "sub"), 1)
	for _, tc := range []struct {
		dir  string
		want int
	}{{in, 4}, {in + string(filepath.Separator), 4}, {filepath.Join(base, "inbox"), 2}, {filepath.Join(in, "sub"), 1}, {filepath.Join(base, "none"), 0}} {
		if n, err := sources.MediaCount(ctx, d, tc.dir); err != nil || n != tc.want {
			t.Errorf("MediaCount(%s) = %d, %v; want %d", tc.dir, n, err, tc.want)
		}
	}
	var plan string
	lo, hi := filepath.Join(in, ""), in+"0"
	rows, err := d.Query(`EXPLAIN QUERY PLAN SELECT count(*) FROM media WHERE path >= ? AND path < ?`, lo, hi)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var a, b, c int
		var detail string
		rows.Scan(&a, &b, &c, &detail)
		plan += detail
	}
	rows.Close()
	if want := "COVERING INDEX idx_media_path"; !contains(plan, want) {
		t.Fatalf("plan %q does not use %s", plan, want)
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// TestRemoveForgetsRowsKeepsFiles: the catalogue rows below the source go
// (media, tags, meta, jobs, scan_files; the tag itself stays), the files stay
// on disk, a nested source keeps its media, other folders are untouched,
// and a source with a live scan is refused with a reason code.
func TestRemoveForgetsRowsKeepsFiles(t *testing.T) {
	ctx := context.Background()
	d := openDB(t)
	base := t.TempDir()
	in := filepath.Join(base, "in")
	id := addSource(t, d, in, 3)
	nested := addSource(t, d, filepath.Join(in, "keep"), 2)
	other := addSource(t, d, filepath.Join(base, "inbox"), 2)

	q := jobs.NewQueue(jobs.QueueOptions{DB: d, Clock: &svtime.FixedClock{T: t0}, Config: jobs.DefaultConfig()})
	p, err := scan.NewScanPathPayload(in, 0, sources.ModeInPlace, "test", t0)
	if err != nil {
		t.Fatal(err)
	}
	res, err := scan.EnqueueScanPath(ctx, q, p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sources.Remove(ctx, d, id, t0); reason.Code(err) != sources.CodeScanRunning {
		t.Fatalf("remove with a queued scan: %v, want %s", err, sources.CodeScanRunning)
	}
	if _, err := d.Exec(`UPDATE jobs SET status = 'done' WHERE id = ?`, res.JobID); err != nil {
		t.Fatal(err)
	}

	r, err := sources.Remove(ctx, d, id, t0)
	if err != nil {
		t.Fatal(err)
	}
	if r.MediaRows != 3 || r.ScanFiles != 3 || r.KeptNested != 1 {
		t.Fatalf("result %+v, want 3 media, 3 scan_files, 1 nested kept", r)
	}
	for _, f := range []string{"fa.png", "fb.png", "fc.png"} {
		if _, err := os.Stat(filepath.Join(in, f)); err != nil {
			t.Fatalf("file deleted: %v", err)
		}
	}
	if n := count(t, d, `SELECT count(*) FROM media`); n != 4 {
		t.Fatalf("media left %d, want 4 (nested 2 + other 2)", n)
	}
	for _, tbl := range []string{"media_tags", "media_meta", "scan_files"} {
		if n := count(t, d, `SELECT count(*) FROM `+tbl); n != 4 {
			t.Errorf("%s rows %d, want 4", tbl, n)
		}
	}
	if n := count(t, d, `SELECT count(*) FROM jobs WHERE media_id IS NOT NULL`); n != 4 {
		t.Errorf("media jobs %d, want 4", n)
	}
	if n := count(t, d, `SELECT count(*) FROM tags`); n != 1 {
		t.Errorf("tags %d, want the shared tag kept", n)
	}
	if _, err := sources.Get(ctx, d, id); reason.Code(err) != sources.CodeNotFound {
		t.Fatalf("removed source still there: %v", err)
	}
	for _, keep := range []int64{nested, other} {
		if _, err := sources.Get(ctx, d, keep); err != nil {
			t.Fatalf("source %d gone: %v", keep, err)
		}
	}
	if n := count(t, d, `SELECT count(*) FROM audit_log WHERE action = 'source_removed' AND entity_id = ?`, id); n != 1 {
		t.Fatalf("audit rows %d", n)
	}
	if _, err := sources.Remove(ctx, d, id, t0); reason.Code(err) != sources.CodeNotFound {
		t.Fatalf("second remove: %v", err)
	}
}

// TestWatcherQueuesOncePerInterval: with an injected clock, a watched source
// is queued once; ticks within the interval queue nothing (the scan waits in
// the queue, then has just run); after the interval since its last scan it
// is queued again. Unwatched sources are never queued, a missing folder is
// reported once per interval.
func TestWatcherQueuesOncePerInterval(t *testing.T) {
	ctx := context.Background()
	d := openDB(t)
	base := t.TempDir()
	clock := &svtime.FixedClock{T: t0}
	watched := addSource(t, d, filepath.Join(base, "watched"), 1)
	addSource(t, d, filepath.Join(base, "idle"), 1)
	gone := addSource(t, d, filepath.Join(base, "gone"), 0)
	for _, id := range []int64{watched, gone} {
		if err := sources.SetWatch(ctx, d, id, true); err != nil {
			t.Fatal(err)
		}
	}
	os.RemoveAll(filepath.Join(base, "gone"))
	q := jobs.NewQueue(jobs.QueueOptions{DB: d, Clock: clock, Config: jobs.DefaultConfig()})
	w := &sources.Watcher{DB: d, Clock: clock, Interval: 10 * time.Minute, Enqueue: scan.WatchEnqueuer(q, clock)}
	scanJobs := func() int { return count(t, d, `SELECT count(*) FROM jobs WHERE type = 'scan_path'`) }

	steps := []struct {
		name     string
		advance  time.Duration
		finish   bool // the queued scan runs (recorded like ScanPath does)
		queued   int
		failed   int
		wantJobs int
	}{
		{"first tick: last scan at t0 is 10 min old", 10 * time.Minute, false, 1, 1, 1},
		{"one minute later: queued already", time.Minute, false, 0, 0, 1},
		{"scan ran, 5 min later: not due", 5 * time.Minute, true, 0, 0, 1},
		{"9 min after the scan: not due; the gone folder is tried again", 4 * time.Minute, false, 0, 1, 1},
		{"10 min after the scan: queued again", time.Minute, false, 1, 0, 2},
		{"same instant again: nothing", 0, false, 0, 0, 2},
	}
	for _, st := range steps {
		clock.Advance(st.advance)
		if st.finish {
			d.Exec(`UPDATE jobs SET status = 'done' WHERE type = 'scan_path'`)
			if _, err := sources.RecordScan(ctx, d, sources.Scan{Root: filepath.Join(base, "watched"), Mode: sources.ModeInPlace,
				Status: sources.StatusDone, At: clock.Now().Add(-5 * time.Minute)}); err != nil {
				t.Fatal(err)
			}
		}
		res, err := w.RunOnce(ctx)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if res.Queued != st.queued || len(res.Failed) != st.failed || scanJobs() != st.wantJobs {
			t.Fatalf("%s: queued %d failed %v jobs %d; want %d, %d, %d", st.name, res.Queued, res.Failed, scanJobs(), st.queued, st.failed, st.wantJobs)
		}
	}
	if n := count(t, d, `SELECT count(*) FROM jobs WHERE type = 'scan_path' AND json_extract(payload_json, '$.mode') = 'in_place'
		AND json_extract(payload_json, '$.source') = 'watch'`); n != 2 {
		t.Fatalf("watch jobs in the source's mode: %d, want 2", n)
	}
}

func TestTick(t *testing.T) {
	for _, tc := range []struct{ in, want time.Duration }{
		{10 * time.Minute, time.Minute}, {time.Minute, 10 * time.Second}, {5 * time.Minute, 30 * time.Second}, {time.Hour, time.Minute},
	} {
		if got := sources.Tick(tc.in); got != tc.want {
			t.Errorf("Tick(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
