package scan_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"github.com/localsupervisor/supervisor/pkg/scan/internal/pngtest"
	"os"
	"path/filepath"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/scan"
)

// writePNGs writes n distinct small PNGs into dir and returns their paths.
func writePNGs(t *testing.T, dir string, n int) []string {
	t.Helper()
	var out []string
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("f%03d.png", i))
		if err := os.WriteFile(p, pngtest.WithText(pngtest.PNG(8, 8, 1), "n", fmt.Sprint(i)), 0o644); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// TestFollowUpJobsInImportTransaction: hash_compute and integrity_check are
// queued for every new media, in batches spanning several transactions;
// and when queueing fails the import rolls back with them (no media row
// without its jobs), placed copies are removed and sources stay, so a
// re-run imports everything.
func TestFollowUpJobsInImportTransaction(t *testing.T) {
	for _, mode := range []string{scan.ModeMove, scan.ModeCopy, scan.ModeInPlace} {
		t.Run(mode, func(t *testing.T) {
			ctx := context.Background()
			d := openDB(t)
			q := jobs.NewQueue(jobs.QueueOptions{DB: d, Config: jobs.DefaultConfig()})
			roots := testRoots(t)
			src := t.TempDir()
			files := writePNGs(t, src, 7)
			im := newImporter(d, roots, mode)
			im.BatchSize = 3 // 7 files: batches of 3, 3, 1

			im.Enqueue = func(context.Context, *sql.Tx, []int64) ([]string, error) { return nil, errors.New("queue unavailable") }
			sum, err := im.ScanPath(ctx, src, scan.RunOptions{})
			if err != nil || sum.Imported != 0 || sum.Errors != 7 {
				t.Fatalf("failing enqueue: %+v %v", sum, err)
			}
			var nMedia, nErr int
			d.QueryRow(`SELECT COUNT(*) FROM media`).Scan(&nMedia)
			d.QueryRow(`SELECT COUNT(*) FROM import_log WHERE status='error' AND message LIKE 'db_error%'`).Scan(&nErr)
			if nMedia != 0 || nErr != 7 {
				t.Errorf("after failed enqueue: media=%d db_error logs=%d", nMedia, nErr)
			}
			for _, f := range files {
				if _, err := os.Stat(f); err != nil {
					t.Errorf("source lost: %v", err)
				}
			}
			if n := countFiles(t, roots.ImagesSFW); n != 0 {
				t.Errorf("%d placed copies left without rows", n)
			}

			im.Enqueue = scan.QueueEnqueuer(q)
			sum, err = im.ScanPath(ctx, src, scan.RunOptions{})
			if err != nil || sum.Imported != 7 {
				t.Fatalf("re-run: %+v %v", sum, err)
			}
			var missing int
			d.QueryRow(`SELECT COUNT(*) FROM media m WHERE
				(SELECT COUNT(*) FROM jobs j WHERE j.media_id=m.id AND j.type IN ('hash_compute','integrity_check')) != 2`).Scan(&missing)
			d.QueryRow(`SELECT COUNT(*) FROM media`).Scan(&nMedia)
			if nMedia != 7 || missing != 0 {
				t.Errorf("media=%d, %d without both follow-up jobs", nMedia, missing)
			}
		})
	}
}

// TestDuplicateWithinOneBatch: the same content twice in one batch is one
// media and one duplicate, and the tagger-free path keeps both import_log
// statuses.
func TestDuplicateWithinOneBatch(t *testing.T) {
	ctx := context.Background()
	d := openDB(t)
	src := t.TempDir()
	data := pngtest.PNG(9, 9, 4)
	for _, n := range []string{"a.png", "b.png", "c.png"} {
		os.WriteFile(filepath.Join(src, n), data, 0o644)
	}
	im := newImporter(d, testRoots(t), scan.ModeCopy)
	sum, err := im.ScanPath(ctx, src, scan.RunOptions{})
	if err != nil || sum.Imported != 1 || sum.Duplicates != 2 {
		t.Fatalf("%+v %v", sum, err)
	}
	var st []string
	rows, _ := d.Query(`SELECT status FROM import_log ORDER BY id`)
	for rows.Next() {
		var s string
		rows.Scan(&s)
		st = append(st, s)
	}
	rows.Close()
	if fmt.Sprint(st) != "[imported skipped_duplicate skipped_duplicate]" {
		t.Errorf("import_log %v", st)
	}
}

func countFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			n++
		}
		return nil
	})
	return n
}
