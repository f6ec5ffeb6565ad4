package ftsindex

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/db/dbtest"
)

// insertMedia writes n media the way the importer does: media, prompt,
// title meta per file, in one transaction; fold folds the batch in it.
func insertMedia(tb testing.TB, w *sql.DB, from, n int, fold bool) {
	tb.Helper()
	ctx := context.Background()
	err := db.InTx(ctx, w, func(tx *sql.Tx) error {
		ids := make([]int64, 0, n)
		for i := from; i < from+n; i++ {
			res, err := tx.Exec(`INSERT INTO media(path, type, source, hash, imported_at) VALUES (?, 'image', 'import', ?, 'x')`,
				fmt.Sprintf("/lib/%d/img%d_castle.png", i%16, i), fmt.Sprintf("%064x", i))
			if err != nil {
				return err
			}
			id, _ := res.LastInsertId()
			ids = append(ids, id)
			if _, err := tx.Exec(`INSERT INTO prompts(media_id, prompt) VALUES (?, ?)`, id, fmt.Sprintf("red dragon %d, masterpiece", i)); err != nil {
				return err
			}
			if _, err := tx.Exec(`INSERT INTO media_meta(media_id, source, meta_key, meta_value, created_at) VALUES (?, 'scan', 'ollama.title', ?, 'x')`, id, fmt.Sprintf("Knight %d", i)); err != nil {
				return err
			}
		}
		if !fold {
			return nil
		}
		return FoldIDs(ctx, tx, ids)
	})
	if err != nil {
		tb.Fatal(err)
	}
}

func count(t *testing.T, w *sql.DB, q string) int {
	t.Helper()
	var n int
	if err := w.QueryRow(q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestFoldBatches: marks are folded lowest ids first, at most limit per
// transaction, until none is left; the folded rows are searchable and equal
// the newest values; a folded deletion removes the row.
func TestFoldBatches(t *testing.T) {
	w := dbtest.Open(t, filepath.Join(t.TempDir(), "f.db"))
	ctx := context.Background()
	insertMedia(t, w, 1, 150, false)
	if n := count(t, w, `SELECT count(*) FROM media_fts_pending`); n != 150 {
		t.Fatalf("%d marks, want 150", n)
	}
	if n := count(t, w, `SELECT count(*) FROM media_fts`); n != 0 {
		t.Fatalf("%d index rows before folding, want 0 (the triggers must not write the index)", n)
	}
	n, err := Fold(ctx, w, 64)
	if err != nil || n != 64 {
		t.Fatalf("fold: %d, %v; want 64", n, err)
	}
	if got := count(t, w, `SELECT max(docid) FROM media_fts`); got != 64 {
		t.Fatalf("first batch folded up to id %d, want 64", got)
	}
	if n, err := FoldAll(ctx, w, 64); err != nil || n != 86 {
		t.Fatalf("fold all: %d, %v; want 86", n, err)
	}
	if n := count(t, w, `SELECT count(*) FROM media_fts WHERE media_fts MATCH 'knight dragon castle'`); n != 150 {
		t.Fatalf("%d rows match, want 150", n)
	}
	var title, prompt string
	if err := w.QueryRow(`SELECT title, prompt FROM media_fts WHERE docid = 7`).Scan(&title, &prompt); err != nil || title != "Knight 7" || prompt != "red dragon 7, masterpiece" {
		t.Fatalf("row 7: %q %q %v", title, prompt, err)
	}
	if _, err := w.Exec(`DELETE FROM media WHERE id = 7`); err != nil {
		t.Fatal(err)
	}
	if _, err := FoldAll(ctx, w, 0); err != nil {
		t.Fatal(err)
	}
	if n := count(t, w, `SELECT count(*) FROM media_fts WHERE docid = 7`); n != 0 {
		t.Fatal("deleted media still indexed after folding")
	}
	if n := count(t, w, `SELECT count(*) FROM media_fts_pending`); n != 0 {
		t.Fatalf("%d marks left", n)
	}
}

// TestRunStops: Run folds at start and returns when ctx ends.
func TestRunStops(t *testing.T) {
	w := dbtest.Open(t, filepath.Join(t.TempDir(), "r.db"))
	insertMedia(t, w, 1, 10, false)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); Run(ctx, w, 0, 0, func(err error) { t.Error(err) }) }()
	// Run folds before its first tick; wait for it through the table.
	for count(t, w, `SELECT count(*) FROM media_fts_pending`) != 0 {
		runtime.Gosched()
	}
	cancel()
	<-done
	if n := count(t, w, `SELECT count(*) FROM media_fts`); n != 10 {
		t.Fatalf("%d rows, want 10", n)
	}
}

// BenchmarkImportRows measures the database side of importing 3,000 media
// (media, prompt and title per file, one transaction) with the marking
// triggers plus one bulk fold ("marks"), and with the per-row index
// triggers of schema 0301 restored ("legacy_triggers").
func BenchmarkImportRows(b *testing.B) {
	const n = 3000
	for _, mode := range []string{"marks", "legacy_triggers"} {
		b.Run(mode, func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				w := dbtest.Open(b, filepath.Join(b.TempDir(), fmt.Sprintf("b%d.db", i)))
				if mode == "legacy_triggers" {
					restoreLegacyTriggers(b, w)
				}
				b.StartTimer()
				insertMedia(b, w, 1, n, mode == "marks")
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "media/s")
		})
	}
}

// restoreLegacyTriggers drops the marking triggers and re-creates the
// per-row triggers from schema/0301 (the "before" of the benchmark).
func restoreLegacyTriggers(b *testing.B, w *sql.DB) {
	text, err := os.ReadFile("../../../schema/0301_media_fts.sql")
	if err != nil {
		b.Fatal(err)
	}
	rows, err := w.Query(`SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'media_fts_mark_%'`)
	if err != nil {
		b.Fatal(err)
	}
	var names []string
	for rows.Next() {
		var s string
		_ = rows.Scan(&s)
		names = append(names, s)
	}
	rows.Close()
	for _, s := range names {
		if _, err := w.Exec(`DROP TRIGGER ` + s); err != nil {
			b.Fatal(err)
		}
	}
	trig := string(text)[strings.Index(string(text), "CREATE TRIGGER"):]
	if _, err := w.Exec(trig); err != nil {
		b.Fatal(err)
	}
}
