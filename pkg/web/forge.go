package web

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/localsupervisor/supervisor/pkg/catalog"
	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/forge"
	"github.com/localsupervisor/supervisor/pkg/forgejob"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

// ForgeService is what the Forge pages need; *forgejob.Service implements it.
type ForgeService interface {
	ConfigError(requireDispatch bool) error
	Enqueue(ctx context.Context, er forgejob.EnqueueRequest) (*forgejob.EnqueueResult, error)
	Health(ctx context.Context, timeout time.Duration) (forgejob.HealthState, error)
	Models(ctx context.Context) (forge.ModelList, error)
	CachedModels() (forge.ModelList, bool)
	Accept(ctx context.Context, ar forgejob.AcceptRequest) (*forgejob.AcceptResult, error)
	Discard(ctx context.Context, dr forgejob.DiscardRequest) (*forgejob.DiscardResult, error)
	PreviewFile(ctx context.Context, jobID int64, variant int) (string, int64, error)
}

// Defaults of ForgeOptions.
const (
	// ForgeProbeTimeoutDefault bounds every Forge call a request makes
	// (health, model list): the page answers with "unverified" instead of
	// waiting forge.timeout (15 s).
	ForgeProbeTimeoutDefault = 2 * time.Second
	ForgeWorkerDefault       = "forge-worker"
)

// ForgeOptions wire the Forge panel and endpoints.
type ForgeOptions struct {
	// Service runs every Forge operation. Required.
	Service ForgeService
	// Worker is the binary started fire-and-forget after an enqueue
	// (default ForgeWorkerDefault).
	Worker string
	// ProbeTimeout bounds Forge calls made inside a request (default
	// ForgeProbeTimeoutDefault).
	ProbeTimeout time.Duration
}

// Forge serves the detail page's Forge panel (regen form, repair dialog,
// previews with accept/discard, job progress) and its endpoints:
// POST /forge.php (actions regen, repair, accept, discard, health, models,
// status, cancel) and GET /forge_preview.php (a preview file of a job).
// Create it with NewForge, register Routes as Options.ExtraRoutes and
// DetailSection in Options.DetailSections.
type Forge struct {
	o   ForgeOptions
	s   *Server
	tpl *template.Template

	mu         sync.Mutex
	lastHealth *forgeHealth
}

type forgeHealth struct {
	forgejob.HealthState
	At string
}

// NewForge checks the options and fills defaults.
func NewForge(o ForgeOptions) *Forge {
	if o.Service == nil {
		panic("web.NewForge: nil Service") // wiring error
	}
	if o.Worker == "" {
		o.Worker = ForgeWorkerDefault
	}
	if o.ProbeTimeout <= 0 {
		o.ProbeTimeout = ForgeProbeTimeoutDefault
	}
	return &Forge{o: o}
}

// ChainRoutes combines several ExtraRoutes functions (Ollama and Forge).
func ChainRoutes(fns ...func(mux *http.ServeMux, s *Server)) func(mux *http.ServeMux, s *Server) {
	return func(mux *http.ServeMux, s *Server) {
		for _, fn := range fns {
			if fn != nil {
				fn(mux, s)
			}
		}
	}
}

// Routes registers the Forge endpoints (an Options.ExtraRoutes function).
func (f *Forge) Routes(mux *http.ServeMux, s *Server) {
	f.s = s
	t, err := template.New("forge_panel").Funcs(s.funcs()).ParseFS(assetsFS, "templates/forge_panel.html")
	if err != nil {
		panic(fmt.Sprintf("parse forge_panel: %v", err)) // embedded template: programmer error
	}
	f.tpl = t
	mux.HandleFunc("/forge.php", s.Mutating(true, f.api))
	mux.HandleFunc("GET /forge_preview.php", f.preview)
	mux.HandleFunc("GET /forge.js", serveForgeJS)
}

