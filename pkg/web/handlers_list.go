package web

import (
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/localsupervisor/supervisor/pkg/catalog"
	"github.com/localsupervisor/supervisor/pkg/query"
)

// listParams parses filter and paging; adult comes from the session opt-in
// only (the original trusted ?adult=1 from anyone).
func (s *Server) listParams(r *http.Request) (catalog.Filter, catalog.Page) {
	ri := info(r)
	q := r.URL.Query()
	f := catalog.ParseFilterAt(q, ri.admin, s.clock.Now())
	f.Adult = ri.sess.Adult
	pg := catalog.Page{Limit: s.pageSize}
	if c, ok := catalog.ParseCursor(q.Get("after")); ok {
		pg.After = &c
	} else if c, ok := catalog.ParseCursor(q.Get("before")); ok {
		pg.Before = &c
	}
	return f, pg
}

// queryErrorView is a query that cannot be used, for the line under the
// search box: the sentence in the user's language and the query split at
// the error position, so the template marks the place.
type queryErrorView struct {
	Code, Message     string
	Before, At, After string
	Pos               int
}

// queryError words f.QueryErr in lang.
func (s *Server) queryError(lang string, f catalog.Filter) queryErrorView {
	e := f.QueryErr
	msg := s.i18n.T(lang, "err."+e.Code)
	if msg == "err."+e.Code {
		msg = e.Msg
	}
	msg = strings.NewReplacer("{field}", e.Field, "{fields}", strings.Join(query.FieldNames(), ", ")).Replace(msg)
	v := queryErrorView{Code: e.Code, Message: msg, Pos: e.Pos}
	q := f.Q
	pos := min(max(e.Pos, 0), len(q))
	for pos > 0 && !utf8.RuneStart(q[pos]) && pos < len(q) {
		pos--
	}
	v.Before, v.At = q[:pos], " "
	if pos < len(q) {
		_, n := utf8.DecodeRuneInString(q[pos:])
		v.At, v.After = q[pos:pos+n], q[pos+n:]
	}
	return v
}

// queryErrorJSON answers an API request whose query cannot be used: 400
// with the code, the sentence and the byte position.
func (s *Server) queryErrorJSON(w http.ResponseWriter, r *http.Request, f catalog.Filter) {
	v := s.queryError(info(r).lang, f)
	writeJSON(w, http.StatusBadRequest, map[string]any{"ok": false, "status": statusWord(http.StatusBadRequest),
		"reason_code": v.Code, "error": map[string]any{"code": v.Code, "message": v.Message, "position": v.Pos}})
}

// moreFiltersOpen: the filters behind "more filters" (list.html: rarely
// used, and the query language says most of them in the search box) start
// open when one of them is set, so a person sees what narrows the list.
func moreFiltersOpen(f catalog.Filter) bool {
	v := f.Values()
	for _, k := range []string{"has_prompt", "has_meta", "min_rating", "status", "curation", "incomplete", "prompt_quality",
		"deleted", "active", "ai_title", "ai_caption", "broken", "character", "vote", "checked", "low_activity", "dupes", "dupes_sha", "issues"} {
		if v.Has(k) {
			return true
		}
	}
	return false
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	f, pg := s.listParams(r)
	ctx := r.Context()
	now := s.clock.Now().Unix()
	if f.QueryErr != nil {
		// The page with the filters and the error under the search box
		// (no list: the query means nothing yet), as a 400.
		data := map[string]any{
			"Filter": f, "Query": f.Values(), "QS": f.Values().Encode(), "Result": catalog.Result{}, "Chips": f.Chips(),
			"MoreOpen": moreFiltersOpen(f),
			"Title":    "list.title", "QueryError": s.queryError(info(r).lang, f), "Total": 0, "CountKnown": true,
		}
		if err := s.renderStatus(w, r, http.StatusBadRequest, "list", data); err != nil {
			s.failErr(w, r, err)
		}
		return
	}
	res, err := catalog.List(ctx, s.rdb, f, pg, now)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	data := map[string]any{
		"Filter": f, "Query": f.Values(), "QS": f.Values().Encode(), "Result": res, "Chips": f.Chips(), "Title": "list.title",
		"MoreOpen": moreFiltersOpen(f),
		// The facet panel loads after the page (facets.go).
		"FacetsURL": "/api/facets?" + f.Values().Encode(),
		// A saved search opened from the Collections page (collections.go).
		"Saved": s.savedHeading(r, f.Q), "CollNames": s.albumNames(ctx, info(r).admin),
		// The sentence of a form posted from the list (Save search).
		"Msg": s.banner(r),
	}
	// Save search keeps the box's query and the URL filters as one query
	// (catalog.SavedQuery); filters it cannot keep are named beside it.
	// Only admins can save, so only their pages build it.
	if info(r).admin {
		data["SaveQuery"], data["SaveNotKept"] = f.SavedQuery()
	}
	switch {
	case res.Next == nil && res.Prev == nil && f.Page == 1 && f.Jump == nil:
		// Every match is on this page: the count is free.
		data["Total"], data["CountKnown"] = len(res.Cards), true
	case f.Query != nil:
		// A text query for a common word reads the index's whole doclist
		// once per query; counting it again would double the page's time,
		// so the page asks /api/count after it is shown.
		data["CountURL"] = "/api/count?" + f.Values().Encode()
	default:
		total, more, err := s.count(ctx, f)
		if err != nil {
			s.failErr(w, r, err)
			return
		}
		data["Total"], data["TotalMore"], data["CountKnown"] = total, more, true
	}
	// Featureview only on the first grid page, and not while searching: a
	// user looking for a text does not need the least-active media, and it
	// would run the text query a third time.
	if f.View == "grid" && pg.After == nil && pg.Before == nil && f.Page == 1 && f.Query == nil && f.Jump == nil {
		featured, err := catalog.Featured(ctx, s.rdb, f, 4, now)
		if err != nil {
			s.failErr(w, r, err)
			return
		}
		data["Featured"] = featured
	}
	if res.Next != nil {
		data["NextCursor"] = res.Next.String()
	}
	if res.Prev != nil {
		data["PrevCursor"] = res.Prev.String()
	}
	data["CompareGroup"] = dupeGroupCompare(f, res.Cards)
	s.render(w, r, "list", data)
}

