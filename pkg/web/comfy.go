package web

import (
	"bytes"
	"context"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/localsupervisor/supervisor/pkg/comfy"
	"github.com/localsupervisor/supervisor/pkg/comfyjob"
	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/forgejob"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

// ComfyService is what the ComfyUI regeneration panel needs;
// *comfyjob.Service implements it.
type ComfyService interface {
	ConfigError() error
	Enqueue(ctx context.Context, er comfyjob.EnqueueRequest) (*comfyjob.EnqueueResult, error)
	Source(ctx context.Context, q db.Execer, mediaID int64) (*comfyjob.Source, error)
	Check(ctx context.Context, mediaID int64, timeout time.Duration) (*comfyjob.Source, error)
}

// ComfyProbeTimeoutDefault bounds the /object_info check an enqueue makes,
// so the page answers quickly even when ComfyUI is slow.
const ComfyProbeTimeoutDefault = 3 * time.Second

// ComfyOptions wire the ComfyUI panel.
type ComfyOptions struct {
	// Service queues regenerations. Required.
	Service ComfyService
	// Previews is the forgejob service: ComfyUI previews are accepted,
	// discarded and served by the same code as Forge's. Required.
	Previews ForgeService
	// Worker runs comfy_regen jobs (default ForgeWorkerDefault).
	Worker string
	// ProbeTimeout (default ComfyProbeTimeoutDefault).
	ProbeTimeout time.Duration
}

// Comfy serves the detail page's "Regenerate with ComfyUI" panel for media
// whose file carries a ComfyUI API graph, and POST /comfy.php (actions
// regen, accept, discard, status, cancel) and GET /comfy_preview.php.
type Comfy struct {
	o   ComfyOptions
	s   *Server
	tpl *template.Template
	// fw serves accept, discard and previews: the Forge panel's handlers
	// over the same forgejob service.
	fw *Forge
}

// NewComfy checks the options and fills defaults.
func NewComfy(o ComfyOptions) *Comfy {
	if o.Service == nil || o.Previews == nil {
		panic("web.NewComfy: nil Service or Previews") // wiring error
	}
	if o.Worker == "" {
		o.Worker = ForgeWorkerDefault
	}
	if o.ProbeTimeout <= 0 {
		o.ProbeTimeout = ComfyProbeTimeoutDefault
	}
	return &Comfy{o: o, fw: NewForge(ForgeOptions{Service: o.Previews, Worker: o.Worker})}
}

// Routes registers the endpoints (an Options.ExtraRoutes function).
func (c *Comfy) Routes(mux *http.ServeMux, s *Server) {
	c.s, c.fw.s = s, s
	t, err := template.New("comfy_panel").Funcs(s.funcs()).ParseFS(assetsFS, "templates/comfy_panel.html")
	if err != nil {
		panic(fmt.Sprintf("parse comfy_panel: %v", err)) // embedded template: programmer error
	}
	c.tpl = t
	mux.HandleFunc("/comfy.php", s.Mutating(true, c.api))
	mux.HandleFunc("GET /comfy_preview.php", c.fw.preview)
	mux.HandleFunc("GET /comfy.js", serveForgeJS)
}

// comfyField is one editable value of the form: its current value and
// whether the graph holds it where it can be changed.
type comfyField struct {
	Name, Value string
	Editable    bool
}

// DetailSection renders the panel for admins. It makes no ComfyUI call:
// the graph comes from the catalogue, and the server check runs when a
// regeneration is queued.
func (c *Comfy) DetailSection() DetailSection {
	return func(ctx context.Context, r *http.Request, mediaID int64) (template.HTML, error) {
		ri := info(r)
		if !ri.admin || c.s == nil {
			return "", nil
		}
		src, serr := c.o.Service.Source(ctx, c.s.rdb, mediaID)
		if reason.Code(serr) == comfyjob.CodeNoGraph {
			return "", nil // not a ComfyUI media: nothing to offer
		}
		if serr != nil && reason.Code(serr) == "" {
			return "", serr
		}
		data := map[string]any{"MediaID": mediaID, "CSRF": ri.sess.CSRF, "Lang": ri.lang,
			"Msg": r.URL.Query().Get("comfy_msg"), "MsgCode": r.URL.Query().Get("comfy_code")}
		if err := c.o.Service.ConfigError(); err != nil {
			data["Off"] = comfyProblem(err)
		}
		if serr != nil {
			data["GraphProblem"] = comfyProblem(serr)
		} else {
			data["Fields"], data["Prompt"], data["Negative"], data["Seed"] = comfyFields(src), src.Targets.Main.PromptRaw,
				src.Targets.Main.NegativePromptRaw, src.Targets.Main.Seed
			data["Main"] = src.Targets.Main.NodeID + " (" + src.Targets.Main.ClassType + ")"
		}
		jv, err := forgejob.MediaPreviewJobs(ctx, c.s.rdb, mediaID, 0, comfyjob.Types()...)
		if err != nil {
			return "", err
		}
		data["Jobs"] = jv
		var buf bytes.Buffer
		if err := c.tpl.ExecuteTemplate(&buf, "comfy_panel", data); err != nil {
			return "", err
		}
		return template.HTML(buf.String()), nil
	}
}

// comfyProblemView is a refusal as the panel shows it.
type comfyProblemView struct {
	ReasonCode string
	Message    string
}

func comfyProblem(err error) *comfyProblemView {
	return &comfyProblemView{ReasonCode: reason.Code(err), Message: err.Error()}
}

func comfyFields(src *comfyjob.Source) []comfyField {
	t := src.Targets
	m := t.Main
	f := func(v any) string {
		switch x := v.(type) {
		case *int:
			if x != nil {
				return strconv.Itoa(*x)
			}
		case *float64:
			if x != nil {
				return strconv.FormatFloat(*x, 'f', -1, 64)
			}
		}
		return ""
	}
	return []comfyField{
		{"steps", f(m.Steps), !t.Steps.IsZero()},
		{"cfg", f(m.CFGScale), !t.CFG.IsZero()},
		{"denoise", f(m.Denoise), !t.Denoise.IsZero()},
		{"width", f(m.Width), !t.Width.IsZero()},
		{"height", f(m.Height), !t.Height.IsZero()},
	}
}

func (c *Comfy) api(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		c.s.fail(w, r, http.StatusBadRequest, CodeBadRequest, err)
		return
	}
	ctx := r.Context()
	mediaID, _ := parseID(paramStr(r, "media_id"))
	var out map[string]any
	var err error
	switch action := paramStr(r, "action"); action {
	case "regen":
		out, err = c.enqueue(ctx, r, mediaID)
	case "check":
		var src *comfyjob.Source
		if src, err = c.o.Service.Check(ctx, mediaID, c.o.ProbeTimeout); err == nil {
			out = map[string]any{"nodes": len(src.Graph), "message": fmt.Sprintf("ComfyUI has every node type and model of this workflow (%d nodes)", len(src.Graph))}
		}
	case "accept":
		out, err = c.fw.accept(ctx, r)
	case "discard":
		out, err = c.fw.discard(ctx, r)
	case "status":
		var jv []forgejob.JobView
		if jv, err = forgejob.MediaPreviewJobs(ctx, c.s.rdb, mediaID, 0, comfyjob.Types()...); err == nil {
			out = map[string]any{"jobs": jv}
		}
	case "cancel":
		out, err = c.s.cancelAction(ctx, r)
	default:
		err = reason.New("unknown_action", "unknown action "+action)
	}
	if err != nil {
		c.fail(w, r, mediaID, err)
		return
	}
	out["ok"] = true
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, out)
		return
	}
	msg, _ := out["message"].(string)
	panelBack(w, r, mediaID, "comfy", msg, "")
}

