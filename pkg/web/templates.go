package web

import (
	"fmt"
	"html/template"
	"net/url"
	"strconv"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/catalog"
	"github.com/localsupervisor/supervisor/pkg/worddiff"
)

var pageNames = []string{"list", "detail", "dashboard", "login", "refused", "import_confirm", "source_remove", "error", "collections", "collection", "compare", "cull", "dupes"}

// pagePartials are the template files parsed with a page besides
// layout.html and the page's own file.
func pagePartials(page string) []string {
	switch page {
	case "dashboard":
		return []string{"templates/sources.html", "templates/comfy_card.html"}
	}
	return nil
}

func (s *Server) funcs() template.FuncMap {
	return template.FuncMap{
		"t": func(lang, key string, args ...any) string { return s.i18n.T(lang, key, args...) },
		// jsStrings are the page scripts' messages (keys "js.*"), written
		// as JSON into the layout.
		"jsStrings": func(lang string) map[string]string { return s.i18n.prefixed(lang, "js.") },
		"bytes":     fmtBytes,
		"dur":       fmtDur,
		"qset": func(v url.Values, kv ...string) string {
			c := url.Values{}
			for k, vs := range v {
				c[k] = append([]string(nil), vs...)
			}
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i+1] == "" {
					c.Del(kv[i])
				} else {
					c.Set(kv[i], kv[i+1])
				}
			}
			return c.Encode()
		},
		"without": func(v url.Values, k string) string {
			c := url.Values{}
			for kk, vs := range v {
				if kk != k {
					c[kk] = vs
				}
			}
			return c.Encode()
		},
		"cards": renderCards,
		// Whole URLs for href attributes (nav.go): html/template escapes
		// them once; a query string pasted after "?" would be escaped twice.
		"listURL":    listURL,
		"cullURL":    cullURL,
		"mediaURL":   mediaURL,
		"compareURL": compareURL,
		// termURL is the list searching field:"value" (the detail page's
		// model, sampler … link to their siblings).
		"termURL": termURL,
		"jt": func(rows []catalog.JobRow, data map[string]any) map[string]any {
			return map[string]any{"Rows": rows, "Admin": data["Admin"], "CSRF": data["CSRF"], "Lang": data["Lang"]}
		},
		"itoa": func(n int64) string { return strconv.FormatInt(n, 10) },
		// inc numbers from 1 (the review page's keep keys).
		"inc": func(i int) int { return i + 1 },
		// live and outcome are the job center's progress of a running
		// job and summary of a finished import (jobcenter.go).
		"live":    s.live,
		"outcome": s.outcome,
		// warntext says in plain words which items of a job failed.
		"warntext": s.warnText,
		"seq": func(n int) []int {
			out := make([]int, n)
			for i := range out {
				out[i] = i
			}
			return out
		},
		// off is the reason an action needing the service is disabled
		// ("" when the service is on).
		"off": s.offReason,
		// say is a code's sentence ("" for a code without one).
		"say":       func(lang, code string) string { t, _, _ := s.message(lang, code, 0); return t },
		"lower":     strings.ToLower,
		"srcstatus": s.sourceStatus,
		"eqs":       func(a, b string) bool { return a == b },
		"diff":      lineDiff,
		// showws makes a verbatim prompt's invisible characters visible.
		"showws": showWhitespace,
		"sel": func(a, b string) template.HTMLAttr {
			if a == b {
				return "selected"
			}
			return ""
		},
	}
}

func (s *Server) parseTemplates() error {
	s.pages = map[string]*template.Template{}
	for _, p := range pageNames {
		files := append(append([]string{"templates/layout.html"}, pagePartials(p)...), "templates/"+p+".html")
		t, err := template.New("layout").Funcs(s.funcs()).ParseFS(assetsFS, files...)
		if err != nil {
			return fmt.Errorf("parse template %s: %w", p, err)
		}
		s.pages[p] = t
	}
	return nil
}

// DiffLine is one line of a prompt diff.
type DiffLine struct {
	Op   string // "=", "-", "+"
	Text string
}

// lineDiff diffs two texts by comma-separated fragments (prompts are lists of
// fragments more than lines) through worddiff's shortest edit script.
func lineDiff(a, b string) []DiffLine {
	split := func(s string) []string {
		var out []string
		for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' }) {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		return out
	}
	x, y := split(a), split(b)
	out := make([]DiffLine, 0, len(x)+len(y))
	i, j := 0, 0
	for _, op := range worddiff.Ops(x, y) {
		switch op {
		case worddiff.Equal:
			out = append(out, DiffLine{"=", x[i]})
			i++
			j++
		case worddiff.Delete:
			out = append(out, DiffLine{"-", x[i]})
			i++
		case worddiff.Insert:
			out = append(out, DiffLine{"+", y[j]})
			j++
		}
	}
	return out
}

// fmtBytes is a file size in B, KB, MB or GB.
func fmtBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// fmtDur is a duration in seconds as m:ss.
func fmtDur(f float64) string {
	sec := int(f + 0.5)
	return fmt.Sprintf("%d:%02d", sec/60, sec%60)
}

// showWhitespace marks what trimming removes or changes in a prompt as
// written: spaces and tabs at a line's start or end (· and →), carriage
// returns (shown as the two characters \r: every font has them) and line
// ends (↵), so "as written" shows the difference.
func showWhitespace(s string) string {
	lines := strings.Split(s, "\n")
	mark := func(r rune) string {
		switch r {
		case ' ':
			return "·"
		case '\t':
			return "→"
		}
		return string(r)
	}
	for i, l := range lines {
		cr := strings.HasSuffix(l, "\r")
		l = strings.TrimSuffix(l, "\r")
		body := strings.TrimLeft(l, " \t")
		lead := l[:len(l)-len(body)]
		core := strings.TrimRight(body, " \t")
		trail := body[len(core):]
		var b strings.Builder
		for _, r := range lead {
			b.WriteString(mark(r))
		}
		b.WriteString(strings.ReplaceAll(core, "\r", `\r`))
		for _, r := range trail {
			b.WriteString(mark(r))
		}
		if cr {
			b.WriteString(`\r`)
		}
		lines[i] = b.String()
	}
	return strings.Join(lines, "↵\n")
}
