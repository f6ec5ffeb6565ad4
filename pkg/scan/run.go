package scan

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/library"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/sources"
)

// RunOptions configure ScanPath.
type RunOptions struct {
	// Limit counts media files handed to the importer (0 = no limit).
	// Non-media files do not count (spec §10 item 19).
	Limit int
	Walk  WalkOptions
	// Progress is called after every media file.
	Progress func(s Summary, last Outcome)
	// OnCommit runs inside every transaction that commits new media, with
	// their number (the scan_path job records its durable progress there,
	// jobs.Job.AdvanceTx). An error rolls the batch back.
	OnCommit func(ctx context.Context, tx *sql.Tx, imported int) error
	// JobID is the scan_path job running this scan (0: scan-path --now),
	// recorded with the library source.
	JobID int64
}

// Summary is the result of one ScanPath run, the job's result object.
type Summary struct {
	Processed  int `json:"processed"`
	Imported   int `json:"imported"`
	Duplicates int `json:"skipped_duplicate"`
	// DuplicatesMoved counts the duplicates' sources a move import put
	// under paths.duplicates (import.duplicates "move").
	DuplicatesMoved int  `json:"duplicates_moved,omitempty"`
	Unchanged       int  `json:"unchanged"`
	Skipped         int  `json:"skipped"`
	Errors          int  `json:"errors"`
	NotMedia        int  `json:"not_media"`
	Missing         int  `json:"marked_missing"`
	Cancelled       bool `json:"cancelled"`
	Limited         bool `json:"limited"`
	// Warnings counts the files of Errors by reason code (the code of
	// their import_log row), nil when none failed.
	Warnings *jobs.Warnings `json:"warnings,omitempty"`
}

// failure is the error of a run in which files failed and none was
// imported, found a duplicate of or recognised as unchanged: nothing could
// be placed or catalogued at all, so the job must not end done. It carries
// the most frequent file reason code (disk_full when the library disk is
// full) and is permanent: running the job again before the cause is fixed
// would fail every file again.
func (s Summary) failure() error {
	if s.Errors == 0 || s.Imported+s.Duplicates+s.Unchanged > 0 || s.Cancelled {
		return nil
	}
	return reason.Newf(s.Warnings.Dominant(), "none of the media files could be imported: %s; details per file are in the import log", s.Warnings.Text())
}

// ScanPath walks root (a folder or one file) and imports every media file.
// In mode in_place or copy the folder (a file's folder) is recorded as a
// library source when the scan starts, and the outcome when it ends
// (sources.RecordScan), so the web UI serves what was imported in place
// and the dashboard lists it. See scanPath for the walk.
func (im *Importer) ScanPath(ctx context.Context, root string, opts RunOptions) (Summary, error) {
	rec := sources.Scan{Root: root, Mode: im.mode(), JobID: opts.JobID, Status: sources.StatusRunning, At: im.now()}
	recorded := false
	if _, err := os.Stat(root); err == nil {
		// A missing root is scanPath's error to report (scan_path_missing).
		ok, err := sources.RecordScan(ctx, im.DB, rec)
		if err != nil {
			return Summary{}, err
		}
		recorded = ok
	}
	s, err := im.scanPath(ctx, root, opts)
	if recorded {
		rec.Status, rec.At = sources.StatusDone, im.now()
		switch {
		case err != nil:
			rec.Status = sources.StatusError
		case s.Cancelled:
			rec.Status = sources.StatusCancelled
		}
		// Recorded even when the job's ctx is cancelled: the dashboard
		// must not show a stopped scan as running.
		if _, rerr := sources.RecordScan(context.WithoutCancel(ctx), im.DB, rec); rerr != nil && err == nil {
			err = rerr
		}
	}
	return s, err
}

