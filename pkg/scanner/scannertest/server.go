// Package scannertest is an in-process fake of the PixAI-compatible tagger
// ("pixai_sensible") for tests: POST /check (multipart field "image") and
// POST /batch (field "file"), Authorization checked verbatim (403 on a
// mismatch, as the real scanner does), plus the fault modes a client must
// survive. Import it only from tests.
package scannertest

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/svtest"
)

// Shape selects the response layout.
type Shape string

// Response shapes. ShapeB is what the real scanner's /check returns
// ({"modules.nsfw_scanner": {...}, "modules.tagging": {"tags": [...]},
// "modules.deepdanbooru_tags": {"tags": [...]}}); ShapeBatch is its /batch
// answer ({"risk", "tags": [strings], "frameCount"}).
const (
	ShapeA       Shape = "A"       // {"modules": {...}, "meta": {...}}
	ShapeB       Shape = "B"       // dotted module keys (real /check)
	ShapeC       Shape = "C"       // flat tags + class scores
	ShapeBatch   Shape = "batch"   // real /batch
	ShapeList    Shape = "list"    // [C, C]
	ShapeResults Shape = "results" // {"results": [{"result": C}, ...]}
	ShapeFrames  Shape = "frames"  // {"frames": [C, ...]}
	ShapeData    Shape = "data"    // {"data": [C, ...]}
)

// Fault selects a failure mode.
type Fault string

// Fault modes.
const (
	FaultNone       Fault = ""
	FaultDown       Fault = "down"       // listener closed: connection refused
	FaultSlow       Fault = "slow"       // no answer until the client gives up (or Delay passes)
	Fault401        Fault = "401"        // HTTP 401
	Fault403        Fault = "403"        // HTTP 403
	Fault404        Fault = "404"        // HTTP 404 (wrong route)
	Fault500        Fault = "500"        // HTTP 500 with {"error": "..."}
	FaultNotJSON    Fault = "not_json"   // 200 with an HTML body
	FaultErrorJSON  Fault = "error_json" // 200 with {"error": "model not loaded"}
	FaultTruncated  Fault = "truncated"  // 200 with a JSON body cut in half
	FaultUnexpected Fault = "unexpected" // 200 with {"status": "ok"} (no result keys)
)

// Tag is one tag the fake reports.
type Tag struct {
	Label string
	Score float64
	// Category "character" makes it a character tag (emitted as
	// "category" in object shapes).
	Category string
}

// Options configure the fake. Zero values give an open scanner (no auth
// check) answering shape B on /check and the batch shape on /batch.
type Options struct {
	// Token, when set, must equal the Authorization header exactly.
	Token string
	// APIKeyHeader/APIKey, when set, must be present (instead of Token).
	APIKeyHeader, APIKey string
	// Shape of /check answers (default ShapeB).
	Shape Shape
	// BatchShape of /batch answers (default ShapeBatch).
	BatchShape Shape
	// Tags reported (default: 1girl 0.98, solo 0.91).
	Tags []Tag
	// NSFWScore is the "porn" class / risk value (default 0.1).
	NSFWScore float64
	// Fault applies to both endpoints; BatchFault overrides it for /batch.
	Fault, BatchFault Fault
	// Delay for FaultSlow; 0 waits until the client disconnects.
	Delay time.Duration
	// Body, when set, is returned verbatim (200) by /check and /batch.
	Body []byte
	// CheckBodies, when set, are returned verbatim (200) by successive
	// /check requests; the last one repeats. A body starting with "!" is
	// answered with HTTP 500 and the rest as body (a failing frame).
	CheckBodies [][]byte
	// MaxImageBytes answers 413 above it on /check (real scanner: 10 MB).
	MaxImageBytes int64
}

// FilePart describes one multipart file part received.
type FilePart struct {
	Field, Filename, ContentType string
	Size                         int64
}

