package web

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/catalog"
	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/library"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

// parseID accepts 1..1e9 as the original did.
func parseID(s string) (int64, bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	return n, err == nil && n >= 1 && n <= 1_000_000_000
}

func (s *Server) handleDetail(w http.ResponseWriter, r *http.Request) {
	id, ok := parseID(r.URL.Query().Get("id"))
	if !ok {
		s.fail(w, r, http.StatusBadRequest, CodeBadRequest, nil)
		return
	}
	ctx := r.Context()
	ri := info(r)
	d, err := catalog.LoadDetail(ctx, s.rdb, id)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	if d.Media.NSFW && !ri.sess.Adult {
		s.fail(w, r, http.StatusForbidden, CodeAdultHidden, nil)
		return
	}
	if !ri.admin {
		s.hideServerPaths(d)
	}
	f, _ := s.listParams(r)
	now := s.clock.Now()
	prev, next, err := catalog.Neighbours(ctx, s.rdb, f, id, now.Unix())
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	if ri.admin {
		// One counter row per media instead of an appended meta row per
		// view, written in batches by Run: the page never waits for the
		// write lock.
		s.clicks.add(id, now.Unix())
	}
	variant := r.URL.Query().Get("variant")
	showID := id
	if d.Lineage.Preferred > 0 && variant != "parent" {
		showID = d.Lineage.Preferred
	}
	var sections []template.HTML
	for _, sec := range s.sections {
		h, err := sec(ctx, r, id)
		if err != nil {
			s.log.Warn().Err(err).Int64("media_id", id).Msg("detail section failed")
			continue
		}
		sections = append(sections, h)
	}
	// The family graph and the duplicates are extras: when they cannot be
	// read the page shows without them.
	lin, err := s.lineage(ctx, ri.lang, id, ri.sess.Adult)
	if err != nil {
		s.log.Warn().Err(err).Int64("media_id", id).Msg("lineage not loaded")
	}
	dupes, err := s.duplicates(ctx, d, ri.sess.Adult)
	if err != nil {
		s.log.Warn().Err(err).Int64("media_id", id).Msg("duplicates not loaded")
	}
	var diffs [][]DiffLine
	for i := 0; i+1 < len(d.History) && i < 5; i++ {
		diffs = append(diffs, lineDiff(d.History[i+1].Prompt, d.History[i].Prompt))
	}
	// The list's filter, sort and query travel with every link and form of
	// the page, so prev/next, "back to list" and the redirect after an
	// action stay in the list the person came from.
	qs := f.Values().Encode()
	backURL := listURL(qs)
	if a, ok := s.albumContext(ctx, r, id); ok {
		// Opened from an album: prev/next and "back" stay in the album.
		prev, next, qs, backURL = a.prev, a.next, a.qs, a.back
	}
	s.render(w, r, "detail", map[string]any{"BackURL": backURL,
		"D": d, "M": d.Media, "Prev": prev, "Next": next, "QS": qs, "SelfURL": mediaURL(id, qs), "ShowID": showID,
		"Variant": variant, "Sections": sections, "Diffs": diffs, "Msg": s.banner(r),
		"DisplayTitle": d.DisplayTitle(), "Title": "detail.title",
		"CanRate": s.mayPost(r, "rate"), "CanVote": s.mayPost(r, "vote_set"),
		"Coll": s.mediaCollections(ctx, id, ri.admin), "Lineage": lin, "Dupes": dupes,
	})
}

// CodeUpscaleNotImage: upscale was asked for a video.
const CodeUpscaleNotImage = "upscale_not_image"

// mayPost reports whether the request may post a media action: admins
// any, other sessions (with a valid CSRF token) only the actions
// security.public_media_actions opens (default: vote_set; the original
// let anyone vote but nobody else change anything).
func (s *Server) mayPost(r *http.Request, action string) bool {
	return info(r).admin || slices.Contains(s.cfg.Security.PublicMediaActions, action)
}

