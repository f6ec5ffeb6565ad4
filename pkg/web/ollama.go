package web

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/jobs/workerstate"
	"github.com/localsupervisor/supervisor/pkg/ollama"
	"github.com/localsupervisor/supervisor/pkg/ollamasvc"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// OllamaOptions wire the Ollama endpoints (/internal_ollama.php, /ollama.php,
// /dashboard_ollama.php) and the detail-page panel.
type OllamaOptions struct {
	Config  ollama.Config
	Jobs    jobs.Config
	LogsDir string
	// ServiceBin is the ollama-service binary; ServiceArgs go before --batch
	// (e.g. --config=…).
	ServiceBin  string
	ServiceArgs []string
	// Autostart starts ollama-service (nil: ollamasvc.Autostart); tests
	// record what would be started.
	Autostart func(ctx context.Context, o ollamasvc.AutostartOptions) ollamasvc.SpawnResult
}

// Ollama serves the Ollama endpoints and the detail page's "analyze"
// panel. Create it with NewOllama and register Routes as
// Options.ExtraRoutes (OllamaRoutes does both).
type Ollama struct {
	s   *Server
	o   OllamaOptions
	cfg ollama.Config
}

// NewOllama fills the defaults of o.
func NewOllama(o OllamaOptions) *Ollama {
	if o.Autostart == nil {
		o.Autostart = ollamasvc.Autostart
	}
	return &Ollama{o: o, cfg: o.Config.Normalized()}
}

// OllamaRoutes returns an ExtraRoutes function registering the Ollama pages.
func OllamaRoutes(o OllamaOptions) func(mux *http.ServeMux, s *Server) {
	return NewOllama(o).Routes
}

// Routes registers the Ollama endpoints, the dashboard page and the detail
// panel (an Options.ExtraRoutes function).
func (h *Ollama) Routes(mux *http.ServeMux, s *Server) {
	h.s = s
	// The detail page's "analyze" action enqueues and starts the
	// service the same way as these pages; its panel is this
	// server's, so it knows whether Ollama is switched on.
	s.ollamaAnalyze = h.analyzeOne
	s.sections = append(s.sections, h.detailSection)
	mux.HandleFunc("/internal_ollama.php", s.Mutating(true, h.api))
	mux.HandleFunc("/ollama.php", s.Mutating(true, h.api))
	mux.HandleFunc("GET /dashboard_ollama.php", h.dashboard)
	t, err := template.New("layout").Funcs(s.funcs()).ParseFS(assetsFS, "templates/layout.html", "templates/ollama_dashboard.html")
	if err != nil {
		panic(fmt.Sprintf("parse ollama_dashboard: %v", err)) // embedded template: programmer error
	}
	s.pages["ollama_dashboard"] = t
}

// detailSection renders the detail page's "analyze this media" panel; it
// posts media_id inside filters so only this media is enqueued. With
// ollama.enabled off the button is disabled and the reason shown.
func (h *Ollama) detailSection(_ context.Context, r *http.Request, mediaID int64) (template.HTML, error) {
	ri := info(r)
	if !ri.admin {
		return "", nil
	}
	disabled, why := "", ""
	if off := h.s.offReason(ri.lang, ServiceOllama); off != "" {
		disabled = ` disabled aria-describedby="ollama-off"`
		why = ` <small class="off-reason" id="ollama-off">` + template.HTMLEscapeString(off) + `</small>`
	}
	return template.HTML(fmt.Sprintf(`<section class="panel" id="ollama-panel"><h2>Ollama</h2>
<form method="post" action="/internal_ollama.php" id="ollama-analyze"><input type="hidden" name="csrf_token" value="%s">
<input type="hidden" name="action" value="enqueue"><input type="hidden" name="media_id" value="%d">
<select name="mode"><option value="all">all</option>%s</select> <label><input type="checkbox" name="force" value="1"> force</label>
<button id="ollama-analyze-btn"%s>%s</button>%s</form></section>`, template.HTMLEscapeString(ri.sess.CSRF), mediaID, modeOptions(),
		disabled, template.HTMLEscapeString(h.s.i18n.T(ri.lang, "detail.analyze")), why)), nil
}

