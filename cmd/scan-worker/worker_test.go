package main_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"github.com/localsupervisor/supervisor/pkg/db/dbtest"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/scan"
	"github.com/localsupervisor/supervisor/pkg/svtest"
)

func pngFile(t *testing.T, p string, seed uint8) {
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for i := range img.Pix {
		img.Pix[i] = seed + uint8(i)
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// site writes a config (scanner section given) and a migrated DB in dir.
func site(t *testing.T, dir string, scanner map[string]any) (*sql.DB, string) {
	cfg := map[string]any{
		"db":      map[string]any{"path": "DB/local.sqlite"},
		"import":  map[string]any{"mode": "in_place"},
		"scanner": scanner,
	}
	b, _ := json.Marshal(cfg)
	cp := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	d := dbtest.Open(t, filepath.Join(dir, "DB", "local.sqlite"))
	return d, cp
}

func jobRow(t *testing.T, d *sql.DB, id int64) (status, code, msg, result string) {
	var c, m, r sql.NullString
	if err := d.QueryRow(`SELECT status, last_error_code, error_message, result_json FROM jobs WHERE id=?`, id).Scan(&status, &c, &m, &r); err != nil {
		t.Fatal(err)
	}
	return status, c.String, m.String, r.String
}

// TestWebRoundTrip does what the web UI does: build the payload with
// scan.NewScanPathPayload, enqueue, spawn `scan-worker --limit=N`, and
// checks media rows, the job's done status, result JSON and audit row.
// Then a misconfigured scanner fails the job with its reason code, the
// missing keys and the config path, and scanner_ingest.jsonl keeps them.
func TestWebRoundTrip(t *testing.T) {
	bin := svtest.BuildBinary(t, "./cmd/scan-worker")
	ctx := context.Background()
	env := []string{"SV_CONFIG=", "SV_BASE="}

	t.Run("scan_path done", func(t *testing.T) {
		dir := t.TempDir()
		d, cp := site(t, dir, map[string]any{"enabled": false})
		src := filepath.Join(dir, "inbox")
		for i := 0; i < 5; i++ {
			pngFile(t, filepath.Join(src, "sub", string(rune('a'+i))+".png"), uint8(i*20))
		}
		os.WriteFile(filepath.Join(src, "notes.txt"), []byte("x"), 0o644)
		q := jobs.NewQueue(jobs.QueueOptions{DB: d, Config: jobs.DefaultConfig()})
		p, err := scan.NewScanPathPayload(src, 0, "", "web", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		res, err := scan.EnqueueScanPath(ctx, q, p)
		if err != nil {
			t.Fatal(err)
		}
		r := svtest.RunBinary(t, dir, env, bin, "--config="+cp, "--limit=5")
		if r.Code != 0 {
			t.Fatalf("exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
		}
		st, code, msg, result := jobRow(t, d, res.JobID)
		if st != jobs.StatusDone {
			t.Fatalf("job %s %s %s\n%s", st, code, msg, r.Stderr)
		}
		var out scan.ScanPathResult
		if err := json.Unmarshal([]byte(result), &out); err != nil || out.Result.Imported != 5 || out.Result.NotMedia != 1 {
			t.Fatalf("result %s (%v)", result, err)
		}
		var n int
		d.QueryRow(`SELECT COUNT(*) FROM media WHERE status='active' AND path LIKE ?`, src+"%").Scan(&n)
		if n != 5 {
			t.Fatalf("media rows = %d, want 5", n)
		}
		d.QueryRow(`SELECT COUNT(*) FROM audit_log WHERE action='scan_job_done'`).Scan(&n)
		if n != 1 {
			t.Fatalf("scan_job_done audits = %d", n)
		}
		// --path filters in the claim: the job below the prefix is done,
		// the foreign one is never claimed (queued, attempts 0, no snooze,
		// no owner) and a worker whose prefix covers it runs it later.
		other := filepath.Join(dir, "other")
		pngFile(t, filepath.Join(other, "o.png"), 99)
		po, err := scan.NewScanPathPayload(other, 0, "", "web", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		foreign, err := scan.EnqueueScanPath(ctx, q, po)
		if err != nil {
			t.Fatal(err)
		}
		mine, err := scan.EnqueueScanPath(ctx, q, p)
		if err != nil {
			t.Fatal(err)
		}
		r = svtest.RunBinary(t, dir, env, bin, "--config="+cp, "--limit=5", "--path="+src)
		if st, code, msg, _ := jobRow(t, d, mine.JobID); r.Code != 0 || st != jobs.StatusDone {
			t.Fatalf("job below --path: %s %s %s exit %d %s", st, code, msg, r.Code, r.Stderr)
		}
		row, err := q.Get(ctx, foreign.JobID)
		if err != nil {
			t.Fatal(err)
		}
		if row.Status != jobs.StatusQueued || row.Attempts != 0 || row.NotBefore != "" || row.WorkerOwner != "" || row.LastErrorCode != "" {
			t.Fatalf("foreign path job touched: %+v", row)
		}
		r = svtest.RunBinary(t, dir, env, bin, "--config="+cp, "--limit=5", "--path="+other)
		if row, _ := q.Get(ctx, foreign.JobID); r.Code != 0 || row.Status != jobs.StatusDone || row.Attempts != 1 {
			t.Fatalf("foreign job with its own --path: %+v exit %d %s", row, r.Code, r.Stderr)
		}
	})

	t.Run("scanner misconfigured", func(t *testing.T) {
		dir := t.TempDir()
		d, cp := site(t, dir, map[string]any{"enabled": true, "base_url": ""})
		src := filepath.Join(dir, "inbox")
		pngFile(t, filepath.Join(src, "a.png"), 1)
		q := jobs.NewQueue(jobs.QueueOptions{DB: d, Config: jobs.DefaultConfig()})
		p, _ := scan.NewScanPathPayload(src, 0, "", "web", time.Now())
		res, err := scan.EnqueueScanPath(ctx, q, p)
		if err != nil {
			t.Fatal(err)
		}
		r := svtest.RunBinary(t, dir, env, bin, "--config="+cp, "--limit=1")
		if r.Code != 0 {
			t.Fatalf("exit %d\n%s", r.Code, r.Stderr)
		}
		st, code, msg, _ := jobRow(t, d, res.JobID)
		if st != jobs.StatusError || code != "scanner_not_configured" || !strings.Contains(msg, "scanner.base_url") || !strings.Contains(msg, cp) {
			t.Fatalf("job %s code=%q msg=%q", st, code, msg)
		}
		var n int
		d.QueryRow(`SELECT COUNT(*) FROM media`).Scan(&n)
		if n != 0 {
			t.Fatalf("%d media imported despite config error", n)
		}
		d.QueryRow(`SELECT COUNT(*) FROM audit_log WHERE action='scan_job_failed'`).Scan(&n)
		if n != 1 {
			t.Fatalf("scan_job_failed audits = %d", n)
		}
		b, err := os.ReadFile(filepath.Join(dir, "LOGS", "scanner_ingest.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		var ev map[string]any
		if err := json.Unmarshal(bytes.SplitN(b, []byte("\n"), 2)[0], &ev); err != nil {
			t.Fatal(err)
		}
		if ev["reason_code"] != "scanner_not_configured" || ev["config_path"] != cp || ev["missing_keys"] == nil || ev["operation"] != "scan_path" {
			t.Fatalf("ingest event %s", b)
		}
	})
}
