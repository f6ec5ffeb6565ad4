package web

import (
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strconv"

	"github.com/localsupervisor/supervisor/pkg/catalog"
	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/probe"
)

// placeholderSVG is served whenever a thumbnail cannot be produced: the grid
// shows a neutral tile instead of a broken image or an error page.
const placeholderSVG = `<svg xmlns="http://www.w3.org/2000/svg" width="320" height="200" viewBox="0 0 320 200">` +
	`<rect width="320" height="200" fill="#2a2d34"/><path d="M140 70 L190 100 L140 130 Z" fill="#8a8f99"/></svg>`

func (s *Server) placeholder(w http.ResponseWriter, status int) {
	h := w.Header()
	h.Set("Content-Type", "image/svg+xml")
	h.Set("Cache-Control", "no-store")
	if status == http.StatusServiceUnavailable {
		h.Set("Retry-After", "1")
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, placeholderSVG)
}

// resolveMedia loads the row for a thumb/stream request, applies the adult
// gate and resolves the file inside the library roots or a library source
// (after symlinks). The
// path always comes from the DB, never from the URL.
func (s *Server) resolveMedia(w http.ResponseWriter, r *http.Request, thumb bool) (catalog.Media, string, bool) {
	q := r.URL.Query()
	id, ok := parseID(q.Get("id"))
	if !ok {
		s.fail(w, r, http.StatusBadRequest, CodeBadRequest, nil)
		return catalog.Media{}, "", false
	}
	m, err := catalog.Get(r.Context(), s.rdb, id)
	if err == nil && q.Get("variant") != "parent" {
		// Serve the preferred (upscaled) variant unless the parent is asked for.
		var pref string
		qerr := s.rdb.QueryRowContext(r.Context(), `SELECT meta_value FROM media_meta WHERE media_id = ?
			AND meta_key = 'variant.preferred_media_id' ORDER BY id DESC LIMIT 1`, id).Scan(&pref)
		if qerr == nil {
			if cid, perr := strconv.ParseInt(pref, 10, 64); perr == nil && cid > 0 {
				if c, cerr := catalog.Get(r.Context(), s.rdb, cid); cerr == nil && c.ParentID == id {
					if real, rerr := filepath.EvalSymlinks(c.Path); rerr == nil {
						if ok, _ := s.servable(r.Context(), real); ok {
							m = c
						}
					}
				}
			}
		}
	}
	// A busy database answers a thumbnail with the placeholder (503).
	dbFail := func(err error) (catalog.Media, string, bool) {
		if thumb && db.IsBusy(err) {
			s.placeholder(w, http.StatusServiceUnavailable)
			return m, "", false
		}
		s.failErr(w, r, err)
		return m, "", false
	}
	if err != nil {
		return dbFail(err)
	}
	if m.NSFW && !info(r).sess.Adult {
		s.fail(w, r, http.StatusForbidden, CodeAdultHidden, nil)
		return m, "", false
	}
	// The file is checked with its symlinks resolved: a link in a root or a
	// source pointing outside them is refused.
	real, err := filepath.EvalSymlinks(m.Path)
	if err != nil {
		if thumb {
			s.placeholder(w, http.StatusNotFound)
			return m, "", false
		}
		s.fail(w, r, http.StatusNotFound, CodeNotFound, err)
		return m, "", false
	}
	servable, err := s.servable(r.Context(), real)
	if err != nil {
		return dbFail(err)
	}
	if !servable {
		s.securityLog(r, "path_blocked", CodePathBlocked)
		s.fail(w, r, http.StatusForbidden, CodePathBlocked, nil)
		return m, "", false
	}
	return m, real, true
}

func (s *Server) handleThumb(w http.ResponseWriter, r *http.Request) {
	m, real, ok := s.resolveMedia(w, r, true)
	if !ok {
		return
	}
	size := 480
	if n, err := strconv.Atoi(r.URL.Query().Get("size")); err == nil && n >= 64 && n <= 1600 {
		size = n
	}
	if s.thumbs == nil {
		s.placeholder(w, http.StatusOK)
		return
	}
	t, err := s.thumbs.Thumb(r.Context(), ThumbSource{ID: m.ID, Path: real, Type: m.Type, Size: size})
	if err != nil {
		s.log.Debug().Err(err).Int64("media_id", m.ID).Msg("thumbnail failed, placeholder served")
		s.placeholder(w, http.StatusOK)
		return
	}
	f, err := os.Open(t.Path)
	if err != nil {
		s.placeholder(w, http.StatusOK)
		return
	}
	defer f.Close()
	h := w.Header()
	h.Set("Content-Type", t.ContentType)
	h.Set("Cache-Control", "private, max-age=86400")
	if t.ETag != "" {
		h.Set("ETag", t.ETag)
	}
	http.ServeContent(w, r, "", t.ModTime, f)
}

// contentTypes maps probe's canonical extensions to MIME types.
func contentType(ext string) string {
	switch ext {
	case "png":
		return "image/png"
	case "jpg":
		return "image/jpeg"
	case "webp":
		return "image/webp"
	case "gif":
		return "image/gif"
	case "bmp":
		return "image/bmp"
	case "mp4":
		return "video/mp4"
	case "m4v":
		return "video/x-m4v"
	case "mov":
		return "video/quicktime"
	case "mkv":
		return "video/x-matroska"
	case "webm":
		return "video/webm"
	case "avi":
		return "video/x-msvideo"
	}
	return "application/octet-stream"
}

// handleStream serves the original file with Range/If-Range/HEAD support
// through http.ServeContent. The Content-Type comes from the file's content.
func (s *Server) handleStream(w http.ResponseWriter, r *http.Request) {
	m, real, ok := s.resolveMedia(w, r, false)
	if !ok {
		return
	}
	f, err := os.Open(real)
	if err != nil {
		s.fail(w, r, http.StatusNotFound, CodeNotFound, err)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.IsDir() {
		s.fail(w, r, http.StatusNotFound, CodeNotFound, err)
		return
	}
	_, ext, derr := probe.DetectType(f)
	ct := "application/octet-stream"
	if derr == nil {
		ct = contentType(ext)
	}
	disp := "inline"
	if r.URL.Query().Get("dl") == "1" {
		disp = "attachment"
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("X-Content-Type-Options", "nosniff")
	// mime.FormatMediaType emits filename*=utf-8'' (RFC 6266/5987) for
	// non-ASCII names and quotes the rest.
	name := filepath.Base(m.Path)
	if cd := mime.FormatMediaType(disp, map[string]string{"filename": name}); cd != "" {
		h.Set("Content-Disposition", cd)
	} else {
		h.Set("Content-Disposition", disp)
	}
	h.Set("Cache-Control", "private, max-age=3600")
	http.ServeContent(w, r, "", st.ModTime(), f)
}
