// Package web is Supervisor's HTTP server: server-rendered html/template pages
// (media list, detail, dashboard), thumbnails, Range streaming, health and the
// JSON endpoints behind the plain JavaScript UI. It mirrors the original PHP
// URLs (/mediadb.php, /media_view.php, /thumb.php, /media_stream.php,
// /health.php, /jobs_prune.php) and fixes its defects: concurrent serving,
// no N+1 queries, cached thumbnails, CSRF on every state change, no loopback
// auto-admin, a Host allow-list, adult media gated by the session.
package web

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/localsupervisor/supervisor/pkg/catalog"
	"github.com/localsupervisor/supervisor/pkg/config"
	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/supervise"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

//go:embed templates/*.html static/*
var assetsFS embed.FS

// ThumbSource describes the media a thumbnail is asked for.
type ThumbSource struct {
	ID   int64
	Path string // resolved, inside the library roots
	Type string // image | video
	Size int    // longest side in pixels
}

// Thumb is a generated (cached) thumbnail file.
type Thumb struct {
	Path        string
	ContentType string
	ETag        string
	ModTime     time.Time
}

// Thumbnailer produces cached thumbnails (pkg/thumb implements it through an
// adapter in cmd/webui). It must bound concurrency and generate one
// thumbnail once for concurrent callers.
type Thumbnailer interface {
	Thumb(ctx context.Context, src ThumbSource) (Thumb, error)
}

// JobAdmin performs the job-center writes (pkg/jobs admin functions).
type JobAdmin interface {
	Cancel(ctx context.Context, id int64) error
	Requeue(ctx context.Context, id int64) error
	Delete(ctx context.Context, id int64) error
	Prune(ctx context.Context, req PruneRequest) (PruneResult, error)
}

// PruneRequest mirrors the jobs_prune.php parameters.
type PruneRequest struct {
	Types   []string `json:"types"`
	Status  []string `json:"status"`
	MediaID int64    `json:"media_id,omitempty"`
	Force   bool     `json:"force"`
	DryRun  bool     `json:"dry_run"`
}

// PruneResult mirrors the jobs_prune.php answer.
type PruneResult struct {
	MatchedCount        int  `json:"matched_count"`
	DeletedCount        int  `json:"deleted_count"`
	UpdatedCount        int  `json:"updated_count"`
	BlockedRunningCount int  `json:"blocked_running_count"`
	DryRun              bool `json:"dry_run"`
}

// Launcher starts a worker binary fire-and-forget (pkg/launch). It returns a
// status such as "started_unverified" and never waits for the worker.
type Launcher interface {
	Spawn(ctx context.Context, worker string, args []string) (status string, err error)
}

// Supervised exposes the state of webui-supervised workers
// (*supervise.Supervisor implements it).
type Supervised interface {
	States() []supervise.State
}

// Enqueuer inserts jobs (*jobs.Queue implements it).
type Enqueuer interface {
	Enqueue(ctx context.Context, req jobs.EnqueueRequest) (jobs.EnqueueResult, error)
}

// DetailSection is an extension point: extra HTML rendered on the detail page
// (e.g. the Ollama and Forge panels) for a media id.
type DetailSection func(ctx context.Context, r *http.Request, mediaID int64) (template.HTML, error)

// Options wires a Server. DB (writer) and ReadDB (query-only, short busy
// timeout) are required; the rest is optional and disables the matching
// feature when nil.
type Options struct {
	Config   *config.Config
	DB       *sql.DB
	ReadDB   *sql.DB
	Log      zerolog.Logger
	Clock    svtime.Clock
	Thumbs   Thumbnailer
	Jobs     Enqueuer
	JobAdmin JobAdmin
	Launcher Launcher
	// Version is reported by /health.php.
	Version string
	// SecureCookies sets the Secure flag (behind a TLS proxy).
	SecureCookies bool
	// ExtraRoutes registers additional handlers (Ollama/Forge pages). The
	// register function wraps mutating handlers with CSRF/admin checks.
	ExtraRoutes func(mux *http.ServeMux, s *Server)
	// DetailSections are rendered at the bottom of the detail page.
	DetailSections []DetailSection
	// Supervised reports the workers webui supervises (nil: none).
	Supervised Supervised
	// Freshness is how old a worker heartbeat may be and still count as
	// running (jobs.fresh_seconds, like supervise and selftest; 0: 180 s).
	Freshness time.Duration
	// PageSize is the number of cards per list page (0: catalog.PageSize).
	// Tests use small pages to reach page boundaries with little data.
	PageSize int
	// SystemError records a 5xx response in system_errors.jsonl
	// (cliapp.Env.SystemError, rate-limited there; nil: not recorded).
	SystemError func(code string, fields map[string]any)
}