// fail answers a refusal: ComfyUI and preview reason codes are sentences
// for the admin (naming missing nodes and models), shown in the panel;
// anything else goes through the server's generic mapping.
func (c *Comfy) fail(w http.ResponseWriter, r *http.Request, mediaID int64, err error) {
	code := reason.Code(err)
	visible := strings.HasPrefix(code, "comfy_") || strings.HasPrefix(code, "forge_") || code == jobs.CodeNotFound
	if !visible || db.IsBusy(err) {
		c.s.failErr(w, r, err)
		return
	}
	c.s.log.Warn().Err(err).Str("reason_code", code).Msg("comfy action failed")
	if wantsJSON(r) {
		status := http.StatusBadRequest
		if reason.KindOf(err) == reason.KindTransient {
			status = http.StatusBadGateway
		}
		body := map[string]any{"ok": false, "status": "error", "reason_code": code, "error": reason.Truncate(err.Error(), 600)}
		for k, v := range reason.FieldsOf(err) {
			if _, ok := body[k]; !ok {
				body[k] = v
			}
		}
		writeJSON(w, status, body)
		return
	}
	panelBack(w, r, mediaID, "comfy", reason.Truncate(err.Error(), 600), code)
}

// enqueue reads the form, queues the job and starts forge-worker.
func (c *Comfy) enqueue(ctx context.Context, r *http.Request, mediaID int64) (map[string]any, error) {
	if mediaID == 0 {
		return nil, reason.New(CodeBadRequest, "media_id required")
	}
	er, err := comfyRequest(r)
	if err != nil {
		return nil, err
	}
	er.MediaID, er.ActorIP, er.ProbeTimeout = mediaID, info(r).clientIP, c.o.ProbeTimeout
	res, err := c.o.Service.Enqueue(ctx, er)
	if err != nil {
		return nil, err
	}
	// The comfyui section, not forge.enabled, gates this worker's job.
	spawn := c.s.spawnFor(ctx, c.o.Worker, "", []string{"--media-id=" + strconv.FormatInt(mediaID, 10)})
	msg := fmt.Sprintf("ComfyUI job #%d %s; worker: %s", res.JobID, map[bool]string{true: "deduped", false: "queued"}[res.Deduped], spawn)
	if !res.Checked {
		msg += "; ComfyUI did not answer the check in time, the worker checks again"
	}
	return map[string]any{"job_id": res.JobID, "deduped": res.Deduped, "status": res.Status, "edits": res.Edits,
		"server_checked": res.Checked, "worker_spawn": spawn, "message": msg}, nil
}