// scanPath walks root (a folder or one file) and imports every media file.
// The walk runs ahead in its own goroutine (recognising unchanged files
// from one scan_files query per folder), Workers examine and hash files in
// parallel, and one writer takes them in walk order and commits new media
// in batches. After a complete walk of a folder, catalogued files below it
// that no longer exist are marked missing. A cancelled ctx ends the run
// with Cancelled set and no error; the batch in flight is committed first.
func (im *Importer) scanPath(ctx context.Context, root string, opts RunOptions) (Summary, error) {
	var s Summary
	if !ValidMode(im.mode()) {
		return s, reason.Newf(CodeInvalidMode, "unknown import mode %q", im.Mode)
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return s, err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return s, reason.Permanent(CodeScanPathMissing, err)
	}
	seen := map[string]bool{}
	emit := func(out Outcome) {
		if out.Status == StatusNotMedia {
			s.NotMedia++
			return
		}
		s.Processed++
		switch out.Status {
		case StatusImported:
			s.Imported++
		case StatusSkippedDuplicate:
			s.Duplicates++
			if out.Aside != "" {
				s.DuplicatesMoved++
			}
		case StatusUnchanged:
			s.Unchanged++
		case StatusError:
			s.Errors++
			jobs.AddWarning(&s.Warnings, "files", out.Code)
		}
		if opts.Progress != nil {
			opts.Progress(s, out)
		}
	}
	w := im.newWriter(emit)
	w.onCommit = opts.OnCommit
	if st.IsDir() {
		w.root = abs
	}
	defer w.close()
	im.removeStaleStaged()
	var stg *stager
	if im.mode() == ModeCopy {
		stg = newStager(im)
	}
	walkCtx, stopWalk := context.WithCancel(ctx)
	defer stopWalk()
	items, wait := im.feed(walkCtx, abs, opts.Walk, stg)
	handed := 0 // media files handed to the writer (pending ones included)
	var runErr error
	// Files go to the writer in windows of what the feed has ready, so it
	// checks their hashes against the catalogue with one query per window.
	var window []*prepared
	addWindow := func() error {
		err := w.addWindow(ctx, window)
		if err != nil {
			for _, p := range window {
				p.dropCopy() // those the writer did not reach
			}
		}
		window = window[:0]
		return err
	}
	for it := range items {
		if it.walkErr != nil {
			s.Errors++
			code := reason.CodeOr(it.walkErr, "not_readable")
			jobs.AddWarning(&s.Warnings, "files", code)
			_ = media.ImportLog(ctx, im.DB, it.path, StatusError, code+": "+reason.Truncate(it.walkErr.Error(), 200), im.now())
			if opts.Walk.OnError != nil {
				opts.Walk.OnError(it.path, it.walkErr)
			}
			continue
		}
		if opts.Limit > 0 && handed >= opts.Limit {
			s.Limited = true
			(<-it.res).dropCopy()
			break
		}
		p, err := w.await(ctx, it.res, func() error {
			if len(window) == 0 {
				return nil
			}
			return addWindow()
		})
		if err != nil {
			runErr = err
			break
		}
		seen[it.path] = true
		window = append(window, p)
		if p.done == nil || p.done.Status != StatusNotMedia {
			handed++
		}
		if len(window) >= windowSize || len(items) == 0 {
			if err := addWindow(); err != nil {
				runErr = err
				break
			}
		}
	}
	if runErr == nil && len(window) > 0 {
		runErr = addWindow()
	}
	stopWalk()
	werr := wait()
	// Whatever stopped the loop, placed files of the batch get their rows.
	if ferr := w.flush(ctx); ferr != nil && runErr == nil {
		runErr = ferr
	}
	if runErr == nil && !s.Limited && ctx.Err() == nil {
		runErr = werr
	}
	if runErr != nil || ctx.Err() != nil {
		if ctx.Err() != nil && (runErr == nil || errors.Is(runErr, context.Canceled) || errors.Is(runErr, context.DeadlineExceeded)) {
			s.Cancelled = true
			return s, nil
		}
		return s, runErr
	}
	if st.IsDir() && !s.Limited {
		n, err := im.markMissing(ctx, abs, seen)
		if err != nil {
			return s, err
		}
		s.Missing = n
	}
	return s, nil
}

// walkItem is one entry of the ordered feed: a file whose prepared result
// arrives on res, or an entry the walk could not read.
type walkItem struct {
	path    string
	res     chan *prepared
	walkErr error
}

