package scan_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/scan"
	"github.com/localsupervisor/supervisor/pkg/svtest/pngtest"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// TestRescanLibraryWalksAllMediaInChunks: the dashboard's "Rescan library"
// job (scan_backfill_tags, mode all) gives every active, not deleted media
// one rescan_media job — tagged ones too — across several chunks and runs;
// its cursor survives a worker restart (a new queue, setup and runner
// resume from the saved payload), and the job row reports progress
// (processed of total) after every chunk and at the end.
func TestRescanLibraryWalksAllMediaInChunks(t *testing.T) {
	ctx := context.Background()
	d := openDB(t)
	clock := &svtime.FixedClock{T: t0}
	src := t.TempDir()
	for i := 0; i < 8; i++ {
		os.WriteFile(filepath.Join(src, fmt.Sprintf("m%d.png", i)), pngtest.PNG(4, 4, uint8(i*30)), 0o644)
	}
	im := newImporter(d, testRoots(t), scan.ModeInPlace)
	if s, err := im.ScanPath(ctx, src, scan.RunOptions{}); err != nil || s.Imported != 8 {
		t.Fatalf("import %+v %v", s, err)
	}
	// A tagged media is rescanned too; a soft-deleted one is not.
	d.Exec(`INSERT INTO tags(name, type) VALUES ('cat','content')`)
	d.Exec(`INSERT INTO media_tags(media_id, tag_id, confidence, locked) SELECT (SELECT MIN(id) FROM media), id, 1, 0 FROM tags`)
	d.Exec(`UPDATE media SET is_deleted = 1 WHERE id = (SELECT MAX(id) FROM media)`)

	req, err := scan.BackfillRequest(scan.BackfillAll, 2, 0, "web", clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	q := jobs.NewQueue(jobs.QueueOptions{DB: d, Clock: clock, Config: jobs.DefaultConfig()})
	res, err := q.Enqueue(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	// A second click joins the live walk instead of starting another.
	if again, err := q.Enqueue(ctx, req); err != nil || !again.Deduped || again.JobID != res.JobID {
		t.Fatalf("second enqueue %+v %v, want deduped onto #%d", again, err, res.JobID)
	}

	// First worker process: chunks of 2, 3 new jobs per run, then it
	// checkpoints and re-queues itself.
	setup := &scan.Setup{Importer: im}
	r := newRunner(t, q, []string{jobs.TypeScanBackfillTags}, setup.Handlers(scan.HandlerOptions{Queue: q, BackfillRunCap: 3, BackfillPause: time.Minute}))
	if s, err := r.RunBatch(ctx, 1); err != nil || s.Snoozed != 1 {
		t.Fatalf("first run %+v %v", s, err)
	}
	r.Close()
	row, _ := q.Get(ctx, res.JobID)
	var p scan.BackfillPayload
	if err := json.Unmarshal([]byte(row.Payload), &p); err != nil {
		t.Fatal(err)
	}
	if row.Status != jobs.StatusQueued || p.Mode != scan.BackfillAll || p.Processed != 3 || p.CursorLastID == 0 {
		t.Fatalf("checkpoint: status %s payload %s", row.Status, row.Payload)
	}
	if row.ProgressBits != 3 || row.ProgressTotal != 7 {
		t.Fatalf("progress after the first run %d/%d, want 3/7", row.ProgressBits, row.ProgressTotal)
	}

	// A restarted worker (new queue, setup and runner) resumes at the
	// cursor and finishes over further runs.
	clock.T = clock.T.Add(2 * time.Minute)
	q2 := jobs.NewQueue(jobs.QueueOptions{DB: d, Clock: clock, Config: jobs.DefaultConfig()})
	setup2 := &scan.Setup{Importer: newImporter(d, testRoots(t), scan.ModeInPlace)}
	r2 := newRunner(t, q2, []string{jobs.TypeScanBackfillTags}, setup2.Handlers(scan.HandlerOptions{Queue: q2, BackfillRunCap: 3, BackfillPause: time.Minute}))
	for i := 0; i < 5; i++ {
		if row, _ = q2.Get(ctx, res.JobID); row.Status == jobs.StatusDone {
			break
		}
		if _, err := r2.RunBatch(ctx, 1); err != nil {
			t.Fatal(err)
		}
		clock.T = clock.T.Add(2 * time.Minute)
	}
	row, _ = q2.Get(ctx, res.JobID)
	var out scan.BackfillResult
	json.Unmarshal([]byte(row.Result), &out)
	if row.Status != jobs.StatusDone || out.Result != "done" || out.EnqueuedTotal != 7 || out.Processed != 7 {
		t.Fatalf("final %s %s", row.Status, row.Result)
	}
	if row.ProgressBits != 7 || row.ProgressTotal != 7 {
		t.Fatalf("final progress %d/%d, want 7/7", row.ProgressBits, row.ProgressTotal)
	}
	var n, distinct, deleted int
	d.QueryRow(`SELECT COUNT(*), COUNT(DISTINCT media_id) FROM jobs WHERE type='rescan_media'`).Scan(&n, &distinct)
	if n != 7 || distinct != 7 {
		t.Fatalf("rescan jobs %d (distinct %d), want 7", n, distinct)
	}
	d.QueryRow(`SELECT COUNT(*) FROM jobs WHERE type='rescan_media' AND media_id=(SELECT MAX(id) FROM media)`).Scan(&deleted)
	if deleted != 0 {
		t.Fatal("a soft-deleted media got a rescan job")
	}
	// Every queued rescan carries the media id the rescan handler needs.
	var bad int
	d.QueryRow(`SELECT COUNT(*) FROM jobs WHERE type='rescan_media' AND (media_id IS NULL OR json_extract(payload_json, '$.media_id') <> media_id)`).Scan(&bad)
	if bad != 0 {
		t.Fatalf("%d rescan jobs without a matching media_id", bad)
	}
	d.QueryRow(`SELECT COUNT(*) FROM audit_log WHERE action='backfill_all_done'`).Scan(&n)
	if n != 1 {
		t.Fatalf("rescan-library audits %d", n)
	}
}

// TestBackfillRequestModes: both modes build a request with their own
// dedupe key; an unknown mode is refused with a reason code.
func TestBackfillRequestModes(t *testing.T) {
	for _, tc := range []struct {
		mode, wantKey, wantCode string
	}{
		{"", "scan_backfill_tags:no_tags", ""},
		{scan.BackfillNoTags, "scan_backfill_tags:no_tags", ""},
		{scan.BackfillAll, "scan_backfill_tags:all", ""},
		{"everything", "", scan.CodeBackfillBadMode},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			req, err := scan.BackfillRequest(tc.mode, 900, 0, "web", t0)
			if tc.wantCode != "" {
				if reason.Code(err) != tc.wantCode {
					t.Fatalf("err %v, want %s", err, tc.wantCode)
				}
				return
			}
			p, _ := req.Payload.(scan.BackfillPayload)
			if err != nil || req.DedupeKey != tc.wantKey || p.Chunk != 500 || req.Type != jobs.TypeScanBackfillTags {
				t.Fatalf("%+v %v", req, err)
			}
		})
	}
}
