package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// restart builds a second Server over the same database, as a new webui
// process would, and points the fixture's handler at it.
func (f *fixture) restart() {
	f.t.Helper()
	r, err := db.OpenReadOnly(context.Background(), db.Options{Path: f.cfg.DB.Path})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { r.Close() })
	s, err := New(Options{Config: f.cfg, DB: f.db, ReadDB: r, Log: zerolog.Nop(), Clock: f.srv.clock})
	if err != nil {
		f.t.Fatal(err)
	}
	f.srv, f.h = s, s.Handler()
}

// TestSessionsSurviveRestart: login, adult opt-in and language outlive the
// server; the opt-in is per session; only hashed ids are stored.
func TestSessionsSurviveRestart(t *testing.T) {
	f := newFixture(t)
	admin := f.client()
	admin.login()
	if rec := admin.post("/settings", url.Values{"adult": {"1"}, "lang": {"de"}}, true); rec.Code != http.StatusSeeOther {
		t.Fatalf("settings: %d", rec.Code)
	}
	other := f.client()
	f.restart()

	cookieBefore := admin.cookie
	if rec := admin.post("/jobs_prune.php", url.Values{"group": {"scan"}, "dry_run": {"1"}}, true); rec.Code == http.StatusForbidden {
		t.Fatalf("admin session lost on restart: %d %s", rec.Code, rec.Body.String())
	}
	if admin.cookie != cookieBefore {
		t.Fatal("a new session was issued after restart")
	}
	if !strings.Contains(admin.do("GET", "/mediadb.php", nil).Body.String(), `data-id="2"`) {
		t.Fatal("adult opt-in lost on restart")
	}
	if strings.Contains(other.do("GET", "/mediadb.php", nil).Body.String(), `data-id="2"`) {
		t.Fatal("adult opt-in leaked to another session")
	}
	if rec := other.post("/jobs_prune.php", url.Values{"group": {"scan"}, "dry_run": {"1"}}, true); rec.Code != http.StatusForbidden {
		t.Fatalf("non-admin session got %d", rec.Code)
	}
	ss, ok, err := f.srv.sessions.get(context.Background(), admin.cookie, f.srv.clock.Now())
	if err != nil || !ok || !ss.Admin || !ss.Adult || ss.Lang != "de" || ss.CSRF != admin.csrf {
		t.Fatalf("stored session %+v ok=%v err=%v", ss, ok, err)
	}
	var raw, hashed int
	if err := f.db.QueryRow(`SELECT (SELECT count(*) FROM web_sessions WHERE id_hash = ?), (SELECT count(*) FROM web_sessions WHERE id_hash = ?)`,
		admin.cookie, hashID(admin.cookie)).Scan(&raw, &hashed); err != nil {
		t.Fatal(err)
	}
	if raw != 0 || hashed != 1 {
		t.Fatalf("raw id rows %d, hashed rows %d", raw, hashed)
	}
	// Logout drops admin but keeps the preferences.
	admin.post("/logout", url.Values{}, true)
	f.restart()
	if rec := admin.post("/jobs_prune.php", url.Values{"group": {"scan"}, "dry_run": {"1"}}, true); rec.Code != http.StatusForbidden {
		t.Fatalf("admin after logout: %d", rec.Code)
	}
}

