package catalog

import (
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/query"
)

// TestSavedQuery: a saved search keeps the URL filters as terms, parses
// back, and names the filters it cannot keep.
func TestSavedQuery(t *testing.T) {
	now := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		params  url.Values
		want    string
		notKept []string
	}{
		{url.Values{"q": {"dragon"}}, "dragon", nil},
		{url.Values{"q": {"a OR b"}, "type": {"image"}}, "(a OR b) type:image", nil},
		{url.Values{"type": {"video"}, "min_rating": {"2"}, "tag": {`say "hi" \ok`}, "broken": {"ok"}, "has_prompt": {"without"}},
			`type:video rating:>=2 tag:"say \"hi\" \ok" -is:broken -has:prompt`, nil},
		{url.Values{"q": {"cat"}, "q_scope": {"prompt"}, "character": {"with"}, "issues": {"1"}}, "cat", []string{"q_scope", "character", "issues"}},
		{url.Values{"vote": {"approved"}, "checked": {"unchecked"}}, "vote:approved -is:checked", nil},
		{url.Values{}, "", nil},
	} {
		f := ParseFilterAt(c.params, true, now)
		got, notKept := f.SavedQuery()
		if got != c.want || !slices.Equal(notKept, c.notKept) {
			t.Errorf("%v: %q %v, want %q %v", c.params, got, notKept, c.want, c.notKept)
		}
		if got != "" {
			n, err := query.Parse(got, query.Options{Now: now})
			if err != nil {
				t.Errorf("%q does not parse: %v", got, err)
			}
			for _, term := range query.Terms(n) {
				if term.Field == "tag" && term.Raw != f.Tag {
					t.Errorf("%q reads back tag %q, want %q", got, term.Raw, f.Tag)
				}
			}
		}
	}
}
