package scan_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/scan"
	"github.com/localsupervisor/supervisor/pkg/svtest/pngtest"
)

// TestInPlaceEditReplacesContent (issue #17 item 2): an in-place file
// edited and scanned again keeps its one active media, which takes the
// new hashes, size, dimensions and prompt; the old hashes stay in
// media_meta; the follow-up jobs are queued again.
func TestInPlaceEditReplacesContent(t *testing.T) {
	ctx := context.Background()
	d := openDB(t)
	im := newImporter(d, testRoots(t), scan.ModeInPlace)
	q := jobs.NewQueue(jobs.QueueOptions{DB: d, Config: jobs.DefaultConfig()})
	im.Enqueue = scan.QueueEnqueuer(q)
	dir := t.TempDir()
	p := filepath.Join(dir, "a.png")
	v1 := pngtest.WithText(pngtest.PNG(8, 8, 1), "parameters", "first prompt\nSteps: 20")
	os.WriteFile(p, v1, 0o644)
	if s, err := im.ScanPath(ctx, dir, scan.RunOptions{}); err != nil || s.Imported != 1 {
		t.Fatalf("%+v %v", s, err)
	}
	old, _ := media.ActiveAt(ctx, d, p)
	// The first follow-ups ran.
	d.Exec(`UPDATE jobs SET status='done'`)

	v2 := pngtest.WithText(pngtest.PNG(16, 12, 2), "parameters", "second prompt\nSteps: 30")
	os.WriteFile(p, v2, 0o644)
	later := time.Now().Add(time.Minute)
	os.Chtimes(p, later, later)
	if s, err := im.ScanPath(ctx, dir, scan.RunOptions{}); err != nil || s.Imported != 1 || s.Errors != 0 {
		t.Fatalf("rescan: %+v %v", s, err)
	}
	var rows, active int
	d.QueryRow(`SELECT COUNT(*), COALESCE(SUM(status='active'),0) FROM media WHERE path=?`, p).Scan(&rows, &active)
	if rows != 1 || active != 1 {
		t.Fatalf("%d rows, %d active for one path", rows, active)
	}
	m, _ := media.ActiveAt(ctx, d, p)
	if m.ID != old.ID || m.Hash != md5hex(v2) || *m.Width != 16 || *m.Height != 12 || *m.Filesize != int64(len(v2)) {
		t.Fatalf("row not updated: %+v", m)
	}
	if prev, _, _ := media.GetMeta(ctx, d, m.ID, "hash.previous"); prev != md5hex(v1) {
		t.Fatalf("hash.previous %q", prev)
	}
	var shaRows int
	d.QueryRow(`SELECT COUNT(*) FROM media_meta WHERE media_id=? AND meta_key='hash.sha256'`, m.ID).Scan(&shaRows)
	if shaRows != 2 {
		t.Fatalf("sha256 history rows %d, want 2", shaRows)
	}
	if _, pr, _ := media.CurrentPrompt(ctx, d, m.ID); pr.Prompt != "second prompt" {
		t.Fatalf("prompt %q", pr.Prompt)
	}
	var queued int
	d.QueryRow(`SELECT COUNT(*) FROM jobs WHERE media_id=? AND status='queued' AND type IN ('hash_compute','integrity_check')`, m.ID).Scan(&queued)
	if queued != 2 {
		t.Fatalf("%d follow-up jobs queued, want 2", queued)
	}
	// Unchanged now: a third scan does nothing.
	if s, err := im.ScanPath(ctx, dir, scan.RunOptions{}); err != nil || s.Unchanged != 1 {
		t.Fatalf("third scan: %+v %v", s, err)
	}
}

// TestMigrationOneActivePerPath: schema 0410 repairs a catalogue with two
// active media for one path (the newest stays active, the older is set
// missing, nothing is deleted) and then refuses a second active row.
func TestMigrationOneActivePerPath(t *testing.T) {
	ctx := context.Background()
	d, err := db.Open(ctx, db.Options{Path: filepath.Join(t.TempDir(), "m.sqlite"), Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	all, err := db.LoadMigrations(nil)
	if err != nil {
		t.Fatal(err)
	}
	var before []db.Migration
	for _, m := range all {
		if m.Version < "0410" {
			before = append(before, m)
		}
	}
	if _, err := db.Migrate(ctx, d, db.MigrateOptions{Migrations: before}); err != nil {
		t.Fatal(err)
	}
	ins := `INSERT INTO media(path, type, source, hash, imported_at, status) VALUES (?, 'image', 'import', ?, '2026-01-01T00:00:00Z', 'active')`
	for _, h := range []string{"aa", "bb"} {
		if _, err := d.Exec(ins, "/src/a.png", h); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Migrate(ctx, d, db.MigrateOptions{}); err != nil {
		t.Fatal(err)
	}
	var got string
	d.QueryRow(`SELECT group_concat(hash||':'||status, ',') FROM (SELECT hash, status FROM media ORDER BY id)`).Scan(&got)
	if got != "aa:missing,bb:active" {
		t.Fatalf("after migration: %s", got)
	}
	if _, err := d.Exec(ins, "/src/a.png", "cc"); !db.IsUniqueViolation(err) {
		t.Fatalf("second active row for one path: %v", err)
	}
}
