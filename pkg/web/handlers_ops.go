package web

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/localsupervisor/supervisor/pkg/catalog"
	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/jobs/workerstate"
	"github.com/localsupervisor/supervisor/pkg/supervise"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// defaultFreshness is how old a heartbeat may be and still count when
// Options.Freshness is unset (jobs.fresh_seconds' default, as the original).
const defaultFreshness = 180 * time.Second

// healthServices are always reported by /health.php (spec 3.7); services
// that wrote a heartbeat file are reported too (healthNames).
func healthServices() []string {
	return []string{"scan_service", "forge_service", "media_service", "library_rename_service", "ollama_service", "scan_worker"}
}

// heartbeatSuffix ends workerstate's LOGS/<service>.heartbeat.json.
const heartbeatSuffix = ".heartbeat.json"

// healthNames is the spec's list, the required services and every service
// with a heartbeat file in LOGS (the Go workers write media_worker,
// forge_worker, library_rename_worker, … which the spec's names miss).
func (s *Server) healthNames(required map[string]bool) []string {
	seen := map[string]bool{}
	var names []string
	add := func(n string) {
		if n != "" && !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	for _, n := range healthServices() {
		add(n)
	}
	for n := range required {
		add(n)
	}
	if ents, err := os.ReadDir(s.cfg.Paths.Logs); err == nil {
		for _, e := range ents {
			if n, ok := strings.CutSuffix(e.Name(), heartbeatSuffix); ok && !e.IsDir() {
				add(n)
			}
		}
	}
	return names
}

// HealthService is one service entry of /health.php.
type HealthService struct {
	Optional         bool   `json:"optional"`
	Running          bool   `json:"running"`
	State            string `json:"state"`
	Status           string `json:"status"`
	LastHeartbeatUTC string `json:"last_heartbeat_utc,omitempty"`
	ReasonCode       string `json:"reason_code,omitempty"`
}

// Health is the /health.php document.
type Health struct {
	OK               bool                     `json:"ok"`
	TS               string                   `json:"ts"`
	Version          string                   `json:"version"`
	FreshnessSeconds int                      `json:"freshness_seconds"`
	DB               map[string]any           `json:"db"`
	Services         map[string]HealthService `json:"services"`
	// Supervised lists the workers webui runs itself (workers.supervise).
	Supervised []supervise.State `json:"supervised,omitempty"`
}

// health computes the snapshot. Required services come from
// web.require_services (the original hard-coded four and always said 200).
func (s *Server) health(ctx context.Context) Health {
	now := s.clock.Now()
	h := Health{OK: true, TS: svtime.Format(now), Version: s.version, FreshnessSeconds: int(s.freshness / time.Second),
		Services: map[string]HealthService{}}
	required := map[string]bool{}
	for _, n := range s.cfg.Web.RequireServices {
		required[n] = true
	}
	for _, n := range s.healthNames(required) {
		st := workerstate.ServiceState(s.cfg.Paths.Logs, n, now, s.freshness)
		state := st.State
		if st.Status == workerstate.StatusMissing {
			state = "missing"
		}
		hs := HealthService{Optional: !required[n], Running: st.Running, State: state, Status: st.Status,
			LastHeartbeatUTC: st.LastHeartbeatUTC, ReasonCode: st.ReasonCode}
		if required[n] && !st.Running {
			h.OK = false
		}
		h.Services[n] = hs
	}
	dbState := map[string]any{"reachable": true}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var one int
	if err := s.rdb.QueryRowContext(cctx, "SELECT 1").Scan(&one); err != nil {
		dbState["reachable"] = false
		dbState["reason_code"] = CodeDBBusy
		if !db.IsBusy(err) {
			dbState["reason_code"] = "db_unreachable"
		}
		h.OK = false
	}
	h.DB = dbState
	if s.supervised != nil {
		// The admin asked webui to keep these running: one that is down
		// (crashed, waiting for its restart) makes the instance unhealthy.
		h.Supervised = s.supervised.States()
		for _, st := range h.Supervised {
			if !st.Running() {
				h.OK = false
			}
		}
	}
	return h
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	h := s.health(r.Context())
	status := http.StatusOK
	if !h.OK {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, h)
}

// dashboardData is the live part of the dashboard, shared by the page and
// the polling JSON endpoint.
type dashboardData struct {
	ServerTime string            `json:"server_time"`
	Counts     catalog.JobCounts `json:"counts"`
	// Imports are the newest scan_path jobs in any state: an import's
	// progress and summary stay visible however many follow-up jobs it
	// queued after it.
	Imports      []catalog.JobRow `json:"imports"`
	Running      []catalog.JobRow `json:"running"`
	Queued       []catalog.JobRow `json:"queued"`
	Stuck        []catalog.JobRow `json:"stuck"`
	Done         []catalog.JobRow `json:"done"`
	Errors       []catalog.JobRow `json:"errors"`
	Health       Health           `json:"health"`
	Pending      int              `json:"pending_migrations"`
	MediaTotal   int              `json:"media_total"`
	SystemErrors []map[string]any `json:"system_errors"`
	// JobsSig changes whenever the job tables would look different.
	JobsSig string `json:"jobs_sig"`
}

func (s *Server) dashboard(ctx context.Context) (dashboardData, error) {
	now := s.clock.Now()
	d := dashboardData{ServerTime: svtime.Format(now)}
	stuckBefore := svtime.Format(now.Add(-10 * time.Minute))
	var err error
	if d.Counts, err = catalog.CountJobs(ctx, s.rdb, stuckBefore); err != nil {
		return d, err
	}
	lists := []struct {
		dst *[]catalog.JobRow
		q   catalog.JobQuery
	}{
		{&d.Imports, catalog.JobQuery{Types: []string{jobs.TypeScanPath}, Limit: 5}},
		{&d.Running, catalog.JobQuery{Statuses: []string{jobs.StatusRunning}, Limit: 8}},
		{&d.Queued, catalog.JobQuery{Statuses: []string{jobs.StatusQueued}, Limit: 8}},
		{&d.Stuck, catalog.JobQuery{StuckBefore: stuckBefore, Limit: 8}},
		{&d.Done, catalog.JobQuery{Statuses: []string{jobs.StatusDone}, Limit: 8}},
		{&d.Errors, catalog.JobQuery{Statuses: []string{jobs.StatusError, jobs.StatusCancelled}, Limit: 8}},
	}
	for _, l := range lists {
		if *l.dst, err = catalog.ListJobs(ctx, s.rdb, l.q); err != nil {
			return d, err
		}
	}
	if err := s.rdb.QueryRowContext(ctx, "SELECT count(*) FROM media").Scan(&d.MediaTotal); err != nil {
		return d, db.Classify(err)
	}
	if st, err := db.Status(ctx, s.rdb); err == nil {
		d.Pending = len(st.Pending)
	}
	d.Health = s.health(ctx)
	d.SystemErrors = readSystemErrors(filepath.Join(s.cfg.Paths.Logs, "system_errors.jsonl"), 50)
	d.JobsSig = jobsSignature(d)
	return d, nil
}

// readSystemErrors returns the last n JSON lines of the file (newest first),
// reading at most the last 512 KiB so a huge log cannot stall the page.
func readSystemErrors(path string, n int) []map[string]any {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > 512<<10 {
		_, _ = f.Seek(st.Size()-512<<10, io.SeekStart)
	}
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n*2 {
			lines = lines[len(lines)-n:]
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	out := make([]map[string]any, 0, len(lines))
	for i := len(lines) - 1; i >= 0; i-- {
		var m map[string]any
		if json.Unmarshal([]byte(lines[i]), &m) == nil {
			// Absolute paths are not shown to the browser.
			for k := range m {
				if strings.Contains(k, "path") {
					delete(m, k)
				}
			}
			out = append(out, m)
		}
	}
	return out
}

func (s *Server) requireAdminPage(w http.ResponseWriter, r *http.Request) bool {
	if info(r).admin {
		return true
	}
	if wantsJSON(r) {
		s.fail(w, r, http.StatusForbidden, CodeAuthRequired, nil)
		return false
	}
	http.Redirect(w, r, "/login?next="+r.URL.Path, http.StatusSeeOther)
	return false
}

func (s *Server) handleDashboard(w http.ResponseWriter, r *http.Request) {
	if !s.requireAdminPage(w, r) {
		return
	}
	d, err := s.dashboard(r.Context())
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	s.render(w, r, "dashboard", map[string]any{"D": d, "Msg": s.banner(r), "JobAdmin": s.jobAdmin != nil,
		"Title": "dash.title", "ImportMode": s.cfg.Import.Mode, "Sources": s.sourcesSection(r.Context()),
		"Comfy": s.comfyStatus(r.Context(), info(r).lang), "ComfyCode": comfyCode(r)})
}

func (s *Server) handleDashboardJSON(w http.ResponseWriter, r *http.Request) {
	if !info(r).admin {
		s.fail(w, r, http.StatusForbidden, CodeAuthRequired, nil)
		return
	}
	d, err := s.cachedDashboard(r.Context())
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "data": d})
}

