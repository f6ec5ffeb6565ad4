package web

import (
	"context"
	"crypto/subtle"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// Reason codes the web layer answers with.
const (
	CodeForbidden        = "forbidden"
	CodeInvalidCSRF      = "invalid_csrf_token"
	CodeAuthRequired     = "internal_auth_required"
	CodeKeyInvalid       = "internal_key_invalid"
	CodeKeyMissing       = "internal_key_missing"
	CodeIPNotWhitelisted = "ip_not_whitelisted"
	CodeHostNotAllowed   = "host_not_allowed"
	CodeDBBusy           = "db_busy"
	CodeBadRequest       = "bad_request"
	CodeNotFound         = "not_found"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeInternal         = "internal_error"
	CodeAdultHidden      = "adult_hidden"
	CodePathBlocked      = "path_blocked"
	sessionCookie        = "sv_session"
	csrfHeader           = "X-CSRF-Token"
	internalKeyHeader    = "X-Internal-Key"
)

type ctxKey int

const reqKey ctxKey = 1

// reqInfo is the per-request security context.
type reqInfo struct {
	sess     session
	clientIP string
	// keyAuth is true when a valid X-Internal-Key header came from an
	// allowed address; such requests are not browser-ambient, so CSRF
	// does not apply to them.
	keyAuth bool
	admin   bool
	lang    string
}

func info(r *http.Request) *reqInfo {
	if ri, ok := r.Context().Value(reqKey).(*reqInfo); ok {
		return ri
	}
	return &reqInfo{lang: "en"}
}

// clientIP returns the peer address; X-Forwarded-For is honoured only when the
// peer is a configured trusted proxy.
func (s *Server) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if ipInList(host, s.cfg.Security.TrustedProxies) {
		if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
			first, _, _ := strings.Cut(xff, ",")
			if ip := net.ParseIP(strings.TrimSpace(first)); ip != nil {
				return ip.String()
			}
		}
	}
	return host
}

// ipInList matches ip against entries that are addresses or CIDR ranges.
func ipInList(ip string, list []string) bool {
	p := net.ParseIP(ip)
	if p == nil {
		return false
	}
	for _, e := range list {
		e = strings.TrimSpace(e)
		if strings.Contains(e, "/") {
			if _, n, err := net.ParseCIDR(e); err == nil && n.Contains(p) {
				return true
			}
			continue
		}
		if q := net.ParseIP(e); q != nil && q.Equal(p) {
			return true
		}
	}
	return false
}

func isLoopback(ip string) bool {
	p := net.ParseIP(ip)
	return p != nil && p.IsLoopback()
}

// ipAllowed applies security.ip_whitelist (empty = any address).
func (s *Server) ipAllowed(ip string) bool {
	if len(s.cfg.Security.IPWhitelist) == 0 {
		return true
	}
	return ipInList(ip, s.cfg.Security.IPWhitelist)
}

// keyValid compares the internal key in constant time; an empty configured
// key never matches.
func (s *Server) keyValid(k string) bool {
	want := strings.TrimSpace(s.cfg.Security.InternalAPIKey)
	k = strings.TrimSpace(k)
	if want == "" || k == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(want), []byte(k)) == 1
}

// hostAllowed defends against DNS rebinding: a page on evil.example resolving
// to 127.0.0.1 sends Host: evil.example, which is not on the list.
func (s *Server) hostAllowed(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = strings.ToLower(strings.Trim(h, "[]"))
	for _, a := range s.allowedHosts {
		if h == a {
			return true
		}
	}
	return false
}

