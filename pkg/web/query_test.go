package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/query"
)

// TestQueryErrorsAreNot500: a query that cannot be used is a 400 with
// {error:{code,message,position}} from the API and the list page with the
// sentence and the marked position under the search box, in the user's
// language; never a 500.
func TestQueryErrorsAreNot500(t *testing.T) {
	f := newFixture(t)
	c := f.client()
	for _, tc := range []struct {
		q, code string
		pos     int
	}{
		{`dragon "unclosed`, query.CodeSyntax, 7},
		{"foo:bar", query.CodeUnknownField, 0},
		{"steps:abc", query.CodeBadValue, 6},
		{strings.Repeat("x ", 2100), query.CodeTooLong, 0},
	} {
		for _, api := range []string{"/api/media", "/api/count"} {
			rec := c.do("GET", api+"?q="+url.QueryEscape(tc.q), nil)
			var body struct {
				Error struct {
					Code     string `json:"code"`
					Message  string `json:"message"`
					Position int    `json:"position"`
				} `json:"error"`
			}
			if rec.Code != http.StatusBadRequest || json.Unmarshal(rec.Body.Bytes(), &body) != nil {
				t.Fatalf("%s %.30q: %d %s", api, tc.q, rec.Code, rec.Body.String())
			}
			if body.Error.Code != tc.code || body.Error.Message == "" || (tc.code != query.CodeTooLong && body.Error.Position != tc.pos) {
				t.Errorf("%s %.30q: %+v, want code %s at %d", api, tc.q, body.Error, tc.code, tc.pos)
			}
		}
		for _, lang := range []string{"en", "de"} {
			c.hdr.Set("Accept-Language", lang)
			rec := c.do("GET", "/mediadb.php?q="+url.QueryEscape(tc.q), nil)
			page := rec.Body.String()
			if rec.Code != http.StatusBadRequest || !strings.Contains(page, `id="query-error"`) || !strings.Contains(page, `data-code="`+tc.code+`"`) {
				t.Fatalf("list %.30q (%s): %d, no error line", tc.q, lang, rec.Code)
			}
			want := f.srv.i18n.T(lang, "err."+tc.code)
			if i := strings.Index(want, "{"); i > 0 {
				want = want[:i] // up to the first placeholder
			}
			if !strings.Contains(page, strings.ReplaceAll(want, "'", "&#39;")) {
				t.Errorf("list %.30q (%s): the %s sentence is missing", tc.q, lang, lang)
			}
			if tc.code == query.CodeBadValue && !strings.Contains(page, "steps:<mark>a</mark>bc") {
				t.Errorf("list %q: the position is not marked", tc.q)
			}
		}
		c.hdr.Del("Accept-Language")
	}
	// A good query still lists (the image of the fixture by its name).
	rec := c.do("GET", "/api/media?q="+url.QueryEscape("name:hopper type:image"), nil)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"id":1,`) {
		t.Fatalf("good query: %d %s", rec.Code, rec.Body.String())
	}
}

// TestJumpToDate: the list's "Jump to date" form is there for the
// id-ordered sorts, keeps the filters as hidden fields, and its GET lands
// on the period (a period before every import is an empty page); a value
// that is no date is the query's 400 with the sentence, from the page and
// the API, never a 500.
func TestJumpToDate(t *testing.T) {
	f := newFixture(t)
	c := f.client()
	rec := c.do("GET", "/mediadb.php?type=image", nil)
	page := rec.Body.String()
	if rec.Code != http.StatusOK || !strings.Contains(page, `id="jump-form"`) || !strings.Contains(page, `<input type="hidden" name="type" value="image">`) {
		t.Fatalf("list: %d, no jump form keeping the filter", rec.Code)
	}
	if rec := c.do("GET", "/mediadb.php?sort=rating", nil); strings.Contains(rec.Body.String(), `id="jump-form"`) {
		t.Error("the rating sort offers a jump to a date")
	}
	for _, tc := range []struct {
		jump string
		card bool
	}{{"2026-01-02", true}, {"2026-01", true}, {"2025-12-01", false}} {
		rec := c.do("GET", "/mediadb.php?type=image&jump="+tc.jump, nil)
		page := rec.Body.String()
		grid, _, _ := strings.Cut(page[strings.Index(page, `id="grid"`)+1:], "</div>")
		if strings.Contains(page, "0 matches") {
			t.Errorf("jump=%s: the count says 0 matches for the page's filter", tc.jump)
		}
		if got := strings.Contains(grid, `data-id="1"`); rec.Code != http.StatusOK || got != tc.card {
			t.Errorf("jump=%s: %d, card shown %v, want %v", tc.jump, rec.Code, got, tc.card)
		}
	}
	rec = c.do("GET", "/mediadb.php?jump=tomorrowish", nil)
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `data-code="`+query.CodeBadValue+`"`) {
		t.Fatalf("bad jump: %d, no error line", rec.Code)
	}
	rec = c.do("GET", "/api/media?jump=tomorrowish", nil)
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"code":"`+query.CodeBadValue+`"`) {
		t.Fatalf("bad jump API: %d %s", rec.Code, rec.Body.String())
	}
}
