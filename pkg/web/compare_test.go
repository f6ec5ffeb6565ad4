package web

import (
	"context"
	"github.com/localsupervisor/supervisor/pkg/phash"
	"github.com/localsupervisor/supervisor/pkg/similar"
	"html"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/media"
)

// savePrompt stores a prompt for a media as an extraction would (prompts,
// prompt_history and media_gen).
func (f *fixture) savePrompt(id int64, p media.Prompt) {
	f.t.Helper()
	if _, err := media.SavePrompt(context.Background(), f.db, id, p, "test", "", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		f.t.Fatal(err)
	}
}

func ptrOf[T any](v T) *T { return &v }

// compareFixture: media 1 (hopper.png) and 2 (18+) from newFixture, then
// 3–6 with prompts and 7 soft-deleted.
func compareFixture(t *testing.T) *fixture {
	f := newFixture(t)
	dir := f.cfg.MediaRoots()[0]
	for i, h := range []string{"c3", "c4", "c5", "c6", "c7"} {
		id := f.insert(dir+"/cmp"+h+".png", "image", 0, h)
		if id != int64(i+3) {
			t.Fatalf("media id %d, want %d", id, i+3)
		}
	}
	f.savePrompt(1, media.Prompt{Prompt: "a red cat, sitting on a mat", NegativePrompt: "blurry", Model: "sdxl", Sampler: "Euler a",
		Steps: ptrOf(int64(20)), CFGScale: ptrOf(7.0), Seed: "42", Loras: `[{"name":"detail","weight":0.8}]`})
	f.savePrompt(3, media.Prompt{Prompt: "a blue cat, sitting on a big mat", NegativePrompt: "blurry", Model: "sdxl", Sampler: "Euler a",
		Steps: ptrOf(int64(30)), CFGScale: ptrOf(7.0), Seed: "42", Loras: `[{"name":"detail","weight":0.6}]`})
	if _, err := f.db.Exec(`UPDATE media SET is_deleted = 1, deleted_at = '2026-01-01T00:00:00Z' WHERE id = 7`); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestCompareHandler(t *testing.T) {
	f := compareFixture(t)
	c := f.client()
	reason := regexp.MustCompile(`data-reason-code="([a-z_]+)"`)
	fix := regexp.MustCompile(`id="compare-fix" href="([^"]+)"`)
	for _, tc := range []struct {
		name, ids string
		status    int
		code      string // "" for a page that compares
		fix       string
	}{
		{"two media", "1,3", 200, "", ""},
		{"spaces and repeats", " 1 , 3,1", 200, "", ""},
		{"no ids", "", 400, CodeCompareTooFew, ""},
		{"one id", "1", 400, CodeCompareTooFew, ""},
		{"same id twice", "1,1", 400, CodeCompareTooFew, ""},
		{"not a number", "1,abc", 400, CodeCompareBadID, ""},
		{"negative", "1,-3", 400, CodeCompareBadID, ""},
		{"too large", "1,99999999999", 400, CodeCompareBadID, ""},
		{"five ids", "1,3,4,5,6", 400, CodeCompareTooMany, "/compare?ids=1,3,4,5"},
		{"unknown id, one left", "1,999", 404, CodeCompareNotFound, ""},
		{"unknown id, two left", "1,999,3", 404, CodeCompareNotFound, "/compare?ids=1,3"},
		{"soft-deleted", "1,7,3", 404, CodeCompareDeleted, "/compare?ids=1,3"},
		{"18+ hidden", "1,2", 403, CodeCompareAdult, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := c.do("GET", "/compare?ids="+url.QueryEscape(tc.ids), nil)
			body := rec.Body.String()
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, body)
			}
			if tc.code == "" {
				if !strings.Contains(body, `id="compare"`) || strings.Count(body, `class="cmp-pane"`) != 2 {
					t.Fatalf("no compare page with two panes: %s", body)
				}
				return
			}
			if m := reason.FindStringSubmatch(body); m == nil || m[1] != tc.code {
				t.Fatalf("reason %v, want %s", m, tc.code)
			}
			if !strings.Contains(body, `id="compare-next"`) || !strings.Contains(body, `id="compare-reason"`) {
				t.Fatal("no reason or next step on the page")
			}
			m := fix.FindStringSubmatch(body)
			switch {
			case tc.fix == "" && m != nil:
				t.Fatalf("next-step link %s, want none", m[1])
			case tc.fix != "" && (m == nil || html.UnescapeString(m[1]) != tc.fix):
				t.Fatalf("next-step link %v, want %s", m, tc.fix)
			}
		})
	}
	// API callers get the reason as JSON.
	c.hdr.Set("Accept", "application/json")
	if rec := c.do("GET", "/compare?ids=x", nil); rec.Code != 400 || !strings.Contains(rec.Body.String(), `"reason_code":"compare_bad_id"`) {
		t.Fatalf("JSON: %d %s", rec.Code, rec.Body.String())
	}
	c.hdr.Del("Accept")
	// After opting in to 18+ the media compares, its pane marked adult.
	c.post("/settings", url.Values{"adult": {"1"}}, true)
	rec := c.do("GET", "/compare?ids=1,2", nil)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `<figure class="cmp-pane" data-id="2" data-adult="1">`) {
		t.Fatalf("18+ pane: %d %s", rec.Code, rec.Body.String())
	}
	if strings.Contains(rec.Body.String(), `data-id="1" data-adult`) {
		t.Fatal("a safe pane marked adult")
	}
}