// comfyRequest reads the regen form: seed=new|same (default new), prompt,
// negative, steps, cfg, denoise, width, height (empty: keep the graph's).
func comfyRequest(r *http.Request) (comfyjob.EnqueueRequest, error) {
	var er comfyjob.EnqueueRequest
	bad := func(name, v string) error {
		return reason.Newf(comfy.CodeValueInvalid, "%s %q is not a number", name, v)
	}
	switch s := paramStr(r, "seed"); s {
	case "", "new":
		er.NewSeed = true
	case "same":
	default:
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return er, bad("seed", s)
		}
		er.Edits.Seed = &v
	}
	if v, ok := param(r, "prompt"); ok {
		er.Edits.Prompt = &v
	}
	if v, ok := param(r, "negative"); ok {
		er.Edits.Negative = &v
	}
	ints := map[string]**int{"steps": &er.Edits.Steps, "width": &er.Edits.Width, "height": &er.Edits.Height}
	for name, dst := range ints {
		if s := paramStr(r, name); s != "" {
			v, err := strconv.Atoi(s)
			if err != nil {
				return er, bad(name, s)
			}
			*dst = &v
		}
	}
	floats := map[string]**float64{"cfg": &er.Edits.CFG, "denoise": &er.Edits.Denoise}
	for name, dst := range floats {
		if s := paramStr(r, name); s != "" {
			v, err := strconv.ParseFloat(strings.ReplaceAll(s, ",", "."), 64)
			if err != nil {
				return er, bad(name, s)
			}
			*dst = &v
		}
	}
	return er, er.Edits.Validate()
}

// JoinSections renders several detail sections as one, in order (the Forge
// and ComfyUI panels share one wiring slot).
func JoinSections(secs ...DetailSection) DetailSection {
	return func(ctx context.Context, r *http.Request, mediaID int64) (template.HTML, error) {
		var b strings.Builder
		for _, sec := range secs {
			h, err := sec(ctx, r, mediaID)
			if err != nil {
				return "", err
			}
			b.WriteString(string(h))
		}
		return template.HTML(b.String()), nil
	}
}
