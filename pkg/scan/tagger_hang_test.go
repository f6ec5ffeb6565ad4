package scan_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/config"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/scan"
	"github.com/localsupervisor/supervisor/pkg/scanner"
	"github.com/localsupervisor/supervisor/pkg/scanner/scannertest"
	"github.com/localsupervisor/supervisor/pkg/svtest/pngtest"
)

// lockedClock is a stepping clock safe to read from the runner's
// goroutines while the test advances it.
type lockedClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *lockedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *lockedClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestTaggerHangBreaker: a tagger that accepts connections but never
// answers (scanner.timeout 2 s) used to cost 2 s per file, 400 s for 200
// files. Wired from the config (FromConfig, scanner.breaker_threshold 3)
// and run as a scan_path job with an nsfw_threshold override (the per-job
// client), the import pays three timeouts, then imports the other files at
// once with scanner_circuit_open: every file is imported, untagged and
// flagged scanner.pending, import_log and scan_results say why, and the
// opening is logged once. While the breaker is open rescans are refused
// without a request (the override client shared the worker's breaker) and
// retried by the job runner; once the tagger is back and the cool-down
// has passed, the backfill's rescans tag everything and clear the flag.
func TestTaggerHangBreaker(t *testing.T) {
	const files = 200
	ctx := context.Background()
	fake := scannertest.New(t, scannertest.Options{Fault: scannertest.FaultSlow}) // no answer until the client gives up
	base := t.TempDir()
	cfgPath := filepath.Join(base, "config.json")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`{"paths": {"base": "."}, "import": {"mode": "copy"},
		"scanner": {"enabled": true, "base_url": %q, "token": "tok", "timeout": 2,
			"breaker_threshold": 3, "breaker_cooldown_seconds": 60}}`, fake.URL)), 0o644)
	cfg, err := config.Load(config.LoadOptions{Path: cfgPath, WorkDir: base, Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	d := openDB(t)
	clock := &lockedClock{t: t0}
	setup, err := scan.FromConfig(cfg, d, clock, nil)
	if err != nil || setup.ScannerErr != nil {
		t.Fatal(err, setup.ScannerErr)
	}
	var mu sync.Mutex
	var breakerLog []string
	setup.Importer.Ingest = func(event string, f map[string]any) {
		if event == "scanner_breaker" {
			mu.Lock()
			breakerLog = append(breakerLog, fmt.Sprintf("%v>%v %v", f["breaker_from"], f["breaker_state"], f["error_code"]))
			mu.Unlock()
		}
	}
	src := t.TempDir()
	for i := 0; i < files; i++ {
		os.WriteFile(filepath.Join(src, fmt.Sprintf("f%03d.png", i)), pngtest.PNG(4+i%20, 4+i/20, uint8(i)), 0o644)
	}

	q := jobs.NewQueue(jobs.QueueOptions{DB: d, Clock: clock, Config: jobs.DefaultConfig()})
	r := newRunner(t, q, []string{jobs.TypeScanPath, jobs.TypeScanBackfillTags, jobs.TypeRescanMedia},
		setup.Handlers(scan.HandlerOptions{Queue: q, BackfillRunCap: 10 * files}))
	p, err := scan.NewScanPathPayload(src, 0, "", "test", t0)
	if err != nil {
		t.Fatal(err)
	}
	threshold := 0.5
	p.NSFWThreshold = &threshold
	if _, err := scan.EnqueueScanPath(ctx, q, p); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s, err := r.RunBatch(ctx, 1)
	elapsed := time.Since(start)
	t.Logf("import of %d files against a hanging tagger: %s, %d tagger requests", files, elapsed, len(fake.Requests()))
	if err != nil || s.Done != 1 {
		t.Fatalf("scan_path job %+v %v", s, err)
	}
	// Without the breaker: files × 2 s = 400 s. With it: 3 × 2 s.
	if elapsed > 60*time.Second {
		t.Fatalf("import took %s", elapsed)
	}
	if n := len(fake.Requests()); n != 3 {
		t.Fatalf("tagger requests %d, want 3 (the breaker threshold)", n)
	}
	count := func(q string, args ...any) int {
		t.Helper()
		var n int
		if err := d.QueryRow(q, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	wantCodes := map[string]int{scanner.CodeTimeout: 3, scanner.CodeCircuitOpen: files - 3}
	if n := count(`SELECT COUNT(*) FROM media`); n != files {
		t.Fatalf("media %d, want %d", n, files)
	}
	if n := count(`SELECT COUNT(DISTINCT media_id) FROM media_meta WHERE meta_key='scanner.pending'`); n != files {
		t.Errorf("scanner.pending on %d media, want %d", n, files)
	}
	for code, want := range wantCodes {
		if n := count(`SELECT COUNT(*) FROM import_log WHERE status=? AND message=?`, scan.StatusImported, code); n != want {
			t.Errorf("import_log imported with %s: %d, want %d", code, n, want)
		}
		if n := count(`SELECT COUNT(*) FROM scan_results WHERE json_extract(raw_json, '$.error_code')=?`, code); n != want {
			t.Errorf("scan_results %s: %d, want %d", code, n, want)
		}
	}
	var msg string
	d.QueryRow(`SELECT json_extract(raw_json, '$.error') FROM scan_results WHERE json_extract(raw_json, '$.error_code')=? LIMIT 1`,
		scanner.CodeCircuitOpen).Scan(&msg)
	if !strings.Contains(msg, "3 consecutive failures (last scanner_timeout)") {
		t.Errorf("circuit-open scan_results error %q", msg)
	}
	mu.Lock()
	if got := strings.Join(breakerLog, "; "); got != "closed>open scanner_timeout" {
		t.Errorf("breaker log %q, want one opening", got)
	}
	mu.Unlock()

	// The tagger is back, but the breaker is still cooling down: the
	// backfill's rescans are refused without a request and retried later.
	fake.SetFault(scannertest.FaultNone)
	fake.ResetRequests()
	if _, err := scan.EnqueueBackfill(ctx, q, 500, 0, clock.Now()); err != nil {
		t.Fatal(err)
	}
	if s, err := r.RunBatch(ctx, 1); err != nil || s.Done != 1 {
		t.Fatalf("backfill %+v %v", s, err)
	}
	if n := count(`SELECT COUNT(*) FROM jobs WHERE type=? AND status=?`, jobs.TypeRescanMedia, jobs.StatusQueued); n != files {
		t.Fatalf("rescan jobs queued %d, want %d", n, files)
	}
	if s, err := r.RunBatch(ctx, files); err != nil || s.Retried != files {
		t.Fatalf("rescans while open %+v %v", s, err)
	}
	if n := len(fake.Requests()); n != 0 {
		t.Fatalf("%d tagger requests while the breaker is open", n)
	}
	if n := count(`SELECT COUNT(*) FROM jobs WHERE type=? AND last_error_code=?`, jobs.TypeRescanMedia, scanner.CodeCircuitOpen); n != files {
		t.Errorf("rescan jobs refused with %s: %d, want %d", scanner.CodeCircuitOpen, n, files)
	}

	// After the cool-down the first rescan probes, succeeds and closes the
	// breaker; the rest follow.
	clock.Advance(2 * time.Minute)
	if s, err := r.RunBatch(ctx, files); err != nil || s.Done != files {
		t.Fatalf("rescans after recovery %+v %v", s, err)
	}
	if n := len(fake.Requests()); n != files {
		t.Errorf("tagger requests after recovery %d, want %d", n, files)
	}
	if n := count(`SELECT COUNT(*) FROM media_meta WHERE meta_key='scanner.pending'`); n != 0 {
		t.Errorf("scanner.pending left on %d media", n)
	}
	if n := count(`SELECT COUNT(*) FROM media m WHERE m.rating=0 OR NOT EXISTS (SELECT 1 FROM media_tags t WHERE t.media_id=m.id)`); n != 0 {
		t.Errorf("%d media untagged after the backfill", n)
	}
	mu.Lock()
	if got := strings.Join(breakerLog, "; "); got != "closed>open scanner_timeout; open>half_open <nil>; half_open>closed <nil>" {
		t.Errorf("breaker log %q", got)
	}
	mu.Unlock()
}