func modeOptions() string {
	var b strings.Builder
	for _, m := range ollamasvc.JobModes() {
		fmt.Fprintf(&b, `<option value="%s">%s</option>`, m, m)
	}
	return b.String()
}

// params merges form fields and a JSON body into one map of strings/any.
func ollamaParams(r *http.Request) map[string]any {
	p := map[string]any{}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		_ = json.NewDecoder(r.Body).Decode(&p)
	}
	_ = r.ParseForm()
	for k, v := range r.Form {
		if _, ok := p[k]; !ok && len(v) > 0 {
			p[k] = v[0]
		}
	}
	if f, ok := p["filters"].(string); ok && f != "" {
		var m map[string]any
		if json.Unmarshal([]byte(f), &m) == nil {
			p["filters"] = m
		}
	}
	return p
}

func pStr(p map[string]any, k string) string {
	switch v := p[k].(type) {
	case string:
		return strings.TrimSpace(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		if v {
			return "1"
		}
		return "0"
	}
	return ""
}

func pInt(p map[string]any, k string) int64 { n, _ := strconv.ParseInt(pStr(p, k), 10, 64); return n }
func pBool(p map[string]any, k string) bool {
	v := strings.ToLower(pStr(p, k))
	return v == "1" || v == "true" || v == "on" || v == "yes"
}

func (h *Ollama) queue() *jobs.Queue {
	return jobs.NewQueue(jobs.QueueOptions{DB: h.s.db, Clock: h.s.clock, Config: h.o.Jobs, Logger: h.s.log})
}

func (h *Ollama) api(w http.ResponseWriter, r *http.Request) {
	p := ollamaParams(r)
	ctx := r.Context()
	switch action := pStr(p, "action"); action {
	case "status":
		h.status(w, r, pBool(p, "details"))
	case "enqueue", "run_once", "run":
		// Nothing is queued or started for a service switched off.
		if err := h.s.serviceOff(ServiceOllama); err != nil {
			h.s.refuse(w, r, "/dashboard_ollama.php", err)
			return
		}
		if action == "enqueue" {
			h.enqueue(w, r, p)
			return
		}
		sr := h.spawn(ctx, true, int(pInt(p, "batch")))
		writeJSON(w, http.StatusOK, map[string]any{"ok": sr.Status == "started" || sr.Status == "running", "status": sr.Status, "reason_code": sr.ReasonCode, "pid": sr.PID, "spawn": sr})
	case "job_status":
		row, err := h.queue().Get(ctx, pInt(p, "job_id"))
		if err != nil {
			h.s.failErr(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "job": row, "logs_path": h.o.LogsDir})
	case "cancel":
		res, err := h.queue().Cancel(ctx, pInt(p, "job_id"))
		if err != nil {
			h.s.failErr(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "job": res})
	case "requeue":
		if err := h.queue().Requeue(ctx, pInt(p, "job_id")); err != nil {
			h.s.failErr(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"ok": true})
	case "delete":
		h.delete(w, r, p)
	case "":
		h.s.fail(w, r, http.StatusBadRequest, "missing_action", nil)
	default:
		h.s.fail(w, r, http.StatusBadRequest, "unknown_action", errors.New("unknown action "+action))
	}
}

// status answers from the runtime files (no DB) unless details=1; then
// the DB is read through the short-busy-timeout reader.
func (h *Ollama) status(w http.ResponseWriter, r *http.Request, details bool) {
	out := h.light()
	if details {
		c, err := ollamasvc.Counts(r.Context(), h.s.rdb)
		if err != nil {
			writeJSON(w, http.StatusOK, map[string]any{"ok": false, "status": "busy", "reason_code": "db_busy", "light_status": out})
			return
		}
		out["counts"] = c
		rows, err := h.queue().List(r.Context(), jobs.ListFilter{Types: ollamasvc.JobTypes(), Limit: 100})
		if err == nil {
			out["jobs"] = rows
		}
	}
	out["ok"] = true
	writeJSON(w, http.StatusOK, out)
}

func (h *Ollama) light() map[string]any {
	gs, err := ollamasvc.ReadGlobalStatus(h.o.LogsDir)
	st := workerstate.ServiceState(h.o.LogsDir, ollamasvc.ServiceName, h.s.clock.Now(), 3*time.Minute)
	out := map[string]any{"worker_running": st.Running, "worker_reason_code": st.ReasonCode, "worker_pid": st.PID,
		"max_concurrency": h.cfg.Worker.MaxConcurrency, "logs_path": h.o.LogsDir, "status_file_ok": err == nil}
	if err == nil {
		out["global_status"] = gs
		out["queue_queued"], out["queue_pending"], out["queue_running"] = gs.QueueQueued, gs.QueuePending, gs.QueueRunning
		out["blockers"], out["last_error"] = gs.Blockers, gs.LastError
	}
	return out
}

// analyzeOne enqueues the jobs of mode for one media (forced, like the
// detail page's button means "analyze this now") and autostarts
// ollama-service, which runs them through its one-job ollama-worker.
func (h *Ollama) analyzeOne(ctx context.Context, id int64, mode string) (actionResult, error) {
	o, err := ollamasvc.ForMedia(h.cfg, id, mode)
	if err != nil {
		return actionResult{}, err
	}
	e := &ollamasvc.Enqueuer{Queue: h.queue(), Clock: h.s.clock}
	sum, err := e.Enqueue(ctx, o)
	if err != nil {
		return actionResult{}, err
	}
	res := actionResult{Status: "queued", Spawn: "web_spawn_disabled", Value: sum}
	if len(sum.JobIDs) > 0 {
		res.JobID = sum.JobIDs[0]
	} else if sum.Deduped > 0 {
		res.Status = "deduped"
	}
	if h.s.cfg.Workers.WebSpawnEnabled {
		sr := h.spawn(ctx, false, 0)
		res.Spawn = cmp.Or(sr.ReasonCode, sr.Status)
	}
	return res, nil
}

func (h *Ollama) enqueue(w http.ResponseWriter, r *http.Request, p map[string]any) {
	f, _ := p["filters"].(map[string]any)
	if f == nil {
		f = map[string]any{}
	}
	// A top-level media_id (the detail page's button) means exactly that
	// media; the original silently ignored it and enqueued the library.
	if _, ok := f["media_id"]; !ok && pStr(p, "media_id") != "" {
		f["media_id"], f["force"] = p["media_id"], p["force"]
	}
	modes, err := ollamasvc.ResolveModes(pStr(p, "mode"))
	if err != nil {
		h.s.failErr(w, r, err)
		return
	}
	since, err := ollamasvc.ParseSince(pStr(f, "since"))
	if err != nil {
		h.s.failErr(w, r, err)
		return
	}
	limit := int(pInt(f, "limit"))
	e := &ollamasvc.Enqueuer{Queue: h.queue(), Clock: h.s.clock}
	sum, err := e.Enqueue(r.Context(), ollamasvc.EnqueueOptions{Modes: modes, Limit: limit, Since: since, All: pBool(f, "all"),
		MissingTitle: pBool(f, "missing_title"), MissingCaption: pBool(f, "missing_caption"), MediaID: pInt(f, "media_id"),
		Force: pBool(f, "force"), VideoFrames: h.cfg.VideoFrames, PromptEvalFallbackTags: h.cfg.PromptEvalFallback == "tags"})
	if err != nil {
		h.s.failErr(w, r, err)
		return
	}
	var auto any
	if h.s.cfg.Workers.WebSpawnEnabled {
		auto = h.spawn(r.Context(), false, 0)
	} else {
		auto = map[string]any{"status": "skipped", "reason_code": "web_spawn_disabled"}
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "summary": sum, "autostart": auto})
}

