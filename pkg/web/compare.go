package web

import (
	"cmp"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/catalog"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/worddiff"
)

// Compare shows two to four media side by side.
const (
	compareMin = 2
	compareMax = 4
)

// Reason codes of a compare request the page cannot show (each has an
// err.<code> sentence and an err.<code>.next step in the catalogues).
const (
	CodeCompareBadID    = "compare_bad_id"
	CodeCompareTooFew   = "compare_too_few"
	CodeCompareTooMany  = "compare_too_many"
	CodeCompareNotFound = "compare_not_found"
	CodeCompareDeleted  = "compare_deleted"
	CodeCompareAdult    = "compare_adult_hidden"
)

// compareURL is the compare page of ids.
func compareURL(ids ...int64) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.FormatInt(id, 10)
	}
	return "/compare?ids=" + strings.Join(parts, ",")
}

// compareProblem is why a compare request cannot be shown: a reason code,
// the ids it is about, and (when at least two others are fine) the compare
// page without them as the next step.
type compareProblem struct {
	Status int
	Code   string
	Arg    string
	FixURL string
}

// parseCompareIDs reads ids=1,2,3 (repeated ids= too): whole numbers, each
// once, two to four of them.
func parseCompareIDs(values []string) ([]int64, *compareProblem) {
	var ids []int64
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			if part = strings.TrimSpace(part); part == "" {
				continue
			}
			id, ok := parseID(part)
			if !ok {
				return nil, &compareProblem{Status: http.StatusBadRequest, Code: CodeCompareBadID, Arg: truncate(part, 40)}
			}
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	switch {
	case len(ids) < compareMin:
		return nil, &compareProblem{Status: http.StatusBadRequest, Code: CodeCompareTooFew, Arg: strconv.Itoa(len(ids))}
	case len(ids) > compareMax:
		return nil, &compareProblem{Status: http.StatusBadRequest, Code: CodeCompareTooMany, Arg: strconv.Itoa(len(ids)),
			FixURL: compareURL(ids[:compareMax]...)}
	}
	return ids, nil
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// checkCompared refuses ids without a media row, soft-deleted media and
// 18+ media the session hides, naming them; the next step is the compare
// page of the rest when two or more remain.
func checkCompared(ids []int64, cards []catalog.GenCard, adult bool) *compareProblem {
	byID := make(map[int64]catalog.GenCard, len(cards))
	for _, c := range cards {
		byID[c.ID] = c
	}
	var problem *compareProblem
	var bad []string
	var ok []int64
	for _, id := range ids {
		c, found := byID[id]
		var p *compareProblem
		switch {
		case !found:
			p = &compareProblem{Status: http.StatusNotFound, Code: CodeCompareNotFound}
		case c.Deleted:
			p = &compareProblem{Status: http.StatusNotFound, Code: CodeCompareDeleted}
		case c.NSFW && !adult:
			p = &compareProblem{Status: http.StatusForbidden, Code: CodeCompareAdult}
		default:
			ok = append(ok, id)
			continue
		}
		// The first kind of problem is the one reported; every id with
		// that problem is named.
		if problem == nil {
			problem = p
		}
		if p.Code == problem.Code {
			bad = append(bad, "#"+strconv.FormatInt(id, 10))
		}
	}
	if problem == nil {
		return nil
	}
	problem.Arg = strings.Join(bad, ", ")
	if len(ok) >= compareMin {
		problem.FixURL = compareURL(ok...)
	}
	return problem
}

// paramRow is one generation parameter of the compared media: its value in
// each pane, whether they differ, and which panes differ from the first.
type paramRow struct {
	Key    string
	Values []string
	Differ bool
	Ne     []bool
}

// paramRows lists the parameters compared, in the order the table shows
// them; the file's own size and dimensions come last.
func paramRows(cards []catalog.GenCard) []paramRow {
	fields := []struct {
		key string
		val func(c catalog.GenCard) string
	}{
		{"model", func(c catalog.GenCard) string { return c.Gen.Model }},
		{"model_hash", func(c catalog.GenCard) string { return c.Gen.ModelHash }},
		{"sampler", func(c catalog.GenCard) string { return c.Gen.Sampler }},
		{"scheduler", func(c catalog.GenCard) string { return c.Gen.Scheduler }},
		{"steps", func(c catalog.GenCard) string { return fmtInt(c.Gen.Steps) }},
		{"cfg", func(c catalog.GenCard) string { return fmtFloat(c.Gen.CFG) }},
		{"seed", func(c catalog.GenCard) string { return c.Gen.Seed }},
		{"gen_size", func(c catalog.GenCard) string { return fmtSize(fmtInt(c.Gen.Width), fmtInt(c.Gen.Height)) }},
		{"denoise", func(c catalog.GenCard) string { return fmtFloat(c.Gen.Denoise) }},
		{"loras", func(c catalog.GenCard) string { return fmtLoras(c.Gen.Loras) }},
		{"software", func(c catalog.GenCard) string { return c.Gen.Software }},
		{"type", func(c catalog.GenCard) string { return c.Type }},
		{"dims", func(c catalog.GenCard) string {
			d := fmtSize(strconv.FormatInt(c.Width, 10), strconv.FormatInt(c.Height, 10))
			if c.Width == 0 {
				d = ""
			}
			if c.Duration > 0 {
				d = strings.TrimSpace(d + " " + fmtDur(c.Duration))
			}
			return d
		}},
		{"filesize", func(c catalog.GenCard) string { return fmtBytes(c.Filesize) }},
	}
	rows := make([]paramRow, 0, len(fields))
	for _, f := range fields {
		r := paramRow{Key: f.key, Values: make([]string, len(cards)), Ne: make([]bool, len(cards))}
		for i, c := range cards {
			r.Values[i] = f.val(c)
			r.Ne[i] = i > 0 && r.Values[i] != r.Values[0]
			r.Differ = r.Differ || r.Ne[i]
		}
		rows = append(rows, r)
	}
	return rows
}

func fmtInt(v *int64) string {
	if v == nil {
		return ""
	}
	return strconv.FormatInt(*v, 10)
}

func fmtFloat(v *float64) string {
	if v == nil {
		return ""
	}
	return strconv.FormatFloat(*v, 'g', -1, 64)
}

func fmtSize(w, h string) string {
	if w == "" && h == "" {
		return ""
	}
	return w + "×" + h
}

// fmtLoras is the LoRAs by name (case-insensitively: the column is NOCASE)
// with their weights, so the same set reads the same whatever its order.
func fmtLoras(ls []media.GenLora) string {
	parts := make([]string, len(ls))
	for i, l := range ls {
		parts[i] = l.Name
		if l.Weight != nil {
			parts[i] += ":" + fmtFloat(l.Weight)
		}
	}
	slices.SortFunc(parts, func(a, b string) int { return cmp.Compare(strings.ToLower(a), strings.ToLower(b)) })
	return strings.Join(parts, ", ")
}

// comparePane is one compared media with its prompt texts: the first pane's
// as they are, the others' as a word diff against the first.
type comparePane struct {
	catalog.GenCard
	// RefURL is the comparison with this pane as the reference ("" for
	// the first, which is).
	RefURL                 string
	Prompt, Negative       template.HTML
	SamePrompt, SameNeg    bool
	HasPrompt, HasNegative bool
}

func comparePanes(cards []catalog.GenCard) []comparePane {
	panes := make([]comparePane, len(cards))
	ref := cards[0].Prompt
	for i, c := range cards {
		p := &panes[i]
		p.GenCard = c
		if i > 0 {
			ids := []int64{c.ID}
			for _, o := range cards {
				if o.ID != c.ID {
					ids = append(ids, o.ID)
				}
			}
			p.RefURL = compareURL(ids...)
		}
		p.HasPrompt, p.HasNegative = c.Prompt.Prompt != "", c.Prompt.NegativePrompt != ""
		pos, neg := worddiff.Words(ref.Prompt, c.Prompt.Prompt), worddiff.Words(ref.NegativePrompt, c.Prompt.NegativePrompt)
		p.Prompt, p.Negative = worddiff.HTML(pos), worddiff.HTML(neg)
		p.SamePrompt, p.SameNeg = worddiff.Same(pos), worddiff.Same(neg)
	}
	return panes
}

// handleCompare is GET /compare?ids=1,2[,3,4]: the media side by side with
// synced zoom (compare.js), their generation parameters with the
// differences marked and the prompts as word diffs against the first.
// Input it cannot show gets the page with the reason and a next step.
func (s *Server) handleCompare(w http.ResponseWriter, r *http.Request) {
	ids, problem := parseCompareIDs(r.URL.Query()["ids"])
	var cards []catalog.GenCard
	if problem == nil {
		var err error
		if cards, err = catalog.GenCards(r.Context(), s.rdb, ids); err != nil {
			s.failErr(w, r, err)
			return
		}
		problem = checkCompared(ids, cards, info(r).sess.Adult)
	}
	if problem != nil {
		s.compareProblem(w, r, problem)
		return
	}
	s.render(w, r, "compare", map[string]any{"Title": "cmp.title", "Panes": comparePanes(cards), "Params": paramRows(cards),
		"Cols": len(cards)})
}

func (s *Server) compareProblem(w http.ResponseWriter, r *http.Request, p *compareProblem) {
	noteFailure(r, p.Code, nil)
	lang := info(r).lang
	msg := s.i18n.T(lang, "err."+p.Code, p.Arg)
	if wantsJSON(r) {
		writeJSON(w, p.Status, map[string]any{"ok": false, "status": statusWord(p.Status), "reason_code": p.Code, "error": msg})
		return
	}
	data := map[string]any{"Title": "cmp.title", "Problem": p, "Message": msg, "Next": s.i18n.T(lang, "err."+p.Code+".next")}
	if err := s.renderStatus(w, r, p.Status, "compare", data); err != nil {
		s.fail(w, r, http.StatusInternalServerError, CodeInternal, err)
	}
}
