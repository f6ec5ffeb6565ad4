package web

import (
	"net/http"
	"strconv"

	"github.com/localsupervisor/supervisor/pkg/dupes"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

// Duplicate review (issue #20, pkg/dupes): /dupes shows one group of the
// last rebuild (the page's "Look for duplicates now" job or `dupes
// rebuild`) side by side; keep this (1–9) resolves it (merge
// into the kept media, soft-delete the rest), keep all (a) and not
// duplicates (n) remember the group so it never comes back, next (→)
// skips it. Every decision is one CSRF POST with an audit row; the page
// then moves to the following group.

func (s *Server) dupesRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /dupes", s.handleDupesPage)
	mux.HandleFunc("/dupes/resolve", s.mutating(true, s.handleDupesResolve))
	mux.HandleFunc("/dupes/dismiss", s.mutating(true, s.handleDupesDismiss))
	mux.HandleFunc("/dupes/rebuild", s.mutating(true, s.handleDupesRebuild))
}

// dupesURL is the review page from the group after after.
func dupesURL(tier string, after int64) string {
	u := "/dupes?after=" + strconv.FormatInt(after, 10)
	if tier != "" {
		u += "&tier=" + tier
	}
	return u
}

func (s *Server) handleDupesPage(w http.ResponseWriter, r *http.Request) {
	if !s.requireAdminPage(w, r) {
		return
	}
	q := r.URL.Query()
	tier := q.Get("tier")
	if tier != "" && !dupes.ValidTier(tier) {
		tier = ""
	}
	after, _ := strconv.ParseInt(q.Get("after"), 10, 64)
	groups, err := dupes.ListAfter(r.Context(), s.rdb, tier, max(after, 0), 1)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	data := map[string]any{"Title": "dupes.title", "Tier": tier, "Msg": s.banner(r)}
	if len(groups) == 1 {
		g := groups[0]
		data["Group"] = g
		data["NextURL"] = dupesURL(tier, g.ID)
		ids := make([]int64, 0, compareMax)
		for _, m := range g.Members[:min(len(g.Members), compareMax)] {
			ids = append(ids, m.ID)
		}
		data["CompareURL"] = compareURL(ids...)
	}
	s.render(w, r, "dupes", data)
}

// handleDupesResolve keeps keep and discards discard (comma-separated).
func (s *Server) handleDupesResolve(w http.ResponseWriter, r *http.Request) {
	keep, ok := parseID(r.PostFormValue("keep"))
	if !ok {
		s.fail(w, r, http.StatusBadRequest, CodeBadRequest, nil)
		return
	}
	p, err := dupes.Resolve(r.Context(), s.db, keep, splitIDs(r.PostFormValue("discard")), dupes.ResolveOptions{Actor: s.actor(r)})
	if err != nil {
		s.refuse(w, r, "", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "plan": p})
}

// handleDupesDismiss remembers ids as not duplicates (action
// not_duplicates) or as copies all kept (keep_all).
func (s *Server) handleDupesDismiss(w http.ResponseWriter, r *http.Request) {
	action := dupes.ActionNotDuplicates
	if r.PostFormValue("action") == "keep_all" {
		action = dupes.ActionKeepAll
	}
	if err := dupes.NotDuplicates(r.Context(), s.db, parseIDs(r), action, s.actor(r)); err != nil {
		s.refuse(w, r, "", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

// handleDupesRebuild queues a dupes_rebuild job (one at a time) and starts
// media-worker fire-and-forget, so a person finds new groups without the
// CLI; the page says so and shows them once the job is done.
func (s *Server) handleDupesRebuild(w http.ResponseWriter, r *http.Request) {
	if s.jobs == nil {
		s.refuse(w, r, "/dupes", reason.New("jobs_unavailable", "job queue not configured"))
		return
	}
	er, err := s.jobs.Enqueue(r.Context(), jobs.EnqueueRequest{Type: jobs.TypeDupesRebuild, DedupeKey: dupes.RebuildDedupeKey})
	if err != nil {
		s.refuse(w, r, "/dupes", err)
		return
	}
	spawn := s.spawn(r.Context(), "media-worker", nil)
	s.invalidateDashboard()
	s.answer(w, r, "/dupes", "dupes_rebuild_queued", er.JobID, map[string]any{"job_id": er.JobID, "spawn": spawn})
}
