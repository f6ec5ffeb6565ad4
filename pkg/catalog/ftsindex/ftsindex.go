// Package ftsindex keeps the text-search index media_fts (schema 0301) in
// step with media, prompts, title/caption meta, original file names, tags
// and generation parameters (schema 0306). Since schema 0304 the
// triggers only mark changed media in media_fts_pending; Fold rebuilds the
// marked rows in bulk — one delete pass and one insert pass per batch, so
// FTS4 flushes its pending-terms buffer once per batch instead of three
// times per imported file. Searches stay exact while rows are marked
// (catalog treats them with the LIKE reference), so folding is only about
// speed, and it is webui's job: it folds whatever the importer and the
// other writers marked in the background (Run); the search index is the
// web's read model and has no reader without webui.
package ftsindex

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/localsupervisor/supervisor/pkg/db"
)

// DefaultBatch bounds one fold transaction so a backlog (a legacy import,
// a bulk edit) never holds the write lock for long.
const DefaultBatch = 500

// maxIDs keeps one statement below SQLite's bound-parameter limit.
const maxIDs = 10000

// PathText is the text of the index's path column for the media row m: the
// path, followed by the newest original_name (import meta) when the path
// does not already end with it. A move-mode import renames the file to its
// content hash, so the name a person knows lives only in that meta row
// (schema 0305); the LIKE reference searches both, too.
const PathText = `COALESCE((SELECT CASE WHEN n.v = '' OR substr(m.path, -length(n.v)) = n.v THEN m.path ELSE m.path || ' ' || n.v END
    FROM (SELECT COALESCE(mm.meta_value, '') AS v FROM media_meta mm WHERE mm.media_id = m.id AND mm.meta_key = 'original_name'
    ORDER BY mm.id DESC LIMIT 1) n), m.path)`

// NegativeText is the index's negative column for the media row m: the
// newest prompt's negative prompt (schema 0306).
const NegativeText = `(SELECT p.negative_prompt FROM prompts p WHERE p.media_id = m.id ORDER BY p.id DESC LIMIT 1)`

// TagsText is the index's tags column for m: its tag names in name order,
// space separated (the order makes a phrase across two tags behave the
// same in the index and in the LIKE reference).
const TagsText = `(SELECT group_concat(name, ' ') FROM (SELECT t.name FROM media_tags mt JOIN tags t ON t.id = mt.tag_id
    WHERE mt.media_id = m.id ORDER BY t.name))`

// ParamsText is the index's params column for m: the generation
// parameters a card shows as words — model, sampler, scheduler and
// software (media_gen, schema 0220) and the LoRA names in name order.
const ParamsText = `NULLIF(concat_ws(' ',
    (SELECT concat_ws(' ', g.model, g.sampler, g.scheduler, g.software) FROM media_gen g WHERE g.media_id = m.id),
    (SELECT group_concat(name, ' ') FROM (SELECT l.name FROM media_gen_loras l WHERE l.media_id = m.id ORDER BY l.name))), '')`

// rowSelect computes the index row of every media in the id list: path
// and original name (PathText), the newest title/override/caption meta
// (media_meta is an append-only log, newest row wins), the newest prompt
// and its negative prompt, tag names and generation parameters — the same
// values the LIKE reference of catalog searches.
const rowSelect = `SELECT m.id, ` + PathText + `,
    (SELECT mm.meta_value FROM media_meta mm WHERE mm.media_id = m.id AND mm.meta_key = 'ollama.title' ORDER BY mm.id DESC LIMIT 1),
    (SELECT mm.meta_value FROM media_meta mm WHERE mm.media_id = m.id AND mm.meta_key = 'title.override' ORDER BY mm.id DESC LIMIT 1),
    (SELECT mm.meta_value FROM media_meta mm WHERE mm.media_id = m.id AND mm.meta_key = 'ollama.caption' ORDER BY mm.id DESC LIMIT 1),
    (SELECT p.prompt FROM prompts p WHERE p.media_id = m.id ORDER BY p.id DESC LIMIT 1),
    ` + NegativeText + `, ` + TagsText + `, ` + ParamsText + `
FROM media m WHERE m.id IN `

// FoldIDs rebuilds the index rows of ids (deleted media lose theirs) and
// clears their marks, inside the caller's transaction q.
func FoldIDs(ctx context.Context, q db.Execer, ids []int64) error {
	for len(ids) > 0 {
		n := min(len(ids), maxIDs)
		if err := foldChunk(ctx, q, ids[:n]); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

func foldChunk(ctx context.Context, q db.Execer, ids []int64) error {
	in := "(" + strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",") + ")"
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	for _, s := range []string{
		"DELETE FROM media_fts WHERE docid IN " + in,
		"INSERT INTO media_fts(docid, path, title, override, caption, prompt, negative, tags, params) " + rowSelect + in,
		"DELETE FROM media_fts_pending WHERE media_id IN " + in,
	} {
		if _, err := q.ExecContext(ctx, s, args...); err != nil {
			return fmt.Errorf("fold text index: %w", db.Classify(err))
		}
	}
	return nil
}

// Fold folds up to limit marked media (lowest ids first) in one short write
// transaction and reports how many it folded.
func Fold(ctx context.Context, d *sql.DB, limit int) (int, error) {
	if limit <= 0 {
		limit = DefaultBatch
	}
	// A plain read first: with nothing marked (the usual case) no write
	// lock is taken, so the background fold never queues behind workers.
	var marked bool
	if err := d.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM media_fts_pending)").Scan(&marked); err != nil {
		return 0, fmt.Errorf("read text index marks: %w", db.Classify(err))
	}
	if !marked {
		return 0, nil
	}
	var n int
	err := db.InTx(ctx, d, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, "SELECT media_id FROM media_fts_pending ORDER BY media_id LIMIT ?", limit)
		if err != nil {
			return fmt.Errorf("read text index marks: %w", db.Classify(err))
		}
		var ids []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fmt.Errorf("read text index marks: %w", db.Classify(err))
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read text index marks: %w", db.Classify(err))
		}
		n = len(ids)
		return FoldIDs(ctx, tx, ids)
	})
	return n, err
}

// FoldAll folds batch by batch until nothing is marked (or ctx ends); each
// batch is its own transaction, so other writers get the lock in between.
func FoldAll(ctx context.Context, d *sql.DB, batch int) (int, error) {
	total := 0
	for {
		n, err := Fold(ctx, d, batch)
		total += n
		if err != nil || n == 0 || ctx.Err() != nil {
			return total, err
		}
	}
}

// Run folds every interval until ctx ends. Errors (a busy database) are
// reported to onErr and retried at the next tick: marked rows stay
// searchable meanwhile.
func Run(ctx context.Context, d *sql.DB, interval time.Duration, batch int, onErr func(error)) {
	if interval <= 0 {
		interval = 3 * time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := FoldAll(ctx, d, batch); err != nil && ctx.Err() == nil && onErr != nil {
			onErr(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
