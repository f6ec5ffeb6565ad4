package web

import (
	"encoding/json"
	"fmt"
	"html"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestListTextQueryCountAndFeatureview: a text query spanning several pages
// renders its cards without counting (the page fetches /api/count, which
// counts exactly) and without the Featureview; a one-page result and a
// list without a text query show their count inline, and the Featureview
// stays on unsearched grids.
func TestListTextQueryCountAndFeatureview(t *testing.T) {
	f := newFixture(t)
	dir := f.cfg.MediaRoots()[0]
	for i := range 150 {
		f.insert(filepath.Join(dir, fmt.Sprintf("lazyword_%d.png", i)), "image", 0, fmt.Sprintf("h%d", i))
	}
	c := f.client()
	body := c.do("GET", "/mediadb.php?q=lazyword", nil).Body.String()
	m := regexp.MustCompile(`id="count" data-count-url="([^"]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("multi-page text query has no lazy count:\n%s", countLine(body))
	}
	if strings.Contains(body, `class="featured"`) {
		t.Fatal("Featureview rendered for a text query")
	}
	rec := c.do("GET", html.UnescapeString(m[1]), nil)
	var got struct {
		OK    bool   `json:"ok"`
		Total int    `json:"total"`
		More  bool   `json:"more"`
		Text  string `json:"text"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || !got.OK || got.Total != 150 || got.More || got.Text != "150 matches" {
		t.Fatalf("count %s: %+v %v", rec.Body.String(), got, err)
	}
	if line := countLine(c.do("GET", "/mediadb.php?q=hopper", nil).Body.String()); !strings.Contains(line, ">1 matches<") {
		t.Fatalf("one-page text query count: %s", line)
	}
	body = c.do("GET", "/mediadb.php", nil).Body.String()
	if line := countLine(body); !strings.Contains(line, ">151 matches<") {
		t.Fatalf("unsearched list count: %s", line)
	}
	if !strings.Contains(body, `class="featured"`) {
		t.Fatal("Featureview missing on the unsearched grid")
	}
}

func countLine(body string) string {
	i := strings.Index(body, `id="count"`)
	if i < 0 {
		return "(no count element)"
	}
	return body[i:min(len(body), i+160)]
}
