package web

import (
	"io/fs"
	"net/http"
	"strings"
)

// staticFiles serves the embedded assets below /static/: files only. A
// directory (including /static/ itself) answers the 404 error page, not
// http.FileServer's generated listing of every asset name.
func (s *Server) staticFiles() http.Handler {
	files := http.FileServerFS(s.static)
	return http.StripPrefix("/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimSuffix(r.URL.Path, "/")
		if st, err := fs.Stat(s.static, name); name == "" || err != nil || st.IsDir() || strings.HasSuffix(r.URL.Path, "/") {
			s.fail(w, r, http.StatusNotFound, CodeNotFound, nil)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	}))
}