func (h *Ollama) spawn(ctx context.Context, force bool, batch int) ollamasvc.SpawnResult {
	// ollama-service would poll a closed port forever: never start it
	// while ollama.enabled is off.
	if err := h.s.serviceOff(ServiceOllama); err != nil {
		return ollamasvc.SpawnResult{TS: svtime.NowString(h.s.clock), Status: "skipped", ReasonCode: reason.Code(err)}
	}
	if batch <= 0 {
		batch = h.cfg.Worker.BatchSize
	}
	pending := 0
	if gs, err := ollamasvc.ReadGlobalStatus(h.o.LogsDir); err == nil {
		pending = gs.QueueQueued
	}
	if c, err := ollamasvc.Counts(ctx, h.s.rdb); err == nil {
		pending = c.Queued
	}
	args := append(append([]string{}, h.o.ServiceArgs...), fmt.Sprintf("--batch=%d", batch), "--sleep-ms=1000")
	return h.o.Autostart(ctx, ollamasvc.AutostartOptions{LogsDir: h.o.LogsDir, ServiceBin: h.o.ServiceBin, Args: args,
		Cooldown: time.Duration(h.cfg.SpawnCooldown) * time.Second, Clock: h.s.clock, Pending: pending, Force: force, RequestedBy: "web"})
}

