package svtest

import "net/http"

// Hangup closes a fake server's connection without an answer, as a server
// that is down (or dies mid-request) does: the client sees a transport
// error, not an HTTP status. The fakes' "down" fault modes use it.
func Hangup(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if c, _, err := hj.Hijack(); err == nil {
			_ = c.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}
