// Package comfytest is an in-process fake of the ComfyUI HTTP API for
// tests: the routes Supervisor uses, with the JSON shapes of ComfyUI's
// server.py, and the fault modes a real server shows (down, slow, 4xx,
// 5xx, garbage, a node failing while it runs).
//
// Shapes (as ComfyUI answers them):
//
//	POST /prompt {"prompt": {id: {class_type, inputs}}, "client_id"}
//	  200 {"prompt_id": "<uuid>", "number": n, "node_errors": {}}
//	  400 {"error": {"type", "message", "details", "extra_info"},
//	       "node_errors": {id: {"errors": [{type, message, details, extra_info}],
//	                            "dependent_outputs": [ids], "class_type"}}}
//	GET  /history/{id}  {} while queued/running, then
//	  {id: {"prompt": [number, id, graph, extra_data, outputs],
//	        "outputs": {node: {"images": [{filename, subfolder, type}]}},
//	        "status": {"status_str": "success"|"error", "completed": bool,
//	                   "messages": [[event, data], …]}, "meta": {…}}}
//	GET  /view?filename&subfolder&type  the file bytes (404 when unknown)
//	GET  /object_info  {class: {"input": {"required": {name: spec}, "optional"},
//	                   "output": [types], "output_node": bool, …}}; combo
//	                   specs in both spellings ([[values], {}] and
//	                   ["COMBO", {"options": [values]}])
//	GET  /models/{folder}  ["file.safetensors", …]
//	GET  /queue  {"queue_running": [[n, id, graph, extra, outputs]], "queue_pending": […]}
//	POST /queue {"delete": [ids]} | {"clear": true}
//	POST /interrupt {"prompt_id"?}
//	GET  /system_stats {"system": {…}, "devices": […]}
//
// "Executing" a prompt writes a small PNG per SaveImage/PreviewImage node
// whose "prompt" tEXt chunk carries the submitted graph, as ComfyUI's
// SaveImage does; its size is the graph's EmptyLatentImage size (capped)
// and its pixels depend on the seed, so different seeds give different
// files and the same seed the same pixels.
package comfytest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/localsupervisor/supervisor/pkg/comfy"
	"github.com/localsupervisor/supervisor/pkg/svtest"
	"github.com/localsupervisor/supervisor/pkg/svtest/pngtest"
)

// Fault selects a failure mode.
type Fault string

// Fault modes.
const (
	FaultNone Fault = ""
	// FaultDown closes every connection without an answer.
	FaultDown Fault = "down"
	// FaultSlow waits SlowDelay (or until the client gives up) first.
	FaultSlow Fault = "slow"
	// FaultNotFound answers 404 like a proxy in front of something else.
	FaultNotFound Fault = "404"
	// FaultServerError answers 500 with aiohttp's plain text body.
	FaultServerError Fault = "500"
	// FaultGarbage answers 200 with an HTML page.
	FaultGarbage Fault = "garbage"
	// FaultExecError accepts prompts and fails them while running
	// (history status "error" with an execution_error message).
	FaultExecError Fault = "exec_error"
)

// Request is one recorded request.
type Request struct {
	Method string
	Path   string
	Query  string
	Body   []byte
}

// Options configure New. Zero values take defaults.
type Options struct {
	// Models per folder (default DefaultModels()).
	Models map[string][]string
	// ExtraClasses are added to the default node classes (custom nodes).
	ExtraClasses map[string]comfy.NodeInfo
	// SlowDelay for FaultSlow (default 30 s; the client timeout ends it).
	SlowDelay time.Duration
	// ExecDelay is how long a prompt "runs" (default 0).
	ExecDelay time.Duration
	// MaxImageEdge caps the output size (default 256).
	MaxImageEdge int
}

