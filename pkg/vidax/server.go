package vidax

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"sync"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

// Route paths (the original's, plus /comfyui/stop).
const (
	PathInstall       = "/install"
	PathInstallStatus = "/install/status"
	PathJobStart      = "/jobs/{id}/start"
	PathComfyStop     = "/comfyui/stop"
)

// Answer messages of /jobs/:id/start and /comfyui/stop.
const (
	MsgStarted        = "started"
	MsgAlreadyRunning = "already_running"
	MsgStopped        = "stopped"
	MsgNotRunning     = "not_running"
)

// Server is the vidax HTTP API.
type Server struct {
	APIKey string
	// Installer returns the installer with the current manifest (read on
	// every request, so an edited assets.json needs no restart).
	Installer func() (*Installer, error)
	Proc      *Process
	// OnError is told about every failed request (logging); may be nil.
	OnError func(route string, err error)

	// installMu keeps two installs from writing the same .part file.
	installMu sync.Mutex
}

// ErrorBody is every error answer: the original's error field plus a
// stable reason_code and a sentence saying what to do.
type ErrorBody struct {
	Error      string         `json:"error"`
	ReasonCode string         `json:"reason_code"`
	Message    string         `json:"message"`
	Fields     map[string]any `json:"fields,omitempty"`
	Assets     []AssetStatus  `json:"assets,omitempty"`
}

// InstallAnswer is POST /install's answer.
type InstallAnswer struct {
	Status string        `json:"status"`
	Assets []AssetStatus `json:"assets"`
}

// StatusAnswer is GET /install/status's answer.
type StatusAnswer struct {
	Assets  []AssetStatus `json:"assets"`
	ComfyUI ProcStatus    `json:"comfyui"`
	// ManifestError says why assets are unknown (no manifest yet).
	ManifestError string `json:"manifest_error,omitempty"`
}

// StartAnswer is POST /jobs/:id/start's answer (202).
type StartAnswer struct {
	Status  string        `json:"status"`
	Assets  []AssetStatus `json:"assets"`
	Message string        `json:"message"`
	PID     int           `json:"pid"`
	Logs    LogPaths      `json:"logs"`
}

// StopAnswer is POST /comfyui/stop's answer.
type StopAnswer struct {
	Status string `json:"status"`
	PID    int    `json:"pid,omitempty"`
}

// Handler is the API with x-api-key checked on every route.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+PathInstall, s.install)
	mux.HandleFunc("GET "+PathInstallStatus, s.status)
	mux.HandleFunc("POST "+PathJobStart, s.start)
	mux.HandleFunc("POST "+PathComfyStop, s.stop)
	return s.auth(mux)
}

// auth compares x-api-key in constant time (both sides hashed first, so
// not even the key's length leaks through timing).
func (s *Server) auth(next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(s.APIKey))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := sha256.Sum256([]byte(r.Header.Get("x-api-key")))
		if s.APIKey == "" || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			writeJSON(w, http.StatusUnauthorized, ErrorBody{Error: "unauthorized", ReasonCode: CodeUnauthorized,
				Message: "missing or wrong x-api-key: send vidax.json's apiKey (the web UI's comfyui.vidax_api_key)"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) ensure(ctx context.Context) ([]AssetStatus, error) {
	in, err := s.Installer()
	if err != nil {
		return nil, err
	}
	s.installMu.Lock()
	defer s.installMu.Unlock()
	return in.Ensure(ctx)
}

func (s *Server) install(w http.ResponseWriter, r *http.Request) {
	assets, err := s.ensure(r.Context())
	if err != nil {
		s.fail(w, r, err, assets)
		return
	}
	writeJSON(w, http.StatusOK, InstallAnswer{Status: "ok", Assets: assets})
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	var ans StatusAnswer
	if in, err := s.Installer(); err != nil {
		ans.ManifestError = err.Error()
	} else {
		ans.Assets = in.Check()
	}
	ans.ComfyUI = s.Proc.Status(r.Context(), true)
	writeJSON(w, http.StatusOK, ans)
}

// start ensures the assets (the job id is ignored, as in the original) and
// starts ComfyUI unless it runs.
func (s *Server) start(w http.ResponseWriter, r *http.Request) {
	assets, err := s.ensure(r.Context())
	if err != nil {
		s.fail(w, r, err, assets)
		return
	}
	st, already, err := s.Proc.Start(r.Context())
	if err != nil {
		s.fail(w, r, err, assets)
		return
	}
	msg := MsgStarted
	if already {
		msg = MsgAlreadyRunning
	}
	writeJSON(w, http.StatusAccepted, StartAnswer{Status: "queued", Assets: assets, Message: msg, PID: st.PID, Logs: st.Logs})
}

func (s *Server) stop(w http.ResponseWriter, r *http.Request) {
	pid := s.Proc.Status(r.Context(), false).PID
	stopped, err := s.Proc.Stop(r.Context())
	if err != nil {
		s.fail(w, r, err, nil)
		return
	}
	ans := StopAnswer{Status: MsgNotRunning}
	if stopped {
		ans = StopAnswer{Status: MsgStopped, PID: pid}
	}
	writeJSON(w, http.StatusOK, ans)
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error, assets []AssetStatus) {
	if s.OnError != nil {
		s.OnError(r.URL.Path, err)
	}
	code := reason.CodeOr(err, "vidax_error")
	writeJSON(w, HTTPStatus(err), ErrorBody{Error: err.Error(), ReasonCode: code, Message: err.Error(), Fields: reason.FieldsOf(err), Assets: assets})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