func urlQueryEscape(s string) string {
	r := strings.NewReplacer("%", "%25", "&", "%26", "+", "%2B", " ", "+", "#", "%23", "?", "%3F", "=", "%3D")
	return r.Replace(s)
}

// handlePrune is POST /jobs_prune.php (spec 3.8) with the original groups.
func (s *Server) handlePrune(w http.ResponseWriter, r *http.Request) {
	if s.jobAdmin == nil {
		s.fail(w, r, http.StatusServiceUnavailable, "jobs_admin_unavailable", nil)
		return
	}
	reg := jobs.DefaultRegistry()
	var types []string
	switch g := r.PostFormValue("group"); g {
	case "ollama", "scan", "media", "forge", "rename":
		types = reg.Group(g)
	case "importscan":
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "result": PruneResult{DryRun: r.PostFormValue("dry_run") == "1"},
			"note": s.i18n.T(info(r).lang, "prune.importscan_none")})
		return
	case "custom":
		for _, t := range strings.Split(r.PostFormValue("job_types"), ",") {
			if t = strings.TrimSpace(t); t != "" {
				types = append(types, t)
			}
		}
		if p := strings.TrimSpace(r.PostFormValue("type_prefix")); p != "" {
			for _, n := range reg.Names() {
				if strings.HasPrefix(n, p) {
					types = append(types, n)
				}
			}
		}
		if len(types) == 0 {
			s.fail(w, r, http.StatusBadRequest, "invalid_group", nil)
			return
		}
	default:
		s.fail(w, r, http.StatusBadRequest, "invalid_group", nil)
		return
	}
	req := PruneRequest{Types: types, Force: r.PostFormValue("force") == "1", DryRun: r.PostFormValue("dry_run") == "1"}
	if st := r.PostFormValue("status"); st != "" && st != "all" {
		for _, x := range strings.Split(st, ",") {
			req.Status = append(req.Status, strings.TrimSpace(x))
		}
	}
	if r.PostFormValue("scope") == "media_id" {
		id, ok := parseID(r.PostFormValue("media_id"))
		if !ok {
			s.fail(w, r, http.StatusBadRequest, CodeBadRequest, nil)
			return
		}
		req.MediaID = id
	}
	res, err := s.jobAdmin.Prune(r.Context(), req)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "result": res})
}

