package web

import (
	"encoding/json"
	"fmt"
	"html"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/catalog"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

type facetsResp struct {
	OK      bool        `json:"ok"`
	Facets  []facetJSON `json:"facets"`
	Counted int         `json:"counted"`
	Sampled bool        `json:"sampled"`
	Note    string      `json:"note"`
}

// TestFacetsJSON: the list page points at /api/facets with its own query
// string; the answer names the top models, samplers, LoRAs, tags and
// software of the matches with counts and a link adding the term to q (or
// removing it when q has it), in the user's language, and an NSFW media's
// parameters stay out for a session without the 18+ opt-in.
func TestFacetsJSON(t *testing.T) {
	f := newFixture(t)
	dir := f.cfg.MediaRoots()[0]
	exec := func(q string, a ...any) {
		t.Helper()
		if _, err := f.db.Exec(q, a...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`INSERT INTO tags(id, name) VALUES (1, '1girl')`)
	for i := range 5 {
		id := f.insert(filepath.Join(dir, fmt.Sprintf("gen_%d.png", i)), "image", 0, fmt.Sprintf("g%d", i))
		model := "juggernautXL_v9"
		if i == 4 {
			model = "ponyDiffusion"
		}
		exec(`INSERT INTO media_gen(media_id, software, model, sampler) VALUES (?, 'comfyui', ?, 'DPM++ 2M Karras')`, id, model)
		exec(`INSERT INTO media_gen_loras(media_id, name) VALUES (?, 'add_detail')`, id)
		exec(`INSERT INTO media_tags(media_id, tag_id) VALUES (?, 1)`, id)
	}
	// The fixture's NSFW media (id 2) with its own model.
	exec(`INSERT INTO media_gen(media_id, model) VALUES (2, 'secretModel')`)
	c := f.client()
	body := c.do("GET", "/mediadb.php?type=image&sort=rating", nil).Body.String()
	m := regexp.MustCompile(`id="facets" data-facets-url="([^"]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatal("list page has no facet panel")
	}
	target := html.UnescapeString(m[1])
	if target != "/api/facets?sort=rating&type=image" {
		t.Fatalf("facet URL %s", target)
	}
	get := func(target string) facetsResp {
		t.Helper()
		rec := c.do("GET", target, nil)
		var got facetsResp
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != 200 || !got.OK {
			t.Fatalf("%s: %d %s (%v)", target, rec.Code, rec.Body.String(), err)
		}
		return got
	}
	got := get(target)
	summary := func(r facetsResp) string {
		var parts []string
		for _, fc := range r.Facets {
			var vs []string
			for _, v := range fc.Values {
				vs = append(vs, v.Value+"="+v.Text)
			}
			parts = append(parts, fc.Field+"("+fc.Label+"):"+strings.Join(vs, ","))
		}
		return strings.Join(parts, " ")
	}
	want := "model(Models):juggernautXL_v9=4,ponyDiffusion=1 sampler(Samplers):DPM++ 2M Karras=5 lora(LoRAs):add_detail=5 " +
		"tag(Tags):1girl=5 software(Software):comfyui=5"
	if s := summary(got); s != want || got.Counted != 6 || got.Sampled {
		t.Fatalf("facets %s (counted %d, sampled %v)\nwant %s", s, got.Counted, got.Sampled, want)
	}
	v := got.Facets[1].Values[0]
	u, err := url.Parse(v.URL)
	if err != nil || u.Path != "/mediadb.php" || u.Query().Get("q") != `sampler:"DPM++ 2M Karras"` || u.Query().Get("type") != "image" ||
		u.Query().Get("sort") != "rating" || v.Term != `sampler:"DPM++ 2M Karras"` || v.Active {
		t.Fatalf("facet value %+v", v)
	}
	// The panel is reused for facetCacheTTL (whatever the list's order).
	exec(`UPDATE media_gen SET model = 'ponyDiffusion' WHERE model = 'juggernautXL_v9'`)
	if s := summary(get("/api/facets?type=image&sort=size")); s != want {
		t.Fatalf("cached facets %s", s)
	}
	clock := f.srv.clock.(*svtime.FixedClock)
	clock.T = clock.T.Add(facetCacheTTL + time.Second)
	if s := summary(get(target)); !strings.HasPrefix(s, "model(Models):ponyDiffusion=5 ") {
		t.Fatalf("facets after the cache time %s", s)
	}
	// German labels; a query matching nothing says so in a note.
	c.hdr.Set("Accept-Language", "de")
	got = get("/api/facets?q=zzzznothing")
	if len(got.Facets) != 0 || got.Note != "Keine Modelle, Sampler, LoRAs oder Tags unter diesen Medien." {
		t.Fatalf("German empty facets: %+v", got)
	}
	if got = get(target); got.Facets[0].Label != "Modelle" {
		t.Fatalf("German facets: %+v", got)
	}
	// The NSFW media's model appears with the 18+ opt-in only.
	if strings.Contains(summary(got), "secretModel") {
		t.Fatal("an NSFW media's model in the facets of a session without 18+")
	}
}

// TestFacetLink: a value links to the list with its term added to q; when
// q has the term already, the link removes it (and q_scope with the last
// term). Other parameters stay.
func TestFacetLink(t *testing.T) {
	for _, c := range []struct {
		q, term, wantQ string
		active         bool
	}{
		{"", `model:"a b"`, `model:"a b"`, false},
		{"castle", `tag:"1girl"`, `castle tag:"1girl"`, false},
		{`castle tag:"1girl" red`, `tag:"1girl"`, `castle red`, true},
		{`tag:"1girl"`, `tag:"1girl"`, ``, true},
	} {
		f := catalog.ParseFilter(url.Values{"q": {c.q}, "q_scope": {"prompt"}, "type": {"image"}}, false)
		link, active := facetLink(f, c.term)
		u, err := url.Parse(link)
		if err != nil || active != c.active || u.Path != "/mediadb.php" || u.Query().Get("q") != c.wantQ || u.Query().Get("type") != "image" ||
			(c.wantQ == "") != (u.Query().Get("q_scope") == "") {
			t.Errorf("q %q + %s: %s active=%v; want q %q active=%v", c.q, c.term, link, active, c.wantQ, c.active)
		}
	}
}
