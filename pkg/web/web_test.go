package web

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"github.com/localsupervisor/supervisor/pkg/db/dbtest"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/localsupervisor/supervisor/pkg/config"
	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/supervise"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

const testKey = "test-internal-key"

// testConfig loads the embedded defaults with base as SV_BASE and the test
// admin key.
func testConfig(tb testing.TB, base string) *config.Config {
	tb.Helper()
	cfg, err := config.Load(config.LoadOptions{Getenv: func(k string) string {
		if k == "SV_BASE" {
			return base
		}
		return ""
	}, WorkDir: base})
	if err != nil {
		tb.Fatal(err)
	}
	cfg.Security.InternalAPIKey = testKey
	return cfg
}

type fixture struct {
	t     *testing.T
	srv   *Server
	h     http.Handler
	db    *sql.DB
	cfg   *config.Config
	base  string
	imgID int64
}

// newFixture serves the default config (every optional service off) with
// the named services (ServiceTagger, …) switched on.
func newFixture(t *testing.T, services ...string) *fixture {
	t.Helper()
	base := t.TempDir()
	cfg := testConfig(t, base)
	enableServices(cfg, services...)
	ctx := context.Background()
	w := dbtest.Open(t, cfg.DB.Path)
	r, err := db.OpenReadOnly(ctx, db.Options{Path: cfg.DB.Path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	// The server writes through its own handle with the short request
	// busy timeout, as webui wires it (cmd/webui Main.server).
	sw, err := db.Open(ctx, db.Options{Path: cfg.DB.Path, BusyTimeout: cfg.DB.WebBusyTimeout()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sw.Close() })
	clock := &svtime.FixedClock{T: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	q := jobs.NewQueue(jobs.QueueOptions{DB: sw, Clock: clock, Config: jobs.DefaultConfig()})
	s, err := New(Options{Config: cfg, DB: sw, ReadDB: r, Log: zerolog.Nop(), Clock: clock, Jobs: q, JobAdmin: JobAdminAdapter{Q: q}})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, srv: s, h: s.Handler(), db: w, cfg: cfg, base: base}
	// One image inside the SFW root, one NSFW video.
	imgDir := cfg.MediaRoots()[0]
	if err := os.MkdirAll(imgDir, 0o755); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(imgDir, "hopper.png")
	b, _ := os.ReadFile("testdata/hopper.png")
	if err := os.WriteFile(img, b, 0o644); err != nil {
		t.Fatal(err)
	}
	f.imgID = f.insert(img, "image", 0, "aaa")
	f.insert(filepath.Join(imgDir, "missing.png"), "image", 1, "bbb")
	return f
}

func (f *fixture) insert(path, typ string, nsfw int, hash string) int64 {
	res, err := f.db.Exec(`INSERT INTO media(path, type, source, filesize, hash, imported_at, has_nsfw, created_at)
		VALUES (?, ?, 'import', 100, ?, '2026-01-01T00:00:00Z', ?, '2026-01-01T00:00:00Z')`, path, typ, hash, nsfw)
	if err != nil {
		f.t.Fatal(err)
	}
	id, _ := res.LastInsertId()
	return id
}

// client keeps the session cookie like a browser.
type client struct {
	f      *fixture
	cookie string
	csrf   string
	hdr    http.Header
}

func (f *fixture) client() *client {
	c := &client{f: f, hdr: http.Header{}}
	resp := c.do("GET", "/mediadb.php", nil)
	if resp.Code != 200 {
		f.t.Fatalf("list: %d %s", resp.Code, resp.Body.String())
	}
	m := regexp.MustCompile(`name="csrf-token" content="([0-9a-f]+)"`).FindStringSubmatch(resp.Body.String())
	if m == nil {
		f.t.Fatal("no csrf token in page")
	}
	c.csrf = m[1]
	return c
}

func (c *client) do(method, target string, form url.Values) *httptest.ResponseRecorder {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, target, body)
	req.RemoteAddr = "127.0.0.1:5555"
	req.Host = "127.0.0.1:8080"
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range c.hdr {
		req.Header[k] = v
	}
	if c.cookie != "" {
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: c.cookie})
	}
	rec := httptest.NewRecorder()
	c.f.h.ServeHTTP(rec, req)
	for _, ck := range rec.Result().Cookies() {
		if ck.Name == sessionCookie {
			c.cookie = ck.Value
		}
	}
	return rec
}

func (c *client) post(target string, form url.Values, withCSRF bool) *httptest.ResponseRecorder {
	if withCSRF {
		form.Set("csrf_token", c.csrf)
	}
	return c.do("POST", target, form)
}

func (c *client) login() {
	rec := c.post("/login", url.Values{"key": {testKey}, "next": {"/index.php"}}, true)
	if rec.Code != http.StatusSeeOther {
		c.f.t.Fatalf("login: %d %s", rec.Code, rec.Body.String())
	}
	// The session id rotates on login; the CSRF token stays.
}