// actionResult is the JSON answer of a media action.
type actionResult struct {
	OK      bool   `json:"ok"`
	Action  string `json:"action"`
	MediaID int64  `json:"media_id"`
	// Message is the feedback sentence in the user's language, MessageCode
	// its catalogue code.
	Message     string `json:"message,omitempty"`
	MessageCode string `json:"message_code,omitempty"`
	// Spawn is the launcher's status of the worker started for a job.
	Spawn  string `json:"spawn,omitempty"`
	JobID  int64  `json:"job_id,omitempty"`
	Status string `json:"status,omitempty"`
	Value  any    `json:"value,omitempty"`
}

// handleMediaAction executes one POSTed action on one media (the forms of the
// detail page and the list cards; JSON for fetch callers, redirect otherwise).
func (s *Server) handleMediaAction(w http.ResponseWriter, r *http.Request) {
	action := r.PostFormValue("action")
	id, ok := parseID(r.PostFormValue("media_id"))
	if !ok || action == "" {
		s.fail(w, r, http.StatusBadRequest, CodeBadRequest, nil)
		return
	}
	if qid := r.URL.Query().Get("id"); qid != "" && qid != strconv.FormatInt(id, 10) {
		s.fail(w, r, http.StatusBadRequest, CodeBadRequest, nil)
		return
	}
	if !s.mayPost(r, action) {
		s.securityLog(r, "admin_required", CodeAuthRequired)
		s.fail(w, r, http.StatusForbidden, CodeAuthRequired, nil)
		return
	}
	// The detail page posts to its own URL, which carries the list's
	// filter (nav.go): the page after the action keeps it.
	list, _ := s.listParams(r)
	target := mediaURL(id, list.Values().Encode())
	if action == "hard_delete" {
		target = listURL(list.Values().Encode())
	}
	target = safeRedirect(r.PostFormValue("back"), target)
	res, err := s.doAction(r.Context(), r, action, id)
	if err != nil {
		// Status and sentence: the page's own buttons never send a
		// refused request (a switched-off service's are disabled).
		s.refuse(w, r, "", err)
		return
	}
	code := mediaActionCode(action, res)
	res.OK, res.Action, res.MediaID = true, action, id
	res.MessageCode = code
	res.Message, _, _ = s.message(info(r).lang, code, res.JobID)
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, res)
		return
	}
	http.Redirect(w, r, feedbackURL(target, code, res.JobID), http.StatusSeeOther)
}

// mediaActionCode is the feedback code of a successful media action: what
// was queued (and for which worker), or that it was saved.
func mediaActionCode(action string, res actionResult) string {
	if res.Status == "deduped" {
		return "job_already_queued"
	}
	switch action {
	case "rescan_job":
		return "rescan_queued"
	case "upscale":
		return "upscale_queued"
	case "ollama_analyze":
		return "analyze_queued"
	case "forge_regen":
		return "forge_queued"
	case "hard_delete":
		return "media_deleted"
	}
	return "saved"
}

func (s *Server) audit(ctx context.Context, r *http.Request, action string, id int64, details map[string]any) {
	a := s.actor(r)
	if err := media.Audit(ctx, s.db, media.AuditEntry{Action: action, EntityType: "media", EntityID: id,
		Details: details, ActorIP: a.IP, ActorKey: a.Key, At: a.At}); err != nil {
		s.log.Warn().Err(err).Str("action", action).Msg("audit not written")
	}
}

