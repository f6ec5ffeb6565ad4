package web

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/localsupervisor/supervisor/pkg/bulk"
	"github.com/localsupervisor/supervisor/pkg/catalog"
	"github.com/localsupervisor/supervisor/pkg/collections"
	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

// The bulk bar (static/bulk.js) posts one action for a selection to
// /media/bulk: ids=1,2,3 (a hand-made selection) or select=all with
// query=<the list's URL query> ("select all N matching": the server
// resolves the query with the list's own filter, the browser sends no
// ids). Small hand-made selections are applied inside the request; larger
// ones and every select-all become a media_bulk job that media-worker
// runs in chunks (pkg/bulk), started fire-and-forget like every web job,
// its progress read from /api/bulk.

// inRequestActions are the single-media actions a small selection applies
// one media at a time through doAction (their own audit rows, spawns and
// service wiring); the rest of the bulk actions (database only) run
// through pkg/bulk in the request, as the job runs them.
var inRequestActions = []string{"vote_set", bulk.ActNSFW, bulk.ActHardDelete, bulk.ActRescan, bulk.ActOllamaAnalyze, bulk.ActForgeRegen}

// bulkAction reads the action and its value from the form (the field
// names of /media/action).
func (s *Server) bulkAction(ctx context.Context, r *http.Request) (bulk.Action, error) {
	a := bulk.Action{Name: r.PostFormValue("action"), Tag: r.PostFormValue("tag_name"), TagType: r.PostFormValue("tag_type"),
		Mode: r.PostFormValue("mode"), Recipe: r.PostFormValue("recipe"), Confirmed: r.PostFormValue("confirm") == "1"}
	if a.Name == bulk.ActRate {
		n, err := strconv.Atoi(r.PostFormValue("rating"))
		if err != nil {
			return a, reason.New(bulk.CodeBadValue, "choose a rating 0 to 3")
		}
		a.Rating = n
	}
	a.On = r.PostFormValue("nsfw_value") == "1" || r.PostFormValue("checked_value") == "1"
	if a.Name != bulk.ActCollAdd && a.Name != bulk.ActCollRemove {
		return a, a.Validate()
	}
	// The album by id or by the name typed in the bar; "add" to a new
	// name creates it, as the collection endpoint does.
	var c collections.Collection
	var err error
	if a.Name == bulk.ActCollAdd {
		c, _, err = s.addTarget(ctx, r, s.actor(r))
	} else {
		c, err = s.target(ctx, r)
	}
	if err != nil {
		return a, err
	}
	if c.Saved {
		return a, reason.Newf(collections.CodeNotManual, "%q is a saved search", c.Name)
	}
	a.Collection = c.ID
	return a, nil
}

// bulkSelection reads the selection: the ids, or the list query of a
// select-all (resolved like the list page: admin, the session's 18+ opt-in,
// now). It returns the number of matching media for a select-all (the
// list's capped count) so an empty one is refused before any job exists.
func (s *Server) bulkSelection(ctx context.Context, r *http.Request, req *bulk.Request) (count int, err error) {
	now := s.clock.Now()
	req.At = now.Unix()
	if r.PostFormValue("select") != "all" {
		req.IDs = parseIDs(r)
		req.Normalize()
		return len(req.IDs), nil
	}
	v, perr := url.ParseQuery(r.PostFormValue("query"))
	if perr != nil {
		return 0, reason.New(bulk.CodeBadQuery, "the search of the selection cannot be read")
	}
	f := catalog.ParseFilterAt(v, true, now)
	f.Adult = info(r).sess.Adult
	if f.QueryErr != nil {
		return 0, queryErr{f}
	}
	req.All, req.Adult, req.Query = true, f.Adult, f.Values().Encode()
	if req.UpTo, err = catalog.MaxMediaID(ctx, s.rdb); err != nil {
		return 0, err
	}
	n, _, err := catalog.Count(ctx, s.rdb, f, req.At)
	return n, err
}

// queryErr carries an unusable list query to the answer (queryErrorJSON:
// its code, sentence and position).
type queryErr struct{ f catalog.Filter }

func (e queryErr) Error() string { return "query: " + e.f.QueryErr.Msg }

