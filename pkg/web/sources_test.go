package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/sources"
)

// addSourceMedia records dir as a library source in mode and catalogues
// the files (copies of testdata/hopper.png) below it; it returns the ids.
func (f *fixture) addSourceMedia(dir, mode string, names ...string) []int64 {
	f.t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		f.t.Fatal(err)
	}
	if _, err := sources.RecordScan(context.Background(), f.db, sources.Scan{Root: dir, Mode: mode, JobID: 7, Status: sources.StatusDone,
		At: time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)}); err != nil {
		f.t.Fatal(err)
	}
	b, _ := os.ReadFile("testdata/hopper.png")
	var ids []int64
	for _, n := range names {
		p := filepath.Join(dir, n)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			f.t.Fatal(err)
		}
		ids = append(ids, f.insert(p, "image", 0, "h-"+p))
	}
	return ids
}

func (f *fixture) sourceID(dir string) int64 {
	f.t.Helper()
	var id int64
	if err := f.db.QueryRow(`SELECT id FROM library_sources WHERE path = ?`, dir).Scan(&id); err != nil {
		f.t.Fatal(err)
	}
	return id
}

// TestServeFromSources: media inside a library source are served (stream
// and thumbnail) like media in the LIBRARY roots; a file outside every root
// and source answers 403 path_blocked with a plain-words reason, and so
// does a symlink in a source that points outside it. A source recorded by
// a worker after the cache was loaded is served on the first request once
// the cache is a second old (reload on miss), without waiting for the TTL.
func TestServeFromSources(t *testing.T) {
	f := newFixture(t)
	clock := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	f.srv.servableCache.now = func() time.Time { return clock }
	outside := filepath.Join(f.base, "elsewhere")
	src := filepath.Join(f.base, "photos in place")
	inSource := f.addSourceMedia(src, sources.ModeInPlace, "a.png")[0]
	if err := os.MkdirAll(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile("testdata/hopper.png")
	os.WriteFile(filepath.Join(outside, "x.png"), b, 0o644)
	outsideID := f.insert(filepath.Join(outside, "x.png"), "image", 0, "h-out")
	link := filepath.Join(src, "escape.png")
	if err := os.Symlink(filepath.Join(outside, "x.png"), link); err != nil {
		t.Skip("symlinks unsupported:", err)
	}
	linkID := f.insert(link, "image", 0, "h-link")
	c := f.client()
	for _, tc := range []struct {
		name string
		id   int64
		want int
	}{
		{"library root", f.imgID, 200},
		{"in a source", inSource, 200},
		{"outside every root and source", outsideID, 403},
		{"symlink in a source escaping it", linkID, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, target := range []string{"/media_stream.php?id=", "/media_stream.php?dl=1&id="} {
				rec := c.do("GET", target+strconv.FormatInt(tc.id, 10), nil)
				if rec.Code != tc.want {
					t.Fatalf("%s: %d, want %d", target, rec.Code, tc.want)
				}
				if tc.want == 403 && !strings.Contains(rec.Body.String(), "library source") {
					t.Fatalf("403 without a reason the user can act on: %q", rec.Body.String())
				}
			}
			// Thumbnails go through the same check (no thumbnailer
			// wired: an allowed request gets the placeholder, 200).
			if rec := c.do("GET", "/thumb.php?id="+strconv.FormatInt(tc.id, 10), nil); rec.Code != tc.want {
				t.Fatalf("thumb: %d, want %d", rec.Code, tc.want)
			}
		})
	}
	// A worker records the other folder as a source: within the second the
	// cache was loaded it is still refused, a second later it is served.
	if _, err := sources.RecordScan(context.Background(), f.db, sources.Scan{Root: outside, Mode: sources.ModeCopy, Status: sources.StatusDone, At: clock}); err != nil {
		t.Fatal(err)
	}
	if rec := c.do("GET", "/media_stream.php?id="+strconv.FormatInt(outsideID, 10), nil); rec.Code != 403 {
		t.Fatalf("new source within the reload pause: %d", rec.Code)
	}
	clock = clock.Add(time.Second)
	if rec := c.do("GET", "/media_stream.php?id="+strconv.FormatInt(outsideID, 10), nil); rec.Code != 200 {
		t.Fatalf("new source after a miss reload: %d", rec.Code)
	}
}