// Request is what the fake recorded about one request.
type Request struct {
	Method, Path     string
	Header           http.Header
	ContentLength    int64
	TransferEncoding []string
	Files            []FilePart
	// FormFields are the names of non-file form fields.
	FormFields []string
}

// Server is the fake scanner. Its embedded RequestLog records every
// request (Requests, RequestsTo, ResetRequests).
type Server struct {
	// URL is the base URL (http://127.0.0.1:port).
	URL string
	svtest.RequestLog[Request]

	srv     *httptest.Server
	mu      sync.Mutex
	opts    Options
	checkN  int
	release chan struct{}
	once    sync.Once
}

// New starts a fake scanner and registers its shutdown with tb.Cleanup.
// With Fault "down" the URL points at a closed listener.
func New(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s := &Server{opts: opts, release: make(chan struct{})}
	s.srv = httptest.NewServer(http.HandlerFunc(s.handle))
	s.URL = s.srv.URL
	tb.Cleanup(s.Close)
	if opts.Fault == FaultDown {
		s.Close()
	}
	return s
}

// DownURL returns the base URL of a port nobody listens on.
func DownURL(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	u := "http://" + ln.Addr().String()
	ln.Close()
	return u
}

// Close stops the server, releasing slow handlers first.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.release)
		s.srv.CloseClientConnections()
		s.srv.Close()
	})
}

// SetOptions replaces the options for later requests.
func (s *Server) SetOptions(o Options) {
	s.mu.Lock()
	s.opts = o
	s.mu.Unlock()
}

