package db_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/db"
)

// BenchmarkOpenMigrateFresh measures open + full migration of a new file.
func BenchmarkOpenMigrateFresh(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	for i := 0; i < b.N; i++ {
		d, err := db.Open(ctx, db.Options{Path: filepath.Join(dir, "f", "db"+string(rune('a'+i%26))+".sqlite"), Create: true})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := db.Migrate(ctx, d, db.MigrateOptions{}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		d.Close()
		b.StartTimer()
	}
}

// BenchmarkMigrateLegacy100k measures upgrading an original-schema database
// with 100,000 media rows (and 100,000 jobs, which the jobs rebuild copies).
func BenchmarkMigrateLegacy100k(b *testing.B) {
	ctx := context.Background()
	migs, _ := db.LoadMigrations(nil)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		path := filepath.Join(b.TempDir(), "legacy.sqlite")
		d, err := db.Open(ctx, db.Options{Path: path, Create: true})
		if err != nil {
			b.Fatal(err)
		}
		// The original shape is migration 0001 alone (jobs.media_id NOT NULL,
		// payloads in forge_request_json).
		if _, err := db.Migrate(ctx, d, db.MigrateOptions{Migrations: migs[:1]}); err != nil {
			b.Fatal(err)
		}
		if _, err := d.Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 100000)
			INSERT INTO media (path, type, source, hash, imported_at, filesize, width, height)
			SELECT '/lib/' || i || '.png', 'image', 'import', printf('%032x', i), '2024-03-02T08:00:00+01:00', 1000+i, 512, 768 FROM n`); err != nil {
			b.Fatal(err)
		}
		if _, err := d.Exec(`INSERT INTO jobs (media_id, type, status, created_at, forge_request_json)
			SELECT id, 'integrity_check', 'done', '2024-03-02T08:00:00+01:00', '{"media_id":' || id || '}' FROM media`); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := db.Migrate(ctx, d, db.MigrateOptions{}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		d.Close()
		b.StartTimer()
	}
}