func TestCompareDiffContent(t *testing.T) {
	f := compareFixture(t)
	c := f.client()
	body := c.do("GET", "/compare?ids=1,3", nil).Body.String()
	row := func(param string) string {
		m := regexp.MustCompile(`<tr data-param="` + param + `"[^>]*>.*?</tr>`).FindString(body)
		if m == "" {
			t.Fatalf("no %s row in %s", param, body)
		}
		return m
	}
	for _, tc := range []struct {
		param  string
		differ bool
		cells  []string
	}{
		{"model", false, []string{"<td>sdxl</td><td>sdxl</td>"}},
		{"sampler", false, []string{"<td>Euler a</td><td>Euler a</td>"}},
		{"steps", true, []string{"<td>20</td>", `<td class="ne">30</td>`}},
		{"cfg", false, []string{"<td>7</td><td>7</td>"}},
		{"seed", false, []string{"<td>42</td><td>42</td>"}},
		{"loras", true, []string{"<td>detail:0.8</td>", `<td class="ne">detail:0.6</td>`}},
		{"denoise", false, []string{"<td>–</td><td>–</td>"}},
	} {
		r := row(tc.param)
		if got := strings.Contains(r, `class="differ"`); got != tc.differ {
			t.Errorf("%s: differ %v, want %v: %s", tc.param, got, tc.differ, r)
		}
		for _, cell := range tc.cells {
			if !strings.Contains(r, cell) {
				t.Errorf("%s: no %s in %s", tc.param, cell, r)
			}
		}
	}
	p := row("prompt")
	for _, want := range []string{"a red cat, sitting on a mat", "a <del>red </del><ins>blue </ins>cat, sitting on a <ins>big </ins>mat"} {
		if !strings.Contains(p, want) {
			t.Errorf("prompt row lacks %q: %s", want, p)
		}
	}
	if !strings.Contains(body, `<a class="cmp-ref" href="/compare?ids=3,1"`) {
		t.Error("no link to compare against the second pane")
	}
	if n := row("negative"); !strings.Contains(n, `class="same"`) || strings.Contains(n, "<ins>") {
		t.Errorf("equal negative prompts: %s", n)
	}
}

