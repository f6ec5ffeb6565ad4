// Package forgetest is an in-process fake of the Stable Diffusion WebUI
// Forge / AUTOMATIC1111 API for tests: the endpoints Supervisor uses, real
// PNG outputs carrying a "parameters" tEXt chunk, checkpoint switching,
// progress of a running generation, interrupt, batches, basic auth and the
// fault modes a real server shows (down, 401/403, 500, slow, empty images,
// tiny or black images, unknown sampler). It records every request.
package forgetest

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/localsupervisor/supervisor/pkg/svtest"

	_ "image/jpeg" // init images may be JPEG
)

// Fault selects a failure mode for the whole API.
type Fault string

// Fault modes.
const (
	FaultNone Fault = ""
	// FaultDown closes every connection without an answer.
	FaultDown Fault = "down"
	// FaultUnauthorized answers 401 like --api-auth with wrong credentials.
	FaultUnauthorized Fault = "401"
	// FaultForbidden answers 403.
	FaultForbidden Fault = "403"
	// FaultServerError answers 500 with the A1111 error body.
	FaultServerError Fault = "500"
	// FaultSlow waits SlowDelay (or until the client gives up) first.
	FaultSlow Fault = "slow"
	// FaultEmptyImages answers generations with "images": [].
	FaultEmptyImages Fault = "empty_images"
	// FaultTinyImage answers generations with an 8×8 image.
	FaultTinyImage Fault = "tiny_image"
	// FaultBlackImage answers generations with all-black images.
	FaultBlackImage Fault = "black_image"
	// FaultGarbage answers with a non-JSON body (a proxy error page).
	FaultGarbage Fault = "garbage"
	// FaultIgnoreSwitch accepts checkpoint switches but keeps the old model.
	FaultIgnoreSwitch Fault = "ignore_switch"
)

// Model is an sd-models entry.
type Model struct {
	Title     string  `json:"title"`
	ModelName string  `json:"model_name"`
	Hash      string  `json:"hash"`
	SHA256    string  `json:"sha256"`
	Filename  string  `json:"filename"`
	Config    *string `json:"config"`
}

// Request is one recorded request.
type Request struct {
	Method string
	Path   string
	Query  string
	Body   []byte
	User   string
}

// Options configures New. Zero values take defaults.
type Options struct {
	// Models default to DefaultModels().
	Models []Model
	// Active is the initial checkpoint title (default: first model).
	Active string
	// User and Pass require basic auth when set.
	User, Pass string
	// SamplerErrorStatus is the status for an unknown sampler_name: 422 by
	// default; real A1111 versions answer 404 or 400 with the same body.
	SamplerErrorStatus int
	// SlowDelay for FaultSlow (default 30 s; the client timeout ends it).
	SlowDelay time.Duration
	// NoSchedulers makes /sdapi/v1/schedulers answer 404 (A1111 < 1.9).
	NoSchedulers bool
	// Upscalers known to extra-single-image (default R-ESRGAN 4x+, Lanczos).
	Upscalers []string
}

// DefaultModels is a small, realistic checkpoint list.
func DefaultModels() []Model {
	return []Model{
		{Title: "SDXL_FP16_waiNSFWIllustrious_v120.safetensors [a1b2c3d4e5]", ModelName: "SDXL_FP16_waiNSFWIllustrious_v120", Hash: "a1b2c3d4e5", SHA256: "a1b2c3d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccddeeff00", Filename: "/models/Stable-diffusion/SDXL_FP16_waiNSFWIllustrious_v120.safetensors"},
		{Title: "ponyDiffusionV6XL.safetensors [67ab2fd8ec]", ModelName: "ponyDiffusionV6XL", Hash: "67ab2fd8ec", SHA256: "67ab2fd8ec439a89b3fedcba98765432100123456789abcdef0123456789abcd", Filename: "/models/Stable-diffusion/ponyDiffusionV6XL.safetensors"},
		{Title: "flux1-dev-bnb-nf4-v2.safetensors [f0d4e5a6b7]", ModelName: "flux1-dev-bnb-nf4-v2", Hash: "f0d4e5a6b7", SHA256: "f0d4e5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708", Filename: "/models/Stable-diffusion/flux/flux1-dev-bnb-nf4-v2.safetensors"},
	}
}

