package scan

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/library"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/probe"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/scanner"
	"github.com/localsupervisor/supervisor/pkg/sdmeta"
)

// RescanResult is the rescan_media job result (original field names).
type RescanResult struct {
	MediaID     int64    `json:"media_id"`
	Result      string   `json:"result"`
	Scanner     string   `json:"scanner,omitempty"`
	NSFWScore   *float64 `json:"nsfw_score"`
	TagsWritten int      `json:"tags_written"`
	PathBefore  string   `json:"path_before"`
	PathAfter   string   `json:"path_after"`
	HasNSFW     bool     `json:"has_nsfw"`
	Rating      int      `json:"rating"`
}

// RescanMedia re-tags one media: missing file → status missing and a failed
// scan_result; tagger failure → failed scan_result and an error; success →
// unlocked tags replaced (locked ones kept), rating/has_nsfw updated, file
// moved to its canonical path when its root changed (inside the roots only,
// compensated if the DB update fails), metadata extracted when absent.
func (im *Importer) RescanMedia(ctx context.Context, mediaID int64) (RescanResult, error) {
	out := RescanResult{MediaID: mediaID}
	if im.Tagger == nil {
		return out, reason.New(scanner.CodeDisabled, "scanner is disabled; rescan needs the tagger")
	}
	m, err := media.Get(ctx, im.DB, mediaID)
	if err != nil {
		return out, err
	}
	out.PathBefore, out.PathAfter = m.Path, m.Path
	now := im.now()
	if _, err := os.Stat(m.Path); errors.Is(err, os.ErrNotExist) {
		ferr := reason.Permanent(CodeFileMissing, err)
		_ = db.InTx(ctx, im.DB, func(tx *sql.Tx) error {
			if err := media.SetStatus(ctx, tx, mediaID, media.StatusMissing); err != nil {
				return err
			}
			return storeScan(ctx, tx, mediaID, nil, ferr, im.ScannerName, map[string]any{"path_before": m.Path}, now, false)
		})
		return out, ferr
	}
	// The file is read where it really is, and only inside the roots:
	// a symlink in the library pointing elsewhere is not read through.
	rd, err := im.readable(ctx)
	if err != nil {
		return out, err
	}
	real, err := rd.Check(m.Path)
	if err != nil {
		if reason.Code(err) == "" {
			err = reason.Permanent(probe.CodeNotReadable, err)
		}
		_ = storeScan(ctx, im.DB, mediaID, nil, err, im.ScannerName, map[string]any{"path_before": m.Path}, now, false)
		return out, err
	}
	var res *scanner.Result
	if m.Type == library.TypeVideo {
		res, err = im.Tagger.ScanVideo(ctx, real, im.Frames)
	} else {
		res, err = im.Tagger.ScanImage(ctx, real)
	}
	im.ingest("rescan", m.Path, m.Type, 0, res, err)
	if err != nil {
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		_ = storeScan(ctx, im.DB, mediaID, nil, err, im.ScannerName, map[string]any{"path_before": m.Path}, now, false)
		return out, err
	}
	// A person's 18+/safe decision wins over the tagger's verdict: the
	// tags and rating are refreshed, has_nsfw and the file's root stay.
	nsfw := res.HasNSFW
	manual, decided, err := media.NSFWDecision(ctx, im.DB, mediaID)
	if err != nil {
		return out, err
	}
	if decided {
		nsfw = manual
	}
	newPath := m.Path
	moved := false
	if _, in := library.Inside(im.Roots.All(), m.Path); in && nsfw != m.HasNSFW {
		dst, derr := library.Destination(im.Roots, m.Type, nsfw, m.Hash, filepath.Ext(m.Path))
		if derr == nil && dst != m.Path {
			if _, serr := os.Stat(dst); serr != nil {
				if err := library.MoveFile(m.Path, dst); err == nil {
					newPath, moved = dst, true
				}
			}
		}
	}
	err = db.InTx(ctx, im.DB, func(tx *sql.Tx) error {
		extra := map[string]any{"path_before": m.Path, "path_after": newPath}
		if decided {
			extra["nsfw_manual"] = manual
		}
		if err := storeScan(ctx, tx, mediaID, res, nil, im.ScannerName, extra, now, true); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE media SET path=?, has_nsfw=?, rating=?, status='active' WHERE id=?`,
			newPath, boolInt(nsfw), res.Rating, mediaID)
		if err != nil {
			return db.Classify(err)
		}
		return media.DeleteMeta(ctx, tx, mediaID, "scan_stale")
	})
	if err != nil {
		if moved {
			_ = library.MoveFile(newPath, m.Path)
		}
		_ = storeScan(ctx, im.DB, mediaID, nil, reason.Transient(CodeDBError, err), im.ScannerName, nil, now, false)
		return out, err
	}
	if im.Extract != nil {
		if pid, _, _ := media.CurrentPrompt(ctx, im.DB, mediaID); pid == 0 {
			// real was checked; a moved file is at its library path.
			src := real
			if moved {
				src = newPath
			}
			if r, err := im.ExtractFile(ctx, src); err == nil {
				_ = db.InTx(ctx, im.DB, func(tx *sql.Tx) error {
					_, err := media.StoreExtraction(ctx, tx, mediaID, r, media.PromptSourceRescan, now)
					return err
				})
			}
		}
	}
	out.Result, out.Scanner, out.NSFWScore = "ok", res.Scanner, res.NSFWScore
	out.TagsWritten, out.PathAfter, out.HasNSFW, out.Rating = len(res.Tags), newPath, nsfw, res.Rating
	return out, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// RebuildOptions select prompts-rebuild candidates.
type RebuildOptions struct {
	Limit, Offset int
	MediaID       int64
	// Force re-extracts every candidate, even current ones.
	Force bool
}

// RebuildSummary counts a prompts-rebuild run.
type RebuildSummary struct {
	Total     int `json:"total"`
	Processed int `json:"processed"`
	Changed   int `json:"changed"`
	Skipped   int `json:"skipped"`
	Errors    int `json:"errors"`
	// Refused counts files not read: they resolve outside the library
	// roots and sources (a symlink pointing elsewhere) or cannot be
	// resolved.
	Refused int `json:"refused"`
	// GenFilled counts media given media_gen rows from their stored prompt
	// (imported before generation parameters were stored queryably).
	GenFilled int `json:"gen_filled"`
}

// PromptsRebuild first gives every media that has a prompt but no
// media_gen row its generation parameters from the stored prompt (no file
// read; skipped when one media is selected: its re-extraction writes
// them), then re-extracts metadata for active media whose prompt is
// missing or whose stored extractor version (meta.extractor_version) is
// older than sdmeta.ExtractorVersion. After a run every processed media
// carries the current version and every prompt its media_gen row, so a
// second run finds nothing to do.
func (im *Importer) PromptsRebuild(ctx context.Context, o RebuildOptions) (RebuildSummary, error) {
	var s RebuildSummary
	if im.Extract == nil {
		return s, reason.New(CodeMetaFailed, "no metadata extractor configured")
	}
	if o.MediaID == 0 {
		n, err := media.BackfillGen(ctx, im.DB, 0)
		s.GenFilled = n
		if err != nil {
			return s, err
		}
	}
	limit := o.Limit
	if limit <= 0 {
		limit = 250
	}
	rd, err := im.readable(ctx)
	if err != nil {
		return s, err
	}
	q := `SELECT m.id, m.path FROM media m WHERE m.status='active'`
	args := []any{}
	if o.MediaID != 0 {
		q += ` AND m.id=?`
		args = append(args, o.MediaID)
	} else if !o.Force {
		q += ` AND (NOT EXISTS (SELECT 1 FROM prompts p WHERE p.media_id=m.id)
			AND NOT EXISTS (SELECT 1 FROM media_meta x WHERE x.media_id=m.id AND x.meta_key=? AND CAST(x.meta_value AS INTEGER) >= ?)
			OR COALESCE((SELECT CAST(x.meta_value AS INTEGER) FROM media_meta x WHERE x.media_id=m.id AND x.meta_key=? ORDER BY x.id DESC LIMIT 1), 0) < ?)`
		v := sdmeta.ExtractorVersion
		args = append(args, media.MetaExtractorVersion, v, media.MetaExtractorVersion, v)
	}
	q += ` ORDER BY m.id LIMIT ? OFFSET ?`
	args = append(args, limit, o.Offset)
	type cand struct {
		id   int64
		path string
	}
	var cands []cand
	err = eachRow(ctx, im.DB, q, args, func(rows *sql.Rows) error {
		var c cand
		if err := rows.Scan(&c.id, &c.path); err != nil {
			return err
		}
		cands = append(cands, c)
		return nil
	})
	if err != nil {
		return s, err
	}
	s.Total = len(cands)
	for _, c := range cands {
		if err := ctx.Err(); err != nil {
			return s, err
		}
		// Read where the file really is, only inside the roots (the
		// web UI's rule): a symlink pointing elsewhere is not followed.
		real, err := rd.Check(c.path)
		if errors.Is(err, fs.ErrNotExist) {
			s.Skipped++
			continue
		}
		if err != nil {
			s.Refused++
			continue
		}
		r, err := im.ExtractFile(ctx, real)
		if err != nil {
			s.Errors++
			continue
		}
		now := im.now()
		var res media.SavePromptResult
		err = db.InTx(ctx, im.DB, func(tx *sql.Tx) error {
			var err error
			res, err = media.StoreExtraction(ctx, tx, c.id, r, media.PromptSourceRebuild, now)
			return err
		})
		if err != nil {
			s.Errors++
			continue
		}
		s.Processed++
		if res.Changed || res.Version > 0 {
			s.Changed++
		}
	}
	return s, nil
}

// UnscannedImages lists media ids without any scan_results row, for
// `rescan --missing-scan` (ORDER BY id).
func UnscannedImages(ctx context.Context, d *sql.DB, limit, offset int) ([]int64, error) {
	if limit <= 0 {
		limit = 100
	}
	return ids(ctx, d, `SELECT id FROM media m WHERE status='active' AND NOT EXISTS (SELECT 1 FROM scan_results s WHERE s.media_id=m.id) ORDER BY id LIMIT ? OFFSET ?`, limit, offset)
}

// MediaRange lists active media ids (ORDER BY id) for `rescan`.
func MediaRange(ctx context.Context, d *sql.DB, limit, offset int) ([]int64, error) {
	if limit <= 0 {
		limit = 100
	}
	return ids(ctx, d, `SELECT id FROM media WHERE status='active' ORDER BY id LIMIT ? OFFSET ?`, limit, offset)
}

func ids(ctx context.Context, d *sql.DB, q string, args ...any) ([]int64, error) {
	return db.QueryIDs(ctx, d, q, args...)
}