// handleBulk applies one action to a selection (see above).
func (s *Server) handleBulk(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	name := r.PostFormValue("action")
	if name != "vote_set" && !bulk.Known(name) {
		s.refuse(w, r, "", reason.Newf(bulk.CodeUnknownAction, "unknown bulk action %q", name))
		return
	}
	// A service switched off refuses its action with the single-media
	// action's sentence, before anything is queued.
	if svc, _ := bulk.Needs(name); svc != "" {
		if err := s.serviceOff(svc); err != nil {
			s.refuse(w, r, "", err)
			return
		}
	}
	// The selection before the action: an album named for "add" is
	// created only for a selection that is not empty.
	req := bulk.Request{ActorIP: info(r).clientIP, ActorKey: s.actor(r).Key}
	count, err := s.bulkSelection(ctx, r, &req)
	var qe queryErr
	switch {
	case errors.As(err, &qe):
		s.queryErrorJSON(w, r, qe.f)
		return
	case err != nil:
		s.refuse(w, r, "", err)
		return
	case count == 0:
		s.refuse(w, r, "", reason.New(bulk.CodeEmptySelection, "nothing is selected"))
		return
	}
	if name == "vote_set" {
		// A vote toggles per media: it stays a hand-made, in-request action.
		if req.Big() {
			s.refuse(w, r, "", reason.Newf(bulk.CodeTooManyIDs, "vote on at most %d media at once", bulk.InRequestMax))
			return
		}
	} else {
		if req.Action, err = s.bulkAction(ctx, r); err == nil {
			err = req.Validate()
		}
		if err != nil {
			s.refuse(w, r, "", err)
			return
		}
	}
	if req.Big() {
		s.startBulkJob(w, r, req, count)
		return
	}
	if slices.Contains(inRequestActions, name) {
		s.bulkEach(w, r, name, req.IDs)
		return
	}
	svc := &bulk.Service{DB: s.db, Clock: s.clock}
	st, err := svc.Run(ctx, &bulk.Payload{Request: req}, nil)
	if err != nil {
		s.refuse(w, r, "", err)
		return
	}
	s.invalidateDashboard()
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "action": name, "done": st.Done, "skipped": st.Skipped, "skips": st.Skips})
}

// bulkEach applies a single-media action to each id of a small selection.
func (s *Server) bulkEach(w http.ResponseWriter, r *http.Request, action string, ids []int64) {
	done, failed := 0, 0
	var lastErr error
	for _, id := range ids {
		if _, err := s.doAction(r.Context(), r, action, id); err != nil {
			failed++
			lastErr = err
			if db.IsBusy(err) {
				break
			}
			continue
		}
		done++
	}
	if lastErr != nil && done == 0 {
		s.refuse(w, r, "", lastErr)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "action": action, "done": done, "failed": failed})
}

// startBulkJob queues the media_bulk job and starts media-worker
// fire-and-forget; the answer names the job whose progress /api/bulk
// reports.
func (s *Server) startBulkJob(w http.ResponseWriter, r *http.Request, req bulk.Request, count int) {
	if s.jobs == nil {
		s.refuse(w, r, "", reason.New("jobs_unavailable", "job queue not configured"))
		return
	}
	er, err := s.jobs.Enqueue(r.Context(), jobs.EnqueueRequest{Type: jobs.TypeMediaBulk, Payload: bulk.Payload{Request: req}})
	if err != nil {
		s.refuse(w, r, "", err)
		return
	}
	spawn := s.spawn(r.Context(), "media-worker", nil)
	s.invalidateDashboard()
	msg, _, _ := s.message(info(r).lang, "bulk_queued", er.JobID)
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "action": req.Action.Name, "job_id": er.JobID, "count": count,
		"spawn": spawn, "progress_url": "/api/bulk?job=" + strconv.FormatInt(er.JobID, 10), "message": msg, "message_code": "bulk_queued"})
}

// handleBulkProgress reports a media_bulk job: status, done of total (the
// job's progress), and at the end its counts or its error in plain words.
func (s *Server) handleBulkProgress(w http.ResponseWriter, r *http.Request) {
	if !s.requireAdminPage(w, r) {
		return
	}
	id, ok := parseID(r.URL.Query().Get("job"))
	if !ok {
		s.fail(w, r, http.StatusBadRequest, CodeBadRequest, nil)
		return
	}
	var status string
	var bits, total sql.NullInt64
	var result, code, msg sql.NullString
	err := s.rdb.QueryRowContext(r.Context(), `SELECT status, progress_bits, progress_bits_total, result_json, last_error_code, error_message
		FROM jobs WHERE id = ? AND type = ?`, id, jobs.TypeMediaBulk).Scan(&status, &bits, &total, &result, &code, &msg)
	if errors.Is(err, sql.ErrNoRows) {
		s.fail(w, r, http.StatusNotFound, jobs.CodeNotFound, nil)
		return
	}
	if err != nil {
		s.failErr(w, r, db.Classify(err))
		return
	}
	lang := info(r).lang
	out := map[string]any{"ok": true, "job_id": id, "status": status, "done": bits.Int64, "total": total.Int64,
		"finished": status == jobs.StatusDone || status == jobs.StatusError || status == jobs.StatusCancelled}
	out["text"] = s.i18n.T(lang, "jobs.progress_batch", bits.Int64, total.Int64)
	var res bulk.Result
	switch {
	case status == jobs.StatusDone && json.Unmarshal([]byte(result.String), &res) == nil:
		out["changed"], out["skipped"], out["skips"] = res.Done, res.Skipped, res.Skips
		out["text"] = s.i18n.T(lang, "bulk.finished", res.Done, res.Skipped)
	case status == jobs.StatusError || status == jobs.StatusCancelled:
		out["reason_code"] = code.String
		text, _, known := s.message(lang, code.String, id)
		if !known {
			text = msg.String
		}
		out["text"] = s.i18n.T(lang, "bulk.stopped", text)
	}
	writeJSON(w, http.StatusOK, out)
}