// TestDetailLineageAndDuplicates: the detail page draws the family with an
// edge per parent/child saying what changed and linking to the compare
// page, hides an 18+ member from a session that hides 18+, and lists the
// duplicates with compare links.
func TestDetailLineageAndDuplicates(t *testing.T) {
	f := compareFixture(t)
	for _, q := range []string{
		`UPDATE media SET parent_media_id = 1, source = 'upscale', width = 48, height = 32 WHERE id = 3`,
		`UPDATE media SET parent_media_id = 3, source = 'forge' WHERE id = 4`,
		`UPDATE media SET parent_media_id = 1, source = 'forge', has_nsfw = 1 WHERE id = 5`,
		`UPDATE media SET width = 24, height = 16 WHERE id = 1`,
		`INSERT INTO media_meta(media_id, source, meta_key, meta_value, created_at) VALUES (1, 'import', 'hash.sha256', 'ab12', 'x'), (6, 'import', 'hash.sha256', 'ab12', 'x')`,
		`INSERT INTO media_meta(media_id, source, meta_key, meta_value, created_at) VALUES (1, 'ollama', 'ollama.dupe_hints.top', '[{"media_id":4,"score":0.97},{"media_id":5,"score":0.95}]', 'x')`,
	} {
		if _, err := f.db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	f.savePrompt(4, media.Prompt{Prompt: "a blue cat, sitting on a big mat", Model: "flux", Steps: ptrOf(int64(30))})
	c := f.client()
	body := c.do("GET", "/media_view.php?id=4", nil).Body.String()
	tree := regexp.MustCompile(`(?s)<ul class="lineage-tree" id="lineage-tree">.*?</section>`).FindString(body)
	if tree == "" {
		t.Fatalf("no lineage tree: %s", body)
	}
	for _, want := range []string{
		`<li data-id="1">`, `<li data-id="3">`, `<li data-id="4">`,
		`href="/compare?ids=1,3"`, `href="/compare?ids=3,4"`,
		`<li data-param="steps">Steps: 20 → 30</li>`, `<li data-param="dims">Dimensions: 24×16 → 48×32</li>`,
		`<del>red</del> <ins>blue</ins> <ins>big</ins>`,
		`<li data-param="model">Model: sdxl → flux</li>`,
		`lin-node current`, `<span class="lin-hidden">18+</span><span>#5</span>`,
	} {
		if !strings.Contains(tree, want) {
			t.Errorf("lineage lacks %s:\n%s", want, tree)
		}
	}
	if strings.Contains(tree, `/compare?ids=1,5`) || strings.Contains(tree, `/thumb.php?id=5`) {
		t.Error("the hidden 18+ child is shown or linked")
	}
	// Media 6 has no family; once a forge preview replaced its file, it
	// is a lineage of one.
	if b := c.do("GET", "/media_view.php?id=6", nil).Body.String(); strings.Contains(b, `id="lineage-tree"`) || !strings.Contains(b, "no parent and no derivatives") {
		t.Error("a media without family draws a graph")
	}
	if _, err := f.db.Exec(`INSERT INTO prompt_history(media_id, version, source, created_at) VALUES (6, 1, 'forge_accept_replace', 'x')`); err != nil {
		t.Fatal(err)
	}
	if b := c.do("GET", "/media_view.php?id=6", nil).Body.String(); !strings.Contains(b, `id="lineage-tree"`) || !strings.Contains(b, "replaced in place ×1") {
		t.Error("an accepted replacement is not shown in the lineage")
	}
	dup := regexp.MustCompile(`(?s)<section class="panel" id="duplicates">.*?</section>`).FindString(c.do("GET", "/media_view.php?id=1", nil).Body.String())
	for _, want := range []string{`href="/compare?ids=1,6"`, `href="/compare?ids=1,4"`, `href="/mediadb.php?dupe_sha=ab12"`, `id="dupes-compare-all" href="/compare?ids=1,6,4"`} {
		if !strings.Contains(dup, want) {
			t.Errorf("duplicates lack %s:\n%s", want, dup)
		}
	}
	if strings.Contains(dup, "ids=1,5") {
		t.Error("a hidden 18+ near-duplicate is linked")
	}
	// The list of one duplicate group offers to compare it.
	group := regexp.MustCompile(`id="compare-group" href="/compare\?ids=([0-9,]+)"`).FindStringSubmatch(c.do("GET", "/mediadb.php?dupe_sha=ab12", nil).Body.String())
	if group == nil || (group[1] != "1,6" && group[1] != "6,1") {
		t.Errorf("duplicate group list: compare link %v", group)
	}
	if strings.Contains(c.do("GET", "/mediadb.php", nil).Body.String(), `id="compare-group"`) {
		t.Error("the whole list offers a group comparison")
	}
}

// TestDetailLooksAlike: the detail page's duplicates panel names the media
// whose perceptual hash is near this one's, nearest first with the
// distance and a compare link, leaves out what the session hides and what
// is far, and links to the list of similar:N.
func TestDetailLooksAlike(t *testing.T) {
	f := compareFixture(t)
	ctx := context.Background()
	h := phash.Hash(0xfeed_beef_1234_5678)
	for id, v := range map[int64]phash.Hash{1: h, 6: h ^ 0b11, 3: ^h, 4: h ^ 0b1, 2: h ^ 0b111} { // 2 is 18+
		if err := similar.Save(ctx, f.db, id, v, "", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	c := f.client()
	dup := regexp.MustCompile(`(?s)<p id="dupes-alike">.*?</p>`).FindString(c.do("GET", "/media_view.php?id=1", nil).Body.String())
	i4, i6 := strings.Index(dup, `href="/media_view.php?id=4"`), strings.Index(dup, `href="/media_view.php?id=6"`)
	if i4 < 0 || i6 < i4 || !strings.Contains(dup, "distance 1") || !strings.Contains(dup, "distance 2") ||
		!strings.Contains(dup, `href="/compare?ids=1,6"`) || !strings.Contains(dup, `href="/mediadb.php?q=similar:1"`) {
		t.Fatalf("looks-alike line: %s", dup)
	}
	if strings.Contains(dup, "id=3") || strings.Contains(dup, "id=2") {
		t.Errorf("a far or hidden 18+ media is named: %s", dup)
	}
	list := c.do("GET", "/mediadb.php?q="+url.QueryEscape("similar:1"), nil).Body.String()
	grid, _, _ := strings.Cut(list[strings.Index(list, `id="grid"`):], `id="pager"`)
	for id, want := range map[string]bool{"1": true, "6": true, "4": true, "3": false, "2": false} {
		if strings.Contains(grid, `data-id="`+id+`"`) != want {
			t.Errorf("similar:1 list: media %s shown %v", id, !want)
		}
	}
}
