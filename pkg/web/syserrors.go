package web

import (
	"context"
	"io"
	"net/http"
	"strconv"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

// serverErrorKey carries a request's *serverErrorNote through its context.
type serverErrorKey struct{}

// serverErrorNote is what fail() knows about a failed request (its reason
// code and cause), for the 5xx line in system_errors.jsonl.
type serverErrorNote struct {
	code string
	err  error
}

// noteFailure tells reportServerErrors the reason of a failed request.
func noteFailure(r *http.Request, code string, err error) {
	if n, ok := r.Context().Value(serverErrorKey{}).(*serverErrorNote); ok {
		n.code, n.err = code, err
	}
}

// reportServerErrors is the one place where a response with a 5xx status
// (a handler error, a panic turned into 500 by recoverer, a busy database)
// is recorded in system_errors.jsonl through Options.SystemError, which
// rate-limits per code. Without SystemError it adds nothing.
func (s *Server) reportServerErrors(h http.Handler) http.Handler {
	if s.systemError == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		note := &serverErrorNote{}
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			// A panic that recoverer re-raises (http.ErrAbortHandler) is
			// not a response the server chose; it goes on unreported.
			if sw.status < 500 {
				return
			}
			code := note.code
			if code == "" {
				code = "http_" + strconv.Itoa(sw.status)
			}
			msg := http.StatusText(sw.status)
			if note.err != nil {
				msg = reason.Truncate(note.err.Error(), 500)
			}
			s.systemError(code, map[string]any{"message": msg, "status": sw.status, "request": r.Method + " " + r.URL.Path})
		}()
		h.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), serverErrorKey{}, note)))
	})
}

// statusWriter records the status a handler sends. It passes Flush and
// ReadFrom through (streaming, sendfile) and unwraps for
// http.ResponseController.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return io.Copy(w.ResponseWriter, r)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
