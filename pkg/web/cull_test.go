package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/cull"
	"github.com/localsupervisor/supervisor/pkg/media"
)

// decodeJSON reads a JSON answer (never an HTML page: these are API
// calls).
func decodeJSON(t *testing.T, body string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("not JSON: %v: %s", err, body)
	}
	return m
}

// TestCullHandlers: the culling endpoints answer bad input — no CSRF
// token, not an admin, an unknown decision, a rating out of range, a bad
// or unknown pass or media id, undo with nothing to undo — with a 4xx and
// a reason_code a person's sentence belongs to, never a 500; a good
// decision answers the new counter.
func TestCullHandlers(t *testing.T) {
	f := newFixture(t)
	anon := f.client()
	anon.hdr.Set("Accept", "application/json")
	c := f.client()
	c.login()
	c.hdr.Set("Accept", "application/json")
	start := c.post("/cull/start", url.Values{"query": {"type=image"}}, true)
	if start.Code != http.StatusOK {
		t.Fatalf("start: %d %s", start.Code, start.Body.String())
	}
	st := decodeJSON(t, start.Body.String())
	pass := strconv.FormatInt(int64(st["pass"].(map[string]any)["id"].(float64)), 10)
	// One image: the other is 18+ and this session does not show 18+.
	if st["left"].(float64) != 1 || st["done"].(float64) != 0 {
		t.Fatalf("start state %v", st)
	}
	// A second start over the same query resumes the pass.
	if again := decodeJSON(t, c.post("/cull/start", url.Values{"query": {"type=image"}}, true).Body.String()); again["pass"].(map[string]any)["id"] != st["pass"].(map[string]any)["id"] {
		t.Fatalf("second start opened another pass: %v", again)
	}
	img := strconv.FormatInt(f.imgID, 10)
	for _, tc := range []struct {
		name   string
		cl     *client
		path   string
		form   url.Values
		csrf   bool
		status int
		code   string
	}{
		{"no csrf", c, "/cull/decide", url.Values{"pass": {pass}, "media_id": {img}, "action": {"keep"}}, false, 403, CodeInvalidCSRF},
		{"not admin", anon, "/cull/decide", url.Values{"pass": {pass}, "media_id": {img}, "action": {"keep"}}, true, 403, CodeAuthRequired},
		{"unknown action", c, "/cull/decide", url.Values{"pass": {pass}, "media_id": {img}, "action": {"explode"}}, true, 400, cull.CodeUnknownAction},
		{"rating out of range", c, "/cull/decide", url.Values{"pass": {pass}, "media_id": {img}, "action": {"rate"}, "value": {"7"}}, true, 400, cull.CodeBadValue},
		{"bad media id", c, "/cull/decide", url.Values{"pass": {pass}, "media_id": {"x1"}, "action": {"keep"}}, true, 400, CodeBadRequest},
		{"unknown media", c, "/cull/decide", url.Values{"pass": {pass}, "media_id": {"99999"}, "action": {"keep"}}, true, 404, CodeNotFound},
		{"bad pass id", c, "/cull/decide", url.Values{"pass": {"-3"}, "media_id": {img}, "action": {"keep"}}, true, 400, cull.CodeNoPass},
		{"unknown pass", c, "/cull/decide", url.Values{"pass": {"999"}, "media_id": {img}, "action": {"keep"}}, true, 400, cull.CodeNoPass},
		{"no album", c, "/cull/decide", url.Values{"pass": {pass}, "media_id": {img}, "action": {"collect"}}, true, 400, cull.CodeNoCollection},
		{"nothing to undo", c, "/cull/undo", url.Values{"pass": {pass}}, true, 400, cull.CodeNothingToUndo},
		{"undo bad pass", c, "/cull/undo", url.Values{"pass": {"abc"}}, true, 400, cull.CodeNoPass},
		{"finish unknown pass", c, "/cull/finish", url.Values{"pass": {"998"}}, true, 400, cull.CodeNoPass},
		{"start bad query", c, "/cull/start", url.Values{"query": {"q=" + url.QueryEscape("model:(")}}, true, 400, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := tc.cl.post(tc.path, tc.form, tc.csrf)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body.String())
			}
			m := decodeJSON(t, rec.Body.String())
			if m["ok"] != false || m["reason_code"] == nil || m["reason_code"] == "" || (tc.code != "" && m["reason_code"] != tc.code) {
				t.Fatalf("answer %v, want reason_code %q", m, tc.code)
			}
			if s, _ := m["error"].(string); tc.code != "" && (s == "" || strings.Contains(s, tc.code)) {
				t.Fatalf("error %q: want a sentence, not the code", m["error"])
			}
		})
	}
	// GET of a mutating endpoint is refused, not run.
	if rec := c.do("GET", "/cull/decide?pass="+pass+"&media_id="+img+"&action=keep", nil); rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("GET decide: %d", rec.Code)
	}
	// A good decision answers the counter; the media is checked.
	rec := c.post("/cull/decide", url.Values{"pass": {pass}, "media_id": {img}, "action": {"keep"}}, true)
	if rec.Code != http.StatusOK {
		t.Fatalf("keep: %d %s", rec.Code, rec.Body.String())
	}
	if m := decodeJSON(t, rec.Body.String()); m["done"].(float64) != 1 || m["left"].(float64) != 0 || m["after"] == "" {
		t.Fatalf("after keep: %v", m)
	}
	if v, _, _ := media.GetMeta(t.Context(), f.db, f.imgID, media.MetaChecked); v != "1" {
		t.Fatalf("checked %q after keep", v)
	}
}

// TestMediaInfo: /api/media/info answers the lightbox's fields, the
// A1111 text among them, keeps the adult gate and refuses bad ids with a
// reason code.
func TestMediaInfo(t *testing.T) {
	f := newFixture(t)
	c := f.client()
	c.hdr.Set("Accept", "application/json")
	steps := int64(20)
	if _, err := media.SavePrompt(t.Context(), f.db, f.imgID, media.Prompt{Prompt: "a cat", NegativePrompt: "dog", Sampler: "Euler a",
		Steps: &steps, Seed: "7"}, media.PromptSourceImport, "", f.srv.clock.Now()); err != nil {
		t.Fatal(err)
	}
	rec := c.do("GET", "/api/media/info?id="+strconv.FormatInt(f.imgID, 10), nil)
	if rec.Code != 200 {
		t.Fatalf("info: %d %s", rec.Code, rec.Body.String())
	}
	m := decodeJSON(t, rec.Body.String())
	if m["parameters"] != "a cat\nNegative prompt: dog\nSteps: 20, Sampler: Euler a, Seed: 7" || m["seed"] != "7" || m["adult"] != false {
		t.Fatalf("info %v", m)
	}
	for _, tc := range []struct {
		q      string
		status int
	}{{"id=abc", 400}, {"id=0", 400}, {"id=424242", 404}, {"id=2", 403}} { // id 2 is the fixture's 18+ media
		rec := c.do("GET", "/api/media/info?"+tc.q, nil)
		if rec.Code != tc.status || decodeJSON(t, rec.Body.String())["reason_code"] == nil {
			t.Errorf("%s: %d %s, want %d with a reason_code", tc.q, rec.Code, rec.Body.String(), tc.status)
		}
	}
}
