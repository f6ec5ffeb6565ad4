package web

// HTTP tests of the issue #17 hardening items 13–18, run against the real
// handler stack (fixture in web_test.go).

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// #13: rating is admin-only unless security.public_media_actions opens it;
// voting stays public as in the original.
func TestPublicMediaActionsFromConfig(t *testing.T) {
	f := newFixture(t)
	rating := func() int {
		var n int
		if err := f.db.QueryRow("SELECT rating FROM media WHERE id = ?", f.imgID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	anon := f.client()
	anon.hdr.Set("Accept", "application/json")
	id := fmtID(f.imgID)
	rate := func(c *client, n string) *http.Response {
		return c.post("/media/action", url.Values{"action": {"rate"}, "media_id": {id}, "rating": {n}}, true).Result()
	}
	if resp := rate(anon, "3"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("anonymous rate: %d, want 403", resp.StatusCode)
	}
	if got := decode(t, anon.post("/media/action", url.Values{"action": {"rate"}, "media_id": {id}, "rating": {"3"}}, true).Body.String()); got["reason_code"] != CodeAuthRequired || got["error"] == "" {
		t.Fatalf("anonymous rate refusal without a reason: %v", got)
	}
	if rating() != 0 {
		t.Fatal("anonymous session changed the rating")
	}
	if rec := anon.post("/media/action", url.Values{"action": {"vote_set"}, "media_id": {id}, "vote_status": {"approved"}}, true); rec.Code != 200 {
		t.Fatalf("anonymous vote (public by default): %d %s", rec.Code, rec.Body.String())
	}
	// The page offers what the session may do, and says why rating is missing.
	anon.hdr.Del("Accept")
	page := anon.do("GET", "/media_view.php?id="+id, nil).Body.String()
	if strings.Contains(page, `class="inline rate-form"`) || !strings.Contains(page, `id="rate-admin-only"`) || !strings.Contains(page, `value="vote_set"`) {
		t.Fatal("anonymous detail page: rating form shown or vote form/reason missing")
	}

	admin := f.client()
	admin.login()
	admin.hdr.Set("Accept", "application/json")
	if resp := rate(admin, "2"); resp.StatusCode != 200 || rating() != 2 {
		t.Fatalf("admin rate: %d, rating %d", resp.StatusCode, rating())
	}

	// Opened in the config: any session may rate; [] closes voting too.
	f.cfg.Security.PublicMediaActions = []string{"vote_set", "rate"}
	anon.hdr.Set("Accept", "application/json")
	if resp := rate(anon, "1"); resp.StatusCode != 200 || rating() != 1 {
		t.Fatalf("rate opened by config: %d, rating %d", resp.StatusCode, rating())
	}
	f.cfg.Security.PublicMediaActions = []string{}
	if rec := anon.post("/media/action", url.Values{"action": {"vote_set"}, "media_id": {id}, "vote_status": {"rejected"}}, true); rec.Code != http.StatusForbidden {
		t.Fatalf("vote with public_media_actions=[]: %d", rec.Code)
	}
}

// #14: every redirect target taken from a request stays on this server.
func TestRedirectTargetsStayOnSite(t *testing.T) {
	f := newFixture(t)
	id := fmtID(f.imgID)
	nasty := []string{"/\\evil.example", "//evil.example", "/\t/evil.example", "/\n/evil.example", "/\\/evil.example",
		"https://evil.example/", "javascript:alert(1)", "/\x00/evil.example", " //evil.example"}
	for _, back := range nasty {
		for _, ep := range []string{"/media_view.php?id=" + id, "/media/action"} {
			c := f.client()
			rec := c.post(ep, url.Values{"action": {"vote_set"}, "media_id": {id}, "vote_status": {"approved"}, "back": {back}}, true)
			if loc := rec.Header().Get("Location"); rec.Code != http.StatusSeeOther || !strings.HasPrefix(loc, "/media_view.php?id="+id) {
				t.Errorf("%s back=%q: %d Location %q, want the media page", ep, back, rec.Code, loc)
			}
		}
		c := f.client()
		if rec := c.post("/settings", url.Values{"lang": {"en"}, "back": {back}}, true); rec.Header().Get("Location") != "/mediadb.php" {
			t.Errorf("/settings back=%q: Location %q, want /mediadb.php", back, rec.Header().Get("Location"))
		}
		if rec := c.do("GET", "/login?next="+url.QueryEscape(back), nil); !strings.Contains(rec.Body.String(), `name="next" value="/index.php"`) {
			t.Errorf("GET /login next=%q: the form does not carry the fallback /index.php", back)
		}
		if rec := c.post("/login", url.Values{"key": {testKey}, "next": {back}}, true); rec.Header().Get("Location") != "/index.php" {
			t.Errorf("POST /login next=%q: Location %q, want /index.php", back, rec.Header().Get("Location"))
		}
	}
	// A same-site target is kept.
	c := f.client()
	rec := c.post("/media/action", url.Values{"action": {"vote_set"}, "media_id": {id}, "vote_status": {"approved"}, "back": {"/mediadb.php?p=2"}}, true)
	if loc := rec.Header().Get("Location"); !strings.HasPrefix(loc, "/mediadb.php?p=2&") {
		t.Errorf("same-site back: Location %q", loc)
	}
	if rec := c.post("/settings", url.Values{"back": {"/media_view.php"}}, true); rec.Header().Get("Location") != "/media_view.php" {
		t.Errorf("settings same-site back: Location %q", rec.Header().Get("Location"))
	}
	if rec := c.post("/login", url.Values{"key": {testKey}, "next": {"/dashboard"}}, true); rec.Header().Get("Location") != "/dashboard" {
		t.Errorf("login same-site next: Location %q", rec.Header().Get("Location"))
	}
}

// #15: wrong keys cost time per address; the wait is said in plain words
// and logged in the security log. The fixture's clock is fixed: the test
// advances it instead of sleeping.
func TestLoginBackoff(t *testing.T) {
	f := newFixture(t)
	var logBuf bytes.Buffer
	f.srv.log = zerolog.New(&logBuf)
	clock := f.srv.clock.(*svtime.FixedClock)
	c := f.client()
	wrong := func() *http.Response {
		return c.post("/login", url.Values{"key": {"guess"}, "next": {"/index.php"}}, true).Result()
	}
	for i := 1; i <= loginFreeFailures; i++ {
		if resp := wrong(); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("miss %d (free): %d", i, resp.StatusCode)
		}
	}
	// The next miss starts the wait; 30 attempts in a row are refused
	// without checking the key, even the right one.
	rec := c.post("/login", url.Values{"key": {"guess"}, "next": {"/index.php"}}, true)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "1" ||
		!strings.Contains(rec.Body.String(), "Wait 1 seconds") || !strings.Contains(rec.Body.String(), `id="login-form"`) {
		t.Fatalf("miss %d: %d Retry-After %q, want 429 with the wait on the login page: %s", loginFreeFailures+1, rec.Code, rec.Header().Get("Retry-After"), rec.Body.String())
	}
	for i := 0; i < 30; i++ {
		if resp := wrong(); resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("attempt during the wait: %d", resp.StatusCode)
		}
	}
	if rec := c.post("/login", url.Values{"key": {testKey}, "next": {"/index.php"}}, true); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("right key during the wait: %d, want 429", rec.Code)
	}
	if n := strings.Count(logBuf.String(), `"event":"login_failed"`); n != loginFreeFailures+1 {
		t.Fatalf("%d keys checked, want %d (the rest refused unchecked)", n, loginFreeFailures+1)
	}
	if !strings.Contains(logBuf.String(), `"event":"login_throttled"`) || !strings.Contains(logBuf.String(), `"wait_seconds":1`) {
		t.Fatalf("security log lacks the throttling: %s", logBuf.String())
	}
	// After the wait a miss doubles it; JSON and German callers get the
	// same sentence.
	clock.Advance(time.Second)
	c.hdr.Set("Accept", "application/json")
	c.hdr.Set("Accept-Language", "de")
	rec = c.post("/login", url.Values{"key": {"guess"}}, true)
	got := decode(t, rec.Body.String())
	if rec.Code != http.StatusTooManyRequests || got["reason_code"] != CodeLoginThrottled || got["retry_after_seconds"] != 2.0 ||
		!strings.Contains(got["error"].(string), "Warte 2 Sekunden") {
		t.Fatalf("second wait: %d %v", rec.Code, got)
	}
	// The header key is the same guessing channel: it waits too.
	k := &client{f: f, hdr: http.Header{"X-Internal-Key": {testKey}, "Accept": {"application/json"}}}
	if rec := k.do("GET", "/api/dashboard", nil); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("header key during the wait: %d", rec.Code)
	}
	clock.Advance(2 * time.Second)
	c.hdr.Del("Accept")
	if rec := c.post("/login", url.Values{"key": {testKey}, "next": {"/index.php"}}, true); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/index.php" {
		t.Fatalf("right key after the wait: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	// A right key forgets the misses: the next miss is free again.
	if resp := wrong(); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("miss after a login: %d, want a free miss", resp.StatusCode)
	}
}