// feedDepth is how far the walk and the workers may run ahead of the
// writer: more than one default batch (1024), so the examining goroutines
// keep working while the writer commits a batch. (It was raised from 64
// by a leftover of a benchmark sweep that measured no difference either
// way on this machine; kept for that reason, a few hundred bytes per file.)
const feedDepth = 2048

// feed walks root in a goroutine and examines files with Workers
// goroutines; items come out in walk order. With st (copy mode) the
// examined files' staged copies are fsynced by stageSyncParallel more
// goroutines before their items are ready. wait stops nothing by itself
// (cancel ctx for that): it waits for every goroutine, discards the staged
// copies of items nobody took, and returns the walk error.
func (im *Importer) feed(ctx context.Context, root string, wo WalkOptions, st *stager) (<-chan walkItem, func() error) {
	n := im.Workers
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	type job struct {
		path string
		info fs.FileInfo
		res  chan *prepared
	}
	type synced struct {
		p   *prepared
		res chan *prepared
	}
	jobsCh := make(chan job, feedDepth)
	items := make(chan walkItem, feedDepth)
	// syncCh is short: a staged copy holds a descriptor until its fsync.
	syncCh := make(chan synced, stageSyncParallel)
	var wg, syncWG sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := newScratch()
			for j := range jobsCh {
				p := im.prepare(ctx, j.path, j.info, sc, st)
				if p.copy != nil {
					syncCh <- synced{p, j.res}
				} else {
					j.res <- p
				}
			}
		}()
	}
	if st != nil {
		for range stageSyncParallel {
			syncWG.Go(func() {
				for s := range syncCh {
					// A failure stays with the copy: publishing it
					// reports it and the writer copies the file itself.
					_ = s.p.copy.Sync()
					s.res <- s.p
				}
			})
		}
	}
	go func() {
		wg.Wait()
		close(syncCh)
	}()
	var werr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(items)
		defer close(jobsCh)
		send := func(it walkItem) error {
			select {
			case items <- it:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		dirs := dirRows{im: im}
		wo.OnError = func(p string, err error) { _ = send(walkItem{path: p, walkErr: err}) }
		werr = Walk(ctx, root, wo, func(p string, info fs.FileInfo) error {
			if im.DuplicatesDir != "" && strings.HasPrefix(p, im.DuplicatesDir+string(filepath.Separator)) {
				// Put aside by a move import: imported already.
				return nil
			}
			res := make(chan *prepared, 1)
			if ok, mid := dirs.unchanged(ctx, p, keyOf(info)); ok {
				res <- &prepared{path: p, done: &Outcome{Path: p, Status: StatusUnchanged, MediaID: mid}}
			} else {
				// jobs first: a worker never blocks (res is buffered), so
				// the writer waiting on res cannot deadlock the feed.
				select {
				case jobsCh <- job{path: p, info: info, res: res}:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			if err := send(walkItem{path: p, res: res}); err != nil {
				(<-res).dropCopy() // examined for nobody
				return err
			}
			return nil
		})
	}()
	return items, func() error {
		// Drain so a walk blocked on a full feed sees the cancel.
		for it := range items {
			if it.res != nil {
				(<-it.res).dropCopy()
			}
		}
		<-done
		wg.Wait()
		syncWG.Wait()
		return werr
	}
}

// dirRows answers the unchanged check from the scan_files rows of one
// folder, loaded with one indexed query when the walk enters it (the walk
// finishes a folder's files before the next folder's).
type dirRows struct {
	im   *Importer
	dir  string
	rows map[string]scanFileRow
}

// dirExpr is the folder part (with trailing separator) of scan_files.path;
// idx_scan_files_dir (schema 0201) indexes exactly this expression.
const dirExpr = `rtrim(sf.path, replace(replace(sf.path, '/', ''), '\', ''))`

func (d *dirRows) unchanged(ctx context.Context, path string, k fileKey) (bool, int64) {
	dir, name := filepath.Split(path)
	if strings.ContainsAny(name, `/\`) {
		// A backslash in a POSIX name splits differently in SQL.
		ok, id, _ := d.im.unchanged(ctx, path, k)
		return ok, id
	}
	if dir != d.dir || d.rows == nil {
		d.dir, d.rows = dir, map[string]scanFileRow{}
		rows, err := d.im.DB.QueryContext(ctx, `SELECT sf.path, `+scanFileCols+` FROM scan_files sf LEFT JOIN media m ON m.id=sf.media_id
			WHERE `+dirExpr+` = ?`, dir)
		if err != nil {
			d.rows = nil
			return false, 0 // examined like a new file: slower, never wrong
		}
		for rows.Next() {
			var p string
			var r scanFileRow
			if rows.Scan(&p, &r.k.size, &r.k.mtimeNS, &r.media, &r.status, &r.mediaPath) == nil {
				d.rows[p] = r
			}
		}
		rows.Close()
		if rows.Err() != nil {
			// A partial listing: files it missed would merely be
			// examined again, but say "not known" for all of them.
			d.rows = nil
			return false, 0
		}
	}
	r, ok := d.rows[path]
	if !ok {
		return false, 0
	}
	return d.im.unchangedRow(r, path, k)
}

// missingBatch is how many rows one markMissing write transaction
// changes: short enough that web writes and job claims waiting for the
// write lock are not held up, large enough that a folder of thousands of
// vanished files is not one commit per row.
const missingBatch = 256

// markMissing flags media below dir whose file is gone, and forgets
// scan_files rows of vanished sources. Both listings are read completely
// (rows.Err checked) before anything is written: a listing cut short by
// an error is an error, never "the rest is gone".
func (im *Importer) markMissing(ctx context.Context, dir string, seen map[string]bool) (int, error) {
	prefix, hi := library.PrefixRange(dir)
	var gone []int64
	err := eachRow(ctx, im.DB, `SELECT id, path FROM media WHERE path >= ? AND path < ? AND status='active'`, []any{prefix, hi},
		func(rows *sql.Rows) error {
			var id int64
			var p string
			if err := rows.Scan(&id, &p); err != nil {
				return err
			}
			if !seen[p] {
				if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
					gone = append(gone, id)
				}
			}
			return nil
		})
	if err != nil {
		return 0, err
	}
	// Vanished sources (moved away or deleted) lose their fingerprints so
	// a file reappearing under the same name is examined again.
	var drop []any
	err = eachRow(ctx, im.DB, `SELECT path FROM scan_files WHERE path >= ? AND path < ?`, []any{prefix, hi},
		func(rows *sql.Rows) error {
			var p string
			if err := rows.Scan(&p); err != nil {
				return err
			}
			if !seen[p] {
				drop = append(drop, p)
			}
			return nil
		})
	if err != nil {
		return 0, err
	}
	ids := make([]any, len(gone))
	for i, id := range gone {
		ids[i] = id
	}
	// status='active' again: a row repaired or re-pointed since the
	// listing keeps its state.
	if err := inBatches(ctx, im.DB, `UPDATE media SET status='missing' WHERE id=? AND status='active'`, ids); err != nil {
		return 0, err
	}
	if err := inBatches(ctx, im.DB, `DELETE FROM scan_files WHERE path=?`, drop); err != nil {
		return 0, err
	}
	return len(gone), nil
}

// eachRow runs q and calls fn for every row; an error of the listing
// itself (rows.Err) is returned like any other.
func eachRow(ctx context.Context, d *sql.DB, q string, args []any, fn func(*sql.Rows) error) error {
	rows, err := d.QueryContext(ctx, q, args...)
	if err != nil {
		return db.Classify(err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return db.Classify(rows.Err())
}

// inBatches executes stmt (one placeholder) once per value, missingBatch
// values per write transaction.
func inBatches(ctx context.Context, d *sql.DB, stmt string, vals []any) error {
	for len(vals) > 0 {
		n := min(len(vals), missingBatch)
		chunk := vals[:n]
		vals = vals[n:]
		err := db.InTx(ctx, d, func(tx *sql.Tx) error {
			st, err := tx.PrepareContext(ctx, stmt)
			if err != nil {
				return db.Classify(err)
			}
			defer st.Close()
			for _, v := range chunk {
				if _, err := st.ExecContext(ctx, v); err != nil {
					return db.Classify(err)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
