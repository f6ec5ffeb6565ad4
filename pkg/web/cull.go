package web

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/localsupervisor/supervisor/pkg/catalog"
	"github.com/localsupervisor/supervisor/pkg/cull"
	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/library"
)

// Culling mode (pkg/cull): /cull?<list query> walks the list one media at
// a time. The page starts (POST /cull/start) or resumes the unfinished
// pass over the same query; every key is one POST /cull/decide (CSRF,
// audit row); z is POST /cull/undo. The media come page by page from
// /api/media with the list's keyset cursor, starting where the pass's
// last decision left off.

func (s *Server) cullRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /cull", s.handleCullPage)
	mux.HandleFunc("GET /api/cull", s.handleCullState)
	mux.HandleFunc("/cull/start", s.mutating(true, s.handleCullStart))
	mux.HandleFunc("/cull/decide", s.mutating(true, s.handleCullDecide))
	mux.HandleFunc("/cull/undo", s.mutating(true, s.handleCullUndo))
	mux.HandleFunc("/cull/finish", s.mutating(true, s.handleCullFinish))
}

// cullURL is the culling page over the list query list (Encode form).
func cullURL(list string) string {
	if list == "" {
		return "/cull"
	}
	return "/cull?" + list
}

// cullFilter is the list filter of a pass's query string.
func (s *Server) cullFilter(r *http.Request, query string) catalog.Filter {
	v, _ := url.ParseQuery(query)
	f := catalog.ParseFilterAt(v, info(r).admin, s.clock.Now())
	f.Adult = info(r).sess.Adult
	return f
}

// handleCullPage shows the culling page for the list's query; ?new=1 is
// the one-click "new since the last session": the media imported after
// the newest finished pass began (id:>N, an id range), as a redirect so a
// reload keeps the same query and so resumes the same pass.
func (s *Server) handleCullPage(w http.ResponseWriter, r *http.Request) {
	if !s.requireAdminPage(w, r) {
		return
	}
	ctx := r.Context()
	if r.URL.Query().Get("new") == "1" {
		since, err := cull.LastSession(ctx, s.rdb)
		if err != nil {
			s.failErr(w, r, err)
			return
		}
		v := url.Values{"sort": {"oldest"}}
		if since > 0 {
			v.Set("q", "id:>"+strconv.FormatInt(since, 10))
		}
		http.Redirect(w, r, "/cull?"+v.Encode(), http.StatusSeeOther)
		return
	}
	f, _ := s.listParams(r)
	qs := f.Values().Encode()
	var passID int64
	if p, ok, err := cull.Unfinished(ctx, s.rdb, qs); err != nil {
		s.failErr(w, r, err)
		return
	} else if ok {
		passID = p.ID
	}
	s.render(w, r, "cull", map[string]any{"Title": "cull.title", "QS": qs, "PassID": passID, "Chips": f.Chips(),
		"BackURL": listURL(qs), "QueryError": f.QueryErr != nil})
}

// cullState is the JSON answer of every culling request: the pass with
// its counter and where the walk continues (after the cursor; current is
// a media to show first, the one the last decision stayed on).
type cullState struct {
	OK bool `json:"ok"`
	cull.State
	After      string `json:"after"`
	Current    int64  `json:"current,omitempty"`
	Collection string `json:"collection,omitempty"`
	// Undone is the decision an undo reverted.
	Undone *cull.Decision `json:"undone,omitempty"`
}

func (s *Server) cullState(ctx context.Context, r *http.Request, passID int64) (cullState, error) {
	st, err := cull.Load(ctx, s.db, passID)
	if err != nil {
		return cullState{}, err
	}
	out := cullState{OK: true, State: st}
	if last := st.Last; last != nil {
		c, ok, err := catalog.CursorOf(ctx, s.rdb, s.cullFilter(r, st.Pass.Query), last.MediaID)
		if err != nil {
			return cullState{}, err
		}
		if ok {
			out.After = c.String()
			if !last.Advanced {
				out.Current = last.MediaID
			}
		}
	}
	if id := st.Pass.CollectionID; id > 0 {
		err := s.rdb.QueryRowContext(ctx, `SELECT name FROM collections WHERE id = ?`, id).Scan(&out.Collection)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return cullState{}, db.Classify(err)
		}
	}
	return out, nil
}