// DefaultModels is a small model set.
func DefaultModels() map[string][]string {
	return map[string][]string{
		"checkpoints":    {"sd_xl_base_1.0.safetensors", "ponyDiffusionV6XL.safetensors"},
		"loras":          {"detail_tweaker.safetensors"},
		"vae":            {"sdxl_vae.safetensors"},
		"upscale_models": {"4x-UltraSharp.pth"},
	}
}

type queued struct {
	number   int
	id       string
	graph    json.RawMessage
	clientID string
}

type history struct {
	Prompt  []any          `json:"prompt"`
	Outputs map[string]any `json:"outputs"`
	Status  map[string]any `json:"status"`
	Meta    map[string]any `json:"meta"`
}

// Server is the fake. Use New (or Start), then URL; Close when done.
type Server struct {
	// URL is the base URL (no trailing slash).
	URL string
	svtest.RequestLog[Request]

	srv  *httptest.Server
	opts Options

	mu          sync.Mutex
	fault       Fault
	faultPaths  []string
	models      map[string][]string
	pending     []*queued
	running     *queued
	interrupted bool
	history     map[string]*history
	files       map[string][]byte
	number      int
	fileNo      int
	hold        svtest.Gate
	wake        chan struct{}
	done        chan struct{}
	submitted   []json.RawMessage
}

// New starts a fake server.
func New(o Options) *Server {
	if o.Models == nil {
		o.Models = DefaultModels()
	}
	if o.SlowDelay == 0 {
		o.SlowDelay = 30 * time.Second
	}
	if o.MaxImageEdge <= 0 {
		o.MaxImageEdge = 256
	}
	s := &Server{opts: o, models: o.Models, history: map[string]*history{}, files: map[string][]byte{},
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	go s.worker()
	return s
}

// Close stops the server.
func (s *Server) Close() {
	s.Release()
	close(s.done)
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// SetFault switches a fault on for the given path prefixes (none: every
// route); FaultNone switches it off.
func (s *Server) SetFault(f Fault, paths ...string) {
	s.mu.Lock()
	s.fault, s.faultPaths = f, paths
	s.mu.Unlock()
}

// SetModels replaces one folder's model list.
func (s *Server) SetModels(folder string, names ...string) {
	s.mu.Lock()
	m := map[string][]string{}
	for k, v := range s.models {
		m[k] = v
	}
	m[folder] = names
	s.models = m
	s.mu.Unlock()
}

// Hold makes prompts wait in "running" until Release.
func (s *Server) Hold() { s.hold.Hold() }

// Release lets held prompts finish.
func (s *Server) Release() { s.hold.Release() }

// Restart forgets the queue and the history, like a restarted ComfyUI;
// the running prompt never finishes.
func (s *Server) Restart() {
	s.mu.Lock()
	s.pending, s.running, s.history = nil, nil, map[string]*history{}
	s.mu.Unlock()
	s.poke()
}

// Submitted returns every graph accepted by POST /prompt, in order.
func (s *Server) Submitted() []json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]json.RawMessage(nil), s.submitted...)
}

// Running returns the id of the running prompt ("" when idle).
func (s *Server) Running() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running == nil {
		return ""
	}
	return s.running.id
}

// QueueLen is the number of pending plus running prompts.
func (s *Server) QueueLen() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.pending)
	if s.running != nil {
		n++
	}
	return n
}