type sampler struct {
	Name    string            `json:"name"`
	Aliases []string          `json:"aliases"`
	Options map[string]string `json:"options"`
}

type scheduler struct {
	Name           string   `json:"name"`
	Label          string   `json:"label"`
	Aliases        []string `json:"aliases"`
	DefaultRho     float64  `json:"default_rho"`
	NeedInnerModel bool     `json:"need_inner_model"`
}

var defaultSamplers = []sampler{
	{"DPM++ 2M", []string{"k_dpmpp_2m"}, map[string]string{"scheduler": "karras"}},
	{"DPM++ SDE", []string{"k_dpmpp_sde"}, map[string]string{"scheduler": "karras"}},
	{"DPM++ 2M SDE", []string{"k_dpmpp_2m_sde"}, map[string]string{}},
	{"Euler a", []string{"k_euler_a", "k_euler_ancestral"}, map[string]string{"uses_ensd": "True"}},
	{"Euler", []string{"k_euler"}, map[string]string{}},
	{"DDIM", []string{}, map[string]string{}},
}

var defaultSchedulers = []scheduler{
	{"automatic", "Automatic", nil, 0, false},
	{"uniform", "Uniform", nil, 0, true},
	{"karras", "Karras", nil, 7, false},
	{"exponential", "Exponential", nil, 0, false},
	{"normal", "Normal", nil, 0, true},
	{"simple", "Simple", nil, 0, true},
	{"sgm_uniform", "SGM Uniform", []string{"SGMUniform"}, 0, true},
}

// Server is the fake. Use New, then URL; Close when done. Its embedded
// RequestLog records every request (Requests, RequestsTo, ResetRequests).
type Server struct {
	// URL is the base URL (no trailing slash).
	URL string
	svtest.RequestLog[Request]

	srv  *httptest.Server
	opts Options

	mu        sync.Mutex
	models    []Model
	active    string
	fault     Fault
	hold      svtest.Gate // held: generations wait until released
	running   *generation
	jobNo     int
	started   chan struct{}
	interrupt int
}

type generation struct {
	// interrupted is set by /interrupt (under Server.mu) and shown by
	// /progress, like A1111's state.interrupted.
	interrupted bool
	steps       int
	step        int
	batches     int
	interrupt   chan struct{}
	once        sync.Once
}

