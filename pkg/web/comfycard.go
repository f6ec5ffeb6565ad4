package web

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/localsupervisor/supervisor/pkg/comfy"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/vidax"
)

// comfyCardTimeout bounds the status calls of the dashboard's ComfyUI card:
// a hung ComfyUI or vidax delays the page by this much at most.
const comfyCardTimeout = 3 * time.Second

// Codes of the ComfyUI card actions: refusals (each has an "err."
// sentence) and results ("ok.").
const (
	CodeComfyAction       = "comfy_action_unknown"
	CodeComfyActionFailed = "comfy_action_failed"
	CodeComfyNoVidax      = "comfy_vidax_not_configured"

	okComfyInstalled      = "comfy_installed"
	okComfyStarted        = "comfy_started"
	okComfyAlreadyRunning = "comfy_already_running"
	okComfyStopped        = "comfy_stopped"
	okComfyNotRunning     = "comfy_not_running"
)

func comfySuccess(code string) bool {
	switch code {
	case okComfyInstalled, okComfyStarted, okComfyAlreadyRunning, okComfyStopped, okComfyNotRunning:
		return true
	}
	return false
}

// comfyCard is the dashboard's ComfyUI card: through vidax when
// comfyui.vidax_url is set (process, assets, logs, and the
// install/start/stop buttons), else straight from ComfyUI's
// /system_stats on comfyui.base_url.
type comfyCard struct {
	Enabled bool
	// Via is "vidax" or "direct".
	Via string
	URL string
	// Up: ComfyUI answers (direct), or its process runs (vidax).
	Up         bool
	Version    string
	Devices    []string
	PID        int
	StartedAt  string
	Responding *bool
	Logs       vidax.LogPaths
	Assets     []vidax.AssetStatus
	// ManifestError says why vidax knows no assets.
	ManifestError string
	// ErrCode/ErrText: the status could not be read (vidax or ComfyUI
	// down, wrong key, bad config), as a sentence and its reason code.
	ErrCode string
	ErrText string
}

func (s *Server) comfyConfig() (comfy.Config, error) {
	var c comfy.Config
	err := s.cfg.DecodeSection("comfyui", &c)
	c.ConfigPath = s.cfg.ConfigPath
	return c, err
}

// comfyStatus fills the card; it never fails, errors become ErrCode/ErrText.
func (s *Server) comfyStatus(ctx context.Context, lang string) comfyCard {
	cfg, err := s.comfyConfig()
	if err == nil {
		err = cfg.Validate()
	}
	card := comfyCard{Enabled: cfg.Enabled}
	if !cfg.Enabled {
		return card
	}
	if err != nil {
		return s.comfyErr(card, lang, err)
	}
	ctx, cancel := context.WithTimeout(ctx, min(cfg.ShortTimeout(), comfyCardTimeout))
	defer cancel()
	if cfg.VidaxURL != "" {
		card.Via, card.URL = "vidax", cfg.VidaxURL
		vc, err := vidax.NewClient(cfg.VidaxURL, cfg.VidaxAPIKey, nil)
		if err != nil {
			return s.comfyErr(card, lang, err)
		}
		st, err := vc.Status(ctx)
		if err != nil {
			return s.comfyErr(card, lang, err)
		}
		p := st.ComfyUI
		card.Up, card.PID, card.StartedAt, card.Responding, card.Logs = p.Running, p.PID, p.StartedAt, p.Responding, p.Logs
		card.Assets, card.ManifestError = st.Assets, st.ManifestError
		return card
	}
	card.Via, card.URL = "direct", cfg.BaseURLOrDefault()
	cc, err := comfy.New(card.URL, nil)
	if err != nil {
		return s.comfyErr(card, lang, err)
	}
	stats, err := cc.SystemStats(ctx)
	if err != nil {
		return s.comfyErr(card, lang, err)
	}
	card.Up, card.Version = true, stats.System.ComfyUIVersion
	for _, d := range stats.Devices {
		card.Devices = append(card.Devices, d.Name)
	}
	return card
}

func (s *Server) comfyErr(card comfyCard, lang string, err error) comfyCard {
	card.ErrCode = reason.CodeOr(err, "comfy_status_failed")
	card.ErrText = s.comfyText(lang, err)
	return card
}

