package media

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// mediaInsertCols is the column list Insert and InsertMany write.
const mediaInsertCols = `INSERT INTO media(path, type, source, width, height, duration, fps, filesize, hash,
		created_at, imported_at, rating, has_nsfw, parent_media_id, status) VALUES `

func (m NewMedia) insertArgs(now string) []any {
	src := m.Source
	if src == "" {
		src = SourceImport
	}
	return []any{m.Path, m.Type, src, nullInt(int64(m.Width)), nullInt(int64(m.Height)), nullFloat(m.Duration), nullFloat(m.FPS),
		m.Filesize, strings.ToLower(m.Hash), svtime.FormatOrEmpty(m.FileMTime), now, m.Rating,
		boolInt(m.HasNSFW), nullInt(m.ParentID), "active"}
}

// InsertMany adds media rows with multi-row INSERTs (what Insert writes,
// for each) and returns their ids in the order of ms. A duplicate hash
// surfaces as a unique violation and nothing of that statement is written.
func InsertMany(ctx context.Context, q db.Execer, ms []NewMedia, now time.Time) ([]int64, error) {
	const cols = 15
	ts := svtime.Format(now)
	per := db.MaxParams / cols
	ids := make([]int64, 0, len(ms))
	for len(ms) > 0 {
		chunk := ms[:min(len(ms), per)]
		ms = ms[len(chunk):]
		args := make([]any, 0, cols*len(chunk))
		for _, m := range chunk {
			args = append(args, m.insertArgs(ts)...)
		}
		got, err := db.InsertReturningIDs(ctx, q, db.ValuesSQL(mediaInsertCols, cols, len(chunk), " RETURNING id"), args, len(chunk))
		if err != nil {
			return nil, fmt.Errorf("insert media: %w", err)
		}
		ids = append(ids, got...)
	}
	return ids, nil
}

// MediaPairs are the meta pairs of one media.
type MediaPairs struct {
	MediaID int64
	Pairs   []MetaPair
}

// InsertNewMetaPairsMany is InsertNewMetaPairs for several new media in
// multi-row INSERTs (rows in the order of groups, then pairs). It returns
// the number of rows written.
func InsertNewMetaPairsMany(ctx context.Context, q db.Execer, groups []MediaPairs, now time.Time) (int, error) {
	ts := svtime.Format(now)
	var args []any
	for _, g := range groups {
		last := make(map[string]int, len(g.Pairs))
		for i, p := range g.Pairs {
			last[p.Key] = i
		}
		for i, p := range g.Pairs {
			if last[p.Key] == i {
				args = append(args, g.MediaID, p.Source, p.Key, p.Value, ts)
			}
		}
	}
	if err := db.MultiInsert(ctx, q, `INSERT INTO media_meta(media_id, source, meta_key, meta_value, created_at) VALUES `, "", 5, args); err != nil {
		return 0, fmt.Errorf("insert meta: %w", err)
	}
	return len(args) / 5, nil
}

// ImportLogEntry is one import_log row.
type ImportLogEntry struct {
	Path, Status, Message string
}

// ImportLogMany writes import_log rows (as ImportLog, in order) with
// multi-row INSERTs.
func ImportLogMany(ctx context.Context, q db.Execer, entries []ImportLogEntry, now time.Time) error {
	ts := svtime.Format(now)
	args := make([]any, 0, 4*len(entries))
	for _, e := range entries {
		args = append(args, e.Path, e.Status, nullStr(e.Message), ts)
	}
	if err := db.MultiInsert(ctx, q, `INSERT INTO import_log(path, status, message, created_at) VALUES `, "", 4, args); err != nil {
		return fmt.Errorf("import_log: %w", err)
	}
	return nil
}

// NewPrompt is the extracted prompt of a media that has no prompt rows yet.
type NewPrompt struct {
	MediaID int64
	Prompt  Prompt
	Source  string
	Raw     string
}

// InsertNewPromptsMany is SavePrompt for media without prompts or history
// rows (new imports), with multi-row INSERTs: one prompts row and history
// version 1 each, and their media_gen rows (multi-row too: an import
// batch pays a few statements for them, not a few per media). Entries
// without prompt data or raw text are skipped, as SavePrompt skips them.
func InsertNewPromptsMany(ctx context.Context, q db.Execer, ps []NewPrompt, now time.Time) error {
	const cols = 1 + promptColCount
	keep := ps[:0:0]
	for _, p := range ps {
		if storesPrompt(p.Prompt, p.Raw) {
			keep = append(keep, p)
		}
	}
	per := db.MaxParams / historyCols
	ts := svtime.Format(now)
	for len(keep) > 0 {
		chunk := keep[:min(len(keep), per)]
		keep = keep[len(chunk):]
		args := make([]any, 0, cols*len(chunk))
		for _, p := range chunk {
			args = append(append(args, p.MediaID), p.Prompt.args()...)
		}
		ids, err := db.InsertReturningIDs(ctx, q, db.ValuesSQL(`INSERT INTO prompts(media_id, `+promptCols+`) VALUES `, cols, len(chunk), " RETURNING id"), args, len(chunk))
		if err != nil {
			return fmt.Errorf("insert prompts: %w", err)
		}
		hargs := make([]any, 0, historyCols*len(chunk))
		for i, p := range chunk {
			hargs = historyArgs(hargs, p.MediaID, ids[i], 1, p.Prompt, p.Source, p.Raw, ts)
		}
		if err := db.MultiInsert(ctx, q, historyInsert, "", historyCols, hargs); err != nil {
			return fmt.Errorf("insert prompt_history: %w", err)
		}
		gs := make([]mediaGen, len(chunk))
		for i, p := range chunk {
			gs[i] = mediaGen{p.MediaID, GenFromPrompt(p.Prompt)}
		}
		if err := writeGens(ctx, q, gs); err != nil {
			return err
		}
	}
	return nil
}

// UpdateContent points the active media id at new content of its file m.Path
// (an in-place file that was edited): the content columns a new media gets
// from m (dimensions, duration, fps, size, hash, rating, has_nsfw), written
// as InsertMany writes them; path, times and identity stay. It reports
// false when the media is no longer active at m.Path.
func UpdateContent(ctx context.Context, q db.Execer, id int64, m NewMedia) (bool, error) {
	r, err := q.ExecContext(ctx, `UPDATE media SET width=?, height=?, duration=?, fps=?, filesize=?, hash=?, rating=?, has_nsfw=?
		WHERE id=? AND path=? AND status='active'`,
		nullInt(int64(m.Width)), nullInt(int64(m.Height)), nullFloat(m.Duration), nullFloat(m.FPS), m.Filesize,
		strings.ToLower(m.Hash), m.Rating, boolInt(m.HasNSFW), id, m.Path)
	if err != nil {
		return false, fmt.Errorf("update media %d content: %w", id, db.Classify(err))
	}
	n, _ := r.RowsAffected()
	return n > 0, nil
}
