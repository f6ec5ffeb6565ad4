package web

import (
	"errors"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/bulk"
	"github.com/localsupervisor/supervisor/pkg/config"
	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/forge"
	"github.com/localsupervisor/supervisor/pkg/modules"
	"github.com/localsupervisor/supervisor/pkg/ollama"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/scanner"
)

// Optional services an action may need. Each is switched on in its config
// section; an action needing a switched-off service is shown disabled with
// the reason, refused when posted anyway, and never starts a worker. The
// names are pkg/bulk's, which names the service each bulk action needs.
const (
	// ServiceTagger is the PixAI-compatible tagger (scanner.enabled): tag
	// rescans, "Rescan library", "Backfill missing tags".
	ServiceTagger = bulk.ServiceTagger
	// ServiceOllama is Ollama (ollama.enabled): analyze, the Ollama pages.
	ServiceOllama = bulk.ServiceOllama
	// ServiceForge is Forge/A1111 (forge.enabled): regen and repair.
	ServiceForge = bulk.ServiceForge
)

// serviceGate names, for a service, the reason code of its refusal (the
// module's own "disabled" code, so the worker and the web say the same)
// and the config key that switches it on.
func serviceGate(svc string) (code, key string) {
	switch svc {
	case ServiceTagger:
		return scanner.CodeDisabled, "scanner.enabled"
	case ServiceOllama:
		return ollama.CodeOllamaDisabled, "ollama.enabled"
	case ServiceForge:
		return forge.CodeDisabled, "forge.enabled"
	}
	panic("web: unknown service " + svc) // programmer error
}

// isGateCode reports whether code is a service-off refusal.
func isGateCode(code string) bool {
	for _, svc := range []string{ServiceTagger, ServiceOllama, ServiceForge} {
		if c, _ := serviceGate(svc); c == code {
			return true
		}
	}
	return false
}

// loadServices reads the enabled switches once, decoding each section over
// its module's defaults exactly as the workers do (modules.Load), so
// the web and the worker never disagree about whether a service is on.
func loadServices(cfg *config.Config) (map[string]bool, error) {
	m, err := modules.Load(cfg)
	if err != nil {
		return nil, err
	}
	return map[string]bool{
		ServiceTagger: m.Enabled("scanner"),
		ServiceOllama: m.Enabled("ollama"),
		ServiceForge:  m.Enabled("forge"),
	}, nil
}

// serviceOff returns the refusal of an action that needs svc while the
// config switches it off, nil when it is on.
func (s *Server) serviceOff(svc string) error {
	if s.services[svc] {
		return nil
	}
	code, key := serviceGate(svc)
	return reason.Newf(code, "%s is false", key).With("config_key", key)
}

// offReason is the sentence shown next to an action that needs svc ("" when
// the service is on).
func (s *Server) offReason(lang, svc string) string {
	err := s.serviceOff(svc)
	if err == nil {
		return ""
	}
	text, _, _ := s.message(lang, reason.Code(err), 0)
	return text
}

// workerService is the service a worker binary talks to ("" for workers
// that need none, like scan-worker: an import without the tagger works).
func workerService(worker string) string {
	switch worker {
	case "forge-worker":
		return ServiceForge
	case "ollama-service", "ollama-worker":
		return ServiceOllama
	}
	return ""
}

// message is the one mapping from a code to the sentence a person reads,
// in lang. Success codes of actions live under "ok.<code>" in the
// catalogue, refusals and failures under "err.<code>"; each is a plain
// sentence with the next step. "{config}" becomes the config file to edit,
// "{n}" the number n (a job id). known is false for a code without a
// sentence (the caller picks a generic one; a raw code is never shown).
func (s *Server) message(lang, code string, n int64) (text string, isErr, known bool) {
	if code == "" {
		return "", false, false
	}
	for _, prefix := range []string{"ok.", "err."} {
		key := prefix + code
		t := s.i18n.T(lang, key)
		if t == key {
			continue
		}
		t = strings.ReplaceAll(t, "{config}", s.configName())
		t = strings.ReplaceAll(t, "{n}", strconv.FormatInt(n, 10))
		return t, prefix == "err.", true
	}
	return "", false, false
}

// configName is the config file a person should edit: relative to the base
// folder when inside it; CONFIG/config.json when none was loaded (that is
// where one is created).
func (s *Server) configName() string {
	p := s.cfg.ConfigPath
	if p == "" {
		return filepath.Join("CONFIG", "config.json")
	}
	if rel, err := filepath.Rel(s.cfg.BaseDir, p); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return rel
	}
	return p
}

// Banner is the feedback line a page shows after a form post redirected
// back to it (?msg=<code>&n=<number>).
type Banner struct {
	Text  string
	Error bool
}

// banner reads the redirect's feedback code. Only codes with a catalogue
// sentence are shown, so a crafted link cannot put arbitrary text on the
// page.
func (s *Server) banner(r *http.Request) *Banner {
	q := r.URL.Query()
	n, _ := strconv.ParseInt(q.Get("n"), 10, 64)
	text, isErr, ok := s.message(info(r).lang, q.Get("msg"), n)
	if !ok {
		return nil
	}
	return &Banner{Text: text, Error: isErr}
}

// feedbackURL is path with the feedback code (and number) for its banner.
func feedbackURL(path, code string, n int64) string {
	q := url.Values{"msg": {code}}
	if n > 0 {
		q.Set("n", strconv.FormatInt(n, 10))
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return path + sep + q.Encode()
}

// answer ends a successful action: JSON with the sentence for fetch
// callers, else a redirect to back whose banner shows it.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, back, code string, n int64, out map[string]any) {
	if wantsJSON(r) {
		if out == nil {
			out = map[string]any{}
		}
		text, _, _ := s.message(info(r).lang, code, n)
		out["ok"], out["message"], out["message_code"] = true, text, code
		writeJSON(w, http.StatusOK, out)
		return
	}
	http.Redirect(w, r, feedbackURL(back, code, n), http.StatusSeeOther)
}

// refuse ends a failed action. A refusal a person can act on (a permanent
// reason code with a sentence: service off, folder not found, unknown
// mode) answers 409 (service off) or 400 with the sentence, or, when back
// is set, redirects a plain form post to back with the sentence as an
// error banner; anything else (busy, internal) goes through failErr.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, back string, err error) {
	code := reason.Code(err)
	text, isErr, known := s.message(info(r).lang, code, 0)
	if !known || !isErr || reason.KindOf(err) != reason.KindPermanent || db.IsBusy(err) || errors.Is(err, db.ErrBusy) {
		s.failErr(w, r, err)
		return
	}
	s.log.Info().Err(err).Str("reason_code", code).Str("path", r.URL.Path).Msg("action refused")
	if !wantsJSON(r) && back != "" {
		http.Redirect(w, r, feedbackURL(back, code, 0), http.StatusSeeOther)
		return
	}
	status := http.StatusBadRequest
	if isGateCode(code) {
		status = http.StatusConflict
	}
	if !wantsJSON(r) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(text + "\n"))
		return
	}
	writeJSON(w, status, map[string]any{"ok": false, "status": "refused", "reason_code": code, "error": text, "message": text})
}
