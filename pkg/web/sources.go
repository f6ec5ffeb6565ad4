package web

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/scan"
	"github.com/localsupervisor/supervisor/pkg/sources"
)

// Library sources in the web UI: the serving check (files inside the
// LIBRARY roots or a recorded source), the dashboard's sources section and
// its admin actions (rescan, watch, remove after a confirmation page).

// Serving-check cache timings: the set of servable roots is reloaded at
// most every servableTTL (a source a worker records shows up within it),
// and at once on a miss when the set is older than servableMissReload, so
// a folder imported a moment ago is served on its first thumbnail while a
// flood of blocked requests costs at most one query per second.
const (
	servableTTL        = 30 * time.Second
	servableMissReload = time.Second
)

// servableRoots caches the resolved LIBRARY roots plus every library
// source: the check per thumbnail or stream is then string comparisons,
// no query and no symlink resolution of the roots.
type servableRoots struct {
	mu       sync.Mutex
	roots    sources.Readable
	loadedAt time.Time // zero: not loaded or invalidated
	// now is the cache's clock (nil: time.Now); tests step it.
	now func() time.Time
}

// invalidate makes the next check reload (after the web UI changed the
// sources).
func (c *servableRoots) invalidate() {
	c.mu.Lock()
	c.loadedAt = time.Time{}
	c.mu.Unlock()
}

// servable reports whether real (absolute, symlinks resolved) lies inside
// a LIBRARY root (or the derivatives folder) or a library source. A DB
// error while reloading is returned (busy → 503), never taken as "no".
func (s *Server) servable(ctx context.Context, real string) (bool, error) {
	c := &s.servableCache
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if c.now != nil {
		now = c.now()
	}
	age := now.Sub(c.loadedAt)
	if c.loadedAt.IsZero() || age >= servableTTL {
		if err := s.loadServable(ctx, now); err != nil {
			return false, err
		}
		age = 0
	}
	if c.roots.Contains(real) {
		return true, nil
	}
	if age < servableMissReload {
		return false, nil
	}
	if err := s.loadServable(ctx, now); err != nil {
		return false, err
	}
	return c.roots.Contains(real), nil
}

// loadServable reloads the cache; the caller holds its lock.
func (s *Server) loadServable(ctx context.Context, now time.Time) error {
	r, err := sources.LoadReadable(ctx, s.rdb, s.roots)
	if err != nil {
		return err
	}
	s.servableCache.roots = r
	s.servableCache.loadedAt = now
	return nil
}

// scanPathRequest is the scan_path job the import form queues for a
// folder, and a source rescan for its folder: deduped per folder.
func scanPathRequest(p scan.ScanPathPayload) jobs.EnqueueRequest {
	return jobs.EnqueueRequest{Type: jobs.TypeScanPath, DedupeKey: "scan_path:" + p.Path, Payload: p}
}

// enqueueScans queues scan_path jobs (import form, source rescan) and
// starts the scan worker fire-and-forget.
func (s *Server) enqueueScans(ctx context.Context, reqs []jobs.EnqueueRequest, limit int) (map[string]any, error) {
	if s.jobs == nil {
		return nil, reason.New("jobs_unavailable", "job queue not configured")
	}
	var ids []int64
	deduped := false
	for _, rq := range reqs {
		res, err := s.jobs.Enqueue(ctx, rq)
		if err != nil {
			return nil, err
		}
		ids = append(ids, res.JobID)
		deduped = deduped || res.Deduped
	}
	var args []string
	if limit > 0 {
		args = append(args, "--limit="+strconv.Itoa(limit))
	}
	return map[string]any{"ok": true, "action": "scan_path", "job_ids": ids, "deduped": deduped, "spawn": s.spawn(ctx, "scan-worker", args)}, nil
}

// sourceRow is one line of the dashboard's sources table.
type sourceRow struct {
	sources.Source
	Media int
}

// Large source counts are reused for sourceCountTTL: counting a source of
// a million media walks a million idx_media_path entries (p50 139 ms, p95
// 351 ms on the 2-core bench machine), one of a few thousand takes well
// under a millisecond and stays exact.
const (
	sourceCountTTL    = 30 * time.Second
	sourceCountCached = 10_000
)

