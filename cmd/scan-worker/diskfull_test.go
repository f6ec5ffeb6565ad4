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
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/db/dbtest"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/scan"
	"github.com/localsupervisor/supervisor/pkg/svtest"
)

// TestDBDiskFull runs the real scan-worker with the database on a tmpfs
// that fills during a move import: the worker exits 1 naming disk_full on
// stderr, in LOGS/scan_worker.jsonl and LOGS/system_errors.jsonl, the job
// does not stay running without a cause, and no source is lost. After the
// filler is deleted a rerun completes the job.
func TestDBDiskFull(t *testing.T) {
	bin := svtest.BuildBinary(t, "./cmd/scan-worker")
	dbDir := svtest.MountTmpfs(t, 8<<20)
	dir := t.TempDir()
	logs := filepath.Join(dir, "LOGS")
	lib := filepath.Join(dir, "lib")
	cfg := map[string]any{
		"db":      map[string]any{"path": filepath.Join(dbDir, "local.sqlite")},
		"import":  map[string]any{"mode": "move"},
		"scanner": map[string]any{"enabled": false},
		"jobs":    map[string]any{"retry_base_ms": 1, "retry_cap_ms": 1},
		"paths": map[string]any{"images_sfw": filepath.Join(lib, "img"), "images_nsfw": filepath.Join(lib, "img18"),
			"videos_sfw": filepath.Join(lib, "vid"), "videos_nsfw": filepath.Join(lib, "vid18"), "logs": logs},
	}
	b, _ := json.Marshal(cfg)
	cp := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	d := dbtest.Open(t, filepath.Join(dbDir, "local.sqlite"))

	src := filepath.Join(dir, "inbox")
	const n = 600
	want := map[string]string{} // source path → md5
	for i := range n {
		img := image.NewGray(image.Rect(0, 0, 8, 8))
		for j := range img.Pix {
			img.Pix[j] = uint8(j * 3)
		}
		img.Pix[0], img.Pix[1] = uint8(i), uint8(i>>8)
		var buf bytes.Buffer
		png.Encode(&buf, img)
		p := filepath.Join(src, fmt.Sprintf("d%d", i%4), fmt.Sprintf("f%03d.png", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		s := md5.Sum(buf.Bytes())
		want[p] = hex.EncodeToString(s[:])
	}
	q := jobs.NewQueue(jobs.QueueOptions{DB: d, Config: jobs.DefaultConfig()})
	p, err := scan.NewScanPathPayload(src, 0, "", "test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	res, err := scan.EnqueueScanPath(context.Background(), q, p)
	if err != nil {
		t.Fatal(err)
	}
	// Room for the claim, not for the import's rows.
	filler := svtest.FillDisk(t, dbDir, 160<<10)

	env := []string{"SV_CONFIG=", "SV_BASE="}
	r := svtest.RunBinary(t, dir, env, bin, "--config="+cp, "--limit=5")
	t.Logf("full run: exit %d\nstdout: %s\nstderr: %s", r.Code, r.Stdout, r.Stderr)
	if r.Code != 1 {
		t.Fatalf("exit %d on a full database disk, want 1", r.Code)
	}
	if !strings.Contains(r.Stderr, reason.CodeDiskFull) || !strings.Contains(r.Stderr, "free space") {
		t.Fatalf("stderr does not name disk_full and what to do: %s", r.Stderr)
	}
	for _, f := range []string{"scan_worker.jsonl", "system_errors.jsonl"} {
		b, err := os.ReadFile(filepath.Join(logs, f))
		if err != nil || !strings.Contains(string(b), `"reason_code":"disk_full"`) && !strings.Contains(string(b), `"error_code":"disk_full"`) {
			t.Fatalf("LOGS/%s does not name disk_full (%v):\n%s", f, err, b)
		}
	}
	status, code, msg, _ := jobRow(t, d, res.JobID)
	t.Logf("job after the full run: %s %s %q", status, code, msg)
	leftRunning := status == jobs.StatusRunning
	if !leftRunning && code != reason.CodeDiskFull {
		t.Fatalf("job %s with code %q, want disk_full", status, code)
	}
	checkNoSourceLost(t, d, want)

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	// Recovery or the retry backoff (1 ms) may need a second run.
	for try := 0; try < 5; try++ {
		r = svtest.RunBinary(t, dir, env, bin, "--config="+cp, "--limit=5")
		if r.Code != 0 {
			t.Fatalf("rerun exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
		}
		if status, _, _, _ = jobRow(t, d, res.JobID); status == jobs.StatusDone {
			break
		}
	}
	if status != jobs.StatusDone {
		t.Fatalf("job %s after freeing space, want done", status)
	}
	if leftRunning {
		var rc string
		d.QueryRow(`SELECT json_extract(details_json, '$.reason_code') FROM audit_log WHERE action='job_stuck_recovered' AND entity_id=?`, res.JobID).Scan(&rc)
		if rc != reason.CodeDiskFull {
			t.Fatalf("stuck recovery recorded %q, want disk_full", rc)
		}
	}
	var media int
	d.QueryRow(`SELECT COUNT(*) FROM media`).Scan(&media)
	if media != n {
		t.Fatalf("%d media after the rerun, want %d", media, n)
	}
	checkNoSourceLost(t, d, want)
}

// checkNoSourceLost: every source is at its path with its content, or a
// media row has its content in the library (move mode removed it after
// the commit).
func checkNoSourceLost(t *testing.T, d *sql.DB, want map[string]string) {
	t.Helper()
	for p, h := range want {
		if b, err := os.ReadFile(p); err == nil {
			if s := md5.Sum(b); hex.EncodeToString(s[:]) != h {
				t.Errorf("source %s changed", p)
			}
			continue
		}
		var dest string
		if err := d.QueryRow(`SELECT path FROM media WHERE hash=?`, h).Scan(&dest); err != nil {
			t.Errorf("source %s removed without a media row: %v", p, err)
			continue
		}
		b, err := os.ReadFile(dest)
		if s := md5.Sum(b); err != nil || hex.EncodeToString(s[:]) != h {
			t.Errorf("source %s removed, library copy %s incomplete: %v", p, dest, err)
		}
	}
}
