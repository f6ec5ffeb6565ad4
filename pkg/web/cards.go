package web

import (
	"html/template"
	"strconv"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/catalog"
)

// htmlEscaper escapes text and quoted attribute values exactly as
// html/template does (its htmlReplacementTable), so the cards are the
// bytes the template wrote. It is immutable once built.
var htmlEscaper = strings.NewReplacer("\x00", "\uFFFD", `"`, "&#34;", "&", "&amp;", "'", "&#39;", "+", "&#43;", "<", "&lt;", ">", "&gt;")

// renderCards writes the grid cards of a list page. html/template spent
// most of a list page's CPU on them — about 30 actions per card, each a
// reflective call plus an escaper call, for 100 cards — so they are
// written here, escaped as the template escaped them (TestCardsRender
// compares them with the template they replace). qs is the encoded list
// query the detail links keep.
func renderCards(cards []catalog.Card, qs string) template.HTML {
	var b strings.Builder
	b.Grow(len(cards) * 1024)
	for _, c := range cards {
		writeCard(&b, c, qs)
	}
	return template.HTML(b.String()) // #nosec G203 -- every value is escaped by htmlEscaper
}

// arClass names the gallery.css class that sizes a card in the justified
// grid: its aspect ratio rounded to 0.05 and clamped to 0.5–2.5 (class
// "ar135" sets --ar:1.35). A class, not a style attribute: the CSP allows
// no inline styles, and a fixed set of classes needs no script either.
func arClass(w, h int64) string {
	n := (w*20 + h/2) / h * 5 // percent, in steps of 5
	return "ar" + strconv.FormatInt(min(max(n, 50), 250), 10)
}

func writeCard(b *strings.Builder, c catalog.Card, qs string) {
	id := strconv.FormatInt(c.ID, 10)
	esc := func(s string) { _, _ = htmlEscaper.WriteString(b, s) }
	chip := func(class, text string) {
		b.WriteString(`<span class="`)
		b.WriteString(class)
		b.WriteString(`">`)
		esc(text)
		b.WriteString(`</span>`)
	}
	b.WriteString("\n<article class=\"card")
	dims := ""
	if c.Width > 0 && c.Height > 0 {
		w, h := strconv.FormatInt(c.Width, 10), strconv.FormatInt(c.Height, 10)
		b.WriteString(" " + arClass(c.Width, c.Height))
		dims = `" data-w="` + w + `" data-h="` + h
	}
	if c.NSFW {
		b.WriteString(" nsfw")
	}
	if c.Deleted {
		b.WriteString(" deleted")
	}
	b.WriteString(`" data-id="` + id + dims + `"`)
	if c.NSFW {
		b.WriteString(` data-adult="1"`)
	}
	b.WriteString(` tabindex="0">` + "\n  <a class=\"thumb\" href=\"")
	// mediaURL joins an id and an encoded query: only URL characters, so
	// html/template's URL normaliser left it as it was.
	esc(mediaURL(c.ID, qs))
	b.WriteString(`"><img loading="lazy" src="/thumb.php?id=` + id + `" alt="`)
	esc(c.FileName())
	b.WriteString("\"></a>\n  <div class=\"meta\">\n    <div class=\"title\" title=\"")
	esc(c.FileName())
	b.WriteString(`">`)
	esc(c.DisplayTitle())
	b.WriteString("</div>\n    <div class=\"chips\">\n      ")
	chip("chip", c.Type)
	b.WriteString("\n      ")
	if c.Width != 0 {
		chip("chip", strconv.FormatInt(c.Width, 10)+"×"+strconv.FormatInt(c.Height, 10))
	}
	b.WriteString("\n      ")
	if c.Duration != 0 {
		chip("chip", fmtDur(c.Duration))
	}
	b.WriteString("\n      ")
	if c.Rating != 0 {
		chip("chip rating", "★"+strconv.Itoa(c.Rating))
	}
	b.WriteString("\n      ")
	// The fixed chips, each on its own template line.
	for _, f := range []struct {
		on   bool
		html string
	}{
		{c.NSFW, `<span class="chip warn">18+</span>`},
		{c.NSFWLocked, `<span class="chip lock" title="18+/safe set by a person"><svg class="ico" viewBox="0 0 16 16" width="11" height="11" aria-hidden="true"><path fill="currentColor" d="M4 7V5a4 4 0 0 1 8 0v2h1v8H3V7h1zm2 0h4V5a2 2 0 0 0-4 0v2z"/></svg></span>`},
		{c.Deleted, `<span class="chip warn">del</span>`},
		{!c.Active, `<span class="chip">inactive</span>`},
		{c.HDID != 0, `<span class="chip">HD</span>`},
		{c.Broken, `<span class="chip warn">broken</span>`},
		{c.OpenJobs != 0, `<span class="chip">job</span>`},
		{c.ScanStale, `<span class="chip warn">scan stale</span>`},
	} {
		if f.on {
			b.WriteString(f.html)
		}
		b.WriteString("\n      ")
	}
	if c.Model != "" {
		b.WriteString(`<span class="chip" title="model">`)
		esc(c.Model)
		b.WriteString(`</span>`)
	}
	b.WriteString("\n      ")
	if c.TagCount != 0 {
		b.WriteString(`<span class="chip">` + strconv.Itoa(c.TagCount) + ` tags</span>`)
	}
	b.WriteString("\n      ")
	if c.HasPrompt {
		b.WriteString(`<span class="chip">prompt</span>`)
	}
	b.WriteString("\n      ")
	if c.Vote != "neutral" {
		b.WriteString(`<span class="chip vote-`)
		esc(c.Vote)
		b.WriteString(`">`)
		esc(c.Vote)
		b.WriteString(`</span>`)
	}
	b.WriteString("\n      ")
	if c.Checked {
		b.WriteString(`<span class="chip">✓</span>`)
	}
	b.WriteString("\n    </div>\n    <div class=\"sub\">ID " + id + " · ")
	esc(c.FileName())
	b.WriteString("</div>\n  </div>\n  <label class=\"select\"><input type=\"checkbox\" class=\"sel\" value=\"" + id +
		"\" aria-label=\"select " + id + "\"></label>\n</article>\n")
}
