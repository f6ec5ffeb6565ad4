package web

import (
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/catalog"
)

func TestNavURLs(t *testing.T) {
	enc := func(q url.Values) string { return catalog.ParseFilter(q, true).Values().Encode() }
	for _, tc := range []struct {
		name, got, want string
	}{
		{"media unfiltered", mediaURL(7, ""), "/media_view.php?id=7"},
		{"media filtered", mediaURL(373, enc(url.Values{"type": {"video"}})), "/media_view.php?id=373&type=video"},
		{"media query with specials", mediaURL(5, enc(url.Values{"q": {"a&b=c d"}, "sort": {"rating"}})),
			"/media_view.php?id=5&q=a%26b%3Dc+d&sort=rating"},
		{"list unfiltered", listURL(""), "/mediadb.php"},
		{"list filtered", listURL(enc(url.Values{"type": {"video"}, "min_rating": {"2"}})), "/mediadb.php?min_rating=2&type=video"},
		{"back: same site", backURL("http://127.0.0.1:8080/mediadb.php?type=video", "127.0.0.1:8080", "/media_view.php?id=1"), "/mediadb.php?type=video"},
		{"back: other site", backURL("http://evil.example/x", "127.0.0.1:8080", "/media_view.php?id=1"), "/mediadb.php"},
		{"back: none", backURL("", "127.0.0.1:8080", "/x"), "/mediadb.php"},
		{"back: the failing page itself", backURL("http://127.0.0.1:8080/media_view.php?id=1", "127.0.0.1:8080", "/media_view.php?id=1"), "/mediadb.php"},
		{"back: javascript", backURL("javascript:alert(1)", "127.0.0.1:8080", "/x"), "/mediadb.php"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, tc.got, tc.want)
		}
	}
}

var hrefRE = regexp.MustCompile(`(?:href|action)="([^"]*)"`)

// hrefs are the link targets of a page as the browser reads them (HTML
// entities decoded once).
func hrefs(body string) []string {
	var out []string
	for _, m := range hrefRE.FindAllStringSubmatch(body, -1) {
		out = append(out, html.UnescapeString(m[1]))
	}
	return out
}

func findHref(t *testing.T, body, id string) string {
	t.Helper()
	m := regexp.MustCompile(`id="` + id + `"[^>]*href="([^"]*)"|href="([^"]*)"[^>]*id="` + id + `"`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1] + m[2])
}

