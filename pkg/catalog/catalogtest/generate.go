// Package catalogtest generates large media catalogues for benchmarks of
// the list, detail and web handlers. Import it only from _test.go files.
package catalogtest

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/localsupervisor/supervisor/pkg/catalog/ftsindex"
	"github.com/localsupervisor/supervisor/pkg/media"
)

// vocab is the prompt/title vocabulary: 20 words, so one word matches about
// 5 % of the generated library.
const vocab = `'["red","blue","green","castle","forest","river","dragon","knight","portrait","sunset","mountain","ocean","neon","city","robot","garden","winter","cyber","girl","cat"]'`

func word(expr string) string {
	return "json_extract(" + vocab + ", '$[' || ((" + expr + ") % 20) || ']')"
}

// Generate inserts n media (every 10th a video, every 7th NSFW, ratings
// 0..3, paths /lib/<i%256>/img<i>.png|.mp4 under root), a prompt for every
// media with generation parameters (promptsSQL) and their media_gen rows, an Ollama title for every third and, as the importer writes it,
// an original file name for every media (DSC<i>_<word>.png|.mp4: a move-mode
// import renames the file, so the name is not part of the path), with INSERT…SELECT over a
// recursive CTE (a million rows take tens of seconds, not an hour of
// single inserts), plus tags, hashes and checks for the curation filters
// (generateCuration). The triggers mark every media for the FTS index, which
// is then folded in bulk (ftsindex). It ends with ANALYZE so the planner
// sees real statistics.
func Generate(ctx context.Context, w *sql.DB, n int, root string) error {
	if root == "" {
		root = "/lib"
	}
	steps := []struct {
		name string
		sql  string
		args []any
	}{
		{"media", `WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?)
		INSERT INTO media(path, type, source, width, height, filesize, hash, imported_at, created_at, rating, has_nsfw)
		SELECT ? || '/' || (i % 256) || '/img' || i || CASE WHEN i % 10 = 0 THEN '.mp4' ELSE '.png' END,
			CASE WHEN i % 10 = 0 THEN 'video' ELSE 'image' END, 'import', 512, 768, 1000 + (i * 7919) % 5000000,
			printf('%064x', i), strftime('%Y-%m-%dT%H:%M:%SZ', 1735689600 + i, 'unixepoch'),
			strftime('%Y-%m-%dT%H:%M:%SZ', 1735689600 + i, 'unixepoch'), i % 4, CASE WHEN i % 7 = 0 THEN 1 ELSE 0 END
		FROM seq`, []any{n, root}},
		{"prompts", promptsSQL(), nil},
		{"titles", `INSERT INTO media_meta(media_id, source, meta_key, meta_value, created_at)
		SELECT id, 'ollama', 'ollama.title', 'The ' || ` + word("id * 3") + ` || ' ' || ` + word("id / 7") + `, '2026-01-01T00:00:00Z'
		FROM media WHERE id % 3 = 0`, nil},
		{"names", `INSERT INTO media_meta(media_id, source, meta_key, meta_value, created_at)
		SELECT id, 'import', 'original_name', 'DSC' || printf('%07d', id) || '_' || ` + word("id * 11") + ` ||
			CASE WHEN id % 10 = 0 THEN '.mp4' ELSE '.png' END, '2026-01-01T00:00:00Z' FROM media`, nil},
	}
	for _, s := range steps {
		if _, err := w.ExecContext(ctx, s.sql, s.args...); err != nil {
			return fmt.Errorf("generate %s: %w", s.name, err)
		}
	}
	if err := generateCuration(ctx, w); err != nil {
		return err
	}
	// media_gen comes from the prompts rows through the real mapping, as
	// prompts-rebuild fills it for a catalogue from before it: the two
	// agree by construction.
	if _, err := media.BackfillGen(ctx, w, 999); err != nil {
		return fmt.Errorf("generate media_gen: %w", err)
	}
	if _, err := ftsindex.FoldAll(ctx, w, 100_000); err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	if _, err := w.ExecContext(ctx, "ANALYZE"); err != nil {
		return fmt.Errorf("generate analyze: %w", err)
	}
	return nil
}
