package scan

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

// RunOptions configure ScanPath.
type RunOptions struct {
	// Limit counts media files handed to the importer (0 = no limit).
	// Non-media files do not count (spec §10 item 19).
	Limit int
	Walk  WalkOptions
	// Progress is called after every media file.
	Progress func(s Summary, last Outcome)
}

// Summary is the result of one ScanPath run, the job's result object.
type Summary struct {
	Processed  int  `json:"processed"`
	Imported   int  `json:"imported"`
	Duplicates int  `json:"skipped_duplicate"`
	Unchanged  int  `json:"unchanged"`
	Skipped    int  `json:"skipped"`
	Errors     int  `json:"errors"`
	NotMedia   int  `json:"not_media"`
	Missing    int  `json:"marked_missing"`
	Cancelled  bool `json:"cancelled"`
	Limited    bool `json:"limited"`
}

// ScanPath walks root (a folder or one file) and imports every media file.
// After a complete walk of a folder, catalogued files below it that no
// longer exist are marked missing. A cancelled ctx ends the run with
// Cancelled set and no error.
func (im *Importer) ScanPath(ctx context.Context, root string, opts RunOptions) (Summary, error) {
	var s Summary
	abs, err := filepath.Abs(root)
	if err != nil {
		return s, err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return s, reason.Permanent(CodeScanPathMissing, err)
	}
	wo := opts.Walk
	userErr := wo.OnError
	wo.OnError = func(p string, err error) {
		s.Errors++
		_ = media.ImportLog(ctx, im.DB, p, StatusError, reason.CodeOr(err, "not_readable")+": "+reason.Truncate(err.Error(), 200), im.now())
		if userErr != nil {
			userErr(p, err)
		}
	}
	seen := map[string]bool{}
	werr := Walk(ctx, abs, wo, func(p string, _ fs.FileInfo) error {
		if opts.Limit > 0 && s.Processed >= opts.Limit {
			s.Limited = true
			return StopWalk
		}
		seen[p] = true
		out, err := im.ImportFile(ctx, p)
		if err != nil {
			return err
		}
		if out.Status == StatusNotMedia {
			s.NotMedia++
			return nil
		}
		s.Processed++
		switch out.Status {
		case StatusImported:
			s.Imported++
		case StatusSkippedDuplicate:
			s.Duplicates++
		case StatusUnchanged:
			s.Unchanged++
		case StatusError:
			s.Errors++
		}
		if opts.Progress != nil {
			opts.Progress(s, out)
		}
		return nil
	})
	if werr != nil {
		if errors.Is(werr, context.Canceled) || errors.Is(werr, context.DeadlineExceeded) {
			s.Cancelled = true
			return s, nil
		}
		return s, werr
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

// markMissing flags media below dir whose file is gone, and forgets
// scan_files rows of vanished sources.
func (im *Importer) markMissing(ctx context.Context, dir string, seen map[string]bool) (int, error) {
	prefix := strings.TrimSuffix(dir, string(filepath.Separator)) + string(filepath.Separator)
	hi := prefix[:len(prefix)-1] + string(rune(filepath.Separator+1))
	rows, err := im.DB.QueryContext(ctx, `SELECT id, path FROM media WHERE path >= ? AND path < ? AND status='active'`, prefix, hi)
	if err != nil {
		return 0, err
	}
	var gone []int64
	for rows.Next() {
		var id int64
		var p string
		if err := rows.Scan(&id, &p); err != nil {
			rows.Close()
			return 0, err
		}
		if seen[p] {
			continue
		}
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
			gone = append(gone, id)
		}
	}
	rows.Close()
	for _, id := range gone {
		if err := media.SetStatus(ctx, im.DB, id, media.StatusMissing); err != nil {
			return 0, err
		}
	}
	// Vanished sources (moved away or deleted) lose their fingerprints so
	// a file reappearing under the same name is examined again.
	frows, err := im.DB.QueryContext(ctx, `SELECT path FROM scan_files WHERE path >= ? AND path < ?`, prefix, hi)
	if err != nil {
		return 0, err
	}
	var drop []string
	for frows.Next() {
		var p string
		if err := frows.Scan(&p); err != nil {
			frows.Close()
			return 0, err
		}
		if !seen[p] {
			drop = append(drop, p)
		}
	}
	frows.Close()
	for _, p := range drop {
		if _, err := im.DB.ExecContext(ctx, `DELETE FROM scan_files WHERE path=?`, p); err != nil {
			return 0, err
		}
	}
	return len(gone), nil
}
