package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
)

// TestCollectionsWeb: the lifecycle of an album and a saved search through
// the web UI: writes are admin-only, bad input answers with a sentence
// (never a 500), an unknown collection is a 404 page, deleting keeps media.
func TestCollectionsWeb(t *testing.T) {
	f := newFixture(t)
	dir := filepath.Dir(f.cfg.MediaRoots()[0])
	var ids []int64
	ids = append(ids, f.imgID)
	for i := range 3 {
		ids = append(ids, f.insert(filepath.Join(dir, fmt.Sprintf("x%d.png", i)), "image", 0, fmt.Sprintf("h%d", i)))
	}
	c := f.client()
	post := func(form url.Values, jsonReq bool) *httpResult {
		c.hdr = http.Header{}
		if jsonReq {
			c.hdr.Set("Accept", "application/json")
		}
		rec := c.post("/collections/action", form, true)
		return &httpResult{code: rec.Code, body: rec.Body.String(), loc: rec.Header().Get("Location")}
	}

	// Anonymous: the page is readable, writes are refused.
	if rec := c.do("GET", "/collections", nil); rec.Code != 200 || !strings.Contains(rec.Body.String(), `id="coll-empty"`) {
		t.Fatalf("collections page: %d", rec.Code)
	}
	if r := post(url.Values{"action": {"create"}, "name": {"Holiday"}}, false); r.code != http.StatusForbidden {
		t.Fatalf("anonymous create: %d", r.code)
	}
	c.login()

	// Create; the same name in another case is refused with the sentence.
	r := post(url.Values{"action": {"create"}, "name": {"Holiday"}, "description": {"by the sea"}}, false)
	if r.code != http.StatusSeeOther || !strings.HasPrefix(r.loc, "/collection?id=") {
		t.Fatalf("create: %d %s", r.code, r.loc)
	}
	album := strings.TrimPrefix(strings.Split(r.loc, "&")[0], "/collection?id=")
	r = post(url.Values{"action": {"create"}, "name": {"holiday"}, "back": {"/collections"}}, false)
	if r.code != http.StatusSeeOther || r.loc != "/collections?msg=collection_name_taken" {
		t.Fatalf("duplicate (form): %d %s", r.code, r.loc)
	}
	r = post(url.Values{"action": {"create"}, "name": {"holiday"}}, true)
	if r.code != http.StatusBadRequest || !strings.Contains(r.body, "exists already") {
		t.Fatalf("duplicate (json): %d %s", r.code, r.body)
	}
	r = post(url.Values{"action": {"create"}, "name": {"  "}}, true)
	if r.code != http.StatusBadRequest || !strings.Contains(r.body, "collection_name_invalid") {
		t.Fatalf("empty name: %d %s", r.code, r.body)
	}
	if r = post(url.Values{"action": {"explode"}}, true); r.code != http.StatusBadRequest {
		t.Fatalf("unknown action: %d", r.code)
	}

	// Bulk add from the list's selection bar, naming a new album: created.
	r = post(url.Values{"action": {"add"}, "collection": {"Best of"}, "ids": {fmt.Sprintf("%d,%d,%d", ids[2], ids[0], ids[1])}}, true)
	var added struct {
		OK           bool   `json:"ok"`
		Message      string `json:"message"`
		CollectionID int64  `json:"collection_id"`
		Created      bool   `json:"created"`
	}
	if err := json.Unmarshal([]byte(r.body), &added); err != nil || r.code != 200 || !added.OK || !added.Created ||
		!strings.Contains(added.Message, "Added 3 media") {
		t.Fatalf("bulk add: %d %s", r.code, r.body)
	}
	best := fmt.Sprint(added.CollectionID)
	// Adding to the existing one by name appends.
	if r = post(url.Values{"action": {"add"}, "collection": {"Best of"}, "ids": {fmt.Sprint(ids[3])}}, true); r.code != 200 {
		t.Fatalf("add by name: %d %s", r.code, r.body)
	}
	if r = post(url.Values{"action": {"add"}, "collection_id": {best}, "ids": {"999999"}}, true); r.code != http.StatusBadRequest {
		t.Fatalf("add unknown media: %d %s", r.code, r.body)
	}
	order := func() string {
		rec := c.do("GET", "/collection?id="+best, nil)
		if rec.Code != 200 {
			t.Fatalf("album page: %d %s", rec.Code, rec.Body.String())
		}
		var got []string
		for _, part := range strings.Split(rec.Body.String(), `<article class="card`)[1:] {
			var id int64
			fmt.Sscanf(part[strings.Index(part, `data-id="`)+9:], "%d", &id)
			got = append(got, fmt.Sprint(id))
		}
		return strings.Join(got, ",")
	}
	want := func(is ...int) string {
		var s []string
		for _, i := range is {
			s = append(s, fmt.Sprint(ids[i]))
		}
		return strings.Join(s, ",")
	}
	if got := order(); got != want(2, 0, 1, 3) {
		t.Fatalf("album order %s, want %s", got, want(2, 0, 1, 3))
	}
	// The list's selection bar removes by name too (and never creates).
	if r = post(url.Values{"action": {"remove"}, "collection": {"Best of"}, "ids": {fmt.Sprint(ids[3])}}, true); r.code != 200 || !strings.Contains(r.body, "Removed 1 media") {
		t.Fatalf("remove by name: %d %s", r.code, r.body)
	}
	if r = post(url.Values{"action": {"remove"}, "collection": {"No such album"}, "ids": {fmt.Sprint(ids[3])}}, true); r.code != http.StatusNotFound {
		t.Fatalf("remove from an unknown album: %d %s", r.code, r.body)
	}
	if r = post(url.Values{"action": {"add"}, "collection": {"Best of"}, "ids": {fmt.Sprint(ids[3])}}, true); r.code != 200 {
		t.Fatalf("add back: %d %s", r.code, r.body)
	}
	// Order moves from the album's selection bar.
	if r = post(url.Values{"action": {"shift"}, "collection_id": {best}, "ids": {fmt.Sprint(ids[1])}, "delta": {"-1"}}, true); r.code != 200 {
		t.Fatalf("shift: %d %s", r.code, r.body)
	}
	if r = post(url.Values{"action": {"move"}, "collection_id": {best}, "ids": {fmt.Sprint(ids[3])}, "to": {"1"}}, true); r.code != 200 {
		t.Fatalf("move: %d %s", r.code, r.body)
	}
	if got := order(); got != want(3, 2, 1, 0) {
		t.Fatalf("order after moves %s, want %s", got, want(3, 2, 1, 0))
	}
	// Infinite scroll JSON of the album.
	rec := c.do("GET", "/api/collection?id="+best, nil)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), fmt.Sprintf(`"id":%d`, ids[3])) {
		t.Fatalf("album json: %d %s", rec.Code, rec.Body.String())
	}

	// A detail page opened from the album steps through the album and
	// leads back to it.
	rec = c.do("GET", fmt.Sprintf("/media_view.php?id=%d&album=%s", ids[2], best), nil)
	if body := rec.Body.String(); rec.Code != 200 ||
		!strings.Contains(body, fmt.Sprintf(`id="prev-media" rel="prev" href="/media_view.php?id=%d&amp;album=%s"`, ids[3], best)) ||
		!strings.Contains(body, fmt.Sprintf(`id="next-media" rel="next" href="/media_view.php?id=%d&amp;album=%s"`, ids[1], best)) ||
		!strings.Contains(body, `id="back-to-list" href="/collection?id=`+best+`"`) {
		t.Fatalf("detail in album context: %d", rec.Code)
	}

	// The detail page lists the media's albums with a remove button.
	rec = c.do("GET", fmt.Sprintf("/media_view.php?id=%d", ids[0]), nil)
	if body := rec.Body.String(); rec.Code != 200 || !strings.Contains(body, `id="collections"`) || !strings.Contains(body, ">Best of</a>") ||
		!strings.Contains(body, `id="coll-add-form"`) {
		t.Fatalf("detail page collections panel: %d", rec.Code)
	}
	r = post(url.Values{"action": {"remove"}, "collection_id": {best}, "ids": {fmt.Sprint(ids[0])}, "back": {fmt.Sprintf("/media_view.php?id=%d", ids[0])}}, false)
	if r.code != http.StatusSeeOther || !strings.Contains(r.loc, "msg=collection_removed") {
		t.Fatalf("remove: %d %s", r.code, r.loc)
	}
	if got := order(); got != want(3, 2, 1) {
		t.Fatalf("order after remove %s", got)
	}

	// Unknown or malformed collection ids: a 404 page with the way back.
	for _, u := range []string{"/collection?id=9999", "/collection?id=abc", "/api/collection?id=9999"} {
		rec := c.do("GET", u, nil)
		if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "does not exist") {
			t.Fatalf("%s: %d %s", u, rec.Code, rec.Body.String())
		}
	}
	if r = post(url.Values{"action": {"rename"}, "collection_id": {"9999"}, "name": {"x"}}, true); r.code != http.StatusNotFound {
		t.Fatalf("rename unknown: %d", r.code)
	}

	// A saved search: saved from the list, opened as the list with its
	// query and name; adding media to it is refused.
	r = post(url.Values{"action": {"save_search"}, "name": {"Hopper"}, "query": {"hopper"}, "back": {"/mediadb.php?q=hopper"}}, false)
	if r.code != http.StatusSeeOther || !strings.HasPrefix(r.loc, "/mediadb.php?q=hopper&saved=") {
		t.Fatalf("save search: %d %s", r.code, r.loc)
	}
	saved := strings.Split(strings.TrimPrefix(r.loc, "/mediadb.php?q=hopper&saved="), "&")[0]
	// The same name again: back on the list with the sentence.
	r = post(url.Values{"action": {"save_search"}, "name": {"hopper"}, "query": {"x"}, "back": {"/mediadb.php?q=x"}}, false)
	if r.code != http.StatusSeeOther || r.loc != "/mediadb.php?q=x&msg=collection_name_taken" {
		t.Fatalf("save search again: %d %s", r.code, r.loc)
	}
	if rec := c.do("GET", r.loc, nil); !strings.Contains(rec.Body.String(), `id="list-msg"`) || !strings.Contains(rec.Body.String(), "exists already") {
		t.Fatalf("list page does not say why the search was not saved")
	}
	rec = c.do("GET", "/collection?id="+saved, nil)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/mediadb.php?q=hopper&saved="+saved {
		t.Fatalf("open saved search: %d %s", rec.Code, rec.Header().Get("Location"))
	}
	rec = c.do("GET", "/mediadb.php?q=hopper&saved="+saved, nil)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "Saved search: Hopper") {
		t.Fatalf("saved search list page: %d", rec.Code)
	}
	if r = post(url.Values{"action": {"add"}, "collection_id": {saved}, "ids": {fmt.Sprint(ids[0])}}, true); r.code != http.StatusBadRequest ||
		!strings.Contains(r.body, "saved search") {
		t.Fatalf("add to saved search: %d %s", r.code, r.body)
	}
	rec = c.do("GET", "/collections", nil)
	if body := rec.Body.String(); !strings.Contains(body, ">Hopper</a>") || !strings.Contains(body, ">Best of</a>") || !strings.Contains(body, ">Holiday</a>") {
		t.Fatalf("collections page does not list all three")
	}

	// Rename, describe, delete: media stay.
	if r = post(url.Values{"action": {"rename"}, "collection_id": {album}, "name": {"Summer"}}, true); r.code != 200 {
		t.Fatalf("rename: %d %s", r.code, r.body)
	}
	if r = post(url.Values{"action": {"describe"}, "collection_id": {album}, "description": {"hot"}}, true); r.code != 200 {
		t.Fatalf("describe: %d %s", r.code, r.body)
	}
	if r = post(url.Values{"action": {"delete"}, "collection_id": {best}}, false); r.code != http.StatusSeeOther || r.loc != "/collections?msg=collection_deleted" {
		t.Fatalf("delete: %d %s", r.code, r.loc)
	}
	var n int
	if err := f.db.QueryRow(`SELECT count(*) FROM media`).Scan(&n); err != nil || n != len(ids)+1 {
		t.Fatalf("media after deleting an album: %d (%v)", n, err)
	}
}

type httpResult struct {
	code int
	body string
	loc  string
}
