package catalogtest

import (
	"context"
	"database/sql"
	"fmt"
)

// Tag names of the generated library with known match counts (per million
// media; they scale with n): RareTag on every 100,000th media (10),
// UncommonTag on every 1,667th (about 600), CommonTag on every 4th.
const (
	RareTag     = "rare_find"
	UncommonTag = "uncommon_find"
	CommonTag   = "solo"
)

// SHA256Expr is the generated hash.sha256 value of media id: distinct,
// except that every 1000th media shares its value with the next 1000th
// (about 1,000 duplicates per million media, as a real library has few).
const SHA256Expr = `printf('%064x', CASE WHEN id % 1000 = 0 THEN id / 2000 ELSE id + 1000000000 END)`

// generateCuration adds what the curation filters read: tags (a generic
// tag g<0..199> on four media in five, the three named tags above, a
// danbooru character tag on every 20th media), SHA-256 meta rows on every
// 10th media (SHA256Expr), integrity checks (ok on
// every 50th, failed on every 5,000th) and a checked mark on every 100th.
func generateCuration(ctx context.Context, w *sql.DB) error {
	steps := []struct{ name, sql string }{
		{"tags", `WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < 199)
			INSERT INTO tags(name, type) SELECT 'g' || i, 'content' FROM seq
			UNION ALL SELECT '` + RareTag + `', 'content' UNION ALL SELECT '` + UncommonTag + `', 'content'
			UNION ALL SELECT '` + CommonTag + `', 'content'`},
		{"character tags", `WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < 49)
			INSERT INTO tags(name, type) SELECT 'char_' || i, 'danbooru.character.v1' FROM seq`},
		{"media tags", `INSERT INTO media_tags(media_id, tag_id, confidence)
			SELECT m.id, t.id, 0.9 FROM media m JOIN tags t ON t.name = 'g' || (m.id % 200) WHERE m.id % 5 <> 0
			UNION ALL SELECT m.id, t.id, 0.9 FROM media m JOIN tags t ON t.name = 'char_' || (m.id % 50) WHERE m.id % 20 = 0
			UNION ALL SELECT m.id, (SELECT id FROM tags WHERE name = '` + RareTag + `'), 0.9 FROM media m WHERE m.id % 100000 = 7
			UNION ALL SELECT m.id, (SELECT id FROM tags WHERE name = '` + UncommonTag + `'), 0.9 FROM media m WHERE m.id % 1667 = 3
			UNION ALL SELECT m.id, (SELECT id FROM tags WHERE name = '` + CommonTag + `'), 0.9 FROM media m WHERE m.id % 4 = 1`},
		{"sha256", `INSERT INTO media_meta(media_id, source, meta_key, meta_value, created_at)
			SELECT id, 'hash', 'hash.sha256', ` + SHA256Expr + `, '2026-01-01T00:00:00Z' FROM media WHERE id % 10 = 0`},
		{"integrity", `INSERT INTO media_meta(media_id, source, meta_key, meta_value, created_at)
			SELECT id, 'integrity', 'integrity.ok', CASE WHEN id % 5000 = 0 THEN '0' ELSE '1' END, '2026-01-01T00:00:00Z'
			FROM media WHERE id % 50 = 0`},
		{"checked", `INSERT INTO media_meta(media_id, source, meta_key, meta_value, created_at)
			SELECT id, 'curation', 'curation.checked', '1', '2026-01-01T00:00:00Z' FROM media WHERE id % 100 = 0`},
	}
	for _, s := range steps {
		if _, err := w.ExecContext(ctx, s.sql); err != nil {
			return fmt.Errorf("generate %s: %w", s.name, err)
		}
	}
	return nil
}