// sourceCounts remembers large media counts per source path.
type sourceCounts struct {
	mu sync.Mutex
	m  map[string]countedAt
}

type countedAt struct {
	n  int
	at time.Time
}

// mediaCount is sources.MediaCount with counts of at least
// sourceCountCached reused for sourceCountTTL.
func (s *Server) mediaCount(ctx context.Context, dir string) (int, error) {
	now := s.clock.Now()
	c := &s.srcCounts
	c.mu.Lock()
	hit, ok := c.m[dir]
	c.mu.Unlock()
	if ok && now.Sub(hit.at) < sourceCountTTL && !now.Before(hit.at) {
		return hit.n, nil
	}
	n, err := sources.MediaCount(ctx, s.rdb, dir)
	if err != nil {
		return 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]countedAt{}
	}
	if n >= sourceCountCached {
		c.m[dir] = countedAt{n: n, at: now}
	} else {
		delete(c.m, dir)
	}
	return n, nil
}

// forgetCounts drops the remembered counts (after a removal).
func (c *sourceCounts) forget() {
	c.mu.Lock()
	c.m = nil
	c.mu.Unlock()
}

// sourceRows lists the sources with their media counts (one index range
// count per source, large ones cached; sources are few).
func (s *Server) sourceRows(ctx context.Context) ([]sourceRow, error) {
	list, err := sources.List(ctx, s.rdb)
	if err != nil {
		return nil, err
	}
	rows := make([]sourceRow, len(list))
	for i, src := range list {
		n, err := s.mediaCount(ctx, src.Path)
		if err != nil {
			return nil, err
		}
		rows[i] = sourceRow{Source: src, Media: n}
	}
	return rows, nil
}

// sourcesSection is the dashboard data of the sources partial.
func (s *Server) sourcesSection(ctx context.Context) map[string]any {
	rows, err := s.sourceRows(ctx)
	d := map[string]any{"Rows": rows, "WatchMinutes": s.cfg.Import.WatchIntervalMinutes}
	if err != nil {
		s.log.Warn().Err(err).Msg("dashboard sources not loaded")
		d["Err"] = reason.CodeOr(err, CodeDBBusy)
	}
	return d
}

func (s *Server) sourceRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /sources/remove", s.handleSourceRemoveForm)
	mux.HandleFunc("/sources/remove", s.mutating(true, s.handleSourceRemove))
	mux.HandleFunc("/sources/rescan", s.mutating(true, s.handleSourceRescan))
	mux.HandleFunc("/sources/watch", s.mutating(true, s.handleSourceWatch))
}

// sourceFromForm loads the source named by the id field (query or form).
func (s *Server) sourceFromForm(w http.ResponseWriter, r *http.Request, id string) (sources.Source, bool) {
	n, ok := parseID(id)
	if !ok {
		s.fail(w, r, http.StatusBadRequest, CodeBadRequest, nil)
		return sources.Source{}, false
	}
	src, err := sources.Get(r.Context(), s.rdb, n)
	if err != nil {
		s.sourceFail(w, r, err)
		return src, false
	}
	return src, true
}

func (s *Server) sourceFail(w http.ResponseWriter, r *http.Request, err error) {
	switch reason.Code(err) {
	case sources.CodeNotFound:
		s.fail(w, r, http.StatusNotFound, sources.CodeNotFound, err)
	case sources.CodeScanRunning:
		s.fail(w, r, http.StatusConflict, sources.CodeScanRunning, err)
	default:
		s.failErr(w, r, err)
	}
}

// sourceDone answers a source action: JSON for API callers, else back to
// the dashboard's sources section with a message.
// code and n are the feedback the dashboard's banner shows (feedback.go).
func (s *Server) sourceDone(w http.ResponseWriter, r *http.Request, action string, result map[string]any, msg, code string, n int64) {
	if err := s.auditGlobal(r.Context(), r, "source_"+action, result); err != nil {
		s.log.Warn().Err(err).Msg("audit not written")
	}
	if wantsJSON(r) {
		result["ok"] = true
		result["message"] = msg
		writeJSON(w, http.StatusOK, result)
		return
	}
	http.Redirect(w, r, feedbackURL("/index.php", code, n)+"#sources", http.StatusSeeOther)
}