// TestDashboardSourcesActions: the dashboard lists every source with its
// media count and last scan; rescan queues a scan_path job in the
// source's mode; watch toggles; remove shows a confirmation page saying no
// file is deleted, refuses without the confirmation, then forgets the
// source's rows and keeps its files; every action needs admin and CSRF.
func TestDashboardSourcesActions(t *testing.T) {
	f := newFixture(t)
	inPlace := filepath.Join(f.base, "in place")
	copied := filepath.Join(f.base, "copied")
	ids := f.addSourceMedia(inPlace, sources.ModeInPlace, "a.png", "b.png", "c.png")
	f.addSourceMedia(copied, sources.ModeCopy)
	f.addSourceMedia(inPlace+"-other", sources.ModeInPlace, "z.png") // shares the name prefix
	inID, copyID := f.sourceID(inPlace), f.sourceID(copied)
	c := f.client()

	t.Run("actions need admin and CSRF", func(t *testing.T) {
		for _, target := range []string{"/sources/rescan", "/sources/watch", "/sources/remove"} {
			form := url.Values{"id": {strconv.FormatInt(inID, 10)}, "watch": {"1"}, "confirm": {"1"}}
			if rec := c.post(target, form, true); rec.Code != http.StatusForbidden {
				t.Fatalf("%s without admin: %d", target, rec.Code)
			}
		}
		if rec := c.do("GET", "/sources/remove?id="+strconv.FormatInt(inID, 10), nil); rec.Code != http.StatusSeeOther {
			t.Fatalf("confirmation page without admin: %d", rec.Code)
		}
		c.login()
		if rec := c.post("/sources/rescan", url.Values{"id": {strconv.FormatInt(inID, 10)}}, false); rec.Code != http.StatusForbidden {
			t.Fatalf("rescan without CSRF: %d", rec.Code)
		}
		if rec := c.do("GET", "/sources/rescan?id=1", nil); rec.Code != http.StatusMethodNotAllowed {
			t.Fatalf("rescan by GET: %d", rec.Code)
		}
	})

	t.Run("dashboard lists sources with counts", func(t *testing.T) {
		rec := c.do("GET", "/index.php", nil)
		body := rec.Body.String()
		if rec.Code != 200 {
			t.Fatalf("dashboard %d", rec.Code)
		}
		for _, want := range []string{`id="sources"`, ">" + inPlace + "<", ">" + copied + "<",
			`data-source="` + strconv.FormatInt(inID, 10) + `"`, `data-media="3"`, `data-media="0"`, `data-media="1"`,
			"2026-01-02T03:00:00Z (done)", "#7", `href="/sources/remove?id=` + strconv.FormatInt(inID, 10) + `"`} {
			if !strings.Contains(body, want) {
				t.Errorf("dashboard lacks %q", want)
			}
		}
	})

	t.Run("rescan queues in the source's mode", func(t *testing.T) {
		for _, tc := range []struct {
			id   int64
			dir  string
			mode string
		}{{inID, inPlace, "in_place"}, {copyID, copied, "copy"}} {
			rec := c.post("/sources/rescan", url.Values{"id": {strconv.FormatInt(tc.id, 10)}}, true)
			if rec.Code != http.StatusSeeOther || !strings.Contains(rec.Header().Get("Location"), "#sources") {
				t.Fatalf("rescan: %d %s", rec.Code, rec.Header().Get("Location"))
			}
			var mode, source string
			if err := f.db.QueryRow(`SELECT json_extract(payload_json, '$.mode'), json_extract(payload_json, '$.source') FROM jobs
				WHERE type = 'scan_path' AND status = 'queued' AND dedupe_key = ?`, "scan_path:"+tc.dir).Scan(&mode, &source); err != nil {
				t.Fatal(err)
			}
			if mode != tc.mode || source != "web_source" {
				t.Fatalf("job mode %q source %q, want %s web_source", mode, source, tc.mode)
			}
		}
		c.hdr.Set("Accept", "application/json")
		defer c.hdr.Del("Accept")
		rec := c.post("/sources/rescan", url.Values{"id": {strconv.FormatInt(inID, 10)}}, true)
		var out map[string]any
		json.Unmarshal(rec.Body.Bytes(), &out)
		if rec.Code != 200 || out["deduped"] != true {
			t.Fatalf("second rescan while queued: %d %s", rec.Code, rec.Body.String())
		}
	})

	t.Run("watch toggles", func(t *testing.T) {
		for _, on := range []string{"1", "0", "1"} {
			if rec := c.post("/sources/watch", url.Values{"id": {strconv.FormatInt(inID, 10)}, "watch": {on}}, true); rec.Code != http.StatusSeeOther {
				t.Fatalf("watch=%s: %d", on, rec.Code)
			}
			src, _ := sources.Get(context.Background(), f.db, inID)
			if src.Watch != (on == "1") {
				t.Fatalf("watch=%s stored %v", on, src.Watch)
			}
		}
		if body := c.do("GET", "/index.php", nil).Body.String(); !strings.Contains(body, "every 10 min") || !strings.Contains(body, "Stop watching") {
			t.Fatal("dashboard does not show the watched source")
		}
	})

	t.Run("remove confirms, forgets rows, keeps files", func(t *testing.T) {
		id := strconv.FormatInt(inID, 10)
		page := c.do("GET", "/sources/remove?id="+id, nil)
		if page.Code != 200 || !strings.Contains(page.Body.String(), "No file is deleted") || !strings.Contains(page.Body.String(), "its 3 media entries") {
			t.Fatalf("confirmation page %d: %s", page.Code, page.Body.String())
		}
		// A scan is queued (the rescan above): removal waits for it.
		rec := c.post("/sources/remove", url.Values{"id": {id}, "confirm": {"1"}}, true)
		if rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), "job center") {
			t.Fatalf("remove with a queued scan: %d %s", rec.Code, rec.Body.String())
		}
		f.db.Exec(`UPDATE jobs SET status = 'cancelled' WHERE type = 'scan_path'`)
		if rec := c.post("/sources/remove", url.Values{"id": {id}}, true); rec.Code != http.StatusBadRequest {
			t.Fatalf("remove without confirm: %d", rec.Code)
		}
		rec = c.post("/sources/remove", url.Values{"id": {id}, "confirm": {"1"}}, true)
		if rec.Code != http.StatusSeeOther {
			t.Fatalf("remove: %d %s", rec.Code, rec.Body.String())
		}
		loc := rec.Header().Get("Location")
		if !strings.Contains(loc, "msg=source_removed&n=3") {
			t.Fatalf("feedback %q", loc)
		}
		if rec := c.do("GET", strings.TrimSuffix(loc, "#sources"), nil); !strings.Contains(rec.Body.String(), "3 media entries forgotten; no file was deleted") {
			t.Fatalf("the dashboard banner does not say what the removal did: %d %s", rec.Code, rec.Header().Get("Location"))
		}
		for _, n := range []string{"a.png", "b.png", "c.png"} {
			if _, err := os.Stat(filepath.Join(inPlace, n)); err != nil {
				t.Fatalf("file deleted: %v", err)
			}
		}
		var left int
		f.db.QueryRow(`SELECT count(*) FROM media WHERE id IN (?, ?, ?)`, ids[0], ids[1], ids[2]).Scan(&left)
		if left != 0 {
			t.Fatalf("%d media rows left", left)
		}
		f.db.QueryRow(`SELECT count(*) FROM media`).Scan(&left)
		if left != 3 { // the fixture's two and the prefix-sharing sibling's one
			t.Fatalf("media rows %d, want 3", left)
		}
		if rec := c.do("GET", "/media_stream.php?id="+strconv.FormatInt(ids[0], 10), nil); rec.Code != http.StatusNotFound {
			t.Fatalf("forgotten media: %d", rec.Code)
		}
		if rec := c.post("/sources/remove", url.Values{"id": {id}, "confirm": {"1"}}, true); rec.Code != http.StatusNotFound ||
			!strings.Contains(rec.Body.String(), "Reload the dashboard") {
			t.Fatalf("remove twice: %d %s", rec.Code, rec.Body.String())
		}
		if body := c.do("GET", "/index.php", nil).Body.String(); strings.Contains(body, ">"+inPlace+"<") {
			t.Fatal("removed source still listed")
		}
	})
}