func (s *Server) doAction(ctx context.Context, r *http.Request, action string, id int64) (actionResult, error) {
	now := s.clock.Now()
	m, err := catalog.Get(ctx, s.rdb, id)
	if err != nil {
		return actionResult{}, err
	}
	var res actionResult
	switch action {
	case "vote_set":
		v := r.PostFormValue("vote_status")
		if v != "neutral" && v != "approved" && v != "rejected" {
			return res, reason.New(CodeBadRequest, "invalid vote")
		}
		if v == m.Vote { // requesting the current value toggles back to neutral
			v = "neutral"
		}
		_, err = s.db.ExecContext(ctx, "UPDATE media SET status_vote = ? WHERE id = ?", v, id)
		res.Value = v
	case "rate":
		n, perr := strconv.Atoi(r.PostFormValue("rating"))
		if perr != nil || n < 0 || n > 3 {
			return res, reason.New(CodeBadRequest, "invalid rating")
		}
		err = media.SetRating(ctx, s.db, id, n)
		res.Value = n
	case "checked_toggle":
		v := "0"
		if r.PostFormValue("checked_value") == "1" {
			v = "1"
		}
		err = db.InTx(ctx, s.db, func(tx *sql.Tx) error { return media.SetChecked(ctx, tx, id, v == "1", now) })
		res.Value = v
	case "title_set":
		t := strings.TrimSpace(r.PostFormValue("title_value"))
		if rs := []rune(t); len(rs) > 200 {
			t = string(rs[:200])
		}
		if t == "" {
			err = media.DeleteMeta(ctx, s.db, id, "title.override")
		} else {
			_, err = media.SetMeta(ctx, s.db, id, "web", "title.override", t, now)
		}
	case "title_clear":
		err = media.DeleteMeta(ctx, s.db, id, "title.override")
	case "active_toggle":
		_, err = s.db.ExecContext(ctx, "UPDATE media SET is_active = CASE is_active WHEN 1 THEN 0 ELSE 1 END WHERE id = ?", id)
	case "toggle_nsfw":
		want := r.PostFormValue("nsfw_value") == "1"
		var p string
		p, err = media.SetNSFW(ctx, s.db, library.RootsFromPaths(s.cfg.Paths), id, want, now)
		_ = p // the new path is never shown to the client
		res.Value = want
	case "nsfw_unlock":
		// Lifts a person's 18+/safe lock; the next automatic verdict
		// (rescan, Ollama) decides again. Nothing moves now.
		res.Value, err = media.UnlockNSFW(ctx, s.db, id, now)
	case "tag_add", "tag_remove", "tag_lock", "tag_unlock":
		err = s.tagAction(ctx, r, action, id)
	case "rescan_job":
		// A rescan is a tag rescan: without the tagger it can only fail.
		if err := s.serviceOff(ServiceTagger); err != nil {
			return res, err
		}
		res, err = s.enqueue(ctx, jobs.TypeRescanMedia, id, map[string]any{"media_id": id, "source": "web"}, "scan-worker")
	case "upscale":
		if m.Type != "image" {
			return res, reason.New(CodeUpscaleNotImage, "only images can be upscaled")
		}
		res, err = s.enqueue(ctx, jobs.TypeUpscale, id, map[string]any{"media_id": id, "source": "web"}, "media-worker")
	case "forge_regen":
		if err := s.serviceOff(ServiceForge); err != nil {
			return res, err
		}
		// Planned like the Forge panel (pkg/web/forge.go): a raw payload
		// would reach the worker without prompt plan or model resolution.
		res, err = s.forgeRegenAction(ctx, r, id)
	case "ollama_analyze":
		if err := s.serviceOff(ServiceOllama); err != nil {
			return res, err
		}
		// Ollama jobs are run by ollama-service (ollama-worker is its
		// one-job child): enqueue and autostart exactly as the Ollama
		// pages do, for THIS media only (the original enqueued the library).
		if s.ollamaAnalyze == nil {
			return res, reason.New("ollama_unavailable", "Ollama is not wired into this server")
		}
		res, err = s.ollamaAnalyze(ctx, id, cmp.Or(r.PostFormValue("mode"), "caption"))
	case "soft_delete":
		err = media.SoftDelete(ctx, s.db, id, now)
	case "restore_media":
		err = media.Restore(ctx, s.db, id)
	case "hard_delete":
		if r.PostFormValue("confirm") != "1" {
			return res, reason.New("confirmation_required", "hard delete needs confirm=1")
		}
		var removed bool
		removed, err = media.HardDelete(ctx, s.db, s.roots, id, now)
		if err == nil {
			if p, ok := s.thumbs.(interface{ Purge(id int64) error }); ok {
				if perr := p.Purge(id); perr != nil {
					s.log.Warn().Err(perr).Int64("media_id", id).Msg("thumbnail purge failed")
				}
			}
		}
		res.Value = removed
	default:
		return res, reason.New("unknown_action", "unknown action")
	}
	if err != nil {
		return res, err
	}
	s.audit(ctx, r, action, id, map[string]any{"value": res.Value, "job_id": res.JobID})
	return res, nil
}