// passID reads the pass= parameter; a malformed one is a clear 400.
func (s *Server) passID(w http.ResponseWriter, r *http.Request, v string) (int64, bool) {
	id, ok := parseID(v)
	if !ok {
		s.fail(w, r, http.StatusBadRequest, cull.CodeNoPass, nil)
	}
	return id, ok
}

func (s *Server) writeCullState(w http.ResponseWriter, r *http.Request, passID int64, undone *cull.Decision) {
	st, err := s.cullState(r.Context(), r, passID)
	if err != nil {
		s.refuse(w, r, "", err)
		return
	}
	st.Undone = undone
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) handleCullState(w http.ResponseWriter, r *http.Request) {
	if !s.requireAdminPage(w, r) {
		return
	}
	if id, ok := s.passID(w, r, r.URL.Query().Get("pass")); ok {
		s.writeCullState(w, r, id, nil)
	}
}

// handleCullStart starts a pass over query (or answers the unfinished one
// over the same query: a second tab resumes instead of forking). The album
// "c" adds to is the one used last (the newest changed album).
func (s *Server) handleCullStart(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	f := s.cullFilter(r, r.PostFormValue("query"))
	if f.QueryErr != nil {
		s.queryErrorJSON(w, r, f)
		return
	}
	qs := f.Values().Encode()
	p, ok, err := cull.Unfinished(ctx, s.db, qs)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	if !ok {
		total, _, err := s.count(ctx, f)
		if err != nil {
			s.failErr(w, r, err)
			return
		}
		var album int64
		err = s.db.QueryRowContext(ctx, `SELECT id FROM collections WHERE query IS NULL
			ORDER BY COALESCE(updated_at, created_at) DESC, id DESC LIMIT 1`).Scan(&album)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			s.failErr(w, r, db.Classify(err))
			return
		}
		if p, err = cull.Start(ctx, s.db, qs, total, album, s.clock.Now()); err != nil {
			s.failErr(w, r, err)
			return
		}
	}
	s.writeCullState(w, r, p.ID, nil)
}

func (s *Server) cullEnv(r *http.Request) cull.Env {
	return cull.Env{DB: s.db, Roots: library.RootsFromPaths(s.cfg.Paths), Actor: s.actor(r)}
}

// handleCullDecide applies one decision (pass, media_id, action, value).
func (s *Server) handleCullDecide(w http.ResponseWriter, r *http.Request) {
	passID, ok := s.passID(w, r, r.PostFormValue("pass"))
	if !ok {
		return
	}
	id, ok := parseID(r.PostFormValue("media_id"))
	if !ok {
		s.fail(w, r, http.StatusBadRequest, CodeBadRequest, nil)
		return
	}
	if _, err := cull.Decide(r.Context(), s.cullEnv(r), passID, id, r.PostFormValue("action"), r.PostFormValue("value")); err != nil {
		s.refuse(w, r, "", err)
		return
	}
	s.writeCullState(w, r, passID, nil)
}

// handleCullUndo reverts the pass's newest decision in force.
func (s *Server) handleCullUndo(w http.ResponseWriter, r *http.Request) {
	passID, ok := s.passID(w, r, r.PostFormValue("pass"))
	if !ok {
		return
	}
	d, err := cull.Undo(r.Context(), s.cullEnv(r), passID)
	if err != nil {
		s.refuse(w, r, "", err)
		return
	}
	s.writeCullState(w, r, passID, &d)
}

// handleCullFinish closes the pass: its start becomes "the last session".
func (s *Server) handleCullFinish(w http.ResponseWriter, r *http.Request) {
	passID, ok := s.passID(w, r, r.PostFormValue("pass"))
	if !ok {
		return
	}
	if err := cull.Finish(r.Context(), s.db, passID, s.clock.Now()); err != nil {
		s.refuse(w, r, "", err)
		return
	}
	s.writeCullState(w, r, passID, nil)
}
