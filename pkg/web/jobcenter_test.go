package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestJobCenterLive: a running import shows files done of the total, rate
// and time left (progress_json) in the tables fragment the dashboard swaps
// in when jobs_sig changes; a finished import shows its summary with a
// link to the files it refused, whose page gives each file's reason in
// plain words (no raw code) and points at the integrity check's findings,
// which the Issues filter lists too.
func TestJobCenterLive(t *testing.T) {
	f := newFixture(t)
	exec := func(q string, args ...any) int64 {
		t.Helper()
		res, err := f.db.Exec(q, args...)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := res.LastInsertId()
		return id
	}
	exec(`INSERT INTO jobs (type, status, payload_json, progress_json, created_at, started_at, priority, attempts, max_attempts)
		VALUES ('scan_path', 'running', '{"path":"/in/a"}', '{"done":120,"total":300,"counted":true,"rate":40,"eta_s":5}', '2026-01-02T03:00:00Z', '2026-01-02T03:00:00Z', 100, 1, 3)`)
	done := exec(`INSERT INTO jobs (type, status, payload_json, result_json, created_at, finished_at, priority, attempts, max_attempts)
		VALUES ('scan_path', 'done', '{"path":"/in/b"}', '{"path":"/in/b","result":{"processed":9,"imported":5,"skipped_duplicate":1,"duplicates_moved":1,"unchanged":1,"errors":2}}',
		'2026-01-02T03:00:00Z', '2026-01-02T03:05:00Z', 100, 1, 3)`)
	for _, row := range [][2]string{
		{"/in/b/zero.png", "empty_file: file is empty"},
		{"/in/b/sub/cut.png", "truncated_file: unexpected EOF"},
		{"/in/bb/other.png", "empty_file: not this job's folder"},
	} {
		exec(`INSERT INTO import_log (path, status, message, created_at) VALUES (?, 'error', ?, '2026-01-02T03:01:00Z')`, row[0], row[1])
	}
	exec(`INSERT INTO import_log (path, status, message, created_at) VALUES ('/in/b/late.png', 'error', 'empty_file', '2026-01-02T04:00:00Z')`)
	// A media whose integrity check failed, then one that failed and was
	// fixed (the newest check counts).
	exec(`INSERT INTO media_meta (media_id, source, meta_key, meta_value, created_at) VALUES (?, 'integrity', 'integrity.ok', '0', '2026-01-02T03:06:00Z')`, f.imgID)

	c := f.client()
	c.hdr.Set("X-Internal-Key", testKey)
	rec := c.do("GET", "/dashboard/jobs", nil)
	frag := rec.Body.String()
	for _, want := range []string{"120 of 300 files · 40 files/s · about 5 s left", `<progress value="120" max="300">`,
		"5 imported, 1 duplicates, 1 unchanged, 2 refused (1 duplicate files set aside in " + f.cfg.Resolve(f.cfg.Paths.Duplicates) + ")", fmt.Sprintf(`/import_refused.php?job=%d`, done)} {
		if !strings.Contains(frag, want) {
			t.Errorf("job tables lack %q:\n%s", want, frag)
		}
	}
	if strings.Contains(frag, "<html") {
		t.Error("the fragment carries the whole layout")
	}

	var poll struct {
		OK   bool `json:"ok"`
		Data struct {
			JobsSig string `json:"jobs_sig"`
		} `json:"data"`
	}
	rec = c.do("GET", "/api/dashboard", nil)
	if err := json.Unmarshal(rec.Body.Bytes(), &poll); err != nil || poll.Data.JobsSig == "" || rec.Header().Get("X-Jobs-Sig") != "" {
		t.Fatalf("poll: %v %s", err, rec.Body.String())
	}

	rec = c.do("GET", fmt.Sprintf("/import_refused.php?job=%d", done), nil)
	page := rec.Body.String()
	for _, want := range []string{"/in/b/zero.png", "The file is empty (0 bytes).", "/in/b/sub/cut.png", "cut off (truncated)",
		"1 media failed the integrity check", `href="/mediadb.php?issues=1"`} {
		if !strings.Contains(page, want) {
			t.Errorf("refused page lacks %q (status %d)", want, rec.Code)
		}
	}
	for _, not := range []string{"/in/bb/other.png", "late.png", ">empty_file<", ">truncated_file<"} {
		if strings.Contains(page, not) {
			t.Errorf("refused page shows %q", not)
		}
	}
	rec = c.do("GET", "/mediadb.php?issues=1", nil)
	if !strings.Contains(rec.Body.String(), fmt.Sprintf("id=%d", f.imgID)) {
		t.Error("the Issues filter does not list the media whose integrity check failed")
	}
	exec(`INSERT INTO media_meta (media_id, source, meta_key, meta_value, created_at) VALUES (?, 'integrity', 'integrity.ok', '1', '2026-01-02T03:07:00Z')`, f.imgID)
	rec = c.do("GET", "/mediadb.php?issues=1", nil)
	if strings.Contains(rec.Body.String(), fmt.Sprintf("id=%d&", f.imgID)) || strings.Contains(rec.Body.String(), fmt.Sprintf("id=%d\"", f.imgID)) {
		t.Error("a media whose newest integrity check passed is still an issue")
	}
}

// BenchmarkDashboardPoll50Tabs: 50 dashboard tabs polling the job center
// at once. The computed dashboard is shared for a second, so the cost per
// poll is a cache hit; reports requests per second.
func BenchmarkDashboardPoll50Tabs(b *testing.B) {
	f := newFixture(&testing.T{})
	for i := 0; i < 2000; i++ {
		f.db.Exec(`INSERT INTO jobs (type, status, payload_json, created_at, priority, attempts, max_attempts)
			VALUES ('hash_compute', ?, '{}', '2026-01-02T03:00:00Z', 100, 1, 3)`, []string{"done", "queued", "error"}[i%3])
	}
	srv := httptest.NewServer(f.h)
	defer srv.Close()
	c := f.client()
	c.hdr.Set("X-Internal-Key", testKey)
	tabs := 50
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	per := b.N/tabs + 1
	for range tabs {
		wg.Go(func() {
			for i := 0; i < per; i++ {
				req, _ := http.NewRequest("GET", srv.URL+"/api/dashboard", nil)
				req.Header.Set("X-Internal-Key", testKey)
				req.Header.Set("Accept", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(per*tabs)/time.Since(start).Seconds(), "req/s")
}