func TestHostAllowList(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		host string
		want int
	}{{"127.0.0.1:8080", 200}, {"localhost:8080", 200}, {"[::1]:8080", 200}, {"evil.example", 403}, {"127.0.0.1.evil.example:8080", 403}} {
		req := httptest.NewRequest("GET", "/health.php", nil)
		req.Host = tc.host
		rec := httptest.NewRecorder()
		f.h.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("host %q: got %d want %d", tc.host, rec.Code, tc.want)
		}
	}
}

func TestCSRFAndAuth(t *testing.T) {
	f := newFixture(t)
	c := f.client()
	id := "1"
	tests := []struct {
		name   string
		target string
		form   url.Values
		csrf   bool
		login  bool
		want   int
	}{
		{"rate without csrf", "/media_view.php?id=1", url.Values{"action": {"rate"}, "media_id": {id}, "rating": {"2"}}, false, false, 403},
		{"rate with csrf, anonymous (admin-only by default)", "/media_view.php?id=1", url.Values{"action": {"rate"}, "media_id": {id}, "rating": {"2"}}, true, false, 403},
		{"vote with csrf (public action)", "/media_view.php?id=1", url.Values{"action": {"vote_set"}, "media_id": {id}, "vote_status": {"approved"}}, true, false, 303},
		{"soft delete needs admin", "/media_view.php?id=1", url.Values{"action": {"soft_delete"}, "media_id": {id}}, true, false, 403},
		{"dashboard action needs admin", "/index.php", url.Values{"action": {"spawn"}}, true, false, 403},
		{"prune needs csrf", "/jobs_prune.php", url.Values{"group": {"scan"}}, false, true, 403},
		{"soft delete as admin", "/media_view.php?id=1", url.Values{"action": {"soft_delete"}, "media_id": {id}}, true, true, 303},
		{"rate as admin", "/media_view.php?id=1", url.Values{"action": {"rate"}, "media_id": {id}, "rating": {"2"}}, true, true, 303},
		{"mismatched id", "/media_view.php?id=2", url.Values{"action": {"rate"}, "media_id": {id}, "rating": {"1"}}, true, true, 400},
		{"bad rating", "/media_view.php?id=1", url.Values{"action": {"rate"}, "media_id": {id}, "rating": {"9"}}, true, true, 400},
		{"hard delete needs confirm", "/media_view.php?id=1", url.Values{"action": {"hard_delete"}, "media_id": {id}}, true, true, 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.login {
				c.login()
			}
			rec := c.post(tc.target, tc.form, tc.csrf)
			if rec.Code != tc.want {
				t.Fatalf("got %d want %d: %s", rec.Code, tc.want, rec.Body.String())
			}
			if strings.Contains(rec.Body.String(), f.base) {
				t.Fatal("response leaks a filesystem path")
			}
		})
	}
	// GET never changes state.
	rec := c.do("GET", "/media/action?action=rate&media_id=1&rating=3", nil)
	if rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("GET action: %d", rec.Code)
	}
	var rating int
	f.db.QueryRow("SELECT rating FROM media WHERE id=1").Scan(&rating)
	if rating != 2 {
		t.Fatalf("rating = %d, want 2", rating)
	}
}

func TestLoopbackIsNotAdmin(t *testing.T) {
	f := newFixture(t)
	c := f.client()
	if rec := c.do("GET", "/index.php", nil); rec.Code != http.StatusSeeOther {
		t.Fatalf("dashboard for loopback without login: %d", rec.Code)
	}
	if rec := c.post("/login", url.Values{"key": {"wrong"}}, true); rec.Code != http.StatusSeeOther || !strings.Contains(rec.Header().Get("Location"), "failed=1") {
		t.Fatalf("wrong key: %d %s", rec.Code, rec.Header().Get("Location"))
	}
	c.login()
	if rec := c.do("GET", "/index.php", nil); rec.Code != 200 {
		t.Fatalf("dashboard after login: %d", rec.Code)
	}
	// Header key from an allowed IP works without a session or CSRF.
	k := &client{f: f, hdr: http.Header{"X-Internal-Key": {testKey}, "Accept": {"application/json"}}}
	if rec := k.do("GET", "/api/dashboard", nil); rec.Code != 200 {
		t.Fatalf("key header: %d %s", rec.Code, rec.Body.String())
	}
	bad := &client{f: f, hdr: http.Header{"X-Internal-Key": {"nope"}}}
	if rec := bad.do("GET", "/api/dashboard", nil); rec.Code != 403 {
		t.Fatalf("bad key header: %d", rec.Code)
	}
}