// TestListAndDetailKeepTheFilter: card links, list-view links, chips and
// the detail page's prev/next/back links and form targets carry the list's
// filter as real query parameters (the card link used to escape "=" as
// %3d), and prev/next stay inside the filtered list.
func TestListAndDetailKeepTheFilter(t *testing.T) {
	f := newFixture(t)
	var vids []int64
	for i := range 4 {
		vids = append(vids, f.insert(f.base+"/v"+itoa(i)+".mp4", "video", 0, "v"+itoa(i)))
		f.insert(f.base+"/i"+itoa(i)+".png", "image", 0, "i"+itoa(i))
	}
	c := f.client()
	c.login()
	for _, view := range []string{"grid", "list"} {
		body := c.do("GET", "/mediadb.php?type=video&sort=oldest&view="+view, nil).Body.String()
		seen := map[string]bool{}
		for _, h := range hrefs(body) {
			if strings.Contains(h, "%3d") || strings.Contains(h, "%3D") && !strings.Contains(h, "q=") {
				t.Errorf("%s: double-escaped link %q", view, h)
			}
			if strings.HasPrefix(h, "/media_view.php?") {
				u, _ := url.Parse(h)
				if u.Query().Get("type") != "video" || u.Query().Get("sort") != "oldest" {
					t.Errorf("%s: card link %q lost the filter", view, h)
				}
				seen[u.Query().Get("id")] = true
			}
		}
		if len(seen) != len(vids) {
			t.Errorf("%s view: links to %d media, want %d", view, len(seen), len(vids))
		}
	}
	// The JSON page for infinite scroll builds the same links.
	rec := c.do("GET", "/api/media?type=video&sort=oldest", nil)
	var page struct {
		Items []cardJSON `json:"items"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil || len(page.Items) != len(vids) {
		t.Fatalf("api/media: %v %s", err, rec.Body.String())
	}
	if want := mediaURL(vids[0], "sort=oldest&type=video"); page.Items[0].ViewURL != want {
		t.Errorf("JSON view_url %q, want %q", page.Items[0].ViewURL, want)
	}

	for _, tc := range []struct {
		name           string
		id             int64
		prev, next     int64
		wantPrev, back string
	}{
		{"first", vids[0], 0, vids[1], "", "/mediadb.php?sort=oldest&type=video"},
		{"middle", vids[1], vids[0], vids[2], "", "/mediadb.php?sort=oldest&type=video"},
		{"last", vids[3], vids[2], 0, "", "/mediadb.php?sort=oldest&type=video"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := c.do("GET", mediaURL(tc.id, "sort=oldest&type=video"), nil).Body.String()
			check := func(linkID string, id int64) {
				got := findHref(t, body, linkID)
				if id == 0 {
					if got != "" {
						t.Errorf("%s: link %q at the list's edge", linkID, got)
					}
					return
				}
				if want := mediaURL(id, "sort=oldest&type=video"); got != want {
					t.Errorf("%s: %q, want %q", linkID, got, want)
				}
			}
			check("prev-media", tc.prev)
			check("next-media", tc.next)
			if got := findHref(t, body, "back-to-list"); got != tc.back {
				t.Errorf("back link %q, want %q", got, tc.back)
			}
			if !strings.Contains(body, `action="`+html.EscapeString(mediaURL(tc.id, "sort=oldest&type=video"))+`"`) {
				t.Error("the action forms do not post to the filtered detail URL")
			}
		})
	}
	// An action keeps the list context in its redirect.
	rec = c.post(mediaURL(vids[1], "sort=oldest&type=video"), url.Values{"action": {"rate"}, "media_id": {fmtID(vids[1])}, "rating": {"2"}}, true)
	// (the action's feedback code rides along for the banner)
	if loc := rec.Header().Get("Location"); rec.Code != http.StatusSeeOther || !strings.HasPrefix(loc, mediaURL(vids[1], "sort=oldest&type=video")+"&") {
		t.Errorf("action redirect %d %q", rec.Code, loc)
	}
}

// TestErrorPages: a failing page keeps the layout and navigation, says what
// happened in the person's language with a next step and a link back, and
// never shows the raw reason code; JSON callers still get JSON.
func TestErrorPages(t *testing.T) {
	f := newFixture(t)
	nsfw := f.insert(f.base+"/n.png", "image", 1, "nn")
	c := f.client()
	c.login()
	visible := func(body string) string {
		// The text a person sees: tags and attribute values removed.
		return html.UnescapeString(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(body, " "))
	}
	for _, tc := range []struct {
		name, method, target, lang string
		form                       url.Values
		status                     int
		code, want, next           string
	}{
		{"adult hidden", "GET", "/media_view.php?id=" + fmtID(nsfw), "en", nil, 403, CodeAdultHidden, "marked 18+", "Show 18+"},
		{"adult hidden (German)", "GET", "/media_view.php?id=" + fmtID(nsfw), "de", nil, 403, CodeAdultHidden, "FSK18", "FSK18 zeigen"},
		{"unknown media", "GET", "/media_view.php?id=99999", "en", nil, 404, CodeNotFound, "Not found.", "Go back to the list"},
		{"bad id", "GET", "/media_view.php?id=x", "en", nil, 400, CodeBadRequest, "Bad request.", "Check the input"},
		{"unknown page", "GET", "/nope.php", "en", nil, 404, CodeNotFound, "Not found.", "Go back to the list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.hdr = http.Header{"Accept-Language": {tc.lang}, "Referer": {"http://127.0.0.1:8080/mediadb.php?type=image"}}
			defer func() { c.hdr = http.Header{} }()
			if tc.lang == "de" {
				c.post("/settings", url.Values{"lang": {"de"}, "back": {"/"}}, true)
				defer c.post("/settings", url.Values{"lang": {"en"}, "back": {"/"}}, true)
			}
			var rec = c.do(tc.method, tc.target, nil)
			if tc.form != nil {
				rec = c.post(tc.target, tc.form, true)
			}
			body := rec.Body.String()
			if rec.Code != tc.status || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
				t.Fatalf("status %d %s, want %d html", rec.Code, rec.Header().Get("Content-Type"), tc.status)
			}
			for _, part := range []string{`<nav class="top">`, `id="error-page"`, `data-reason-code="` + tc.code + `"`, `<footer>`} {
				if !strings.Contains(body, part) {
					t.Errorf("page lacks %s:\n%s", part, body)
				}
			}
			if back := findHref(t, body, "error-back"); back != "/mediadb.php?type=image" {
				t.Errorf("back link %q, want the referring list", back)
			}
			text := visible(body)
			if !strings.Contains(text, tc.want) || !strings.Contains(text, tc.next) {
				t.Errorf("page text lacks %q / %q:\n%s", tc.want, tc.next, text)
			}
			if strings.Contains(text, tc.code) {
				t.Errorf("raw code %q visible:\n%s", tc.code, text)
			}
		})
	}
	t.Run("JSON stays JSON", func(t *testing.T) {
		c.hdr = http.Header{"Accept": {"application/json"}}
		defer func() { c.hdr = http.Header{} }()
		rec := c.do("GET", "/media_view.php?id=99999", nil)
		var v map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil || rec.Code != 404 || v["reason_code"] != CodeNotFound || v["error"] != "Not found." {
			t.Fatalf("%d %v %s", rec.Code, err, rec.Body.String())
		}
	})
}

// TestBannerText: the result codes a redirect carries become sentences in
// the person's language; unknown codes get a sentence, never the bare code.
func TestBannerText(t *testing.T) {
	f := newFixture(t)
	s := f.srv
	for _, tc := range []struct{ lang, msg, want string }{
		{"en", "scan_path: started_unverified", "Import queued. The worker is starting; its progress shows in the job center."},
		{"de", "scan_path: started_unverified", "Import eingeplant. Der Worker startet; den Fortschritt zeigt die Job-Zentrale."},
		{"en", "rescan_db: web_spawn_disabled", "Library rescan queued. Starting workers from the web is switched off (workers.web_spawn_enabled); the job runs when a scheduled worker starts."},
		{"en", "job_cancel", "Cancellation requested."},
		{"en", "spawn", "Start of the scan worker requested."},
		{"en", "scan_path: worker_binary_missing", "Import queued. The worker program was not found next to webui; build it (task build) and start again."},
		{"en", "scan_path: weird_status", "Import queued. Worker start reported “weird_status”; the job waits in the queue."},
		{"en", "mystery", "Action “mystery” done."},
	} {
		if got := s.bannerText(tc.lang, tc.msg); got != tc.want {
			t.Errorf("%s %q: %q, want %q", tc.lang, tc.msg, got, tc.want)
		}
	}
	// Every status the launcher and Server.spawn can report has a sentence
	// in both languages.
	for _, st := range []string{"started", "started_unverified", "running", "locked", "busy", "start_failed", "open_failed",
		"config_failed", "web_spawn_disabled", "spawn_unavailable", "spawn_failed", "spawn_cooldown", "log_root_unavailable",
		"spawn_lock_open_failed", "spawn_lock_busy", "spawn_unverified", "worker_binary_missing", "worker_running"} {
		for _, lang := range []string{"en", "de"} {
			if _, ok := s.i18n.msgs[lang]["banner.status."+st]; !ok {
				t.Errorf("%s: no sentence for status %s", lang, st)
			}
		}
	}
	// The dashboard shows the sentence, not the code.
	c := f.client()
	c.login()
	// Dashboard actions now redirect with a feedback code (feedback.go);
	// an old-style or unknown one never puts the raw code on the page.
	body := c.do("GET", "/index.php?msg="+url.QueryEscape("scan_path: started_unverified"), nil).Body.String()
	if strings.Contains(body, "started_unverified") {
		t.Errorf("dashboard shows a raw code")
	}
}