// DetailSection renders the Forge panel for admins. It never calls Forge:
// models come from the client's cache, health from the last check; the
// panel's script loads both asynchronously.
func (f *Forge) DetailSection() DetailSection {
	return func(ctx context.Context, r *http.Request, mediaID int64) (template.HTML, error) {
		ri := info(r)
		// With Forge switched off the Actions panel says so in one
		// sentence; the regeneration form and its config problems are not
		// shown to a person who never asked for Forge.
		if !ri.admin || f.s == nil || f.s.serviceOff(ServiceForge) != nil {
			return "", nil
		}
		jv, err := forgejob.MediaJobs(ctx, f.s.rdb, mediaID, 0)
		if err != nil {
			return "", err
		}
		ml, _ := f.o.Service.CachedModels()
		data := map[string]any{
			"MediaID": mediaID, "CSRF": ri.sess.CSRF, "Lang": ri.lang, "Jobs": jv, "Models": ml.Models,
			"Problem": forgejob.Problem(f.o.Service.ConfigError(true)), "Health": f.health(),
			"Msg": r.URL.Query().Get("forge_msg"), "MsgCode": r.URL.Query().Get("forge_code"),
			"Goals": forge.RepairGoals, "Intensities": forge.RepairIntensity, "Sources": forge.RepairSources,
			"TechFixes": forge.RepairTechFixes, "Strategies": []string{forge.StrategyPromptOnly, forge.StrategyImg2Img, forge.StrategyTags, forge.StrategyHybrid},
		}
		var buf bytes.Buffer
		if err := f.tpl.ExecuteTemplate(&buf, "forge_panel", data); err != nil {
			return "", err
		}
		return template.HTML(buf.String()), nil
	}
}

func (f *Forge) health() *forgeHealth {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastHealth
}

func (f *Forge) setHealth(h forgejob.HealthState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastHealth = &forgeHealth{HealthState: h, At: f.s.clock.Now().UTC().Format(time.RFC3339)}
}

func (f *Forge) api(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		f.s.fail(w, r, http.StatusBadRequest, CodeBadRequest, err)
		return
	}
	ctx := r.Context()
	action := paramStr(r, "action")
	mediaID, _ := parseID(paramStr(r, "media_id"))
	var out map[string]any
	var err error
	switch action {
	case "regen", "forge_regen", "repair", "forge_repair_start":
		out, err = f.enqueue(ctx, r, mediaID, action == "repair" || action == "forge_repair_start")
	case "accept":
		out, err = f.accept(ctx, r)
	case "discard", "reject":
		out, err = f.discard(ctx, r)
	case "health":
		var h forgejob.HealthState
		if h, err = f.o.Service.Health(ctx, f.o.ProbeTimeout); err == nil {
			f.setHealth(h)
			out = map[string]any{"health": h}
		}
	case "models":
		out, err = f.models(ctx)
	case "status":
		if mediaID == 0 {
			err = reason.New(CodeBadRequest, "media_id required")
			break
		}
		var jv []forgejob.JobView
		if jv, err = forgejob.MediaJobs(ctx, f.s.rdb, mediaID, 0); err == nil {
			out = map[string]any{"jobs": jv}
		}
	case "cancel":
		out, err = f.s.cancelAction(ctx, r)
	case "":
		err = reason.New("missing_action", "missing action")
	default:
		err = reason.New("unknown_action", "unknown action "+action)
	}
	if err != nil {
		f.fail(w, r, mediaID, err)
		return
	}
	out["ok"], out["action"] = true, action
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, out)
		return
	}
	msg, _ := out["message"].(string)
	f.back(w, r, mediaID, msg, "")
}

// back redirects a plain form post to the detail page, the message shown
// inside the Forge panel.
func (f *Forge) back(w http.ResponseWriter, r *http.Request, mediaID int64, msg, code string) {
	panelBack(w, r, mediaID, "forge", reason.Truncate(msg, 400), code)
}

