// Package ollamatest is an in-process fake of the Ollama HTTP API for tests:
// /api/generate, /api/embed, /api/embeddings, /api/version and /api/tags
// with the real JSON shapes and error bodies, deterministic answers per
// mode, request recording and fault injection (down, hang, slow, HTTP
// errors, garbage answers).
package ollamatest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/localsupervisor/supervisor/pkg/svtest"
)

// Fault selects a misbehaviour of the fake.
type Fault string

// Fault modes.
const (
	FaultNone Fault = ""
	// FaultHang blocks until the client gives up (request context) or the
	// server closes.
	FaultHang Fault = "hang"
	// FaultSlow answers normally after Server.SlowDelay (honours the request context).
	FaultSlow Fault = "slow"
	// FaultBadRequest answers 400 with an Ollama error body.
	FaultBadRequest Fault = "http_400"
	// FaultModelMissing answers 404 {"error":"model \"x\" not found, try pulling it first"}.
	FaultModelMissing Fault = "http_404_model"
	// FaultServerError answers 500 with an error body.
	FaultServerError Fault = "http_500"
	// FaultUnavailable answers 503 (Ollama's "server busy").
	FaultUnavailable Fault = "http_503"
	// FaultNonJSONBody answers 200 with an HTML body.
	FaultNonJSONBody Fault = "non_json_body"
	// FaultNoJSONAnswer answers 200 with a model response containing prose only.
	FaultNoJSONAnswer Fault = "no_json_answer"
	// FaultFenced wraps the model's JSON answer in a markdown code fence with prose.
	FaultFenced Fault = "fenced"
	// FaultTruncated cuts the model's JSON answer in half.
	FaultTruncated Fault = "truncated"
	// FaultEmpty answers with an empty response string.
	FaultEmpty Fault = "empty"
	// FaultDegraded answers JSON with only the required keys of the mode.
	FaultDegraded Fault = "degraded"
	// FaultReset closes the connection without an answer.
	FaultReset Fault = "reset"
)

// Request is a recorded request.
type Request struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
	// JSON is the decoded body (nil when not JSON).
	JSON map[string]any
}

// Server is the fake. Create it with New; Close it when done. Its embedded
// RequestLog records every request (Requests, RequestsTo, ResetRequests).
type Server struct {
	// URL is the base URL (stable across Stop/Start).
	URL string
	svtest.RequestLog[Request]

	mu          sync.Mutex
	ln          net.Listener
	addr        string
	srv         *http.Server
	models      []string
	version     string
	dims        int
	fault       Fault
	faultLeft   int // <0: forever
	faultPaths  string
	legacyOnly  bool
	answers     map[string]string
	slowDelay   time.Duration
	closed      chan struct{}
	serveDoneCh chan struct{}
}

// New starts a fake on a free loopback port with the default models
// llava:latest, llama3:latest and nomic-embed-text:latest.
func New() *Server {
	s := &Server{
		models:    []string{"llava:latest", "llama3:latest", "nomic-embed-text:latest"},
		version:   "0.5.7",
		dims:      768,
		answers:   map[string]string{},
		slowDelay: 200 * time.Millisecond,
		closed:    make(chan struct{}),
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("ollamatest: listen: %v", err))
	}
	s.addr = ln.Addr().String()
	s.URL = "http://" + s.addr
	s.serve(ln)
	return s
}

func (s *Server) serve(ln net.Listener) {
	s.ln = ln
	srv := &http.Server{Handler: http.HandlerFunc(s.handle), ReadHeaderTimeout: 5 * time.Second}
	s.srv = srv
	done := make(chan struct{})
	s.serveDoneCh = done
	go func() {
		_ = srv.Serve(ln)
		close(done)
	}()
}

// Stop simulates Ollama going down: the port refuses connections.
func (s *Server) Stop() {
	s.mu.Lock()
	srv, done := s.srv, s.serveDoneCh
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
		<-done
	}
}

// Start brings a stopped fake back on the same address (an Ollama restart).
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return nil
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return err
	}
	s.serve(ln)
	return nil
}

