package scan_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/scan"
	"github.com/localsupervisor/supervisor/pkg/scanner"
	"github.com/localsupervisor/supervisor/pkg/svtest/pngtest"
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

			im.Enqueue = func(context.Context, *sql.Tx, []int64, bool) ([]string, error) {
				return nil, errors.New("queue unavailable")
			}
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

// countingTagger answers every image with an empty tag list and counts
// the calls per file name.
type countingTagger struct{ calls map[string]int }

func (c *countingTagger) ScanImage(_ context.Context, path string) (*scanner.Result, error) {
	c.calls[filepath.Base(path)]++
	return &scanner.Result{Rating: 1}, nil
}

func (c *countingTagger) ScanVideo(ctx context.Context, path string, _ scanner.FrameSource) (*scanner.Result, error) {
	return c.ScanImage(ctx, path)
}

// TestDuplicatesWithinOneRun: content seen earlier in the same run is a
// duplicate whether its first copy is still in the open batch or was
// committed by a flush inside the same lookup window: one media per
// content, the duplicates never reach the tagger (spec §10 item 16), and
// import_log keeps the walk order. Batch sizes 1 and 2 flush between the
// copies; the default keeps them in one batch.
func TestDuplicatesWithinOneRun(t *testing.T) {
	for _, batch := range []int{1, 2, 0} {
		t.Run(fmt.Sprint("batch", batch), func(t *testing.T) {
			ctx := context.Background()
			d := openDB(t)
			src := t.TempDir()
			x, y := pngtest.PNG(9, 9, 4), pngtest.PNG(9, 9, 5)
			for _, f := range []struct {
				name string
				data []byte
			}{{"a.png", x}, {"b.png", y}, {"c.png", x}, {"d.png", y}, {"e.png", x}} {
				os.WriteFile(filepath.Join(src, f.name), f.data, 0o644)
			}
			im := newImporter(d, testRoots(t), scan.ModeCopy)
			im.BatchSize = batch
			tagger := &countingTagger{calls: map[string]int{}}
			im.Tagger = tagger
			sum, err := im.ScanPath(ctx, src, scan.RunOptions{})
			if err != nil || sum.Imported != 2 || sum.Duplicates != 3 || sum.Errors != 0 {
				t.Fatalf("%+v %v", sum, err)
			}
			if fmt.Sprint(tagger.calls) != "map[a.png:1 b.png:1]" {
				t.Errorf("tagger calls %v, want the first copies only", tagger.calls)
			}
			var st []string
			rows, _ := d.Query(`SELECT status FROM import_log ORDER BY id`)
			for rows.Next() {
				var s string
				rows.Scan(&s)
				st = append(st, s)
			}
			rows.Close()
			if fmt.Sprint(st) != "[imported imported skipped_duplicate skipped_duplicate skipped_duplicate]" {
				t.Errorf("import_log %v", st)
			}
			var media int
			d.QueryRow(`SELECT COUNT(*) FROM media`).Scan(&media)
			if media != 2 {
				t.Errorf("%d media rows", media)
			}
		})
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