// Server is the web UI. Create it with New and serve Handler().
type Server struct {
	cfg           *config.Config
	db            *sql.DB
	rdb           *sql.DB
	log           zerolog.Logger
	clock         svtime.Clock
	thumbs        Thumbnailer
	jobs          Enqueuer
	jobAdmin      JobAdmin
	launcher      Launcher
	version       string
	secureCookies bool
	sessions      *sessionStore
	i18n          *catalogue
	pages         map[string]*template.Template
	static        fs.FS
	allowedHosts  []string
	roots         []string
	extraRoutes   func(mux *http.ServeMux, s *Server)
	sections      []DetailSection
	pageSize      int
	freshness     time.Duration
	counts        countCache
	facetCache    facetCache
	dash          dashCache
	servableCache servableRoots
	srcCounts     sourceCounts
	// clicks buffers the admin detail-view counter for Run.
	clicks      *clickRecorder
	supervised  Supervised
	systemError func(code string, fields map[string]any)
	handler     http.Handler
	// services are the enabled switches of the optional services
	// (ServiceTagger, ServiceOllama, ServiceForge), read once in New.
	services map[string]bool
	// logins throttles wrong admin keys per client address.
	logins *loginLimiter
	// ollamaAnalyze enqueues Ollama jobs for one media and starts
	// ollama-service; set by OllamaRoutes (nil: not wired).
	ollamaAnalyze func(ctx context.Context, id int64, mode string) (actionResult, error)
}

// New builds a Server; templates are parsed once here (fail fast). Run its
// background writer (Run) alongside serving Handler.
func New(o Options) (*Server, error) {
	if o.Config == nil || o.DB == nil || o.ReadDB == nil {
		return nil, errors.New("web.New: Config, DB and ReadDB are required")
	}
	if o.Clock == nil {
		o.Clock = svtime.SystemClock{}
	}
	cat, err := loadCatalogue()
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: o.Config, db: o.DB, rdb: o.ReadDB, log: o.Log, clock: o.Clock, thumbs: o.Thumbs,
		jobs: o.Jobs, jobAdmin: o.JobAdmin, launcher: o.Launcher, version: o.Version, secureCookies: o.SecureCookies,
		sessions: newSessionStore(o.DB, o.ReadDB, sessionSecret(o.Config.Security.InternalAPIKey)), i18n: cat, extraRoutes: o.ExtraRoutes, sections: o.DetailSections,
		pageSize: o.PageSize, supervised: o.Supervised, logins: newLoginLimiter(loginMaxTracked), clicks: newClickRecorder(), systemError: o.SystemError}
	if s.pageSize <= 0 {
		s.pageSize = catalog.PageSize
	}
	s.freshness = cmp.Or(o.Freshness, defaultFreshness)
	if s.services, err = loadServices(o.Config); err != nil {
		return nil, err
	}
	if s.version == "" {
		s.version = "unknown"
	}
	for _, h := range o.Config.Security.AllowedHosts {
		s.allowedHosts = append(s.allowedHosts, strings.ToLower(strings.Trim(strings.TrimSpace(h), "[]")))
	}
	// The bound address's own host is always acceptable.
	if h, _, err := net.SplitHostPort(o.Config.Web.Addr); err == nil && h != "" && h != "0.0.0.0" && h != "::" {
		s.allowedHosts = append(s.allowedHosts, strings.ToLower(strings.Trim(h, "[]")))
	}
	for _, r := range o.Config.MediaRoots() {
		if r != "" {
			s.roots = append(s.roots, r)
		}
	}
	if d := o.Config.Paths.Derivatives; d != "" {
		s.roots = append(s.roots, o.Config.Resolve(d))
	}
	if s.static, err = fs.Sub(assetsFS, "static"); err != nil {
		return nil, err
	}
	if err := s.parseTemplates(); err != nil {
		return nil, err
	}
	s.handler = s.routes()
	return s, nil
}