// #16: the absolute import path (and any other server folder) is shown to
// admins only, on the detail page and in the JSON API.
func TestServerPathsForAdminsOnly(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	now := f.srv.clock.Now()
	const importDir = "/srv/incoming/alice"
	for k, v := range map[string]string{"original_path": importDir + "/holiday.png", "original_name": "holiday.png",
		"integrity.error_message": "open " + f.cfg.MediaRoots()[0] + "/hopper.png: permission denied"} {
		if _, err := media.SetMeta(ctx, f.db, f.imgID, "import", k, v, now); err != nil {
			t.Fatal(err)
		}
	}
	leaks := func(body string) bool { return strings.Contains(body, importDir) || strings.Contains(body, f.base) }
	anon := f.client()
	for _, target := range []string{"/media_view.php?id=" + fmtID(f.imgID), "/mediadb.php", "/mediadb.php?view=list", "/api/media", "/api/count"} {
		rec := anon.do("GET", target, nil)
		if rec.Code != 200 || leaks(rec.Body.String()) {
			t.Errorf("anonymous %s: %d, leaks a server path: %v", target, rec.Code, leaks(rec.Body.String()))
		}
	}
	if body := anon.do("GET", "/health.php", nil).Body.String(); leaks(body) {
		t.Error("anonymous /health.php leaks a server path")
	}
	if body := anon.do("GET", "/media_view.php?id="+fmtID(f.imgID), nil).Body.String(); !strings.Contains(body, "holiday.png") {
		t.Error("anonymous detail lost the original file name (not a path)")
	}
	admin := f.client()
	admin.login()
	if body := admin.do("GET", "/media_view.php?id="+fmtID(f.imgID), nil).Body.String(); !strings.Contains(body, importDir+"/holiday.png") {
		t.Error("admin detail does not show the import path")
	}
}