// panelBack redirects a detail-page panel's form post (panel "forge" or
// "comfy") back to the panel, with its message and reason code as the
// <panel>_msg / <panel>_code parameters the panel shows.
func panelBack(w http.ResponseWriter, r *http.Request, mediaID int64, panel, msg, code string) {
	if mediaID == 0 {
		http.Redirect(w, r, "/mediadb.php", http.StatusSeeOther)
		return
	}
	q := url.Values{"id": {strconv.FormatInt(mediaID, 10)}}
	if msg != "" {
		q.Set(panel+"_msg", msg)
	}
	if code != "" {
		q.Set(panel+"_code", code)
	}
	http.Redirect(w, r, "/media_view.php?"+q.Encode()+"#"+panel+"-panel", http.StatusSeeOther)
}

// fail answers a Forge error. Config problems carry reason_code,
// missing_keys and config_path; Forge failures reason_code, http_code and
// target_url. Other errors go through the server's generic mapping.
func (f *Forge) fail(w http.ResponseWriter, r *http.Request, mediaID int64, err error) {
	code := reason.Code(err)
	body := map[string]any{"ok": false, "status": "error", "reason_code": code}
	status := http.StatusBadRequest
	if db.IsBusy(err) || errors.Is(err, db.ErrBusy) || !forgeVisible(code) {
		// Plain form posts with a user error go back to the panel.
		if !wantsJSON(r) && mediaID != 0 && code != "" && reason.KindOf(err) == reason.KindPermanent {
			f.back(w, r, mediaID, code, code)
			return
		}
		f.s.failErr(w, r, err)
		return
	}
	switch {
	case forgejob.Problem(err) != nil:
		p := forgejob.Problem(err)
		body["missing_keys"], body["config_path"], body["error"] = p.MissingKeys, p.ConfigPath, p.Message
		status = http.StatusConflict
	default:
		fields := forge.ErrorDetail(err)
		body["error"] = reason.Truncate(err.Error(), 300)
		if tu, ok := fields["target_url"]; ok {
			body["http_code"], body["target_url"] = fields["http_code"], tu
			status = http.StatusBadGateway
		}
	}
	f.s.log.Warn().Err(err).Str("reason_code", code).Msg("forge action failed")
	if wantsJSON(r) {
		writeJSON(w, status, body)
		return
	}
	msg, _ := body["error"].(string)
	if hc, ok := body["http_code"]; ok {
		msg = fmt.Sprintf("%s | http_code=%v | target_url=%v", msg, hc, body["target_url"])
	}
	f.back(w, r, mediaID, msg, code)
}

// cancelAction is a panel's "cancel" button: the job_id form value's job
// is cancelled through the job admin.
func (s *Server) cancelAction(ctx context.Context, r *http.Request) (map[string]any, error) {
	jobID, ok := parseID(paramStr(r, "job_id"))
	switch {
	case !ok:
		return nil, reason.New(CodeBadRequest, "job_id required")
	case s.jobAdmin == nil:
		return nil, reason.New("jobs_unavailable", "job admin not configured")
	}
	if err := s.jobAdmin.Cancel(ctx, jobID); err != nil {
		return nil, err
	}
	return map[string]any{"job_id": jobID, "message": "cancel requested"}, nil
}

// forgeVisible: Forge and forge-job reason codes carry messages meant for
// the (admin) user; everything else is mapped generically.
func forgeVisible(code string) bool {
	return strings.HasPrefix(code, "forge_") || code == jobs.CodeNotFound
}

