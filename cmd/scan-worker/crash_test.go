package main_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/db/dbtest"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/scan"
	"github.com/localsupervisor/supervisor/pkg/svtest"
)

// TestImportProgressesUnderRepeatedKills (issue #16 item 5): one move-mode
// scan_path job over 3,000 files; scan-worker is SIGKILLed as soon as the
// media count grows in each round, eight times. Every round must commit
// something (a recovered job commits in small batches, so the first commit
// comes early), the job must never end as error through the crash-loop
// bound while it progresses (a crashed run that advanced its durable
// progress does not spend an attempt), and a final run completes it: done,
// every content in the library once with its media row, no source left.
func TestImportProgressesUnderRepeatedKills(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process kill test")
	}
	bin := svtest.BuildBinary(t, "./cmd/scan-worker")
	ctx := context.Background()
	dir := t.TempDir()
	d, cp := librarySite(t, dir, "move")
	src := filepath.Join(dir, "inbox")
	const n = 3000
	want := map[string]bool{}
	for i := 0; i < n; i++ {
		img := image.NewGray(image.Rect(0, 0, 16, 16))
		for j := range img.Pix {
			img.Pix[j] = uint8(i*7 + j)
		}
		img.Pix[0], img.Pix[1] = uint8(i), uint8(i>>8)
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(src, fmt.Sprintf("d%d", i%10), fmt.Sprintf("f%04d.png", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		s := md5.Sum(buf.Bytes())
		want[hex.EncodeToString(s[:])] = true
	}
	if len(want) != n {
		t.Fatalf("generator made %d distinct files", len(want))
	}
	q := jobs.NewQueue(jobs.QueueOptions{DB: d, Config: jobs.DefaultConfig()})
	p, err := scan.NewScanPathPayload(src, 0, "", "test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	res, err := scan.EnqueueScanPath(ctx, q, p)
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"SV_CONFIG=", "SV_BASE="}
	args := []string{"--config=" + cp, "--limit=1"}
	count := func() int {
		var c int
		if err := d.QueryRow(`SELECT COUNT(*) FROM media`).Scan(&c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	const kills = 8
	for round := 1; round <= kills; round++ {
		before := count()
		cmd := exec.Command(bin, args...)
		cmd.Dir, cmd.Env = dir, append(os.Environ(), env...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		killed := false
	poll:
		for {
			select {
			case <-done:
				break poll
			case <-time.After(2 * time.Millisecond):
			}
			if count() > before {
				_ = cmd.Process.Kill() // SIGKILL
				<-done
				killed = true
				break
			}
		}
		after := count()
		row, err := q.Get(ctx, res.JobID)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: killed=%v media %d -> %d, job %s attempts=%d code=%s", round, killed, before, after, row.Status, row.Attempts, row.LastErrorCode)
		if after <= before {
			t.Fatalf("round %d made no progress (media %d -> %d); job %s attempts=%d not_before=%s code=%s\n%s",
				round, before, after, row.Status, row.Attempts, row.NotBefore, row.LastErrorCode, stderr.String())
		}
		if row.Status == jobs.StatusError {
			t.Fatalf("round %d: job ended error (%s: %s) although every run made progress", round, row.LastErrorCode, row.ErrorMessage)
		}
		if !killed {
			t.Fatalf("round %d: the worker finished before it could be killed (%d files left to import)", round, n-after)
		}
	}
	r := svtest.RunBinary(t, dir, env, bin, args...)
	if r.Code != 0 {
		t.Fatalf("final run exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	row, err := q.Get(ctx, res.JobID)
	if err != nil {
		t.Fatal(err)
	}
	if row.Status != jobs.StatusDone {
		t.Fatalf("final job %s %s %s\n%s", row.Status, row.LastErrorCode, row.ErrorMessage, r.Stderr)
	}
	// Every kill was a recovery; none of them spent the job's attempts
	// (each crashed run had committed work).
	var recs int
	if err := d.QueryRow(`SELECT recoveries FROM jobs WHERE id = ?`, res.JobID).Scan(&recs); err != nil || recs != kills {
		t.Fatalf("recoveries = %d (%v), want %d", recs, err, kills)
	}
	if row.Attempts > 1 {
		t.Fatalf("attempts = %d after progressing crashes, want 1", row.Attempts)
	}
	checkLibrary(t, d, dir, src, want)
}

// checkLibrary asserts that every wanted content has exactly one active
// media row whose file holds it, that no source is left below src, and that
// no library file lacks a row or is a leftover temp.
func checkLibrary(t *testing.T, d *sql.DB, dir, src string, want map[string]bool) {
	t.Helper()
	rows, err := d.Query(`SELECT path, hash, status FROM media`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := map[string]bool{}
	paths := map[string]bool{}
	for rows.Next() {
		var p, h, st string
		if err := rows.Scan(&p, &h, &st); err != nil {
			t.Fatal(err)
		}
		if seen[h] {
			t.Errorf("duplicate media row for %s", h)
		}
		seen[h], paths[p] = true, true
		if !want[h] || st != "active" {
			t.Errorf("row %s: hash %s known=%v status %s", p, h, want[h], st)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("row without file: %v", err)
			continue
		}
		if s := md5.Sum(data); hex.EncodeToString(s[:]) != h {
			t.Errorf("%s content differs from its row", p)
		}
	}
	if len(seen) != len(want) {
		t.Errorf("%d media rows, want %d", len(seen), len(want))
	}
	lib := filepath.Join(dir, "lib")
	_ = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return nil
		}
		switch {
		case strings.HasSuffix(p, ".svtmp"):
			t.Errorf("temp left: %s", p)
		case strings.HasPrefix(p, src+string(filepath.Separator)):
			t.Errorf("source left after move import: %s", p)
		case strings.HasPrefix(p, lib+string(filepath.Separator)) && !paths[p]:
			t.Errorf("library file without row: %s", p)
		}
		return nil
	})
}

// librarySite writes a config for dir (import mode, the library under
// dir/lib, tagger off, LOGS under dir) and opens its migrated database.
func librarySite(t *testing.T, dir, mode string) (*sql.DB, string) {
	t.Helper()
	lib := filepath.Join(dir, "lib")
	cfg := map[string]any{
		"db":      map[string]any{"path": filepath.Join(dir, "DB", "local.sqlite")},
		"import":  map[string]any{"mode": mode},
		"scanner": map[string]any{"enabled": false},
		"paths": map[string]any{"images_sfw": filepath.Join(lib, "img"), "images_nsfw": filepath.Join(lib, "img18"),
			"videos_sfw": filepath.Join(lib, "vid"), "videos_nsfw": filepath.Join(lib, "vid18"), "logs": filepath.Join(dir, "LOGS"),
			"duplicates": filepath.Join(lib, "_duplicates")},
	}
	b, _ := json.Marshal(cfg)
	cp := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dbtest.Open(t, filepath.Join(dir, "DB", "local.sqlite")), cp
}
