package svtest

import "sync"

// RequestLog records the requests a fake server received, in arrival
// order, for tests to inspect. It is safe for concurrent use; the zero
// value is ready. The fakes (forgetest, ollamatest, scannertest) embed it
// so their Requests/RequestsTo/ResetRequests come from one place.
type RequestLog[R any] struct {
	mu      sync.Mutex
	entries []logEntry[R]
}

type logEntry[R any] struct {
	path string
	req  R
}

// Record appends req, received on the URL path path.
func (l *RequestLog[R]) Record(path string, req R) {
	l.mu.Lock()
	l.entries = append(l.entries, logEntry[R]{path, req})
	l.mu.Unlock()
}

// Requests returns a copy of every recorded request.
func (l *RequestLog[R]) Requests() []R {
	return l.filter(func(string) bool { return true })
}

// RequestsTo returns the recorded requests for one URL path.
func (l *RequestLog[R]) RequestsTo(path string) []R {
	return l.filter(func(p string) bool { return p == path })
}

// ResetRequests forgets every recorded request.
func (l *RequestLog[R]) ResetRequests() {
	l.mu.Lock()
	l.entries = nil
	l.mu.Unlock()
}

func (l *RequestLog[R]) filter(keep func(path string) bool) []R {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []R
	for _, e := range l.entries {
		if keep(e.path) {
			out = append(out, e.req)
		}
	}
	return out
}