// enqueue plans a regen (or a repair) and starts forge-worker.
func (f *Forge) enqueue(ctx context.Context, r *http.Request, mediaID int64, repair bool) (map[string]any, error) {
	if mediaID == 0 {
		return nil, reason.New(CodeBadRequest, "media_id required")
	}
	er, err := forgeRequest(r, repair)
	if err != nil {
		return nil, err
	}
	er.MediaID, er.ActorIP, er.ProbeTimeout = mediaID, info(r).clientIP, f.o.ProbeTimeout
	res, err := f.o.Service.Enqueue(ctx, er)
	if err != nil {
		// A Forge failure (it carries target_url) is the current health.
		if d := forge.ErrorDetail(err); d["target_url"] != nil {
			hs := forgejob.HealthState{State: forgejob.HealthFailed}
			hs.ReasonCode, hs.Error = reason.Code(err), reason.Truncate(err.Error(), 240)
			hs.TargetURL, _ = d["target_url"].(string)
			hs.HTTPCode, _ = d["http_code"].(int)
			f.setHealth(hs)
		}
		return nil, err
	}
	if res.Health != nil {
		f.setHealth(*res.Health)
	}
	spawn := f.s.spawn(ctx, f.o.Worker, []string{"--media-id=" + strconv.FormatInt(mediaID, 10)})
	msg := fmt.Sprintf("forge job #%d %s (%s, %d variant(s)); worker: %s", res.JobID, map[bool]string{true: "deduped", false: "queued"}[res.Deduped],
		res.Request.Mode, res.Request.Payload.Variants(), spawn)
	if res.Health != nil && res.Health.State != forgejob.HealthOK {
		msg += "; forge health: " + res.Health.State
	}
	return map[string]any{"job_id": res.JobID, "deduped": res.Deduped, "status": res.Status, "mode": res.Request.Mode,
		"generation_mode": res.Request.Generation, "model": res.Request.Model.Checkpoint, "variants": res.Request.Payload.Variants(),
		"health": res.Health, "worker_spawn": spawn, "message": msg}, nil
}

func (f *Forge) accept(ctx context.Context, r *http.Request) (map[string]any, error) {
	jobID, ok := parseID(paramStr(r, "job_id"))
	variant, _ := strconv.Atoi(paramStr(r, "variant"))
	if !ok || variant < 1 {
		return nil, reason.New(CodeBadRequest, "job_id and variant required")
	}
	as := paramStr(r, "as")
	if as == "" {
		as = forgejob.AcceptReplace
	}
	res, err := f.o.Service.Accept(ctx, forgejob.AcceptRequest{JobID: jobID, Variant: variant, As: as, ActorIP: info(r).clientIP})
	if err != nil {
		return nil, err
	}
	msg := fmt.Sprintf("variant %d of job #%d accepted as %s", variant, jobID, as)
	if res.ChildMediaID != 0 {
		msg += fmt.Sprintf(": new media #%d", res.ChildMediaID)
	}
	// The answer names no file paths (they stay server-side).
	return map[string]any{"job_id": res.JobID, "variant": res.Variant, "as": res.As, "media_id": res.MediaID,
		"child_media_id": res.ChildMediaID, "hash": res.Hash, "message": msg}, nil
}

func (f *Forge) discard(ctx context.Context, r *http.Request) (map[string]any, error) {
	jobID, ok := parseID(paramStr(r, "job_id"))
	if !ok {
		return nil, reason.New(CodeBadRequest, "job_id required")
	}
	variant, _ := strconv.Atoi(paramStr(r, "variant")) // 0 or absent: every preview
	res, err := f.o.Service.Discard(ctx, forgejob.DiscardRequest{JobID: jobID, Variant: variant, ActorIP: info(r).clientIP})
	if err != nil {
		return nil, err
	}
	return map[string]any{"job_id": res.JobID, "discarded": res.Discarded,
		"message": fmt.Sprintf("discarded %d preview(s) of job #%d", len(res.Discarded), jobID)}, nil
}

// models fetches the list within ProbeTimeout; an unreachable Forge answers
// with the cached (possibly stale) list and the fetch status.
func (f *Forge) models(ctx context.Context) (map[string]any, error) {
	pctx, cancel := context.WithTimeout(ctx, f.o.ProbeTimeout)
	defer cancel()
	ml, err := f.o.Service.Models(pctx)
	if err != nil && forgejob.Problem(err) != nil {
		return nil, err
	}
	names := make([]string, 0, len(ml.Models))
	for _, m := range ml.Models {
		names = append(names, m.Name())
	}
	out := map[string]any{"models": names, "status": ml.Status, "source": ml.Source, "http_code": ml.HTTPCode}
	if err != nil {
		out["status"], out["reason_code"], out["error"] = cmp.Or(ml.Status, "unavailable"), reason.Code(err), reason.Truncate(err.Error(), 240)
	}
	return out, nil
}