// Close stops the fake for good and releases hanging handlers.
func (s *Server) Close() {
	s.mu.Lock()
	select {
	case <-s.closed:
	default:
		close(s.closed)
	}
	s.mu.Unlock()
	s.Stop()
}

// SetModels replaces the installed models list.
func (s *Server) SetModels(names ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.models = append([]string(nil), names...)
}

// SetDims sets the embedding dimension.
func (s *Server) SetDims(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dims = n
}

// SetLegacyEmbeddingsOnly makes /api/embed answer 404 like Ollama < 0.3.
func (s *Server) SetLegacyEmbeddingsOnly(v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.legacyOnly = v
}

// SetSlowDelay sets the delay of FaultSlow.
func (s *Server) SetSlowDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.slowDelay = d
}

// SetFault applies f to the next n requests on paths starting with prefix
// ("" = every path except /api/version and /api/tags; n < 0 = until cleared).
func (s *Server) SetFault(f Fault, n int, prefix string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault, s.faultLeft, s.faultPaths = f, n, prefix
}

// ClearFault returns to normal answers.
func (s *Server) ClearFault() { s.SetFault(FaultNone, 0, "") }

// SetAnswer overrides the model's response text for a mode.
func (s *Server) SetAnswer(mode, response string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answers[mode] = response
}

// takeFault returns the fault for this request and consumes one use.
func (s *Server) takeFault(path string) Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fault == FaultNone || s.faultLeft == 0 {
		return FaultNone
	}
	if s.faultPaths == "" && (path == "/api/version" || path == "/api/tags") {
		return FaultNone
	}
	if !strings.HasPrefix(path, s.faultPaths) {
		return FaultNone
	}
	if s.faultLeft > 0 {
		s.faultLeft--
	}
	return s.fault
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func ollamaErr(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rec := Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body}
	var js map[string]any
	if json.Unmarshal(body, &js) == nil {
		rec.JSON = js
	}
	s.Record(r.URL.Path, rec)

	fault := s.takeFault(r.URL.Path)
	switch fault {
	case FaultHang:
		select {
		case <-r.Context().Done():
		case <-s.closed:
		}
		return
	case FaultSlow:
		s.mu.Lock()
		d := s.slowDelay
		s.mu.Unlock()
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
		}
	case FaultReset:
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				_ = c.Close()
			}
		}
		return
	case FaultBadRequest:
		ollamaErr(w, http.StatusBadRequest, "invalid character 'x' looking for beginning of value")
		return
	case FaultModelMissing:
		model, _ := js["model"].(string)
		ollamaErr(w, http.StatusNotFound, fmt.Sprintf("model %q not found, try pulling it first", model))
		return
	case FaultServerError:
		ollamaErr(w, http.StatusInternalServerError, "llama runner process has terminated: exit status 2")
		return
	case FaultUnavailable:
		ollamaErr(w, http.StatusServiceUnavailable, "server busy, please try again.  maximum pending requests exceeded")
		return
	case FaultNonJSONBody:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "<html><body>502 Bad Gateway (proxy)</body></html>")
		return
	}

	switch {
	case r.URL.Path == "/api/version" && r.Method == http.MethodGet:
		s.mu.Lock()
		v := s.version
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]string{"version": v})
	case r.URL.Path == "/api/tags" && r.Method == http.MethodGet:
		s.handleTags(w)
	case r.URL.Path == "/api/generate" && r.Method == http.MethodPost:
		s.handleGenerate(w, r, js, body, fault)
	case r.URL.Path == "/api/embed" && r.Method == http.MethodPost:
		s.mu.Lock()
		legacy := s.legacyOnly
		s.mu.Unlock()
		if legacy {
			// Old Ollama: unknown route → Gin's plain-text 404.
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, "404 page not found")
			return
		}
		s.handleEmbed(w, js, body, false)
	case r.URL.Path == "/api/embeddings" && r.Method == http.MethodPost:
		s.handleEmbed(w, js, body, true)
	default:
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, "404 page not found")
	}
}