// New starts a fake server.
func New(o Options) *Server {
	if o.Models == nil {
		o.Models = DefaultModels()
	}
	if o.SamplerErrorStatus == 0 {
		o.SamplerErrorStatus = http.StatusUnprocessableEntity
	}
	if o.SlowDelay == 0 {
		o.SlowDelay = 30 * time.Second
	}
	if o.Upscalers == nil {
		o.Upscalers = []string{"None", "Lanczos", "Nearest", "R-ESRGAN 4x+"}
	}
	s := &Server{opts: o, models: append([]Model(nil), o.Models...), started: make(chan struct{}, 64)}
	s.active = o.Active
	if s.active == "" && len(s.models) > 0 {
		s.active = s.models[0].Title
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close stops the server and releases held generations.
func (s *Server) Close() {
	s.Release()
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// SetFault switches the fault mode.
func (s *Server) SetFault(f Fault) {
	s.mu.Lock()
	s.fault = f
	s.mu.Unlock()
}

// SetModels replaces the checkpoint list.
func (s *Server) SetModels(m []Model) {
	s.mu.Lock()
	s.models = append([]Model(nil), m...)
	s.mu.Unlock()
}

// Active returns the current sd_model_checkpoint.
func (s *Server) Active() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active
}

// Hold makes subsequent generations block after their first step until
// Release, an interrupt or the client disconnecting, so tests can observe
// progress and cancel deterministically.
func (s *Server) Hold() { s.hold.Hold() }

// Release lets held generations finish.
func (s *Server) Release() { s.hold.Release() }

// Started receives once per generation that has begun (and, when held, is
// waiting).
func (s *Server) Started() <-chan struct{} { return s.started }

// Interrupts returns how many interrupt calls arrived.
func (s *Server) Interrupts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.interrupt
}

// apiErr writes the A1111 exception handler's body:
// {"error", "detail", "body", "errors"}.
func apiErr(w http.ResponseWriter, status int, typ, detail, errs string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": typ, "detail": detail, "body": "", "errors": errs})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	user, pass, _ := r.BasicAuth()
	s.Record(r.URL.Path, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Body: body, User: user})
	s.mu.Lock()
	fault := s.fault
	s.mu.Unlock()

	switch fault {
	case FaultDown:
		svtest.Hangup(w)
		return
	case FaultUnauthorized:
		w.Header().Set("WWW-Authenticate", "Basic")
		writeStatusJSON(w, http.StatusUnauthorized, map[string]any{"detail": "Incorrect username or password"})
		return
	case FaultForbidden:
		writeStatusJSON(w, http.StatusForbidden, map[string]any{"detail": "Not authenticated"})
		return
	case FaultServerError:
		apiErr(w, http.StatusInternalServerError, "RuntimeError", "", "CUDA out of memory. Tried to allocate 2.00 GiB")
		return
	case FaultGarbage:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "<html><body>502 Bad Gateway</body></html>")
		return
	case FaultSlow:
		select {
		case <-time.After(s.opts.SlowDelay):
		case <-r.Context().Done():
			return
		}
	}
	if s.opts.User != "" || s.opts.Pass != "" {
		if user != s.opts.User || pass != s.opts.Pass {
			w.Header().Set("WWW-Authenticate", "Basic")
			writeStatusJSON(w, http.StatusUnauthorized, map[string]any{"detail": "Incorrect username or password"})
			return
		}
	}

	switch {
	case r.URL.Path == "/sdapi/v1/options" && r.Method == http.MethodGet:
		s.mu.Lock()
		active := s.active
		s.mu.Unlock()
		writeJSON(w, map[string]any{"sd_model_checkpoint": active, "samples_format": "png", "sd_vae": "Automatic", "CLIP_stop_at_last_layers": 2, "forge_preset": "xl"})
	case r.URL.Path == "/sdapi/v1/options" && r.Method == http.MethodPost:
		s.setOptions(w, body)
	case r.URL.Path == "/sdapi/v1/sd-models" && r.Method == http.MethodGet:
		s.mu.Lock()
		m := append([]Model(nil), s.models...)
		s.mu.Unlock()
		writeJSON(w, m)
	case r.URL.Path == "/sdapi/v1/samplers" && r.Method == http.MethodGet:
		writeJSON(w, defaultSamplers)
	case r.URL.Path == "/sdapi/v1/schedulers" && r.Method == http.MethodGet:
		if s.opts.NoSchedulers {
			writeStatusJSON(w, http.StatusNotFound, map[string]any{"detail": "Not Found"})
			return
		}
		writeJSON(w, defaultSchedulers)
	case r.URL.Path == "/sdapi/v1/progress" && r.Method == http.MethodGet:
		s.progress(w)
	case r.URL.Path == "/sdapi/v1/interrupt" && r.Method == http.MethodPost:
		s.mu.Lock()
		s.interrupt++
		if g := s.running; g != nil {
			g.interrupted = true
			g.once.Do(func() { close(g.interrupt) })
		}
		s.mu.Unlock()
		writeJSON(w, map[string]any{})
	case (r.URL.Path == "/sdapi/v1/txt2img" || r.URL.Path == "/sdapi/v1/img2img") && r.Method == http.MethodPost:
		s.generate(w, r, body, fault, r.URL.Path == "/sdapi/v1/img2img")
	case r.URL.Path == "/sdapi/v1/extra-single-image" && r.Method == http.MethodPost:
		s.extras(w, body)
	default:
		writeStatusJSON(w, http.StatusNotFound, map[string]any{"detail": "Not Found"})
	}
}

func writeStatusJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// findModel mirrors A1111's checkpoint_aliases: title, model_name, file
// name, short hash and sha256.
func (s *Server) findModel(name string) (Model, bool) {
	for _, m := range s.models {
		base := m.Filename[strings.LastIndexAny(m.Filename, `/\`)+1:]
		if name == m.Title || name == m.ModelName || name == base || name == m.Hash || name == m.SHA256 {
			return m, true
		}
	}
	return Model{}, false
}

func (s *Server) setOptions(w http.ResponseWriter, body []byte) {
	var req map[string]any
	if err := json.Unmarshal(body, &req); err != nil {
		apiErr(w, http.StatusUnprocessableEntity, "RequestValidationError", "", "invalid JSON body")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := req["sd_model_checkpoint"]; ok {
		name, _ := v.(string)
		m, found := s.findModel(name)
		if !found {
			apiErr(w, http.StatusInternalServerError, "RuntimeError", "", fmt.Sprintf("model %q not found", name))
			return
		}
		if s.fault != FaultIgnoreSwitch {
			s.active = m.Title
		}
	}
	writeJSON(w, true)
}

func (s *Server) progress(w http.ResponseWriter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := map[string]any{"skipped": false, "interrupted": false, "stopping_generation": false, "job": "", "job_count": 0, "job_timestamp": "0", "job_no": s.jobNo, "sampling_step": 0, "sampling_steps": 0}
	prog := 0.0
	if g := s.running; g != nil {
		st["job"] = fmt.Sprintf("task(%d)", s.jobNo)
		st["job_count"] = g.batches
		st["job_timestamp"] = "20260102030405"
		st["sampling_step"] = g.step
		st["sampling_steps"] = g.steps
		st["interrupted"] = g.interrupted
		prog = float64(g.step) / float64(g.steps)
	}
	writeJSON(w, map[string]any{"progress": prog, "eta_relative": 0.0, "state": st, "current_image": nil, "textinfo": nil})
}

// genRequest is the subset of StableDiffusionProcessingAPI the fake reads.
type genRequest struct {
	Prompt            string   `json:"prompt"`
	NegativePrompt    string   `json:"negative_prompt"`
	Seed              int64    `json:"seed"`
	SamplerName       string   `json:"sampler_name"`
	SamplerIndex      string   `json:"sampler_index"`
	Scheduler         string   `json:"scheduler"`
	Steps             int      `json:"steps"`
	CFGScale          float64  `json:"cfg_scale"`
	Width             int      `json:"width"`
	Height            int      `json:"height"`
	BatchSize         int      `json:"batch_size"`
	NIter             int      `json:"n_iter"`
	DenoisingStrength *float64 `json:"denoising_strength"`
	InitImages        []string `json:"init_images"`
	SendImages        *bool    `json:"send_images"`
}

func knownSampler(name string) (string, bool) {
	for _, s := range defaultSamplers {
		if strings.EqualFold(s.Name, name) {
			return s.Name, true
		}
		for _, a := range s.Aliases {
			if strings.EqualFold(a, name) {
				return s.Name, true
			}
		}
	}
	return "", false
}

func knownScheduler(name string) (string, bool) {
	for _, s := range defaultSchedulers {
		if strings.EqualFold(s.Name, name) || strings.EqualFold(s.Label, name) {
			return s.Label, true
		}
	}
	return "", false
}

func (s *Server) generate(w http.ResponseWriter, r *http.Request, body []byte, fault Fault, img2img bool) {
	var req genRequest
	if err := json.Unmarshal(body, &req); err != nil {
		apiErr(w, http.StatusUnprocessableEntity, "RequestValidationError", "", "body: "+err.Error())
		return
	}
	sname := req.SamplerName
	if sname == "" {
		sname = req.SamplerIndex
	}
	if sname == "" {
		sname = "Euler a"
	}
	canon, ok := knownSampler(sname)
	if !ok {
		apiErr(w, s.opts.SamplerErrorStatus, "HTTPException", "Sampler not found", fmt.Sprintf("%d: Sampler not found", s.opts.SamplerErrorStatus))
		return
	}
	sched := "Automatic"
	if req.Scheduler != "" {
		if sched, ok = knownScheduler(req.Scheduler); !ok {
			apiErr(w, s.opts.SamplerErrorStatus, "HTTPException", "Scheduler not found", fmt.Sprintf("%d: Scheduler not found", s.opts.SamplerErrorStatus))
			return
		}
	}
	if img2img {
		if len(req.InitImages) == 0 {
			apiErr(w, http.StatusNotFound, "HTTPException", "Init image not found", "404: Init image not found")
			return
		}
		if _, err := decodeB64Image(req.InitImages[0]); err != nil {
			apiErr(w, http.StatusInternalServerError, "HTTPException", "Invalid encoded image", "500: Invalid encoded image")
			return
		}
	}
	if req.Width <= 0 {
		req.Width = 512
	}
	if req.Height <= 0 {
		req.Height = 512
	}
	req.Width, req.Height = min(req.Width, 2048), min(req.Height, 2048)
	if req.Steps <= 0 {
		req.Steps = 20
	}
	batch, iters := max(req.BatchSize, 1), max(req.NIter, 1)
	if req.Seed < 0 {
		req.Seed = 1234567
	}

	g := &generation{steps: req.Steps, batches: iters, interrupt: make(chan struct{})}
	s.mu.Lock()
	s.jobNo++
	s.running = g
	g.step = 1
	s.mu.Unlock()
	hold := s.hold.C()
	defer func() {
		s.mu.Lock()
		if s.running == g {
			s.running = nil
		}
		s.mu.Unlock()
	}()
	select {
	case s.started <- struct{}{}:
	default:
	}
	interrupted := false
	if hold != nil {
		select {
		case <-hold:
		case <-g.interrupt:
			interrupted = true
		case <-r.Context().Done():
			return
		}
	}

	s.mu.Lock()
	model := s.active
	s.mu.Unlock()
	n := batch * iters
	if interrupted {
		// A1111 returns what it has: the interrupted batch only.
		n = batch
	}
	images := []string{}
	seeds := []int64{}
	infotexts := []string{}
	if fault != FaultEmptyImages {
		for i := 0; i < n; i++ {
			seed := req.Seed + int64(i)
			info := fmt.Sprintf("%s\nNegative prompt: %s\nSteps: %d, Sampler: %s, Schedule type: %s, CFG scale: %g, Seed: %d, Size: %dx%d, Model hash: %s, Model: %s, Version: f2.0.1v1.10.1-previous-fake",
				req.Prompt, req.NegativePrompt, req.Steps, canon, sched, req.CFGScale, seed, req.Width, req.Height, modelHash(s, model), modelName(s, model))
			if req.DenoisingStrength != nil && img2img {
				info += fmt.Sprintf(", Denoising strength: %g", *req.DenoisingStrength)
			}
			iw, ih := req.Width, req.Height
			var img image.Image
			switch fault {
			case FaultTinyImage:
				img = noise(8, 8, seed)
			case FaultBlackImage:
				img = nearBlack(iw, ih, seed)
			default:
				img = noise(iw, ih, seed)
			}
			b, err := EncodePNG(img, info)
			if err != nil {
				apiErr(w, http.StatusInternalServerError, "RuntimeError", "", err.Error())
				return
			}
			images = append(images, base64.StdEncoding.EncodeToString(b))
			seeds = append(seeds, seed)
			infotexts = append(infotexts, info)
		}
	}
	infoJSON, _ := json.Marshal(map[string]any{
		"prompt": req.Prompt, "negative_prompt": req.NegativePrompt, "seed": req.Seed, "all_seeds": seeds,
		"sampler_name": canon, "scheduler": sched, "cfg_scale": req.CFGScale, "steps": req.Steps,
		"width": req.Width, "height": req.Height, "sd_model_name": modelName(s, model), "sd_model_hash": modelHash(s, model),
		"batch_size": batch, "infotexts": infotexts, "job_timestamp": "20260102030405", "version": "f2.0.1v1.10.1-previous-fake",
	})
	var params map[string]any
	_ = json.Unmarshal(body, &params)
	writeJSON(w, map[string]any{"images": images, "parameters": params, "info": string(infoJSON)})
}

func modelName(s *Server, title string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.findModel(title); ok {
		return m.ModelName
	}
	return title
}

func modelHash(s *Server, title string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.findModel(title); ok {
		return m.Hash
	}
	return ""
}

func (s *Server) extras(w http.ResponseWriter, body []byte) {
	var req struct {
		ResizeMode int     `json:"resize_mode"`
		Resize     float64 `json:"upscaling_resize"`
		W          int     `json:"upscaling_resize_w"`
		H          int     `json:"upscaling_resize_h"`
		Upscaler1  string  `json:"upscaler_1"`
		Image      string  `json:"image"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		apiErr(w, http.StatusUnprocessableEntity, "RequestValidationError", "", err.Error())
		return
	}
	known := false
	for _, u := range s.opts.Upscalers {
		if strings.EqualFold(u, req.Upscaler1) {
			known = true
		}
	}
	if !known {
		apiErr(w, http.StatusBadRequest, "HTTPException", "Invalid upscaler, needs to be one of these: "+strings.Join(s.opts.Upscalers, " , "), "")
		return
	}
	src, err := decodeB64Image(req.Image)
	if err != nil {
		apiErr(w, http.StatusInternalServerError, "HTTPException", "Invalid encoded image", "500: Invalid encoded image")
		return
	}
	b := src.Bounds()
	nw, nh := int(float64(b.Dx())*req.Resize), int(float64(b.Dy())*req.Resize)
	if req.ResizeMode == 1 {
		nw, nh = req.W, req.H
	}
	nw, nh = min(max(nw, 1), 4096), min(max(nh, 1), 4096)
	dst := image.NewRGBA(image.Rect(0, 0, nw, nh))
	for y := 0; y < nh; y++ {
		for x := 0; x < nw; x++ {
			dst.Set(x, y, src.At(b.Min.X+x*b.Dx()/nw, b.Min.Y+y*b.Dy()/nh))
		}
	}
	out, err := EncodePNG(dst, "")
	if err != nil {
		apiErr(w, http.StatusInternalServerError, "RuntimeError", "", err.Error())
		return
	}
	writeJSON(w, map[string]any{"html_info": fmt.Sprintf("<p>Postprocess upscale to: %dx%d, upscaler: %s</p>", nw, nh, req.Upscaler1), "image": base64.StdEncoding.EncodeToString(out)})
}

func decodeB64Image(s string) (image.Image, error) {
	if strings.HasPrefix(s, "data:image/") {
		if i := strings.Index(s, ","); i >= 0 {
			s = s[i+1:]
		}
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	img, _, err := image.Decode(bytes.NewReader(b))
	return img, err
}

// noise is a deterministic colourful image; pseudo-random pixels keep the
// PNG above the "suspiciously small" byte thresholds like real outputs.
func noise(w, h int, seed int64) image.Image {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5eed))
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := uint8(rng.Uint32())
			img.SetNRGBA(x, y, color.NRGBA{R: uint8(x * 255 / max(w, 1)), G: uint8(y * 255 / max(h, 1)), B: v, A: 255})
		}
	}
	return img
}

