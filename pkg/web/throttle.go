package web

import (
	"container/list"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// CodeLoginThrottled: too many wrong admin keys from one address; the
// answer says how long to wait.
const CodeLoginThrottled = "login_throttled"

// Login backoff policy. A person mistyping the key a few times never
// waits; a guesser waits twice as long after every further miss, up to
// loginMaxWait. An address forgets its misses after loginForget without one.
const (
	loginFreeFailures = 5
	loginBaseWait     = time.Second
	loginMaxWait      = 15 * time.Minute
	loginForget       = time.Hour
	// loginMaxTracked bounds the memory: beyond it the address whose last
	// miss is oldest is forgotten first.
	loginMaxTracked = 4096
)

// loginLimiter counts wrong admin keys (login form and X-Internal-Key
// header) per client address and imposes an exponential wait. It lives on
// the Server (no package state); callers pass the time from the server's
// clock, so tests advance a fixed clock instead of sleeping.
type loginLimiter struct {
	mu      sync.Mutex
	entries map[string]*list.Element // value: *loginMisses
	lru     *list.List               // front: most recent miss
	max     int
}

type loginMisses struct {
	key   string
	n     int
	last  time.Time
	until time.Time // no key is checked before this
}

func newLoginLimiter(max int) *loginLimiter {
	return &loginLimiter{entries: map[string]*list.Element{}, lru: list.New(), max: max}
}

// limiterKey groups addresses: one IPv4 address, or one IPv6 /64 (a single
// host usually owns a whole /64 and could otherwise rotate through it).
func limiterKey(ip string) string {
	p := net.ParseIP(ip)
	if p == nil {
		return ip
	}
	if p4 := p.To4(); p4 != nil {
		return p4.String()
	}
	return p.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// wait is how long ip must still wait before a key is checked (0: now).
func (l *loginLimiter) wait(ip string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.entries[limiterKey(ip)]
	if !ok {
		return 0
	}
	return max(e.Value.(*loginMisses).until.Sub(now), 0)
}

// fail records a wrong key from ip and returns the number of misses and
// the wait it imposes from now on (0 while still within the free misses).
func (l *loginLimiter) fail(ip string, now time.Time) (misses int, wait time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := limiterKey(ip)
	var m *loginMisses
	if e, ok := l.entries[k]; ok {
		m = e.Value.(*loginMisses)
		l.lru.MoveToFront(e)
		if now.Sub(m.last) >= loginForget {
			m.n = 0
		}
	} else {
		for l.lru.Len() >= l.max {
			old := l.lru.Back()
			delete(l.entries, old.Value.(*loginMisses).key)
			l.lru.Remove(old)
		}
		m = &loginMisses{key: k}
		l.entries[k] = l.lru.PushFront(m)
	}
	m.n++
	m.last = now
	if m.n > loginFreeFailures {
		wait = loginMaxWait
		if shift := m.n - loginFreeFailures - 1; shift < 20 {
			wait = min(loginBaseWait<<shift, loginMaxWait)
		}
		m.until = now.Add(wait)
	}
	return m.n, wait
}

// succeed forgets ip's misses after a right key.
func (l *loginLimiter) succeed(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := limiterKey(ip)
	if e, ok := l.entries[k]; ok {
		l.lru.Remove(e)
		delete(l.entries, k)
	}
}

// waitSeconds rounds a wait up to whole seconds for the message and the
// Retry-After header (never 0 while a wait is imposed).
func waitSeconds(d time.Duration) int64 {
	return int64((d + time.Second - 1) / time.Second)
}

// checkHeaderKey vets an X-Internal-Key header. A client that sends a key
// asks for key access, so a refused key is answered with its reason
// (address not allowed, waiting after misses, wrong key) instead of going
// on as an anonymous request that would later fail on something else
// (such as a missing CSRF token). It reports whether the key is valid; on
// false the answer has been written.
func (s *Server) checkHeaderKey(w http.ResponseWriter, r *http.Request, key string) bool {
	ip := info(r).clientIP
	if !s.ipAllowed(ip) {
		s.securityLog(r, "internal_key_rejected", CodeIPNotWhitelisted)
		s.fail(w, r, http.StatusForbidden, CodeIPNotWhitelisted, nil)
		return false
	}
	if strings.TrimSpace(s.cfg.Security.InternalAPIKey) == "" {
		s.securityLog(r, "internal_key_rejected", CodeKeyMissing)
		s.fail(w, r, http.StatusForbidden, CodeKeyMissing, nil)
		return false
	}
	now := s.clock.Now()
	if d := s.logins.wait(ip, now); d > 0 {
		s.throttled(w, r, "", 0, d)
		return false
	}
	if !s.keyValid(key) {
		n, d := s.logins.fail(ip, now)
		s.securityLog(r, "internal_key_rejected", CodeKeyInvalid)
		if d > 0 {
			s.throttled(w, r, "", n, d)
			return false
		}
		s.fail(w, r, http.StatusForbidden, CodeKeyInvalid, nil)
		return false
	}
	s.logins.succeed(ip)
	return true
}

// throttled answers a key attempt refused by the backoff: 429 with
// Retry-After and a sentence saying how many seconds to wait; the login
// form shows it above the form (next is kept), other pages on the error
// page. misses > 0 marks the miss that started or extended the wait. Both
// are written to the security log.
func (s *Server) throttled(w http.ResponseWriter, r *http.Request, next string, misses int, d time.Duration) {
	secs := waitSeconds(d)
	ev := s.securityEvent(r, "login_throttled", CodeLoginThrottled).Int64("wait_seconds", secs)
	if misses > 0 {
		ev = ev.Int("misses", misses)
	}
	ev.Msg("security")
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	text, _, _ := s.message(info(r).lang, CodeLoginThrottled, secs)
	switch {
	case wantsJSON(r):
		writeJSON(w, http.StatusTooManyRequests, map[string]any{"ok": false, "status": "throttled",
			"reason_code": CodeLoginThrottled, "error": text, "retry_after_seconds": secs})
	case next != "":
		data := s.loginData(r, next)
		data["Wait"] = text
		if err := s.renderStatus(w, r, http.StatusTooManyRequests, "login", data); err != nil {
			s.fail(w, r, http.StatusInternalServerError, CodeInternal, err)
		}
	default:
		s.errorPage(w, r, http.StatusTooManyRequests, CodeLoginThrottled, text)
	}
}