// preview serves one output file of a finished forge job to admins; the
// path comes from the job's result, adult media stay gated by the session.
func (f *Forge) preview(w http.ResponseWriter, r *http.Request) {
	ri := info(r)
	if !ri.admin {
		f.s.fail(w, r, http.StatusForbidden, CodeAuthRequired, nil)
		return
	}
	jobID, ok := parseID(r.URL.Query().Get("job_id"))
	variant, _ := strconv.Atoi(r.URL.Query().Get("variant"))
	if !ok || variant < 1 {
		f.s.fail(w, r, http.StatusBadRequest, CodeBadRequest, nil)
		return
	}
	path, mediaID, err := f.o.Service.PreviewFile(r.Context(), jobID, variant)
	if err != nil {
		f.s.fail(w, r, http.StatusNotFound, CodeNotFound, err)
		return
	}
	m, err := catalog.Get(r.Context(), f.s.rdb, mediaID)
	if err != nil {
		f.s.failErr(w, r, err)
		return
	}
	if m.NSFW && !ri.sess.Adult {
		f.s.fail(w, r, http.StatusForbidden, CodeAdultHidden, nil)
		return
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	// size=N asks for a cached thumbnail (the panel lists many previews);
	// it shares the media's thumbnail folder, so purging the media's
	// thumbnails drops these too. Without a thumbnailer, or when it fails,
	// the preview itself is served.
	if size, _ := strconv.Atoi(r.URL.Query().Get("size")); size > 0 && f.s.thumbs != nil {
		if t, err := f.s.thumbs.Thumb(r.Context(), ThumbSource{ID: mediaID, Path: path, Type: "image", Size: size}); err == nil {
			path = t.Path
			w.Header().Set("Content-Type", t.ContentType)
		} else {
			f.s.log.Debug().Err(err).Int64("job_id", jobID).Msg("forge preview thumbnail failed")
		}
	}
	fh, err := os.Open(path)
	if err != nil {
		f.s.fail(w, r, http.StatusNotFound, CodeNotFound, err)
		return
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil || !st.Mode().IsRegular() {
		f.s.fail(w, r, http.StatusNotFound, CodeNotFound, err)
		return
	}
	w.Header().Set("Cache-Control", "private, max-age=300")
	http.ServeContent(w, r, st.Name(), st.ModTime(), fh)
}

// forgeRegenAction is the legacy action=forge_regen of /media_view.php: the
// same planned enqueue as the panel, with a service built from the config.
func (s *Server) forgeRegenAction(ctx context.Context, r *http.Request, id int64) (actionResult, error) {
	q, ok := s.jobs.(*jobs.Queue)
	if !ok {
		return actionResult{}, reason.New("jobs_unavailable", "job queue not configured")
	}
	svc, err := forgejob.FromConfig(s.cfg, s.db, q, s.clock, s.log)
	if err != nil {
		return actionResult{}, err
	}
	f := NewForge(ForgeOptions{Service: svc})
	f.s = s
	out, err := f.enqueue(ctx, r, id, false)
	if err != nil {
		if p := forgejob.Problem(err); p != nil {
			return actionResult{}, reason.New(p.ReasonCode, p.Message)
		}
		return actionResult{}, err
	}
	res := actionResult{Status: out["status"].(string)}
	res.Spawn, _ = out["worker_spawn"].(string)
	res.JobID, _ = out["job_id"].(int64)
	if d, _ := out["deduped"].(bool); d {
		res.Status = "deduped"
	}
	return res, nil
}