func TestListFiltersAndAdultGate(t *testing.T) {
	f := newFixture(t)
	c := f.client()
	for _, q := range []string{"", "type=image", "type=video", "has_prompt=with", "has_meta=without", "q=hopper&q_scope=path",
		"q=x&q_scope=title", "q=x&q_scope=caption", "q=x&q_scope=prompt", "q=x", "status=active", "curation=unknown",
		"min_rating=2", "incomplete=any", "incomplete=prompt", "prompt_quality=C", "active=inactive", "deleted=only_deleted",
		"deleted=all", "ai_title=with", "ai_caption=without", "broken=broken", "broken=ok", "character=with", "dupes=1",
		"dupe_hash=aaa", "dupes_sha=1", "dupe_sha=abc", "issues=1", "vote=approved", "checked=checked", "low_activity=low",
		"tag=cat", "sort=oldest", "sort=rating", "sort=size", "sort=random&seed=5", "view=list", "after=5_5", "before=1_1", "p=3"} {
		rec := c.do("GET", "/mediadb.php?"+q, nil)
		if rec.Code != 200 {
			t.Errorf("%s: %d %s", q, rec.Code, rec.Body.String())
		}
	}
	body := c.do("GET", "/mediadb.php?q=hopper", nil).Body.String()
	if !strings.Contains(body, `data-id="1"`) {
		t.Fatal("hopper not listed")
	}
	if strings.Contains(c.do("GET", "/mediadb.php?adult=1", nil).Body.String(), `data-id="2"`) {
		t.Fatal("adult media listed without session opt-in")
	}
	if rec := c.do("GET", "/media_view.php?id=2", nil); rec.Code != 403 {
		t.Fatalf("adult detail without opt-in: %d", rec.Code)
	}
	c.post("/settings", url.Values{"adult": {"1"}}, true)
	if !strings.Contains(c.do("GET", "/mediadb.php", nil).Body.String(), `data-id="2"`) {
		t.Fatal("adult media hidden after opt-in")
	}
}