// handleSourceRemoveForm is the confirmation page of a removal (GET, no
// state change): it says what is forgotten and that no file is deleted.
func (s *Server) handleSourceRemoveForm(w http.ResponseWriter, r *http.Request) {
	if !s.requireAdminPage(w, r) {
		return
	}
	src, ok := s.sourceFromForm(w, r, r.URL.Query().Get("id"))
	if !ok {
		return
	}
	n, err := sources.MediaCount(r.Context(), s.rdb, src.Path)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	s.render(w, r, "source_remove", map[string]any{"Title": "sources.remove_title", "Src": src, "Media": n})
}

func (s *Server) handleSourceRemove(w http.ResponseWriter, r *http.Request) {
	src, ok := s.sourceFromForm(w, r, r.PostFormValue("id"))
	if !ok {
		return
	}
	if r.PostFormValue("confirm") != "1" {
		s.fail(w, r, http.StatusBadRequest, "confirmation_required", nil)
		return
	}
	res, err := sources.Remove(r.Context(), s.db, src.ID, s.clock.Now())
	if err != nil {
		s.sourceFail(w, r, err)
		return
	}
	s.servableCache.invalidate()
	s.srcCounts.forget()
	lang := info(r).lang
	s.sourceDone(w, r, "remove", map[string]any{"source_id": src.ID, "path": src.Path, "media_forgotten": res.MediaRows,
		"scan_files_forgotten": res.ScanFiles, "nested_sources_kept": res.KeptNested, "files_deleted": 0},
		s.i18n.T(lang, "sources.msg_removed", src.Path, res.MediaRows), "source_removed", int64(res.MediaRows))
}

// handleSourceRescan queues a scan of the source in its mode, exactly as
// the import form queues a folder.
func (s *Server) handleSourceRescan(w http.ResponseWriter, r *http.Request) {
	src, ok := s.sourceFromForm(w, r, r.PostFormValue("id"))
	if !ok {
		return
	}
	p, err := scan.NewScanPathPayload(src.Path, 0, src.Mode, "web_source", s.clock.Now())
	if err != nil {
		s.sourceFail(w, r, err)
		return
	}
	res, err := s.enqueueScans(r.Context(), []jobs.EnqueueRequest{scanPathRequest(p)}, 0)
	if err != nil {
		s.sourceFail(w, r, err)
		return
	}
	res["action"] = "source_rescan"
	res["source_id"] = src.ID
	key, code := "sources.msg_rescan", "source_rescan_queued"
	if d, _ := res["deduped"].(bool); d {
		key, code = "sources.msg_rescan_deduped", "source_rescan_deduped"
	}
	s.sourceDone(w, r, "rescan", res, s.i18n.T(info(r).lang, key, src.Path), code, 0)
}

func (s *Server) handleSourceWatch(w http.ResponseWriter, r *http.Request) {
	src, ok := s.sourceFromForm(w, r, r.PostFormValue("id"))
	if !ok {
		return
	}
	on := r.PostFormValue("watch") == "1"
	if err := sources.SetWatch(r.Context(), s.db, src.ID, on); err != nil {
		s.sourceFail(w, r, err)
		return
	}
	key := "sources.msg_watch_off"
	if on {
		key = "sources.msg_watch_on"
	}
	msg := s.i18n.T(info(r).lang, key, src.Path)
	if on && s.cfg.Import.WatchIntervalMinutes <= 0 {
		msg += " " + s.i18n.T(info(r).lang, "sources.watch_disabled")
	}
	code := "source_watch_off"
	if on {
		code = "source_watch_on"
	}
	s.sourceDone(w, r, "watch", map[string]any{"source_id": src.ID, "path": src.Path, "watch": on}, msg, code, 0)
}

// sourceStatus renders a source's last scan for the dashboard.
func (s *Server) sourceStatus(lang string, src sources.Source) string {
	if src.LastScanAt == "" {
		return s.i18n.T(lang, "sources.never")
	}
	st := s.i18n.T(lang, "sources.status."+src.LastScanStatus)
	if st == "sources.status."+src.LastScanStatus {
		st = src.LastScanStatus
	}
	return fmt.Sprintf("%s (%s)", src.LastScanAt, st)
}