func (s *Server) faultFor(path string) Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fault == FaultNone || s.fault == FaultExecError {
		return FaultNone
	}
	if len(s.faultPaths) == 0 {
		return s.fault
	}
	for _, p := range s.faultPaths {
		if strings.HasPrefix(path, p) {
			return s.fault
		}
	}
	return FaultNone
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.Record(r.URL.Path, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Body: body})
	switch s.faultFor(r.URL.Path) {
	case FaultDown:
		svtest.Hangup(w)
		return
	case FaultSlow:
		select {
		case <-time.After(s.opts.SlowDelay):
		case <-r.Context().Done():
			return
		}
	case FaultNotFound:
		http.Error(w, "404: Not Found", http.StatusNotFound)
		return
	case FaultServerError:
		http.Error(w, "500 Internal Server Error\n\nServer got itself in trouble", http.StatusInternalServerError)
		return
	case FaultGarbage:
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html><body>502 Bad Gateway</body></html>"))
		return
	}
	p := r.URL.Path
	switch {
	case p == comfy.PathSystemStats && r.Method == http.MethodGet:
		writeJSON(w, 200, map[string]any{"system": map[string]any{"os": "posix", "python_version": "3.12.3", "comfyui_version": "0.3.40-fake", "embedded_python": false},
			"devices": []map[string]any{{"name": "cpu", "type": "cpu", "index": nil, "vram_total": 0, "vram_free": 0}}})
	case p == comfy.PathObjectInfo && r.Method == http.MethodGet:
		writeJSON(w, 200, s.objectInfo())
	case p == comfy.PathPrompt && r.Method == http.MethodPost:
		s.submit(w, body)
	case p == comfy.PathPrompt && r.Method == http.MethodGet:
		writeJSON(w, 200, map[string]any{"exec_info": map[string]any{"queue_remaining": s.QueueLen()}})
	case strings.HasPrefix(p, comfy.PathHistory) && r.Method == http.MethodGet:
		id := strings.TrimPrefix(p, comfy.PathHistory)
		s.mu.Lock()
		h := s.history[id]
		out := map[string]any{}
		if h != nil {
			out[id] = h
		}
		b, _ := json.Marshal(out)
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	case p == comfy.PathView && r.Method == http.MethodGet:
		q := r.URL.Query()
		s.mu.Lock()
		data, ok := s.files[q.Get("type")+"/"+q.Get("subfolder")+"/"+q.Get("filename")]
		s.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(data)
	case p == comfy.PathModels && r.Method == http.MethodGet:
		s.mu.Lock()
		names := make([]string, 0, len(s.models))
		for k := range s.models {
			names = append(names, k)
		}
		s.mu.Unlock()
		slices.Sort(names)
		writeJSON(w, 200, names)
	case strings.HasPrefix(p, comfy.PathModels+"/") && r.Method == http.MethodGet:
		s.mu.Lock()
		list, ok := s.models[strings.TrimPrefix(p, comfy.PathModels+"/")]
		s.mu.Unlock()
		if !ok {
			http.Error(w, "404: Not Found", http.StatusNotFound)
			return
		}
		writeJSON(w, 200, list)
	case p == comfy.PathQueue && r.Method == http.MethodGet:
		s.mu.Lock()
		entry := func(q *queued) []any {
			return []any{q.number, q.id, q.graph, map[string]any{"client_id": q.clientID}, []string{}}
		}
		run, pend := []any{}, []any{}
		if s.running != nil {
			run = append(run, entry(s.running))
		}
		for _, q := range s.pending {
			pend = append(pend, entry(q))
		}
		s.mu.Unlock()
		writeJSON(w, 200, map[string]any{"queue_running": run, "queue_pending": pend})
	case p == comfy.PathQueue && r.Method == http.MethodPost:
		var req struct {
			Delete []string `json:"delete"`
			Clear  bool     `json:"clear"`
		}
		_ = json.Unmarshal(body, &req)
		s.mu.Lock()
		keep := s.pending[:0]
		for _, q := range s.pending {
			if !req.Clear && !slices.Contains(req.Delete, q.id) {
				keep = append(keep, q)
			}
		}
		s.pending = keep
		s.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	case p == comfy.PathInterrupt && r.Method == http.MethodPost:
		var req struct {
			PromptID string `json:"prompt_id"`
		}
		_ = json.Unmarshal(body, &req)
		s.mu.Lock()
		if s.running != nil && (req.PromptID == "" || req.PromptID == s.running.id) {
			s.interrupted = true
		}
		s.mu.Unlock()
		s.poke()
		w.WriteHeader(http.StatusOK)
	default:
		http.Error(w, "404: Not Found", http.StatusNotFound)
	}
}