func TestDetailAndTagActions(t *testing.T) {
	f := newFixture(t, ServiceTagger)
	c := f.client()
	c.login()
	if rec := c.do("GET", "/media_view.php?id=1", nil); rec.Code != 200 || !strings.Contains(rec.Body.String(), "hopper") {
		t.Fatalf("detail: %d", rec.Code)
	}
	for _, tc := range []struct{ id, want int }{{0, 400}, {999, 404}} {
		if rec := c.do("GET", "/media_view.php?id="+itoa(tc.id), nil); rec.Code != tc.want {
			t.Errorf("id %d: %d", tc.id, rec.Code)
		}
	}
	steps := []url.Values{
		{"action": {"tag_add"}, "tag_name": {"cat"}},
		{"action": {"tag_lock"}, "tag_name": {"cat"}},
		{"action": {"title_set"}, "title_value": {"My Title"}},
		{"action": {"checked_toggle"}, "checked_value": {"1"}},
		{"action": {"vote_set"}, "vote_status": {"approved"}},
		{"action": {"rescan_job"}},
	}
	for _, st := range steps {
		st.Set("media_id", "1")
		c.hdr.Set("Accept", "application/json")
		if rec := c.post("/media_view.php?id=1", st, true); rec.Code != 200 {
			t.Fatalf("%v: %d %s", st, rec.Code, rec.Body.String())
		}
	}
	var locked int
	f.db.QueryRow("SELECT mt.locked FROM media_tags mt JOIN tags t ON t.id=mt.tag_id WHERE t.name='cat'").Scan(&locked)
	if locked != 1 {
		t.Fatal("tag not locked")
	}
	var n int
	f.db.QueryRow("SELECT count(*) FROM jobs WHERE type='rescan_media' AND media_id=1").Scan(&n)
	if n != 1 {
		t.Fatalf("rescan jobs = %d", n)
	}
	c.hdr.Del("Accept")
	body := c.do("GET", "/mediadb.php?tag=cat&checked=checked&vote=approved", nil).Body.String()
	if !strings.Contains(body, "My Title") {
		t.Fatal("filtered list misses the tagged, checked, approved media with its override title")
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestStreamRangesAndPathGuards(t *testing.T) {
	f := newFixture(t)
	c := f.client()
	size := int64(0)
	if st, err := os.Stat(filepath.Join(f.cfg.MediaRoots()[0], "hopper.png")); err == nil {
		size = st.Size()
	}
	cases := []struct {
		rng  string
		want int
	}{{"", 200}, {"bytes=0-9", 206}, {"bytes=-10", 206}, {"bytes=10-", 206}, {"bytes=999999999-", 416}}
	for _, tc := range cases {
		c.hdr = http.Header{}
		if tc.rng != "" {
			c.hdr.Set("Range", tc.rng)
		}
		rec := c.do("GET", "/media_stream.php?id=1", nil)
		if rec.Code != tc.want {
			t.Errorf("range %q: %d", tc.rng, rec.Code)
		}
		if rec.Header().Get("Content-Type") != "image/png" && tc.want != 416 {
			t.Errorf("content-type %q", rec.Header().Get("Content-Type"))
		}
	}
	c.hdr = http.Header{}
	rec := c.do("GET", "/media_stream.php?id=1&dl=1", nil)
	if cd := rec.Header().Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment") || !strings.Contains(cd, "hopper.png") {
		t.Errorf("disposition %q", cd)
	}
	if int64(rec.Body.Len()) != size {
		t.Errorf("body %d want %d", rec.Body.Len(), size)
	}
	if rec := c.do("HEAD", "/media_stream.php?id=1", nil); rec.Code != 200 || rec.Body.Len() != 0 {
		t.Errorf("HEAD: %d len %d", rec.Code, rec.Body.Len())
	}
	// Symlink inside a root pointing outside; absolute path outside; ../ path.
	outside := filepath.Join(f.base, "secret.png")
	os.WriteFile(outside, []byte("\x89PNG\r\n\x1a\nsecret"), 0o644)
	link := filepath.Join(f.cfg.MediaRoots()[0], "link.png")
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	ids := []int64{
		f.insert(link, "image", 0, "c1"),
		f.insert(outside, "image", 0, "c2"),
		f.insert(f.cfg.MediaRoots()[0]+"/../../secret.png", "image", 0, "c3"),
	}
	for _, id := range ids {
		for _, ep := range []string{"/media_stream.php", "/thumb.php"} {
			rec := c.do("GET", ep+"?id="+fmtID(id), nil)
			if rec.Code != 403 || strings.Contains(rec.Body.String(), "secret") {
				t.Errorf("%s id %d: %d %q", ep, id, rec.Code, rec.Body.String())
			}
		}
	}
	for _, bad := range []string{"..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", "-1", "abc", "1e10"} {
		if rec := c.do("GET", "/media_stream.php?id="+bad, nil); rec.Code != 400 {
			t.Errorf("id %q: %d", bad, rec.Code)
		}
	}
}

func fmtID(id int64) string { return strconv.FormatInt(id, 10) }

func TestThumbPlaceholderAndBusy(t *testing.T) {
	f := newFixture(t)
	c := f.client()
	rec := c.do("GET", "/thumb.php?id=1", nil)
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "image/svg+xml" {
		t.Fatalf("placeholder without thumbnailer: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	// Hold the write lock so the read handle's short busy timeout trips.
	tx, err := f.db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("UPDATE media SET rating = rating WHERE id = 1"); err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	// WAL readers are not blocked by a writer, so force the checkpoint path:
	// a busy answer must be 503 + Retry-After wherever it happens.
	s := f.srv
	rec2 := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/mediadb.php", nil)
	s.failErr(rec2, req, fmt.Errorf("list: %w", db.ErrBusy))
	if rec2.Code != 503 || rec2.Header().Get("Retry-After") != "1" {
		t.Fatalf("busy: %d %q", rec2.Code, rec2.Header().Get("Retry-After"))
	}
}

type fakeSupervised []supervise.State

func (f fakeSupervised) States() []supervise.State { return f }

// TestHealthSupervised: supervised workers appear in /health.php and one
// that is down (waiting for its restart) makes the instance unhealthy.
func TestHealthSupervised(t *testing.T) {
	for _, c := range []struct {
		name   string
		states fakeSupervised
		code   int
	}{
		{"all running", fakeSupervised{{Name: "scan", State: supervise.StateRunning, PID: 42}}, http.StatusOK},
		{"one restarting", fakeSupervised{{Name: "scan", State: supervise.StateRunning, PID: 42},
			{Name: "media", State: supervise.StateBackoff, Restarts: 2, LastExit: "signal: killed"}}, http.StatusServiceUnavailable},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			f.srv.supervised = c.states
			resp := f.client().do("GET", "/health.php", nil)
			if resp.Code != c.code {
				t.Fatalf("status %d, want %d: %s", resp.Code, c.code, resp.Body.String())
			}
			var h Health
			if err := json.Unmarshal(resp.Body.Bytes(), &h); err != nil {
				t.Fatal(err)
			}
			if len(h.Supervised) != len(c.states) || h.Supervised[len(h.Supervised)-1].Restarts != c.states[len(c.states)-1].Restarts {
				t.Fatalf("supervised in health: %+v", h.Supervised)
			}
			dash := f.client()
			dash.hdr.Set("X-Internal-Key", testKey)
			page := dash.do("GET", "/index.php", nil)
			if !strings.Contains(page.Body.String(), `id="supervised"`) || !strings.Contains(page.Body.String(), "<td>scan</td>") {
				t.Fatalf("dashboard lacks the supervised table (status %d)", page.Code)
			}
		})
	}
}
