package web

import (
	"html/template"
	"strings"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/catalog"
)

// refCardTemplate is the grid card as list.html wrote it before
// renderCards replaced it (#18 item 6): the reference its output must
// equal byte for byte.
const refCardTemplate = `{{define "card"}}{{$u := .URL}}{{with .C}}
<article class="card{{if and .Width .Height}} {{ar .Width .Height}}{{end}}{{if .NSFW}} nsfw{{end}}{{if .Deleted}} deleted{{end}}" data-id="{{.ID}}"{{if and .Width .Height}} data-w="{{.Width}}" data-h="{{.Height}}"{{end}}{{if .NSFW}} data-adult="1"{{end}} tabindex="0">
  <a class="thumb" href="{{$u}}"><img loading="lazy" src="/thumb.php?id={{.ID}}" alt="{{.FileName}}"></a>
  <div class="meta">
    <div class="title" title="{{.FileName}}">{{.DisplayTitle}}</div>
    <div class="chips">
      <span class="chip">{{.Type}}</span>
      {{if .Width}}<span class="chip">{{.Width}}×{{.Height}}</span>{{end}}
      {{if .Duration}}<span class="chip">{{dur .Duration}}</span>{{end}}
      {{if .Rating}}<span class="chip rating">★{{.Rating}}</span>{{end}}
      {{if .NSFW}}<span class="chip warn">18+</span>{{end}}
      {{if .NSFWLocked}}<span class="chip lock" title="18+/safe set by a person"><svg class="ico" viewBox="0 0 16 16" width="11" height="11" aria-hidden="true"><path fill="currentColor" d="M4 7V5a4 4 0 0 1 8 0v2h1v8H3V7h1zm2 0h4V5a2 2 0 0 0-4 0v2z"/></svg></span>{{end}}
      {{if .Deleted}}<span class="chip warn">del</span>{{end}}
      {{if not .Active}}<span class="chip">inactive</span>{{end}}
      {{if .HDID}}<span class="chip">HD</span>{{end}}
      {{if .Broken}}<span class="chip warn">broken</span>{{end}}
      {{if .OpenJobs}}<span class="chip">job</span>{{end}}
      {{if .ScanStale}}<span class="chip warn">scan stale</span>{{end}}
      {{if .Model}}<span class="chip" title="model">{{.Model}}</span>{{end}}
      {{if .TagCount}}<span class="chip">{{.TagCount}} tags</span>{{end}}
      {{if .HasPrompt}}<span class="chip">prompt</span>{{end}}
      {{if ne .Vote "neutral"}}<span class="chip vote-{{.Vote}}">{{.Vote}}</span>{{end}}
      {{if .Checked}}<span class="chip">✓</span>{{end}}
    </div>
    <div class="sub">ID {{.ID}} · {{.FileName}}</div>
  </div>
  <label class="select"><input type="checkbox" class="sel" value="{{.ID}}" aria-label="select {{.ID}}"></label>
</article>
{{end}}{{end}}{{range .Cards}}{{template "card" (cv . $.QS)}}{{end}}`

// refCardView is the template's view of one card.
type refCardView struct {
	C catalog.Card
	Q string
}

func (v refCardView) URL() string { return mediaURL(v.C.ID, v.Q) }

// TestCardsRender compares renderCards with the html/template card it
// replaced, over cards with every chip on and off and text that needs
// escaping in element text, attributes and URLs.
func TestCardsRender(t *testing.T) {
	ref := template.Must(template.New("ref").Funcs(template.FuncMap{
		"cv":  func(c catalog.Card, qs string) refCardView { return refCardView{C: c, Q: qs} },
		"dur": fmtDur,
		"ar":  arClass,
	}).Parse(refCardTemplate))
	tricky := `a "quoted" <b>&amp; it's 1+1=2` + "\x00 ünï ☃ \t"
	cards := []catalog.Card{
		{ID: 1, Path: "/lib/a/img1.png", Name: "img1.png", Type: "image", Vote: "neutral"},
		{ID: 22, Path: "/lib/" + tricky + ".png", Name: tricky + ".png", Type: "video", Width: 512, Height: 768, Duration: 75.6,
			Rating: 3, NSFW: true, NSFWLocked: true, Deleted: true, Active: false, HDID: 9, Broken: true, OpenJobs: 2, ScanStale: true,
			Model: tricky, TagCount: 4, HasPrompt: true, Vote: "approved", Checked: true, Title: tricky, OriginalName: tricky + ".jpg"},
		{ID: 333, Path: `C:\lib\x_y-z.png`, Name: "x_y-z.png", Type: "image", Active: true, Vote: "rejected'<", Caption: tricky},
	}
	for _, qs := range []string{"", "q=%22red+castle%22&sort=rating&tag=a%26b"} {
		var want strings.Builder
		if err := ref.Execute(&want, map[string]any{"Cards": cards, "QS": qs}); err != nil {
			t.Fatal(err)
		}
		if got := string(renderCards(cards, qs)); got != want.String() {
			g, w := strings.Split(got, "\n"), strings.Split(want.String(), "\n")
			for i := range min(len(g), len(w)) {
				if g[i] != w[i] {
					t.Fatalf("qs=%q line %d:\n got %q\nwant %q", qs, i+1, g[i], w[i])
				}
			}
			t.Fatalf("qs=%q: %d lines, want %d", qs, len(g), len(w))
		}
	}
}