func (s *Server) handleLoginForm(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, "login", s.loginData(r, safeRedirect(r.URL.Query().Get("next"), "/index.php")))
}

// loginData is the login page's data; next is an already checked target.
func (s *Server) loginData(r *http.Request, next string) map[string]any {
	return map[string]any{"Next": next, "Key": r.URL.Query().Get("key"), "Title": "login.title",
		"Failed": r.URL.Query().Get("failed") == "1"}
}

// handleLogin unlocks admin rights for this session with the internal key.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	ri := info(r)
	next := safeRedirect(r.PostFormValue("next"), "/index.php")
	if !s.ipAllowed(ri.clientIP) {
		s.securityLog(r, "login_rejected", CodeIPNotWhitelisted)
		s.fail(w, r, http.StatusForbidden, CodeIPNotWhitelisted, nil)
		return
	}
	if strings.TrimSpace(s.cfg.Security.InternalAPIKey) == "" {
		s.fail(w, r, http.StatusForbidden, CodeKeyMissing, nil)
		return
	}
	// Wrong keys cost time per address (throttle.go); while an address
	// waits even the right key is not checked, so guessing stays slow.
	now := s.clock.Now()
	if d := s.logins.wait(ri.clientIP, now); d > 0 {
		s.throttled(w, r, next, 0, d)
		return
	}
	if !s.keyValid(r.PostFormValue("key")) {
		s.securityLog(r, "login_failed", CodeKeyInvalid)
		if n, d := s.logins.fail(ri.clientIP, now); d > 0 {
			s.throttled(w, r, next, n, d)
			return
		}
		if wantsJSON(r) {
			s.fail(w, r, http.StatusForbidden, CodeKeyInvalid, nil)
			return
		}
		http.Redirect(w, r, "/login?failed=1&next="+urlQueryEscape(next), http.StatusSeeOther)
		return
	}
	s.logins.succeed(ri.clientIP)
	ns, err := s.sessions.rotate(r.Context(), ri.sess.ID, now, func(ss *session) { ss.Admin = true })
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	s.setSessionCookie(w, ns.ID)
	s.log.Info().Str("event", "login").Str("client_ip", ri.clientIP).Msg("security")
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "csrf_token": ns.CSRF})
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	if err := s.sessions.update(r.Context(), info(r).sess.ID, s.clock.Now(), func(ss *session) { ss.Admin = false }); err != nil {
		s.failErr(w, r, err)
		return
	}
	http.Redirect(w, r, "/mediadb.php", http.StatusSeeOther)
}

// handleSettings stores UI preferences (language, 18+ display: nsfw =
// hide|blur|show, or the older adult=0/1 opt-in, 1 meaning show) in the
// session. It is a POST with CSRF, so a foreign page cannot flip them.
func (s *Server) handleSettings(w http.ResponseWriter, r *http.Request) {
	id := info(r).sess.ID
	l, a, mode := r.PostFormValue("lang"), r.PostFormValue("adult"), r.PostFormValue("nsfw")
	if err := s.sessions.update(r.Context(), id, s.clock.Now(), func(ss *session) {
		if l != "" && s.i18n.has(l) {
			ss.Lang = l
		}
		if a != "" {
			ss.Adult = a == "1"
		}
		ss.setNSFWMode(mode)
	}); err != nil {
		s.failErr(w, r, err)
		return
	}
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, map[string]any{"ok": true})
		return
	}
	http.Redirect(w, r, safeRedirect(r.PostFormValue("back"), "/mediadb.php"), http.StatusSeeOther)
}