// TestSessionExpiryAndCleanup: an expired session is not honoured (a new
// one is issued) and cleanup deletes expired rows and caps the table.
func TestSessionExpiryAndCleanup(t *testing.T) {
	f := newFixture(t)
	clock := f.srv.clock.(*svtime.FixedClock)
	c := f.client()
	c.login()
	old := c.cookie
	clock.Advance(sessionTTL + time.Second)
	if rec := c.post("/jobs_prune.php", url.Values{"group": {"scan"}, "dry_run": {"1"}}, true); rec.Code != http.StatusForbidden {
		t.Fatalf("expired admin session accepted: %d", rec.Code)
	}
	if c.cookie == old {
		t.Fatal("no new session after expiry")
	}
	ctx := context.Background()
	st := f.srv.sessions
	count := func() (n int) {
		if err := f.db.QueryRow(`SELECT count(*) FROM web_sessions`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	past := svtime.Format(clock.Now().Add(-time.Minute))
	if _, err := f.db.Exec(`INSERT INTO web_sessions(id_hash, csrf, created_at, expires_at) VALUES ('expired', 'x', ?, ?)`, past, past); err != nil {
		t.Fatal(err)
	}
	before := count()
	n, err := st.cleanup(ctx, clock.Now())
	if err != nil || n < 1 || count() != before-int(n) {
		t.Fatalf("cleanup deleted %d (err %v), %d -> %d rows", n, err, before, count())
	}
	var left int
	if err := f.db.QueryRow(`SELECT count(*) FROM web_sessions WHERE id_hash IN ('expired', ?)`, hashID(old)).Scan(&left); err != nil || left != 0 {
		t.Fatalf("expired sessions left: %d %v", left, err)
	}
	if _, ok, _ := st.get(ctx, c.cookie, clock.Now()); !ok {
		t.Fatal("cleanup removed the live session")
	}
	// Cap: the oldest beyond maxSessions go.
	tx, err := f.db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for i := range maxSessions + 5 {
		exp := svtime.Format(clock.Now().Add(time.Duration(i+1) * time.Second))
		if _, err := tx.Exec(`INSERT INTO web_sessions(id_hash, csrf, created_at, expires_at) VALUES (?, 'x', ?, ?)`,
			fmt.Sprintf("bulk%06d", i), exp, exp); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.cleanup(ctx, clock.Now()); err != nil {
		t.Fatal(err)
	}
	if got := count(); got != maxSessions {
		t.Fatalf("%d sessions after cleanup, want cap %d", got, maxSessions)
	}
	var oldestGone int
	if err := f.db.QueryRow(`SELECT count(*) FROM web_sessions WHERE id_hash IN ('bulk000000', 'bulk000001')`).Scan(&oldestGone); err != nil || oldestGone != 0 {
		t.Fatalf("oldest sessions kept: %d %v", oldestGone, err)
	}
}

// TestAnonymousSessions: a cookie-less visitor's session lives only in its
// signed cookie; forged, expired or foreign ids are refused; the first
// change (settings) stores it with the same id and CSRF token.
func TestAnonymousSessions(t *testing.T) {
	f := newFixture(t)
	st := f.srv.sessions
	now := f.srv.clock.Now()
	anon := st.anonymous(now)
	other := newSessionStore(f.db, f.srv.rdb, sessionSecret("another key"))
	tampered := []byte(anon.ID)
	tampered[len(tampered)-1] ^= 1 // one bit of the signature
	for _, tc := range []struct {
		name string
		st   *sessionStore
		id   string
		at   time.Time
		ok   bool
	}{
		{"issued", st, anon.ID, now, true},
		{"before expiry", st, anon.ID, anon.Expires.Add(-time.Second), true},
		{"expired", st, anon.ID, anon.Expires, false},
		{"tampered signature", st, string(tampered), now, false},
		{"extended expiry", st, strings.Replace(anon.ID, ".", ".9", 2), now, false},
		{"other secret", other, anon.ID, now, false},
		{"unknown stored id", st, randomHex(32), now, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ss, ok, err := tc.st.get(context.Background(), tc.id, tc.at)
			if err != nil || ok != tc.ok || (ok && ss.CSRF != anon.CSRF) {
				t.Fatalf("ok=%v err=%v session %+v, want ok=%v CSRF %s", ok, err, ss, tc.ok, anon.CSRF)
			}
		})
	}
	c := f.client()
	var rows int
	f.db.QueryRow(`SELECT count(*) FROM web_sessions`).Scan(&rows)
	if rows != 0 {
		t.Fatalf("%d session rows after a page view", rows)
	}
	cookie := c.cookie
	if rec := c.post("/settings", url.Values{"lang": {"de"}}, true); rec.Code != http.StatusSeeOther {
		t.Fatalf("settings: %d", rec.Code)
	}
	ss, ok, err := st.get(context.Background(), cookie, now)
	if err != nil || !ok || ss.Lang != "de" || ss.CSRF != c.csrf || c.cookie != cookie {
		t.Fatalf("stored anonymous session %+v ok=%v err=%v", ss, ok, err)
	}
}
