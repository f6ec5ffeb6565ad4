package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/ollama"
)

func ollamaFixture(t *testing.T) (*fixture, *client) {
	t.Helper()
	f := newFixture(t, ServiceOllama)
	q := jobs.NewQueue(jobs.QueueOptions{DB: f.db, Clock: f.srv.clock, Config: jobs.DefaultConfig()})
	s, err := New(Options{Config: f.cfg, DB: f.db, ReadDB: f.srv.rdb, Log: zerolog.Nop(), Clock: f.srv.clock, Jobs: q, JobAdmin: JobAdminAdapter{Q: q},
		ExtraRoutes: OllamaRoutes(OllamaOptions{Config: ollama.DefaultConfig(), Jobs: jobs.DefaultConfig(), LogsDir: filepath.Join(f.base, "LOGS"), ServiceBin: filepath.Join(f.base, "no-such-bin")})})
	if err != nil {
		t.Fatal(err)
	}
	f.srv, f.h = s, s.Handler()
	c := f.client()
	c.hdr.Set("X-Internal-Key", testKey)
	return f, c
}

func decode(t *testing.T, body string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("not JSON: %s", body)
	}
	return m
}

func TestOllamaEnqueueOnlyThatMedia(t *testing.T) {
	f, c := ollamaFixture(t)
	rec := c.do("POST", "/internal_ollama.php", url.Values{"action": {"enqueue"}, "mode": {"caption"}, "media_id": {strconv.FormatInt(f.imgID, 10)}})
	if rec.Code != 200 {
		t.Fatalf("enqueue: %d %s", rec.Code, rec.Body)
	}
	var n int
	var mid int64
	f.db.QueryRow(`SELECT COUNT(*), MAX(media_id) FROM jobs WHERE type = 'ollama_caption'`).Scan(&n, &mid)
	if n != 1 || mid != f.imgID {
		t.Fatalf("jobs: %d for media %d, want 1 for %d (%s)", n, mid, f.imgID, rec.Body)
	}
}

func TestOllamaStatusJobStatusCancelDelete(t *testing.T) {
	f, c := ollamaFixture(t)
	rec := c.do("POST", "/internal_ollama.php", url.Values{"action": {"status"}})
	if m := decode(t, rec.Body.String()); rec.Code != 200 || m["ok"] != true || m["worker_running"] != false {
		t.Fatalf("status: %d %s", rec.Code, rec.Body)
	}
	c.do("POST", "/internal_ollama.php", url.Values{"action": {"enqueue"}, "mode": {"title"}, "filters": {`{"media_id":` + strconv.FormatInt(f.imgID, 10) + `}`}})
	var id int64
	if err := f.db.QueryRow(`SELECT id FROM jobs WHERE type = 'ollama_title'`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	rec = c.do("POST", "/internal_ollama.php", url.Values{"action": {"status"}, "details": {"1"}})
	if m := decode(t, rec.Body.String()); m["counts"].(map[string]any)["queue_queued"].(float64) != 1 {
		t.Fatalf("details: %s", rec.Body)
	}
	rec = c.do("POST", "/internal_ollama.php", url.Values{"action": {"job_status"}, "job_id": {strconv.FormatInt(id, 10)}})
	if !strings.Contains(rec.Body.String(), `"status":"queued"`) {
		t.Fatalf("job_status: %s", rec.Body)
	}
	// A running job blocks a plain delete (409) and is cancelled by force.
	f.db.Exec(`UPDATE jobs SET status = 'running', worker_owner = 'x' WHERE id = ?`, id)
	form := url.Values{"action": {"delete"}, "media_id": {strconv.FormatInt(f.imgID, 10)}, "mode": {"title"}}
	if rec = c.do("POST", "/internal_ollama.php", form); rec.Code != http.StatusConflict {
		t.Fatalf("delete without force: %d %s", rec.Code, rec.Body)
	}
	form.Set("force", "1")
	if rec = c.do("POST", "/internal_ollama.php", form); rec.Code != 200 {
		t.Fatalf("force delete: %d %s", rec.Code, rec.Body)
	}
	var left int
	f.db.QueryRow(`SELECT COUNT(*) FROM jobs WHERE id = ?`, id).Scan(&left)
	if left != 0 {
		t.Fatal("job not deleted")
	}
	// Unknown action and missing CSRF/admin are refused.
	if rec = c.do("POST", "/internal_ollama.php", url.Values{"action": {"nope"}}); rec.Code != 400 {
		t.Fatalf("unknown action: %d", rec.Code)
	}
	c.hdr.Del("X-Internal-Key")
	if rec = c.do("POST", "/internal_ollama.php", url.Values{"action": {"status"}}); rec.Code != 403 {
		t.Fatalf("no csrf: %d", rec.Code)
	}
}

func TestOllamaDashboardWithoutDB(t *testing.T) {
	f, c := ollamaFixture(t)
	f.srv.rdb.Close() // the page must not query the DB
	rec := c.do("GET", "/dashboard_ollama.php", nil)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `id="ollama-status"`) {
		t.Fatalf("dashboard: %d %s", rec.Code, rec.Body)
	}
}

func TestOllamaDetailSection(t *testing.T) {
	f, c := ollamaFixture(t)
	rec := c.do("GET", "/media_view.php?id="+strconv.FormatInt(f.imgID, 10), nil)
	if !strings.Contains(rec.Body.String(), `id="ollama-analyze"`) || !strings.Contains(rec.Body.String(), `name="media_id" value="`+strconv.FormatInt(f.imgID, 10)) {
		t.Fatalf("detail lacks the analyze form: %d", rec.Code)
	}
}

// TestOllamaJobErrorsAnswerJSON: a job action on a finished or deleted job
// answers JSON with the job's reason code (issue #17 item 19), not the
// HTML error page's "Bad request.", whatever the caller's Accept header.
func TestOllamaJobErrorsAnswerJSON(t *testing.T) {
	f, c := ollamaFixture(t)
	c.do("POST", "/internal_ollama.php", url.Values{"action": {"enqueue"}, "mode": {"title"}, "media_id": {strconv.FormatInt(f.imgID, 10)}})
	var done int64
	if err := f.db.QueryRow(`SELECT id FROM jobs WHERE type = 'ollama_title'`).Scan(&done); err != nil {
		t.Fatal(err)
	}
	f.db.Exec(`UPDATE jobs SET status = 'done' WHERE id = ?`, done)
	deleted := done + 1000
	cases := []struct {
		name, path, action string
		id                 int64
		status             int
		code               string
	}{
		{"cancel done", "/internal_ollama.php", "cancel", done, 400, jobs.CodeInvalidState},
		{"cancel deleted", "/internal_ollama.php", "cancel", deleted, 404, jobs.CodeNotFound},
		{"job_status deleted", "/internal_ollama.php", "job_status", deleted, 404, jobs.CodeNotFound},
		{"requeue deleted", "/ollama.php", "requeue", deleted, 404, jobs.CodeNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := c.do("POST", tc.path, url.Values{"action": {tc.action}, "job_id": {strconv.FormatInt(tc.id, 10)}})
			if !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
				t.Fatalf("not JSON: %d %s %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
			}
			m := decode(t, rec.Body.String())
			if rec.Code != tc.status || m["ok"] != false || m["reason_code"] != tc.code || m["error"] == "Bad request." {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
		})
	}
}