// withSecurity is the outer middleware: Host check, security headers,
// session lookup/creation and identity.
func (s *Server) withSecurity(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr := w.Header()
		hdr.Set("X-Content-Type-Options", "nosniff")
		hdr.Set("X-Frame-Options", "DENY")
		hdr.Set("Referrer-Policy", "same-origin")
		hdr.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'")
		if !s.hostAllowed(r.Host) {
			s.securityLog(r, "host_rejected", CodeHostNotAllowed)
			s.fail(w, r, http.StatusForbidden, CodeHostNotAllowed, nil)
			return
		}
		now := s.clock.Now()
		ri := &reqInfo{clientIP: s.clientIP(r)}
		if c, err := r.Cookie(sessionCookie); err == nil {
			ss, ok, err := s.sessions.get(r.Context(), c.Value, now)
			if err != nil {
				// A busy/unreadable session table must not take pages
				// down: the request goes on without a session (no admin,
				// no adult opt-in, no CSRF token).
				s.log.Warn().Err(err).Msg("session lookup failed")
			}
			if ok {
				ri.sess = ss
			}
		}
		if ri.sess.ID == "" && !isAsset(r.URL.Path) {
			// A signed cookie, no row: a page view never writes.
			ri.sess = s.sessions.anonymous(now)
			s.setSessionCookie(w, ri.sess.ID)
		}
		ri.lang = s.i18n.pick(ri.sess.Lang, r.Header.Get("Accept-Language"), s.cfg.Web.Language)
		r = r.WithContext(context.WithValue(r.Context(), reqKey, ri))
		if k := r.Header.Get(internalKeyHeader); k != "" {
			if !s.checkHeaderKey(w, r, k) {
				return
			}
			ri.keyAuth = true
		}
		ri.admin = s.ipAllowed(ri.clientIP) && (ri.keyAuth || ri.sess.Admin ||
			(s.cfg.Security.LoopbackIsAdmin && isLoopback(ri.clientIP)))
		next.ServeHTTP(w, r)
	})
}

func isAsset(p string) bool {
	// Media endpoints read an existing session (adult opt-in) but never
	// issue one: a cookie-less client fetching thousands of thumbnails
	// gets no cookies.
	return strings.HasPrefix(p, "/static/") || p == "/health.php" || p == "/health" || p == "/favicon.ico" ||
		p == "/thumb.php" || p == "/media_stream.php"
}

func (s *Server) setSessionCookie(w http.ResponseWriter, id string) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, MaxAge: int(sessionTTL / time.Second), Secure: s.secureCookies})
}

// csrfOK checks the token from the header or the csrf_token form field.
func csrfOK(r *http.Request, ri *reqInfo) bool {
	if ri.keyAuth {
		return true
	}
	if ri.sess.CSRF == "" {
		return false
	}
	tok := r.Header.Get(csrfHeader)
	if tok == "" {
		tok = r.PostFormValue("csrf_token")
	}
	return tok != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(ri.sess.CSRF)) == 1
}

// mutating wraps a state-changing handler: POST only, valid CSRF token,
// and (when admin is set) an admin identity.
func (s *Server) mutating(admin bool, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			s.fail(w, r, http.StatusMethodNotAllowed, CodeMethodNotAllowed, nil)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		ri := info(r)
		if !csrfOK(r, ri) {
			s.securityLog(r, "csrf_rejected", CodeInvalidCSRF)
			s.fail(w, r, http.StatusForbidden, CodeInvalidCSRF, nil)
			return
		}
		if admin && !ri.admin {
			code := CodeAuthRequired
			if !s.ipAllowed(ri.clientIP) {
				code = CodeIPNotWhitelisted
			}
			s.securityLog(r, "admin_required", code)
			s.fail(w, r, http.StatusForbidden, code, nil)
			return
		}
		h(w, r)
		s.invalidateDashboard()
	}
}

// securityLog records rejections only; allowed thumbnail/stream requests are
// not logged (the original wrote one line per thumbnail).
func (s *Server) securityLog(r *http.Request, event, code string) {
	s.securityEvent(r, event, code).Msg("security")
}

// securityEvent is a security-log line to which the caller adds fields.
func (s *Server) securityEvent(r *http.Request, event, code string) *zerolog.Event {
	return s.log.Warn().Str("event", event).Str("reason_code", code).Str("path", r.URL.Path).
		Str("method", r.Method).Str("client_ip", s.clientIP(r))
}
