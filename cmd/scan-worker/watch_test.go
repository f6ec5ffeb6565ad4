package main_test

import (
	"path/filepath"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/sources"
	"github.com/localsupervisor/supervisor/pkg/svtest"
)

// TestWatchedSourceRescanned: a one-shot scan-worker run queues a scan of a
// watched source whose last scan is older than import.watch_interval_minutes
// (before its first claim, under its lock) and runs it, so a file added to
// the folder since is catalogued; a second run right after queues nothing
// (the source was just scanned); an unwatched source is never queued.
func TestWatchedSourceRescanned(t *testing.T) {
	bin := svtest.BuildBinary(t, "./cmd/scan-worker")
	env := []string{"SV_CONFIG=", "SV_BASE="}
	dir := t.TempDir()
	d, cp := site(t, dir, map[string]any{"enabled": false})
	watched, idle := filepath.Join(dir, "watched"), filepath.Join(dir, "idle")
	for i, src := range []string{watched, idle} {
		pngFile(t, filepath.Join(src, "new.png"), uint8(10+i))
		if _, err := d.Exec(`INSERT INTO library_sources(path, mode, watch, added_at, last_scan_at) VALUES (?, 'in_place', ?, '2020-01-01T00:00:00Z', '2020-01-01T00:00:00Z')`,
			src, 1-i); err != nil {
			t.Fatal(err)
		}
	}
	count := func(q string, args ...any) int {
		var n int
		if err := d.QueryRow(q, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for run := 1; run <= 2; run++ {
		r := svtest.RunBinary(t, dir, env, bin, "--config="+cp, "--limit=5")
		if r.Code != 0 {
			t.Fatalf("run %d: exit %d\n%s\n%s", run, r.Code, r.Stdout, r.Stderr)
		}
		if n := count(`SELECT count(*) FROM jobs WHERE type = 'scan_path' AND json_extract(payload_json, '$.source') = 'watch'`); n != 1 {
			t.Fatalf("run %d: %d watch scans queued, want 1", run, n)
		}
	}
	if n := count(`SELECT count(*) FROM jobs WHERE type = 'scan_path' AND status = 'done' AND json_extract(payload_json, '$.path') = ?`, watched); n != 1 {
		t.Fatalf("watched source scans done: %d", n)
	}
	if n := count(`SELECT count(*) FROM media WHERE path = ?`, filepath.Join(watched, "new.png")); n != 1 {
		t.Fatal("file added to the watched folder not catalogued")
	}
	if n := count(`SELECT count(*) FROM media WHERE path = ?`, filepath.Join(idle, "new.png")); n != 0 {
		t.Fatal("unwatched source was scanned")
	}
	var status string
	d.QueryRow(`SELECT last_scan_status FROM library_sources WHERE path = ?`, watched).Scan(&status)
	if status != sources.StatusDone {
		t.Fatalf("watched source status %q", status)
	}
}