func (s *Server) tagAction(ctx context.Context, r *http.Request, action string, id int64) error {
	name := strings.TrimSpace(r.PostFormValue("tag_name"))
	typ := strings.TrimSpace(r.PostFormValue("tag_type"))
	if typ == "" {
		typ = media.DefaultTagType
	}
	if name == "" || len(name) > 200 || len(typ) > 100 {
		return reason.New(CodeBadRequest, "invalid tag")
	}
	if action == "tag_add" {
		conf := 1.0
		if c, err := strconv.ParseFloat(r.PostFormValue("tag_confidence"), 64); err == nil && c >= 0 && c <= 1 {
			conf = c
		}
		_, err := media.AddTag(ctx, s.db, id, name, typ, conf, r.PostFormValue("tag_lock_flag") == "1")
		return err
	}
	var tagID int64
	err := s.db.QueryRowContext(ctx, "SELECT id FROM tags WHERE name = ? AND type = ?", name, typ).Scan(&tagID)
	if errors.Is(err, sql.ErrNoRows) {
		return reason.New(CodeBadRequest, "unknown tag")
	}
	if err != nil {
		return fmt.Errorf("find tag: %w", db.Classify(err))
	}
	switch action {
	case "tag_remove":
		return media.RemoveTag(ctx, s.db, id, tagID)
	case "tag_lock":
		return media.LockTag(ctx, s.db, id, tagID, true)
	default:
		return media.LockTag(ctx, s.db, id, tagID, false)
	}
}

// enqueue inserts a job for one media and starts its worker fire-and-forget.
func (s *Server) enqueue(ctx context.Context, typ string, id int64, payload map[string]any, worker string) (actionResult, error) {
	if s.jobs == nil {
		return actionResult{}, reason.New("jobs_unavailable", "job queue not configured")
	}
	mid := id
	er, err := s.jobs.Enqueue(ctx, jobs.EnqueueRequest{Type: typ, MediaID: &mid, Payload: payload})
	if err != nil {
		return actionResult{}, err
	}
	res := actionResult{JobID: er.JobID, Status: "queued"}
	if er.Deduped {
		res.Status = "deduped"
	}
	res.Spawn = s.spawn(ctx, worker, nil)
	return res, nil
}

// spawn starts a worker when web spawning is enabled; it never blocks on the
// worker and reports the launcher's status word.
func (s *Server) spawn(ctx context.Context, worker string, args []string) string {
	return s.spawnFor(ctx, worker, workerService(worker), args)
}

// spawnFor is spawn for work that needs service svc ("": none the web
// gates), for a worker that runs more than its own service's jobs
// (forge-worker also runs ComfyUI jobs, gated by comfyui.enabled).
func (s *Server) spawnFor(ctx context.Context, worker, svc string, args []string) string {
	if !s.cfg.Workers.WebSpawnEnabled {
		return "web_spawn_disabled"
	}
	// A worker of a service switched off in the config is never started:
	// it would only wait on a service that is not there.
	if svc != "" {
		if err := s.serviceOff(svc); err != nil {
			return reason.Code(err)
		}
	}
	if s.launcher == nil {
		return "spawn_unavailable"
	}
	st, err := s.launcher.Spawn(ctx, worker, args)
	if err != nil {
		s.log.Warn().Err(err).Str("worker", worker).Msg("spawn failed")
		if c := reason.Code(err); c != "" {
			return c
		}
		return "spawn_failed"
	}
	return st
}