// Handler returns the root handler with all middleware.
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /static/", s.staticFiles())
	mux.HandleFunc("GET /{$}", s.handleList)
	mux.HandleFunc("GET /mediadb.php", s.handleList)
	mux.HandleFunc("POST /mediadb.php", s.mutating(true, s.handleMediaAction))
	mux.HandleFunc("GET /media_view.php", s.handleDetail)
	mux.HandleFunc("POST /media_view.php", s.mutating(false, s.handleMediaAction))
	mux.HandleFunc("/media/action", s.mutating(false, s.handleMediaAction))
	mux.HandleFunc("/media/bulk", s.mutating(true, s.handleBulk))
	mux.HandleFunc("GET /compare", s.handleCompare)
	mux.HandleFunc("GET /api/media", s.handleListJSON)
	mux.HandleFunc("GET /api/count", s.handleCountJSON)
	mux.HandleFunc("GET /api/bulk", s.handleBulkProgress)
	mux.HandleFunc("GET /api/facets", s.handleFacetsJSON)
	mux.HandleFunc("GET /thumb.php", s.handleThumb)
	mux.HandleFunc("GET /media_stream.php", s.handleStream)
	mux.HandleFunc("GET /health.php", s.handleHealth)
	mux.HandleFunc("GET /health", s.handleHealth)
	mux.HandleFunc("GET /index.php", s.handleDashboard)
	mux.HandleFunc("GET /dashboard", s.handleDashboard)
	mux.HandleFunc("POST /index.php", s.mutating(true, s.handleDashboardAction))
	mux.HandleFunc("/dashboard/action", s.mutating(true, s.handleDashboardAction))
	mux.HandleFunc("GET /api/dashboard", s.handleDashboardJSON)
	mux.HandleFunc("GET /dashboard/jobs", s.handleJobTables)
	mux.HandleFunc("GET /dashboard/sources", s.handleSourcesFragment)
	mux.HandleFunc("GET /import_refused.php", s.handleRefused)
	mux.HandleFunc("/jobs_prune.php", s.mutating(true, s.handlePrune))
	mux.HandleFunc("GET /login", s.handleLoginForm)
	mux.HandleFunc("/login", s.mutating(false, s.handleLogin))
	mux.HandleFunc("/logout", s.mutating(false, s.handleLogout))
	mux.HandleFunc("/settings", s.mutating(false, s.handleSettings))
	s.sourceRoutes(mux)
	s.collectionRoutes(mux)
	s.cullRoutes(mux)
	s.dupesRoutes(mux)
	s.comfyRoutes(mux)
	mux.HandleFunc("GET /api/media/info", s.handleMediaInfo)
	if s.extraRoutes != nil {
		s.extraRoutes(mux, s)
	}
	// Everything else: the error page (layout, a link back), not the
	// mux's bare "404 page not found".
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, http.StatusNotFound, CodeNotFound, nil)
	})
	return s.withSecurity(s.reportServerErrors(s.recoverer(mux)))
}

// Mutating exposes the CSRF/admin wrapper to extension routes.
func (s *Server) Mutating(admin bool, h http.HandlerFunc) http.HandlerFunc {
	return s.mutating(admin, h)
}

// IsAdmin reports whether the request carries admin rights.
func IsAdmin(r *http.Request) bool { return info(r).admin }

// recoverer turns a panic into a plain 500 without a stack trace in the
// response (the trace goes to the log).
func (s *Server) recoverer(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error().Interface("panic", v).Str("path", r.URL.Path).Msg("handler panic")
				s.fail(w, r, http.StatusInternalServerError, CodeInternal, nil)
			}
		}()
		h.ServeHTTP(w, r)
	})
}

// wantsJSON: API callers, and the internal endpoints that only ever
// answer JSON (their errors too, whatever the caller's Accept header).
func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json") || jsonOnly(r.URL.Path) ||
		strings.HasPrefix(r.URL.Path, "/api/") || r.Header.Get("X-Requested-With") != ""
}

func jsonOnly(path string) bool {
	return path == "/jobs_prune.php" || path == "/internal_ollama.php" || path == "/ollama.php"
}

// fail writes an error: JSON {ok:false, status, reason_code, error} for API
// callers, otherwise the error page (errorPage: layout and navigation, the
// message in the person's language, a next step and a link back). Internal
// details (paths, SQL, stack traces) are logged, never sent.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, code string, err error) {
	noteFailure(r, code, err)
	if err != nil {
		s.log.Warn().Err(err).Str("reason_code", code).Str("path", r.URL.Path).Int("status", status).Msg("request failed")
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	lang := info(r).lang
	msg := s.errorText(lang, status, code)
	if wantsJSON(r) {
		writeJSON(w, status, map[string]any{"ok": false, "status": statusWord(status), "reason_code": code, "error": msg})
		return
	}
	s.errorPage(w, r, status, code, msg)
}