func (s *Server) handleTags(w http.ResponseWriter) {
	s.mu.Lock()
	names := append([]string(nil), s.models...)
	s.mu.Unlock()
	models := make([]map[string]any, 0, len(names))
	for _, n := range names {
		sum := sha256.Sum256([]byte(n))
		models = append(models, map[string]any{
			"name": n, "model": n, "modified_at": "2025-01-02T03:04:05.123456789Z", "size": 4109865159,
			"digest": fmt.Sprintf("%x", sum),
			"details": map[string]any{"parent_model": "", "format": "gguf", "family": "llama",
				"families": []string{"llama"}, "parameter_size": "8.0B", "quantization_level": "Q4_0"},
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"models": models})
}

// hasModel resolves like Ollama: a missing tag means :latest.
func (s *Server) hasModel(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !strings.Contains(name, ":") {
		name += ":latest"
	}
	for _, m := range s.models {
		if m == name {
			return true
		}
	}
	return false
}

// validate checks a request body the way Ollama does and writes the
// error answer; it returns the model or "" when it answered.
func (s *Server) validate(w http.ResponseWriter, js map[string]any, body []byte) string {
	if js == nil {
		var v any
		err := json.Unmarshal(body, &v)
		msg := "unexpected EOF"
		if err != nil {
			msg = err.Error()
		}
		ollamaErr(w, http.StatusBadRequest, msg)
		return ""
	}
	model, _ := js["model"].(string)
	if model == "" {
		ollamaErr(w, http.StatusBadRequest, "model is required")
		return ""
	}
	if !s.hasModel(model) {
		ollamaErr(w, http.StatusNotFound, fmt.Sprintf("model %q not found, try pulling it first", model))
		return ""
	}
	return model
}

func (s *Server) handleGenerate(w http.ResponseWriter, r *http.Request, js map[string]any, body []byte, fault Fault) {
	model := s.validate(w, js, body)
	if model == "" {
		return
	}
	if imgs, ok := js["images"]; ok {
		list, ok := imgs.([]any)
		if !ok {
			ollamaErr(w, http.StatusBadRequest, "json: cannot unmarshal images")
			return
		}
		for _, im := range list {
			str, _ := im.(string)
			if _, err := base64.StdEncoding.DecodeString(str); err != nil || str == "" {
				ollamaErr(w, http.StatusBadRequest, "illegal base64 data at input byte 0")
				return
			}
		}
	}
	prompt, _ := js["prompt"].(string)
	mode := r.Header.Get("X-Supervisor-Mode")
	if mode == "" {
		mode = GuessMode(prompt)
	}
	s.mu.Lock()
	answer, custom := s.answers[mode]
	s.mu.Unlock()
	if !custom {
		if fault == FaultDegraded {
			answer = MinimalAnswer(mode)
		} else {
			answer = Answer(mode, prompt)
		}
	}
	switch fault {
	case FaultNoJSONAnswer:
		answer = "I am sorry, but I cannot describe this image in the requested format."
	case FaultFenced:
		answer = "Here is the JSON you asked for:\n```json\n" + answer + "\n```\nLet me know if you need more."
	case FaultTruncated:
		answer = answer[:len(answer)/2]
	case FaultEmpty:
		answer = ""
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"model": model, "created_at": "2025-01-02T03:04:05.123456789Z", "response": answer,
		"done": true, "done_reason": "stop", "context": []int{1, 2, 3},
		"total_duration": 5043500667, "load_duration": 5025959, "prompt_eval_count": 26,
		"prompt_eval_duration": 325953000, "eval_count": 290, "eval_duration": 4709213000,
	})
}

func (s *Server) handleEmbed(w http.ResponseWriter, js map[string]any, body []byte, legacy bool) {
	model := s.validate(w, js, body)
	if model == "" {
		return
	}
	s.mu.Lock()
	dims := s.dims
	s.mu.Unlock()
	if legacy {
		prompt, _ := js["prompt"].(string)
		writeJSON(w, http.StatusOK, map[string]any{"embedding": Vector(prompt, dims)})
		return
	}
	var inputs []string
	switch in := js["input"].(type) {
	case string:
		inputs = []string{in}
	case []any:
		for _, e := range in {
			str, _ := e.(string)
			inputs = append(inputs, str)
		}
	default:
		ollamaErr(w, http.StatusBadRequest, "invalid input type")
		return
	}
	embs := make([][]float32, len(inputs))
	for i, in := range inputs {
		embs[i] = Vector(in, dims)
	}
	writeJSON(w, http.StatusOK, map[string]any{"model": model, "embeddings": embs,
		"total_duration": 14143917, "load_duration": 1019500, "prompt_eval_count": 8})
}

