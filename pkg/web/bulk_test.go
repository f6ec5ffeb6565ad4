package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/bulk"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/query"
)

// TestBulkEndpointRefuses: a bulk request that cannot work is answered
// with 4xx, a reason_code and a sentence, never a 500, and changes and
// queues nothing.
func TestBulkEndpointRefuses(t *testing.T) {
	e := newActionEnv(t)
	img := strconv.FormatInt(e.imgID, 10)
	for _, c := range []struct {
		name   string
		form   url.Values
		status int
		code   string
	}{
		{"unknown action", url.Values{"action": {"explode"}, "ids": {img}}, 400, bulk.CodeUnknownAction},
		{"no action", url.Values{"ids": {img}}, 400, bulk.CodeUnknownAction},
		{"empty selection", url.Values{"action": {"rate"}, "rating": {"2"}}, 400, bulk.CodeEmptySelection},
		{"ids that are not ids", url.Values{"action": {"rate"}, "rating": {"2"}, "ids": {"abc,-3"}}, 400, bulk.CodeEmptySelection},
		{"bad query", url.Values{"action": {"rate"}, "rating": {"2"}, "select": {"all"}, "query": {"q=steps%3Aabc"}}, 400, query.CodeBadValue},
		{"unreadable query", url.Values{"action": {"rate"}, "rating": {"2"}, "select": {"all"}, "query": {"q=%zz"}}, 400, bulk.CodeBadQuery},
		{"query matching nothing", url.Values{"action": {"rate"}, "rating": {"2"}, "select": {"all"}, "query": {"tag=nosuchtag"}}, 400, bulk.CodeEmptySelection},
		{"rating out of range", url.Values{"action": {"rate"}, "rating": {"9"}, "ids": {img}}, 400, bulk.CodeBadValue},
		{"rating missing", url.Values{"action": {"rate"}, "ids": {img}}, 400, bulk.CodeBadValue},
		{"tag missing", url.Values{"action": {"tag_add"}, "select": {"all"}}, 400, bulk.CodeBadValue},
		{"hard delete unconfirmed", url.Values{"action": {"hard_delete"}, "select": {"all"}}, 400, bulk.CodeConfirm},
		{"album unnamed", url.Values{"action": {"collection_add"}, "ids": {img}}, 400, "collection_name_invalid"},
		{"ollama off", url.Values{"action": {"ollama_analyze"}, "select": {"all"}}, 409, "ollama_disabled"},
		{"forge off", url.Values{"action": {"forge_regen"}, "ids": {img}}, 409, "forge_disabled"},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, body := e.postJSON("/media/bulk", c.form)
			if status != c.status || body["reason_code"] != c.code || body["ok"] != false {
				t.Fatalf("%d %v, want %d %s", status, body, c.status, c.code)
			}
			if s, _ := body["error"].(string); s == "" {
				if m, _ := body["error"].(map[string]any); m == nil || m["message"] == "" {
					t.Fatalf("no sentence: %v", body)
				}
			}
		})
	}
	if js := e.jobs(); len(js) != 0 {
		t.Fatalf("refused requests queued %v", js)
	}
	var n int
	e.db.QueryRow(`SELECT count(*) FROM audit_log WHERE entity_type = 'media'`).Scan(&n)
	if n != 0 {
		t.Fatalf("refused requests wrote %d audit rows", n)
	}
}

// TestBulkEndpointJobAndInRequest: a small hand-made selection is changed
// in the request (with audit rows); a select-all becomes one media_bulk
// job carrying the query (not ids), media-worker is started, and
// /api/bulk reports the job.
func TestBulkEndpointJobAndInRequest(t *testing.T) {
	e := newActionEnv(t)
	img := strconv.FormatInt(e.imgID, 10)
	status, body := e.postJSON("/media/bulk", url.Values{"action": {"rate"}, "rating": {"3"}, "ids": {img}})
	if status != 200 || body["done"] != float64(1) {
		t.Fatalf("in request: %d %v", status, body)
	}
	var rating, audits int
	e.db.QueryRow(`SELECT rating FROM media WHERE id = ?`, e.imgID).Scan(&rating)
	e.db.QueryRow(`SELECT count(*) FROM audit_log WHERE action = 'rate' AND entity_id = ?`, e.imgID).Scan(&audits)
	if rating != 3 || audits != 1 {
		t.Fatalf("rating %d, %d audit rows", rating, audits)
	}
	if js := e.jobs(); len(js) != 0 {
		t.Fatalf("a small selection queued %v", js)
	}

	status, body = e.postJSON("/media/bulk", url.Values{"action": {"tag_add"}, "tag_name": {"sea"}, "select": {"all"}, "query": {"type=all&sort=oldest"}})
	if status != 200 || body["job_id"] == nil || body["count"] != float64(2) || body["message_code"] != "bulk_queued" {
		t.Fatalf("select all: %d %v", status, body)
	}
	js := e.jobs()
	if len(js) != 1 {
		t.Fatalf("jobs %v", js)
	}
	var p bulk.Payload
	var raw string
	e.db.QueryRow(`SELECT payload_json FROM jobs WHERE type = ?`, jobs.TypeMediaBulk).Scan(&raw)
	if err := json.Unmarshal([]byte(raw), &p); err != nil || !p.All || len(p.IDs) != 0 || p.Action.Tag != "sea" || p.UpTo < e.video || p.ActorKey != "session" {
		t.Fatalf("payload %s (%v)", raw, err)
	}
	if w, _ := e.starts(); !slices.Contains(w, "media-worker") {
		t.Fatalf("started %v, want media-worker", w)
	}
	jobID := strconv.FormatInt(int64(body["job_id"].(float64)), 10)
	e.c.hdr.Set("Accept", "application/json")
	rec := e.c.do("GET", "/api/bulk?job="+jobID, nil)
	var pr map[string]any
	json.Unmarshal(rec.Body.Bytes(), &pr)
	if rec.Code != 200 || pr["status"] != jobs.StatusQueued || pr["finished"] != false {
		t.Fatalf("progress %d %v", rec.Code, pr)
	}
	if rec := e.c.do("GET", "/api/bulk?job=999", nil); rec.Code != http.StatusNotFound {
		t.Fatalf("unknown job: %d %s", rec.Code, rec.Body.String())
	}
	anon := e.fixture.client()
	anon.hdr.Set("Accept", "application/json")
	if rec := anon.do("GET", "/api/bulk?job="+jobID, nil); rec.Code != http.StatusForbidden {
		t.Fatalf("anonymous progress: %d", rec.Code)
	}
}