// nearBlack is what a NaN/VAE failure looks like: black with faint noise
// (so the file is not suspiciously small, only dark).
func nearBlack(w, h int, seed int64) image.Image {
	rng := rand.New(rand.NewPCG(uint64(seed), 0xb1ac))
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		v := rng.Uint32()
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = uint8(v%6), uint8(v>>8%6), uint8(v>>16%6), 255
	}
	return img
}

// EncodePNG encodes img as PNG and, when parameters is non-empty, inserts
// a tEXt chunk "parameters" right after IHDR as A1111/Forge write it.
func EncodePNG(img image.Image, parameters string) ([]byte, error) {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	if parameters == "" {
		return b, nil
	}
	// 8-byte signature + IHDR chunk (4 len + 4 type + 13 data + 4 crc).
	const ihdrEnd = 8 + 4 + 4 + 13 + 4
	data := append([]byte("parameters\x00"), []byte(parameters)...)
	chunk := make([]byte, 0, len(data)+12)
	chunk = binary.BigEndian.AppendUint32(chunk, uint32(len(data)))
	chunk = append(chunk, "tEXt"...)
	chunk = append(chunk, data...)
	crc := crc32.NewIEEE()
	crc.Write(chunk[4:])
	chunk = binary.BigEndian.AppendUint32(chunk, crc.Sum32())
	out := make([]byte, 0, len(b)+len(chunk))
	out = append(out, b[:ihdrEnd]...)
	out = append(out, chunk...)
	out = append(out, b[ihdrEnd:]...)
	return out, nil
}