// #17: a wrong X-Internal-Key is answered as a wrong key, whatever the
// endpoint (before: invalid_csrf_token on POSTs).
func TestWrongInternalKeyAnswer(t *testing.T) {
	f := newFixture(t)
	bad := &client{f: f, hdr: http.Header{"X-Internal-Key": {"nope"}, "Accept": {"application/json"}}}
	for _, tc := range []struct{ method, target string }{
		{"POST", "/media/action"}, {"POST", "/jobs_prune.php"}, {"GET", "/api/dashboard"}, {"GET", "/mediadb.php"},
	} {
		var form url.Values
		if tc.method == "POST" {
			form = url.Values{"action": {"soft_delete"}, "media_id": {"1"}, "group": {"scan"}}
		}
		rec := bad.do(tc.method, tc.target, form)
		got := decode(t, rec.Body.String())
		if rec.Code != http.StatusForbidden || got["reason_code"] != CodeKeyInvalid || got["error"] == "" {
			t.Errorf("%s %s with a wrong key: %d %v", tc.method, tc.target, rec.Code, got)
		}
	}
	// The right key from an address outside ip_whitelist says so.
	f.cfg.Security.IPWhitelist = []string{"10.0.0.0/8"}
	good := &client{f: f, hdr: http.Header{"X-Internal-Key": {testKey}, "Accept": {"application/json"}}}
	if got := decode(t, good.do("GET", "/api/dashboard", nil).Body.String()); got["reason_code"] != CodeIPNotWhitelisted {
		t.Errorf("key from a non-whitelisted address: %v", got)
	}
}

// #18: /static/ serves its files, never a listing.
func TestStaticServesFilesOnly(t *testing.T) {
	f := newFixture(t)
	c := &client{f: f, hdr: http.Header{}}
	for _, p := range []string{"/static/", "/static/app.js/", "/static/nope.css"} {
		rec := c.do("GET", p, nil)
		if rec.Code != http.StatusNotFound || strings.Contains(rec.Body.String(), `href="app.js"`) {
			t.Errorf("GET %s: %d, want 404 without a listing", p, rec.Code)
		}
	}
	if rec := c.do("GET", "/static/app.js", nil); rec.Code != 200 || !strings.Contains(rec.Body.String(), "function") {
		t.Errorf("GET /static/app.js: %d", rec.Code)
	}
}