// comfyText is the sentence for a ComfyUI/vidax error: the catalogue's for
// its code, else the error's own message (vidax and the comfy client write
// plain sentences with the next step).
func (s *Server) comfyText(lang string, err error) string {
	if t, _, known := s.message(lang, reason.Code(err), 0); known {
		return t
	}
	var re *reason.Error
	if errors.As(err, &re) && re.Msg != "" {
		return re.Msg
	}
	return s.i18n.T(lang, "comfy.status_failed")
}

func (s *Server) comfyRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /dashboard/comfyui", s.handleComfyCard)
	mux.HandleFunc("/comfyui/action", s.mutating(true, s.handleComfyAction))
}

// handleComfyCard renders the card alone (the dashboard's refresh).
func (s *Server) handleComfyCard(w http.ResponseWriter, r *http.Request) {
	if !s.requireAdminPage(w, r) {
		return
	}
	s.renderFragment(w, r, "dashboard", "comfy_card", map[string]any{"Comfy": s.comfyStatus(r.Context(), info(r).lang), "ComfyCode": comfyCode(r)})
}

// comfyCode is the reason code of a refused card action the redirect
// carries in ?msg= (the banner says the sentence, the card names the code).
func comfyCode(r *http.Request) string {
	m := r.URL.Query().Get("msg")
	if strings.HasPrefix(m, "vidax_") || (strings.HasPrefix(m, "comfy_") && !comfySuccess(m)) {
		return m
	}
	return ""
}

// handleComfyAction is an admin's install/start/stop button: it asks vidax
// and answers with a sentence. A refusal or an unreachable vidax is a
// banner with the sentence and its reason code, never a 500.
func (s *Server) handleComfyAction(w http.ResponseWriter, r *http.Request) {
	action := r.PostFormValue("action")
	if action != "install" && action != "start" && action != "stop" {
		s.comfyRefuse(w, r, reason.New(CodeComfyAction, "unknown ComfyUI action"))
		return
	}
	cfg, err := s.comfyConfig()
	if err == nil {
		err = cfg.Validate()
	}
	if err == nil && cfg.VidaxURL == "" {
		err = reason.New(CodeComfyNoVidax, "no vidax configured")
	}
	var vc *vidax.Client
	if err == nil {
		vc, err = vidax.NewClient(cfg.VidaxURL, cfg.VidaxAPIKey, nil)
	}
	if err != nil {
		s.comfyRefuse(w, r, err)
		return
	}
	// Installing downloads models: it may take long, bounded by the
	// generation timeout rather than the short one.
	ctx, cancel := context.WithTimeout(r.Context(), cfg.GenerationTimeoutOrDefault())
	defer cancel()
	out := map[string]any{"action": "comfy_" + action}
	var code string
	switch action {
	case "install":
		var a vidax.InstallAnswer
		a, err = vc.Install(ctx)
		out["assets"], code = a.Assets, okComfyInstalled
	case "start":
		var a vidax.StartAnswer
		a, err = vc.Start(ctx)
		out["pid"], code = a.PID, okComfyStarted
		if a.Message == vidax.MsgAlreadyRunning {
			code = okComfyAlreadyRunning
		}
	case "stop":
		var a vidax.StopAnswer
		a, err = vc.Stop(ctx)
		out["pid"], code = a.PID, okComfyStopped
		if a.Status == vidax.MsgNotRunning {
			code = okComfyNotRunning
		}
	}
	if err != nil {
		s.comfyRefuse(w, r, err)
		return
	}
	if err := s.auditGlobal(r.Context(), r, "dashboard_comfy_"+action, out); err != nil {
		s.log.Warn().Err(err).Msg("audit not written")
	}
	s.answer(w, r, dashboardBack+"#comfyui", code, 0, out)
}

// comfyRefuse answers a failed card action: JSON {ok:false, reason_code,
// error} (409) for fetch callers, else back to the dashboard with the
// sentence as an error banner.
func (s *Server) comfyRefuse(w http.ResponseWriter, r *http.Request, err error) {
	code := reason.CodeOr(err, CodeComfyActionFailed)
	s.log.Info().Err(err).Str("reason_code", code).Msg("ComfyUI action refused")
	if wantsJSON(r) {
		text := s.comfyText(info(r).lang, err)
		writeJSON(w, http.StatusConflict, map[string]any{"ok": false, "status": "refused", "reason_code": code, "error": text, "message": text})
		return
	}
	http.Redirect(w, r, feedbackURL(dashboardBack, code, 0)+"#comfyui", http.StatusSeeOther)
}