// combo writes a combo spec; new-style for loras (["COMBO", {"options"}]),
// old style for the rest, so clients must read both.
func combo(values []string, newStyle bool) json.RawMessage {
	if values == nil {
		values = []string{}
	}
	var v any = []any{values, map[string]any{}}
	if newStyle {
		v = []any{"COMBO", map[string]any{"options": values}}
	}
	b, _ := json.Marshal(v)
	return b
}

func spec(v ...any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

func node(required map[string]json.RawMessage, output []any, outputNode bool) comfy.NodeInfo {
	var n comfy.NodeInfo
	n.Input.Required = required
	n.Output = output
	if n.Output == nil {
		n.Output = []any{}
	}
	n.OutputNode = outputNode
	return n
}

// Samplers and schedulers the fake KSampler accepts.
var (
	Samplers   = []string{"euler", "euler_ancestral", "dpmpp_2m", "dpmpp_2m_sde", "dpmpp_sde", "ddim"}
	Schedulers = []string{"normal", "karras", "exponential", "simple", "sgm_uniform"}
)

func (s *Server) objectInfo() comfy.ObjectInfo {
	s.mu.Lock()
	m := s.models
	s.mu.Unlock()
	intSpec := spec("INT", map[string]any{"default": 0, "min": 0, "max": uint64(1<<64 - 1)})
	floatSpec := spec("FLOAT", map[string]any{"default": 1.0})
	link := func(t string) json.RawMessage { return spec(t) }
	oi := comfy.ObjectInfo{
		"CheckpointLoaderSimple": node(map[string]json.RawMessage{"ckpt_name": combo(m["checkpoints"], false)}, []any{"MODEL", "CLIP", "VAE"}, false),
		"CLIPTextEncode":         node(map[string]json.RawMessage{"text": spec("STRING", map[string]any{"multiline": true}), "clip": link("CLIP")}, []any{"CONDITIONING"}, false),
		"KSampler": node(map[string]json.RawMessage{"model": link("MODEL"), "seed": intSpec, "steps": intSpec, "cfg": floatSpec,
			"sampler_name": combo(Samplers, false), "scheduler": combo(Schedulers, false), "positive": link("CONDITIONING"),
			"negative": link("CONDITIONING"), "latent_image": link("LATENT"), "denoise": floatSpec}, []any{"LATENT"}, false),
		"EmptyLatentImage":   node(map[string]json.RawMessage{"width": intSpec, "height": intSpec, "batch_size": intSpec}, []any{"LATENT"}, false),
		"VAEDecode":          node(map[string]json.RawMessage{"samples": link("LATENT"), "vae": link("VAE")}, []any{"IMAGE"}, false),
		"VAEEncode":          node(map[string]json.RawMessage{"pixels": link("IMAGE"), "vae": link("VAE")}, []any{"LATENT"}, false),
		"LoadImage":          node(map[string]json.RawMessage{"image": combo([]string{"example.png"}, false)}, []any{"IMAGE", "MASK"}, false),
		"SaveImage":          node(map[string]json.RawMessage{"images": link("IMAGE"), "filename_prefix": spec("STRING", map[string]any{"default": "ComfyUI"})}, nil, true),
		"PreviewImage":       node(map[string]json.RawMessage{"images": link("IMAGE")}, nil, true),
		"LoraLoader":         node(map[string]json.RawMessage{"model": link("MODEL"), "clip": link("CLIP"), "lora_name": combo(m["loras"], true), "strength_model": floatSpec, "strength_clip": floatSpec}, []any{"MODEL", "CLIP"}, false),
		"VAELoader":          node(map[string]json.RawMessage{"vae_name": combo(m["vae"], true)}, []any{"VAE"}, false),
		"UpscaleModelLoader": node(map[string]json.RawMessage{"model_name": combo(m["upscale_models"], false)}, []any{"UPSCALE_MODEL"}, false),
		"PrimitiveInt":       node(map[string]json.RawMessage{"value": intSpec}, []any{"INT"}, false),
	}
	for k, v := range s.opts.ExtraClasses {
		oi[k] = v
	}
	return oi
}

// submit validates like ComfyUI's validate_prompt: unknown classes are
// "invalid_prompt"; combo values not in the list fail the node with
// "value_not_in_list"; no output node is "prompt_no_outputs".
func (s *Server) submit(w http.ResponseWriter, body []byte) {
	var req struct {
		Prompt   json.RawMessage `json:"prompt"`
		ClientID string          `json:"client_id"`
	}
	if err := json.Unmarshal(body, &req); err != nil || len(req.Prompt) == 0 {
		writeJSON(w, 400, map[string]any{"error": map[string]any{"type": "no_prompt", "message": "No prompt provided", "details": "", "extra_info": map[string]any{}}, "node_errors": map[string]any{}})
		return
	}
	g, err := comfy.ParseGraph(string(req.Prompt))
	if err != nil {
		writeJSON(w, 400, map[string]any{"error": map[string]any{"type": "invalid_prompt", "message": "Cannot execute because the prompt is not valid.", "details": err.Error(), "extra_info": map[string]any{}}, "node_errors": map[string]any{}})
		return
	}
	oi := s.objectInfo()
	hasOutput := false
	nodeErrors := map[string]any{}
	for id, n := range g {
		ni, ok := oi[n.ClassType]
		if !ok {
			writeJSON(w, 400, map[string]any{"error": map[string]any{"type": "invalid_prompt", "message": "Cannot execute because node " + n.ClassType + " does not exist.", "details": "Node ID '#" + id + "'", "extra_info": map[string]any{}}, "node_errors": map[string]any{}})
			return
		}
		hasOutput = hasOutput || ni.OutputNode
		for in, v := range n.Inputs {
			sv, isStr := v.(string)
			opts, isCombo := oi.Options(n.ClassType, in)
			if isStr && isCombo && !slices.Contains(opts, sv) {
				nodeErrors[id] = map[string]any{"errors": []map[string]any{{"type": "value_not_in_list", "message": "Value not in list",
					"details": fmt.Sprintf("%s: '%s' not in %v", in, sv, opts), "extra_info": map[string]any{"input_name": in}}},
					"dependent_outputs": []string{}, "class_type": n.ClassType}
			}
		}
	}
	if !hasOutput {
		writeJSON(w, 400, map[string]any{"error": map[string]any{"type": "prompt_no_outputs", "message": "Prompt has no outputs", "details": "", "extra_info": map[string]any{}}, "node_errors": map[string]any{}})
		return
	}
	if len(nodeErrors) > 0 {
		writeJSON(w, 400, map[string]any{"error": map[string]any{"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation", "details": "", "extra_info": map[string]any{}}, "node_errors": nodeErrors})
		return
	}
	s.mu.Lock()
	s.number++
	q := &queued{number: s.number, id: fmt.Sprintf("%08x-fake-4000-8000-%012d", s.number, s.number), graph: req.Prompt, clientID: req.ClientID}
	s.pending = append(s.pending, q)
	s.submitted = append(s.submitted, req.Prompt)
	s.mu.Unlock()
	s.poke()
	writeJSON(w, 200, map[string]any{"prompt_id": q.id, "number": q.number, "node_errors": map[string]any{}})
}

func (s *Server) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// worker runs prompts one at a time, like ComfyUI's prompt worker.
func (s *Server) worker() {
	for {
		s.mu.Lock()
		if len(s.pending) == 0 {
			s.mu.Unlock()
			select {
			case <-s.done:
				return
			case <-s.wake:
			}
			continue
		}
		q := s.pending[0]
		s.pending = s.pending[1:]
		s.running, s.interrupted = q, false
		s.mu.Unlock()
		hold := s.hold.C()
		deadline := time.After(s.opts.ExecDelay)
	wait:
		for {
			select {
			case <-s.done:
				return
			case <-s.wake:
				s.mu.Lock()
				stop := s.interrupted
				s.mu.Unlock()
				if stop {
					break wait
				}
			case <-deadline:
				if hold == nil {
					break wait
				}
				deadline = nil
			case <-hold:
				hold = nil
				if deadline == nil {
					break wait
				}
			}
		}
		s.finish(q)
	}
}

func (s *Server) finish(q *queued) {
	g, _ := comfy.ParseGraph(string(q.graph))
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running != q {
		return // forgotten by Restart
	}
	h := &history{Prompt: []any{q.number, q.id, q.graph, map[string]any{"client_id": q.clientID}, []string{}},
		Outputs: map[string]any{}, Meta: map[string]any{}}
	ts := time.Now().UnixMilli()
	msg := func(ev string, data map[string]any) []any {
		data["prompt_id"], data["timestamp"] = q.id, ts
		return []any{ev, data}
	}
	switch {
	case s.interrupted:
		h.Status = map[string]any{"status_str": "error", "completed": false, "messages": []any{
			msg("execution_start", map[string]any{}), msg("execution_interrupted", map[string]any{"node_id": "3", "node_type": "KSampler", "executed": []string{}})}}
	case s.fault == FaultExecError:
		h.Status = map[string]any{"status_str": "error", "completed": false, "messages": []any{
			msg("execution_start", map[string]any{}), msg("execution_error", map[string]any{"node_id": "3", "node_type": "KSampler",
				"exception_type": "torch.OutOfMemoryError", "exception_message": "CUDA out of memory. Tried to allocate 2.00 GiB", "traceback": []string{}})}}
	default:
		w, hgt, seed := size(g, s.opts.MaxImageEdge)
		for id, n := range g {
			if n.ClassType != "SaveImage" && n.ClassType != "PreviewImage" {
				continue
			}
			s.fileNo++
			typ, prefix := "output", "ComfyUI"
			if n.ClassType == "PreviewImage" {
				typ, prefix = "temp", "ComfyUI_temp"
			} else if p, ok := n.Inputs["filename_prefix"].(string); ok && p != "" {
				prefix = p
			}
			name := fmt.Sprintf("%s_%05d_.png", prefix, s.fileNo)
			s.files[typ+"//"+name] = pngtest.WithText(pngtest.PNG(w, hgt, seed), "prompt", string(q.graph))
			h.Outputs[id] = map[string]any{"images": []map[string]any{{"filename": name, "subfolder": "", "type": typ}}}
		}
		h.Status = map[string]any{"status_str": "success", "completed": true, "messages": []any{
			msg("execution_start", map[string]any{}), msg("execution_success", map[string]any{})}}
	}
	s.history[q.id] = h
	s.running = nil
}

// size reads the first EmptyLatentImage's literal size and the first
// KSampler seed of g.
func size(g comfy.Graph, maxEdge int) (w, h int, seed uint8) {
	w, h = 64, 64
	num := func(v any) (int64, bool) {
		n, ok := v.(json.Number)
		if !ok {
			return 0, false
		}
		i, err := strconv.ParseInt(n.String(), 10, 64)
		return i, err == nil
	}
	for _, n := range g {
		switch n.ClassType {
		case "EmptyLatentImage":
			if x, ok := num(n.Inputs["width"]); ok && x > 0 {
				w = int(min(x, int64(maxEdge)))
			}
			if y, ok := num(n.Inputs["height"]); ok && y > 0 {
				h = int(min(y, int64(maxEdge)))
			}
		case "KSampler":
			if sd, ok := num(n.Inputs["seed"]); ok {
				seed = uint8(sd*131 + 7)
			}
		}
	}
	return w, h, seed
}
