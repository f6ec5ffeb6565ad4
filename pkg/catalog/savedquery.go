package catalog

import (
	"strconv"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/query"
)

// SavedQuery is the list's current search as one query of the query
// language: the search box's q joined with the URL filters that have a
// query term (type, min_rating, tag, status, curation, broken, has_prompt,
// has_meta, ai_caption, deleted, vote, checked). A saved search stores
// this text, so opening it later gives the same list. notKept names the
// active filters the language cannot say yet (the page tells the person
// before they save). An empty text means there is nothing to save.
func (f Filter) SavedQuery() (text string, notKept []string) {
	var terms []string
	add := func(t string) { terms = append(terms, t) }
	if f.Type == "image" || f.Type == "video" {
		add("type:" + f.Type)
	}
	if f.MinRating > 0 {
		add("rating:>=" + strconv.Itoa(f.MinRating))
	}
	if f.Tag != "" {
		add("tag:" + query.Quote(f.Tag))
	}
	if f.Status != "all" {
		add("status:" + f.Status)
	}
	if f.Curation != "all" {
		add("curation:" + f.Curation)
	}
	withWithout := func(val, term string) {
		switch val {
		case "with", "broken", "checked":
			add(term)
		case "without", "ok", "unchecked":
			add("-" + term)
		}
	}
	withWithout(f.Broken, "is:broken")
	withWithout(f.HasPrompt, "has:prompt")
	withWithout(f.HasMeta, "has:meta")
	withWithout(f.AICaption, "has:caption")
	if f.Deleted == "only_deleted" {
		add("is:deleted")
	}
	if f.Internal {
		if f.Vote != "all" {
			add("vote:" + f.Vote)
		}
		withWithout(f.Checked, "is:checked")
	}
	for _, c := range []struct {
		param string
		on    bool
	}{
		{"q_scope", f.Q != "" && f.QScope != "any"},
		{"ai_title", f.AITitle != "all"},
		{"character", f.Character != "all"},
		{"incomplete", f.Incomplete != "none"},
		{"prompt_quality", f.PromptQuality != "all"},
		{"active", f.Active != "all"},
		{"deleted", f.Deleted == "all"},
		{"dupes", f.Dupes || f.DupeHash != ""},
		{"dupes_sha", f.DupesSHA || f.DupeSHA != ""},
		{"issues", f.Issues},
		{"low_activity", f.Internal && f.LowActivity != "all"},
	} {
		if c.on {
			notKept = append(notKept, c.param)
		}
	}
	q := strings.TrimSpace(f.Q)
	if q != "" && len(terms) > 0 && f.Query != nil {
		// The box's own query keeps its meaning next to the terms.
		if _, isOr := f.Query.(*query.Or); isOr {
			q = "(" + q + ")"
		}
	}
	return strings.TrimSpace(strings.Join(append([]string{q}, terms...), " ")), notKept
}
