package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestNSFWModeSetting (#23 item 7): the session's 18+ display is one of
// hide / blur / show, carried on <body data-nsfw>; hide lists no 18+
// media, blur and show list them with data-adult="1"; a session stored
// before the setting existed (opted in, nsfw_view ”) reads as show; an
// unknown value changes nothing.
func TestNSFWModeSetting(t *testing.T) {
	f := newFixture(t)
	c := f.client()
	list := func() string { return c.do("GET", "/mediadb.php", nil).Body.String() }
	check := func(step, mode string, adultListed bool) {
		t.Helper()
		b := list()
		if !strings.Contains(b, `data-nsfw="`+mode+`"`) {
			t.Fatalf("%s: body lacks data-nsfw=%q", step, mode)
		}
		if got := strings.Contains(b, `data-id="2"`); got != adultListed {
			t.Fatalf("%s: 18+ media listed=%v, want %v", step, got, adultListed)
		}
		if adultListed && !strings.Contains(cardTag(b, 2), `data-adult="1"`) {
			t.Fatalf("%s: 18+ card without data-adult: %s", step, cardTag(b, 2))
		}
		if tag := cardTag(b, 1); tag == "" || strings.Contains(tag, `data-adult`) {
			t.Fatalf("%s: safe card %q", step, tag)
		}
	}
	check("new session", "hide", false)
	set := func(v url.Values) {
		t.Helper()
		if rec := c.post("/settings", v, true); rec.Code != http.StatusSeeOther {
			t.Fatalf("settings %v: %d", v, rec.Code)
		}
	}
	set(url.Values{"nsfw": {"blur"}})
	check("blur", "blur", true)
	set(url.Values{"nsfw": {"bogus"}})
	check("unknown value", "blur", true)
	set(url.Values{"nsfw": {"show"}})
	check("show", "show", true)
	set(url.Values{"nsfw": {"hide"}})
	check("hide", "hide", false)
	// The older form field still opts in (as show, what it meant).
	set(url.Values{"adult": {"1"}})
	check("adult=1", "show", true)
	// A row written before schema 0330 (nsfw_view '') keeps seeing 18+.
	if _, err := f.db.Exec(`UPDATE web_sessions SET nsfw_view = '', adult = 1`); err != nil {
		t.Fatal(err)
	}
	check("old session", "show", true)
	// Without CSRF nothing changes.
	if rec := c.post("/settings", url.Values{"nsfw": {"hide"}}, false); rec.Code != http.StatusForbidden {
		t.Fatalf("settings without CSRF: %d", rec.Code)
	}
	check("refused", "show", true)
}

// TestNSFWLockShownAndUnlocked (#23 item 7): a person's 18+/safe decision
// shows as locked on the detail page and as a lock chip on the card; the
// unlock is a POST with CSRF that removes the lock and writes audit rows.
func TestNSFWLockShownAndUnlocked(t *testing.T) {
	f := newFixture(t)
	c := f.client()
	c.login()
	c.hdr.Set("Accept", "application/json")
	act := func(v url.Values, csrf bool) int {
		v.Set("media_id", "1")
		return c.post("/media/action", v, csrf).Code
	}
	if code := act(url.Values{"action": {"toggle_nsfw"}, "nsfw_value": {"0"}}, true); code != 200 {
		t.Fatalf("toggle: %d", code)
	}
	c.hdr.Del("Accept")
	detail := c.do("GET", "/media_view.php?id=1", nil).Body.String()
	if !strings.Contains(detail, `id="nsfw-lock"`) || !strings.Contains(detail, `id="nsfw-unlock"`) {
		t.Fatal("detail page does not show the lock")
	}
	if !strings.Contains(c.do("GET", "/mediadb.php", nil).Body.String(), `class="chip lock"`) {
		t.Fatal("card without lock chip")
	}
	c.hdr.Set("Accept", "application/json")
	if code := act(url.Values{"action": {"nsfw_unlock"}}, false); code != http.StatusForbidden {
		t.Fatalf("unlock without CSRF: %d", code)
	}
	if code := act(url.Values{"action": {"nsfw_unlock"}}, true); code != 200 {
		t.Fatalf("unlock: %d", code)
	}
	c.hdr.Del("Accept")
	if strings.Contains(c.do("GET", "/media_view.php?id=1", nil).Body.String(), `id="nsfw-lock"`) {
		t.Fatal("lock still shown after unlock")
	}
	var meta, audits int
	f.db.QueryRow(`SELECT count(*) FROM media_meta WHERE media_id=1 AND meta_key='nsfw.manual'`).Scan(&meta)
	f.db.QueryRow(`SELECT count(*) FROM audit_log WHERE entity_id=1 AND action IN ('nsfw_unlock','media_nsfw_unlock')`).Scan(&audits)
	if meta != 0 || audits != 2 {
		t.Fatalf("after unlock: %d lock rows, %d audit rows (want 0, 2)", meta, audits)
	}
}

// cardTag is the opening tag of card id's <article> in a list page.
func cardTag(page string, id int) string {
	i := strings.Index(page, `data-id="`+itoa(id)+`"`)
	if i < 0 {
		return ""
	}
	start := strings.LastIndex(page[:i], "<article")
	end := strings.Index(page[i:], ">")
	if start < 0 || end < 0 {
		return ""
	}
	return page[start : i+end+1]
}
