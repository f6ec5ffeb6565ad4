package scan_test

import (
	"context"
	"strings"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/scan"
)

// TestRefusedFollowUpsOneSummaryPerBatch: follow-ups the caps refuse are
// one consistency_log warning per import batch (count, types, causes,
// media range), not one row per job, and the import itself succeeds.
func TestRefusedFollowUpsOneSummaryPerBatch(t *testing.T) {
	cases := []struct {
		name             string
		files, batch     int
		typeCap          int
		wantQueued       int
		wantWarnings     int
		wantFirstMessage string
	}{
		// 12 media × 3 types, 3 per type fit: 27 refused in one batch.
		{"one batch", 12, 50, 3, 9, 1, "27 follow-up jobs refused by the queue caps (hash_compute=9, integrity_check=9, phash_compute=9; queue_full_type=27), media 4..12; media-worker will top up"},
		// Batches of 5, 5, 2: the first batch fills the caps (3 of 5 per
		// type), every batch then logs its own summary.
		{"three batches", 12, 5, 3, 9, 3, "6 follow-up jobs refused by the queue caps (hash_compute=2, integrity_check=2, phash_compute=2; queue_full_type=6), media 4..5; media-worker will top up"},
		// Room for all: no warning.
		{"nothing refused", 4, 50, 10, 12, 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			d := openDB(t)
			cfg := jobs.DefaultConfig()
			cfg.QueueMaxTotal, cfg.QueueMaxPerTypeDefault = 0, tc.typeCap
			q := jobs.NewQueue(jobs.QueueOptions{DB: d, Config: cfg})
			src := t.TempDir()
			writePNGs(t, src, tc.files)
			im := newImporter(d, testRoots(t), scan.ModeCopy)
			im.BatchSize = tc.batch
			im.Enqueue = scan.QueueEnqueuer(q)
			sum, err := im.ScanPath(ctx, src, scan.RunOptions{})
			if err != nil || sum.Imported != tc.files {
				t.Fatalf("import: %+v %v", sum, err)
			}
			var queued int
			d.QueryRow(`SELECT COUNT(*) FROM jobs WHERE status='queued'`).Scan(&queued)
			if queued != tc.wantQueued {
				t.Errorf("queued %d, want %d", queued, tc.wantQueued)
			}
			rows, err := d.Query(`SELECT severity, message FROM consistency_log WHERE check_name='import_enqueue' ORDER BY id`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var msgs []string
			for rows.Next() {
				var sev, msg string
				if err := rows.Scan(&sev, &msg); err != nil {
					t.Fatal(err)
				}
				if sev != "warning" {
					t.Errorf("severity %q", sev)
				}
				msgs = append(msgs, msg)
			}
			if len(msgs) != tc.wantWarnings {
				t.Fatalf("%d warnings, want %d: %q", len(msgs), tc.wantWarnings, msgs)
			}
			if tc.wantWarnings > 0 && msgs[0] != tc.wantFirstMessage {
				t.Errorf("first warning\n got %q\nwant %q", msgs[0], tc.wantFirstMessage)
			}
			for _, m := range msgs {
				if !strings.HasSuffix(m, "media-worker will top up") {
					t.Errorf("warning does not say who catches up: %q", m)
				}
			}
		})
	}
}