// delete removes the jobs of media+mode and the mode's results. Without
// force, live jobs block (409) and running ones get cancel_requested; with
// force, live jobs are cancelled first (the service kills a running child
// when it sees its row is no longer running).
func (h *Ollama) delete(w http.ResponseWriter, r *http.Request, p map[string]any) {
	ctx := r.Context()
	mediaID := pInt(p, "media_id")
	mode, err := ollama.ParseMode(pStr(p, "mode"))
	if mediaID <= 0 || err != nil {
		h.s.fail(w, r, http.StatusBadRequest, "invalid_params", err)
		return
	}
	force := pBool(p, "force")
	now := svtime.NowString(h.s.clock)
	var blocked []int64
	var deleted int64
	err = db.InTx(ctx, h.s.db, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id FROM jobs WHERE media_id = ? AND type = ? AND status IN ('queued','running')`, mediaID, mode.JobType())
		if err != nil {
			return err
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			blocked = append(blocked, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(blocked) > 0 && !force {
			_, err := tx.ExecContext(ctx, `UPDATE jobs SET cancel_requested = 1, updated_at = ? WHERE media_id = ? AND type = ? AND status = 'running'`, now, mediaID, mode.JobType())
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE jobs SET status = 'cancelled', cancel_requested = 1, cancelled_at = ?, finished_at = ?, last_error_code = 'forced_delete', error_message = 'forced_delete', updated_at = ?
			WHERE media_id = ? AND type = ? AND status IN ('queued','running')`, now, now, now, mediaID, mode.JobType()); err != nil {
			return err
		}
		rs, err := tx.ExecContext(ctx, `DELETE FROM jobs WHERE media_id = ? AND type = ? AND status IN ('done','error','cancelled')`, mediaID, mode.JobType())
		if err != nil {
			return err
		}
		deleted, _ = rs.RowsAffected()
		_, err = tx.ExecContext(ctx, `INSERT INTO audit_log (action, entity_type, entity_id, details_json, created_at) VALUES ('ollama_force_delete', 'media', ?, ?, ?)`,
			mediaID, fmt.Sprintf(`{"mode":%q,"force":%v,"deleted":%d}`, mode, force, deleted), now)
		return err
	})
	if err != nil {
		h.s.failErr(w, r, err)
		return
	}
	jd := map[string]any{"deleted": deleted, "blocked": blocked}
	if len(blocked) > 0 && !force {
		writeJSON(w, http.StatusConflict, map[string]any{"ok": false, "reason_code": "jobs_live", "error": "Jobs are still running or queued.", "job_delete": jd})
		return
	}
	counts, err := ollama.NewStore(h.s.db, h.s.clock, ollama.StoreOptions{}).DeleteResults(ctx, mediaID, mode)
	if err != nil {
		h.s.failErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "job_delete": jd, "result_delete": counts})
}

// dashboard renders without DB queries: everything comes from the runtime
// files; the page polls /internal_ollama.php action=status.
func (h *Ollama) dashboard(w http.ResponseWriter, r *http.Request) {
	h.s.render(w, r, "ollama_dashboard", map[string]any{"Title": "nav.dashboard", "S": h.light(), "Modes": ollamasvc.JobModes(),
		"Off": h.s.offReason(info(r).lang, ServiceOllama)})
}