// Vector is the fake's deterministic unit embedding of text.
func Vector(text string, dims int) []float32 {
	out := make([]float32, dims)
	var norm float64
	seed := sha256.Sum256([]byte(text))
	for i := 0; i < dims; i++ {
		if i%8 == 0 && i > 0 {
			seed = sha256.Sum256(seed[:])
		}
		v := float32(int32(binary.LittleEndian.Uint32(seed[(i%8)*4:]))) / math.MaxInt32
		out[i] = v
		norm += float64(v * v)
	}
	n := float32(math.Sqrt(norm))
	for i := range out {
		out[i] /= n
	}
	return out
}

// GuessMode detects the mode from the JSON keys our templates ask for, for
// clients that do not send X-Supervisor-Mode.
func GuessMode(prompt string) string {
	for _, c := range []struct{ key, mode string }{
		{`"tags_normalized"`, "tags_normalize"}, {`"quality_score"`, "quality"}, {`"nsfw_score"`, "nsfw_classify"},
		{`"negative_prompt"`, "prompt_recon"}, {`"score"`, "prompt_eval"}, {`"caption"`, "caption"}, {`"title"`, "title"},
	} {
		if strings.Contains(prompt, c.key) {
			return c.mode
		}
	}
	return "caption"
}

// Answer is the deterministic, complete model answer of a mode.
func Answer(mode, prompt string) string {
	switch mode {
	case "caption":
		return `{"caption":"A red fox sits in fresh snow in front of a pine forest at dusk.","contradictions":[],"missing":["moon"],"rationale":"Clear subject and setting."}`
	case "title":
		return `{"title":"Red fox in snowy pine forest","rationale":"Subject and setting."}`
	case "prompt_eval":
		return `{"score":82,"contradictions":["daylight"],"missing":["moon"],"rationale":"Most prompt elements are visible."}`
	case "tags_normalize":
		return `{"tags_normalized":["fox","pine forest","snow"],"tags_map":[{"raw":"Fox","normalized":"fox","confidence":0.98,"type":"subject"},{"raw":"snow_field","normalized":"snow","confidence":0.9,"type":"setting"},{"raw":"pine trees","normalized":"pine forest","confidence":0.8,"type":"setting"}],"rationale":"Merged synonyms."}`
	case "quality":
		return `{"quality_score":74,"quality_flags":["noise","jpeg_artifacts"],"domain_type":"photo","domain_confidence":0.86,"rationale":"Slight noise in the shadows."}`
	case "nsfw_classify":
		return `{"nsfw_score":0.02,"nsfw_flags":[],"category":"safe","rationale_short":"Animal in a landscape."}`
	case "prompt_recon":
		return `{"prompt":"red fox sitting in snow, pine forest, dusk, photo, detailed fur","negative_prompt":"blurry, lowres","confidence":0.64,"style_tokens":["photo","dusk"],"subject_tokens":["red fox","snow","pine forest"],"rationale":"From caption and tags."}`
	}
	return `{"response":"ok"}`
}

// MinimalAnswer has only the required keys of a mode (a degraded answer).
func MinimalAnswer(mode string) string {
	switch mode {
	case "caption":
		return `{"caption":"A fox."}`
	case "title":
		return `{"title":"Fox"}`
	case "prompt_eval":
		return `{"score":50}`
	case "tags_normalize":
		return `{"tags_normalized":["fox"]}`
	case "quality":
		return `{"quality_score":60}`
	case "nsfw_classify":
		return `{"nsfw_score":0.9}`
	case "prompt_recon":
		return `{"prompt":"fox"}`
	}
	return `{}`
}