// dupeGroupCompare is the compare page of a duplicate group's first media
// ("" unless the list is one group, dupe_sha= or dupe_hash=, of two or more).
func dupeGroupCompare(f catalog.Filter, cards []catalog.Card) string {
	if (f.DupeSHA == "" && f.DupeHash == "") || len(cards) < compareMin {
		return ""
	}
	ids := make([]int64, 0, compareMax)
	for _, c := range cards[:min(len(cards), compareMax)] {
		ids = append(ids, c.ID)
	}
	return compareURL(ids...)
}

// handleCountJSON counts the matches of a list filter (up to the cap) for
// pages that show their cards first (text queries).
func (s *Server) handleCountJSON(w http.ResponseWriter, r *http.Request) {
	f, _ := s.listParams(r)
	if f.QueryErr != nil {
		s.queryErrorJSON(w, r, f)
		return
	}
	total, more, err := s.count(r.Context(), f)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	text := s.i18n.T(info(r).lang, "list.count", total)
	if more {
		text += "+"
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "total": total, "more": more, "text": text})
}

// cardJSON is the JSON form of a card for infinite scroll.
type cardJSON struct {
	ID     int64  `json:"id"`
	Title  string `json:"title"`
	Name   string `json:"name"` // the file name a person knows (Card.FileName)
	Type   string `json:"type"`
	Width  int64  `json:"width"`
	Height int64  `json:"height"`
	Rating int    `json:"rating"`
	NSFW   bool   `json:"nsfw"`
	Locked bool   `json:"nsfw_locked"`
	// ARClass sizes the card in the justified grid (arClass).
	ARClass  string `json:"ar_class,omitempty"`
	Vote     string `json:"vote"`
	Tags     int    `json:"tags"`
	Prompt   bool   `json:"has_prompt"`
	Deleted  bool   `json:"deleted"`
	ThumbURL string `json:"thumb_url"`
	ViewURL  string `json:"view_url"`
}

// handleListJSON serves the next page for infinite scroll.
func (s *Server) handleListJSON(w http.ResponseWriter, r *http.Request) {
	f, pg := s.listParams(r)
	if f.QueryErr != nil {
		s.queryErrorJSON(w, r, f)
		return
	}
	res, err := catalog.List(r.Context(), s.rdb, f, pg, s.clock.Now().Unix())
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	resp := map[string]any{"ok": true, "items": cardsJSON(res.Cards, f.Values().Encode())}
	if res.Next != nil {
		resp["next"] = res.Next.String()
	}
	writeJSON(w, http.StatusOK, resp)
}