// errorText is the sentence for a reason code; codes without a catalogue
// text get a generic one for their status, never the bare code.
func (s *Server) errorText(lang string, status int, code string) string {
	if msg, isErr, known := s.message(lang, code, 0); known && isErr {
		return msg
	}
	switch {
	case status >= 500:
		return s.i18n.T(lang, "err.internal_error")
	case status == http.StatusForbidden:
		return s.i18n.T(lang, "err.forbidden")
	case status == http.StatusNotFound:
		return s.i18n.T(lang, "err.not_found")
	}
	return s.i18n.T(lang, "err.bad_request")
}

// errorPage renders the error page with the given status. The next step is
// the code's own ("err.<code>.next") or the status's; the reason code is
// only a data attribute for tools. Should the page itself fail to render,
// the message goes out as plain text.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	lang := info(r).lang
	next := s.i18n.T(lang, "err."+code+".next")
	if next == "err."+code+".next" {
		next = s.i18n.T(lang, "err.next."+strconv.Itoa(status))
		if strings.HasPrefix(next, "err.next.") {
			next = s.i18n.T(lang, "err.next.default")
		}
	}
	current := r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		current += "?" + r.URL.RawQuery
	}
	data := map[string]any{"Title": "err.title", "Status": status, "Code": code, "Message": msg, "Next": next,
		"BackURL": backURL(r.Referer(), r.Host, current)}
	if err := s.renderStatus(w, r, status, "error", data); err != nil {
		s.log.Error().Err(err).Msg("error page not rendered")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(msg + "\n"))
	}
}

func statusWord(status int) string {
	switch status {
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusServiceUnavailable:
		return "busy"
	case http.StatusNotFound:
		return "not_found"
	}
	return "error"
}

// failErr maps an error to a response: busy → 503, not found (media or
// job) → 404,
// permanent reason errors → 400, others → 500.
func (s *Server) failErr(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case db.IsBusy(err) || errors.Is(err, db.ErrBusy):
		s.fail(w, r, http.StatusServiceUnavailable, CodeDBBusy, err)
	case errors.Is(err, catalog.ErrNotFound) || reason.Code(err) == catalog.CodeNotFound || reason.Code(err) == "media_not_found":
		s.fail(w, r, http.StatusNotFound, CodeNotFound, err)
	case reason.Code(err) == jobs.CodeNotFound:
		s.fail(w, r, http.StatusNotFound, jobs.CodeNotFound, err)
	case reason.Code(err) != "" && reason.KindOf(err) == reason.KindPermanent:
		s.fail(w, r, http.StatusBadRequest, reason.Code(err), err)
	default:
		s.fail(w, r, http.StatusInternalServerError, CodeInternal, err)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"ok":false,"reason_code":"internal_error"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// render executes a page into a buffer first so a template error never
// produces a half-written page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, page string, data map[string]any) {
	if err := s.renderStatus(w, r, http.StatusOK, page, data); err != nil {
		s.fail(w, r, http.StatusInternalServerError, CodeInternal, err)
	}
}

// renderStatus renders page with status; on an error nothing is written.
// A "Msg" banner (an action's result code, e.g. "scan_path:
// started_unverified") is turned into a sentence in the page's language.
func (s *Server) renderStatus(w http.ResponseWriter, r *http.Request, status int, page string, data map[string]any) error {
	return s.execute(w, r, status, page, "layout", data)
}

// renderFragment renders one template of a page without the layout (the
// parts the dashboard refreshes in place), with the same request data.
func (s *Server) renderFragment(w http.ResponseWriter, r *http.Request, page, name string, data map[string]any) {
	if err := s.execute(w, r, http.StatusOK, page, name, data); err != nil {
		s.fail(w, r, http.StatusInternalServerError, CodeInternal, err)
	}
}

// execute fills the request's data (language, CSRF token, admin, …) and
// writes template name of page; on an error nothing is written.
func (s *Server) execute(w http.ResponseWriter, r *http.Request, status int, page, name string, data map[string]any) error {
	t, ok := s.pages[page]
	if !ok {
		return errors.New("no template " + page)
	}
	ri := info(r)
	data["Lang"] = ri.lang
	data["CSRF"] = ri.sess.CSRF
	data["Admin"] = ri.admin
	data["Adult"] = ri.sess.Adult
	data["NSFWMode"] = ri.sess.nsfwMode()
	data["Path"] = r.URL.Path
	data["Version"] = s.version
	if _, ok := data["Title"]; !ok {
		data["Title"] = "nav.media"
	}
	if m, ok := data["Msg"].(string); ok && m != "" {
		data["Msg"] = s.bannerText(ri.lang, m)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, name, data); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
	return nil
}
