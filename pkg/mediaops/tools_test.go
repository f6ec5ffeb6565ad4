package mediaops_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/mediaops"
)

func TestConsistencyFindsAndRepairs(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ok := e.addMedia(t, filepath.Join(e.svc.Roots.ImagesSFW, "ok.png"), "image", pngBytes(t, 5, 5), false)
	gone := e.addMedia(t, filepath.Join(e.svc.Roots.ImagesSFW, "gone.png"), "image", pngBytes(t, 6, 5), false)
	os.Remove(filepath.Join(e.svc.Roots.ImagesSFW, "gone.png"))
	writeFile(t, filepath.Join(e.svc.Roots.ImagesSFW, "stray.png"), []byte("x"))
	thumbs := filepath.Join(e.dir, "thumbs")
	writeFile(t, filepath.Join(thumbs, "999", "999", "t.jpg"), []byte("x"))
	writeFile(t, filepath.Join(thumbs, "001", "1", "t.jpg"), []byte("x"))
	e.db.Exec(`PRAGMA foreign_keys=OFF`)
	mustExec := func(q string, args ...any) {
		t.Helper()
		if _, err := e.db.Exec(q, args...); err != nil {
			t.Fatal(err)
		}
	}
	// Orphans need FKs off, as in a legacy PHP database.
	conn, _ := e.db.Conn(ctx)
	conn.ExecContext(ctx, `PRAGMA foreign_keys=OFF`)
	conn.ExecContext(ctx, `INSERT INTO scan_results(media_id, scanner, run_at) VALUES (4242, 's', '2026-01-01T00:00:00Z')`)
	conn.ExecContext(ctx, `INSERT INTO prompt_history(media_id, version, source, created_at) VALUES (4243, 1, 'import', '2026-01-01T00:00:00Z')`)
	conn.Close()
	mustExec(`INSERT INTO prompt_history(media_id, version, source, created_at) VALUES (?, 2, 'import', '2026-01-01T00:00:00Z'), (?, 5, 'rescan', '2026-01-02T00:00:00Z')`, ok, ok)
	mustExec(`INSERT INTO jobs(type, status, created_at) VALUES ('integrity_check', 'bogus', '2026-01-01T00:00:00Z')`)
	mustExec(`INSERT INTO jobs(type, status, created_at, updated_at) VALUES ('hash_compute', 'error', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')`)

	rep, err := e.svc.RunConsistency(ctx, mediaops.ConsistencyOptions{ThumbCache: thumbs, ScannerEnabled: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, check := range []string{"media_missing", "library_untracked_file", "scan_results_orphan", "prompt_history_media_missing",
		"prompt_history_version_gap", "job_state_invalid", "job_state_gap", "thumb_orphan", "scan_missing_latest"} {
		if rep.Counts[check] == 0 {
			t.Errorf("check %s found nothing: %+v", check, rep.Findings)
		}
	}
	if rep.Counts["thumb_orphan"] != 1 {
		t.Errorf("thumbs of live media flagged: %d", rep.Counts["thumb_orphan"])
	}
	if n := e.count(t, `SELECT COUNT(*) FROM consistency_log`); n != len(rep.Findings) {
		t.Fatalf("consistency_log %d rows, %d findings", n, len(rep.Findings))
	}
	rep, err = e.svc.RunConsistency(ctx, mediaops.ConsistencyOptions{ThumbCache: thumbs, Repair: "simple"})
	if err != nil || rep.Repaired == 0 {
		t.Fatalf("repair: %v %+v", err, rep)
	}
	m, _ := media.Get(ctx, e.db, gone)
	if m.Status != "missing" {
		t.Fatal("status not repaired")
	}
	if e.count(t, `SELECT COUNT(*) FROM prompt_history WHERE media_id=? AND version IN (1,2)`, ok) != 2 {
		t.Fatal("versions not renumbered")
	}
	if _, err := os.Stat(filepath.Join(thumbs, "999", "999")); !os.IsNotExist(err) {
		t.Fatal("orphan thumbs kept")
	}
	if _, err := os.Stat(filepath.Join(thumbs, "001", "1")); err != nil {
		t.Fatal("live thumbs removed")
	}
	if e.count(t, `SELECT COUNT(*) FROM audit_log WHERE action='consistency_repair'`) != 1 {
		t.Fatal("repair not audited")
	}
	rep, _ = e.svc.RunConsistency(ctx, mediaops.ConsistencyOptions{ThumbCache: thumbs})
	for _, c := range []string{"media_missing", "scan_results_orphan", "prompt_history_media_missing", "prompt_history_version_gap", "thumb_orphan"} {
		if rep.Counts[c] != 0 {
			t.Errorf("%s still found after repair", c)
		}
	}
}

func TestCleanupMissing(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := e.addMedia(t, filepath.Join(e.svc.Roots.ImagesSFW, "a.png"), "image", pngBytes(t, 5, 5), false)
	b := e.addMedia(t, filepath.Join(e.svc.Roots.ImagesSFW, "b.png"), "image", pngBytes(t, 6, 5), false)
	c := e.addMedia(t, filepath.Join(e.svc.Roots.ImagesSFW, "c.png"), "image", pngBytes(t, 7, 5), false)
	os.Remove(filepath.Join(e.svc.Roots.ImagesSFW, "b.png"))
	os.Remove(filepath.Join(e.svc.Roots.ImagesSFW, "c.png"))
	if _, err := media.AddTag(ctx, e.db, c, "keep", "content", 1, true); err != nil {
		t.Fatal(err)
	}
	rep, err := e.svc.CleanupMissing(ctx, mediaops.CleanupOptions{Mark: true})
	if err != nil || rep.Marked != 2 || !rep.DryRun || rep.Locked != 1 {
		t.Fatalf("mark: %+v %v", rep, err)
	}
	if e.count(t, `SELECT COUNT(*) FROM media`) != 3 {
		t.Fatal("dry run deleted")
	}
	rep, _ = e.svc.CleanupMissing(ctx, mediaops.CleanupOptions{Delete: true})
	if rep.Deleted != 1 || e.count(t, `SELECT COUNT(*) FROM media WHERE id=?`, b) != 0 || e.count(t, `SELECT COUNT(*) FROM media WHERE id=?`, c) != 1 {
		t.Fatalf("delete: %+v", rep)
	}
	// A file that comes back is marked active again.
	writeFile(t, filepath.Join(e.svc.Roots.ImagesSFW, "c.png"), []byte("back"))
	rep, _ = e.svc.CleanupMissing(ctx, mediaops.CleanupOptions{Mark: true})
	if rep.Restored != 1 {
		t.Fatalf("restore: %+v", rep)
	}
	_ = a
}

// rawExec runs statements on one connection with foreign keys off, the
// way a legacy PHP database could hold orphans.
func (e *env) rawExec(t *testing.T, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	conn, err := e.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	defer conn.ExecContext(ctx, `PRAGMA foreign_keys=ON`)
	if _, err := conn.ExecContext(ctx, `PRAGMA foreign_keys=OFF`); err != nil {
		t.Fatal(err)
	}
	for _, q := range stmts {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// TestConsistencyEachCheck sets up one defect per case in an otherwise
// empty catalogue and expects exactly that check to report it (an empty
// catalogue reports nothing, see the "clean" case).
func TestConsistencyEachCheck(t *testing.T) {
	const at = `'2026-01-01T00:00:00Z'`
	tests := []struct {
		name  string
		setup func(t *testing.T, e *env)
		want  string // check name; "" = no finding at all
	}{
		{"clean", func(*testing.T, *env) {}, ""},
		{"media_tags_orphan", func(t *testing.T, e *env) {
			e.rawExec(t, `INSERT INTO tags(id, name) VALUES (1, 'cat')`, `INSERT INTO media_tags(media_id, tag_id) VALUES (4242, 1)`)
		}, "media_tags_orphan"},
		{"media_duplicate_hash", func(t *testing.T, e *env) {
			// The unique index is case-sensitive; legacy rows differ in case.
			e.rawExec(t, `INSERT INTO media(id, path, type, source, hash, status, created_at, imported_at, is_deleted) VALUES
				(1, '/x/a.png', 'image', 'import', 'ABCDEF0123456789ABCDEF0123456789', 'deleted', `+at+`, `+at+`, 1),
				(2, '/x/b.png', 'image', 'import', 'abcdef0123456789abcdef0123456789', 'deleted', `+at+`, `+at+`, 1)`)
		}, "media_duplicate_hash"},
		{"media_tags_lock_conflict", func(t *testing.T, e *env) {
			e.rawExec(t, `INSERT INTO media(id, path, type, source, hash, status, created_at, imported_at, is_deleted) VALUES
				(1, '/x/a.png', 'image', 'import', 'aa', 'deleted', `+at+`, `+at+`, 1)`,
				`INSERT INTO tags(id, name) VALUES (1, 'cat')`, `INSERT INTO media_tags(media_id, tag_id, locked) VALUES (1, 1, 1)`)
		}, "media_tags_lock_conflict"},
		{"derivative_without_parent", func(t *testing.T, e *env) {
			p := writeFile(t, filepath.Join(e.svc.Derivatives, "upscale_9.png"), []byte("x"))
			e.rawExec(t, `INSERT INTO media(id, path, type, source, hash, status, created_at, imported_at, parent_media_id) VALUES
				(1, '`+p+`', 'image', 'upscale', 'aa', 'active', `+at+`, `+at+`, 77)`)
		}, "derivative_without_parent"},
		{"derivative_untracked_file", func(t *testing.T, e *env) {
			writeFile(t, filepath.Join(e.svc.Derivatives, "stray.png"), []byte("x"))
		}, "derivative_untracked_file"},
		{"prompt_history_orphan", func(t *testing.T, e *env) {
			e.rawExec(t, `INSERT INTO media(id, path, type, source, hash, status, created_at, imported_at, is_deleted) VALUES
				(1, '/x/a.png', 'image', 'import', 'aa', 'deleted', `+at+`, `+at+`, 1)`,
				`INSERT INTO prompt_history(media_id, prompt_id, version, source, created_at) VALUES (1, 555, 1, 'import', `+at+`)`)
		}, "prompt_history_orphan"},
		{"media_gen_missing", func(t *testing.T, e *env) {
			// A prompt written before schema 0220: no media_gen row.
			e.rawExec(t, `INSERT INTO media(id, path, type, source, hash, status, created_at, imported_at, is_deleted) VALUES
				(1, '/x/a.png', 'image', 'import', 'aa', 'deleted', `+at+`, `+at+`, 1)`,
				`INSERT INTO prompts(media_id, prompt, model) VALUES (1, 'a cat', 'sdxl')`)
		}, "media_gen_missing"},
		{"media_gen_orphan", func(t *testing.T, e *env) {
			e.rawExec(t, `INSERT INTO media(id, path, type, source, hash, status, created_at, imported_at, is_deleted) VALUES
				(1, '/x/a.png', 'image', 'import', 'aa', 'deleted', `+at+`, `+at+`, 1)`,
				`INSERT INTO media_gen(media_id, model) VALUES (1, 'sdxl')`, `INSERT INTO media_gen_loras(media_id, name) VALUES (1, 'x')`)
		}, "media_gen_orphan"},
		{"scan_missing_run_at", func(t *testing.T, e *env) {
			e.rawExec(t, `INSERT INTO media(id, path, type, source, hash, status, created_at, imported_at, is_deleted) VALUES
				(1, '/x/a.png', 'image', 'import', 'aa', 'deleted', `+at+`, `+at+`, 1)`,
				`INSERT INTO scan_results(media_id, scanner, run_at) VALUES (1, 's', '')`)
		}, "scan_missing_run_at"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			tc.setup(t, e)
			rep, err := e.svc.RunConsistency(context.Background(), mediaops.ConsistencyOptions{ThumbCache: filepath.Join(e.dir, "thumbs")})
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range rep.Findings {
				if f.Check != tc.want {
					t.Errorf("unexpected finding %+v", f)
				}
			}
			if tc.want != "" && rep.Counts[tc.want] == 0 {
				t.Fatalf("%s found nothing: %+v", tc.want, rep.Findings)
			}
		})
	}
}

// TestConsistencyDuplicateActivePath (issue #17 item 2): two active media
// for one path are a finding with its reason code; neither the repair nor
// cleanup-missing makes a missing row of a taken path active again.
func TestConsistencyDuplicateActivePath(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p := filepath.Join(e.dir, "in", "a.png")
	a := e.addMedia(t, p, "image", pngBytes(t, 10, 10), false)
	b := e.addMedia(t, filepath.Join(e.dir, "in", "b.png"), "image", pngBytes(t, 11, 11), false)
	// Schema 0410 forbids the state; a catalogue written without the
	// index (a copy restored from before it) can still have it.
	if _, err := e.db.Exec(`DROP INDEX idx_media_active_path`); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.Exec(`UPDATE media SET path=? WHERE id=?`, p, b); err != nil {
		t.Fatal(err)
	}
	rep, err := e.svc.RunConsistency(ctx, mediaops.ConsistencyOptions{})
	if err != nil || rep.Counts[mediaops.CodeDuplicateActivePath] != 1 {
		t.Fatalf("%v %+v", err, rep.Findings)
	}
	// a is missing, its path now b's: neither repair revives it.
	e.db.Exec(`UPDATE media SET status='missing' WHERE id=?`, a)
	if _, err := e.svc.RunConsistency(ctx, mediaops.ConsistencyOptions{Repair: "simple"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.CleanupMissing(ctx, mediaops.CleanupOptions{Mark: true}); err != nil {
		t.Fatal(err)
	}
	if n := e.count(t, `SELECT COUNT(*) FROM media WHERE path=? AND status='active'`, p); n != 1 {
		t.Fatalf("%d active media for one path", n)
	}
}

// TestConsistencyRepairsMediaGen (#18 item 5): the simple repair fills
// media_gen for prompts written before it existed and drops rows of media
// without a prompt; a second run finds nothing.
func TestConsistencyRepairsMediaGen(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const at = `'2026-01-01T00:00:00Z'`
	e.rawExec(t, `INSERT INTO media(id, path, type, source, hash, status, created_at, imported_at, is_deleted) VALUES
		(1, '/x/a.png', 'image', 'import', 'aa', 'deleted', `+at+`, `+at+`, 1), (2, '/x/b.png', 'image', 'import', 'bb', 'deleted', `+at+`, `+at+`, 1)`,
		`INSERT INTO prompts(media_id, prompt, model, seed) VALUES (1, 'a cat', 'sdxl', '0042')`,
		`INSERT INTO media_gen(media_id, model) VALUES (2, 'stale')`)
	opts := mediaops.ConsistencyOptions{ThumbCache: filepath.Join(e.dir, "thumbs"), Repair: "simple"}
	rep, err := e.svc.RunConsistency(ctx, opts)
	if err != nil || rep.Counts["media_gen_missing"] != 1 || rep.Counts["media_gen_orphan"] != 1 || rep.Repaired != 2 {
		t.Fatalf("%+v %v", rep, err)
	}
	var got string
	e.db.QueryRow(`SELECT group_concat(media_id || ':' || model || ':' || seed) FROM media_gen`).Scan(&got)
	if got != "1:sdxl:42" {
		t.Fatalf("media_gen after repair: %q", got)
	}
	if rep, err := e.svc.RunConsistency(ctx, opts); err != nil || rep.Warnings() != 0 {
		t.Fatalf("second run: %+v %v", rep, err)
	}
}