// SetFault changes the fault of both endpoints.
func (s *Server) SetFault(f Fault) {
	s.mu.Lock()
	s.opts.Fault, s.opts.BatchFault = f, ""
	s.mu.Unlock()
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	opts := s.opts
	s.mu.Unlock()

	rec := Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(),
		ContentLength: r.ContentLength, TransferEncoding: r.TransferEncoding}
	rec.Files, rec.FormFields = readMultipart(r)
	s.Record(r.URL.Path, rec)

	if r.Method != http.MethodPost || (r.URL.Path != "/check" && r.URL.Path != "/batch") {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	batch := r.URL.Path == "/batch"
	fault := opts.Fault
	if batch && opts.BatchFault != "" {
		fault = opts.BatchFault
	}

	switch fault {
	case FaultSlow:
		var timeout <-chan time.Time
		if opts.Delay > 0 {
			t := time.NewTimer(opts.Delay)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-r.Context().Done():
			return
		case <-s.release:
			return
		case <-timeout:
		}
	case Fault401:
		w.WriteHeader(http.StatusUnauthorized)
		return
	case Fault403:
		w.WriteHeader(http.StatusForbidden)
		return
	case Fault404:
		w.WriteHeader(http.StatusNotFound)
		return
	case Fault500:
		writeJSON(w, http.StatusInternalServerError, map[string]any{"error": "internal scanner failure"})
		return
	case FaultNotJSON:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "<html><body>Bad Gateway</body></html>")
		return
	case FaultErrorJSON:
		writeJSON(w, http.StatusOK, map[string]any{"error": "model not loaded"})
		return
	case FaultUnexpected:
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
		return
	case FaultTruncated:
		b, _ := json.Marshal(s.body(opts, batch))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.Write(b[:len(b)/2])
		return
	}

	// Auth like the real scanner: a missing or wrong token is 403.
	if opts.Token != "" && r.Header.Get("Authorization") != opts.Token {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	if opts.APIKeyHeader != "" && r.Header.Get(opts.APIKeyHeader) != opts.APIKey {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	want := "image"
	if batch {
		want = "file"
	}
	var part *FilePart
	for i := range rec.Files {
		if rec.Files[i].Field == want {
			part = &rec.Files[i]
			break
		}
	}
	if part == nil || part.Size == 0 {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if !batch && opts.MaxImageBytes > 0 && part.Size > opts.MaxImageBytes {
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		return
	}
	if !batch && len(opts.CheckBodies) > 0 {
		s.mu.Lock()
		i := min(s.checkN, len(opts.CheckBodies)-1)
		s.checkN++
		s.mu.Unlock()
		b := opts.CheckBodies[i]
		w.Header().Set("Content-Type", "application/json")
		if len(b) > 0 && b[0] == '!' {
			w.WriteHeader(http.StatusInternalServerError)
			b = b[1:]
		}
		w.Write(b)
		return
	}
	if opts.Body != nil {
		w.Header().Set("Content-Type", "application/json")
		w.Write(opts.Body)
		return
	}
	writeJSON(w, http.StatusOK, s.body(opts, batch))
}

func readMultipart(r *http.Request) ([]FilePart, []string) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		return nil, nil
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	var files []FilePart
	var fields []string
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		n, _ := io.Copy(io.Discard, p)
		if p.FileName() != "" {
			files = append(files, FilePart{Field: p.FormName(), Filename: p.FileName(),
				ContentType: p.Header.Get("Content-Type"), Size: n})
		} else {
			fields = append(fields, p.FormName())
		}
	}
	return files, fields
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", fmt.Sprint(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

func (s *Server) body(o Options, batch bool) any {
	shape := o.Shape
	if shape == "" {
		shape = ShapeB
	}
	if batch {
		shape = o.BatchShape
		if shape == "" {
			shape = ShapeBatch
		}
	}
	return Body(shape, o.Tags, o.NSFWScore)
}

// Body builds a response document of the given shape. With nil tags it
// uses 1girl/solo; a zero score becomes 0.1.
func Body(shape Shape, tags []Tag, score float64) any {
	if tags == nil {
		tags = []Tag{{Label: "1girl", Score: 0.98}, {Label: "solo", Score: 0.91}}
	}
	if score == 0 {
		score = 0.1
	}
	objTags := func(labelKey, scoreKey string) []any {
		out := make([]any, 0, len(tags))
		for _, t := range tags {
			m := map[string]any{labelKey: t.Label, scoreKey: t.Score}
			if t.Category != "" {
				m["category"] = t.Category
			}
			out = append(out, m)
		}
		return out
	}
	rest := (1 - score) / 4
	classes := map[string]any{"drawings": rest, "hentai": rest, "neutral": rest, "porn": score, "sexy": rest}
	flat := func() map[string]any {
		m := map[string]any{"tags": objTags("name", "confidence")}
		for k, v := range classes {
			m[k] = v
		}
		return m
	}
	switch shape {
	case ShapeA:
		return map[string]any{
			"modules": map[string]any{
				"nsfw_scanner":      map[string]any{"nsfw_score": score, "classes": classes},
				"deepdanbooru_tags": map[string]any{"tags": objTags("label", "score")},
			},
			"meta": map[string]any{"scanner": "pixai-fake", "model_id": "fake-model", "model_version": "1"},
		}
	case ShapeC:
		return flat()
	case ShapeBatch:
		labels := make([]string, 0, len(tags))
		for _, t := range tags {
			labels = append(labels, t.Label)
		}
		return map[string]any{"risk": score, "tags": labels, "frameCount": 12}
	case ShapeList:
		return []any{flat(), flat()}
	case ShapeResults:
		return map[string]any{"results": []any{map[string]any{"result": flat()}, map[string]any{"result": flat()}}}
	case ShapeFrames:
		return map[string]any{"frames": []any{flat(), flat()}}
	case ShapeData:
		return map[string]any{"data": []any{flat()}}
	default: // ShapeB, the real /check layout
		return map[string]any{
			"modules.nsfw_scanner":      classes,
			"modules.tagging":           map[string]any{"tags": []any{map[string]any{"label": "comic_book", "score": 0.41}}},
			"modules.deepdanbooru_tags": map[string]any{"tags": objTags("label", "score")},
			"modules.statistics":        map[string]any{"recorded": len(tags) + 1},
		}
	}
}
