package ollama

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

// Reason codes of this package. Transient ones are retried by the job
// service, permanent ones fail the job at once.
const (
	CodeOllamaDown        = "ollama_down"          // transient: refused, reset, DNS
	CodeTimeout           = "timeout"              // transient: per-attempt deadline
	CodeHTTP400           = "http_400"             // permanent: bad payload
	CodeHTTP404Model      = "http_404_model"       // permanent: model not pulled
	CodeHTTP404           = "http_404"             // permanent: endpoint missing
	CodeHTTP4xx           = "http_4xx"             // permanent: other client errors
	CodeHTTP5xx           = "http_5xx"             // transient: server error
	CodeInvalidJSON       = "invalid_json"         // transient: HTTP body is not Ollama JSON
	CodeParseError        = "parse_error"          // transient once: model answer has no usable JSON
	CodeTooLargeForVision = "too_large_for_vision" // permanent
	CodeInvalidImage      = "invalid_image"        // permanent
	CodeOllamaDisabled    = "ollama_disabled"      // permanent
	CodeMissingInput      = "missing_input"        // permanent: no prompt/tags/caption to work on
	CodeUnsupportedMedia  = "unsupported_media"    // permanent: vision mode on a video without frames
	CodeTemplateMissing   = "template_missing"     // permanent
)

// GenerateRequest is one /api/generate call. Only non-zero fields are sent.
type GenerateRequest struct {
	// Mode is informational: it is sent as the X-Supervisor-Mode header (the
	// fake server keys its answers on it; Ollama ignores unknown headers).
	Mode   Mode
	Model  string
	Prompt string
	System string
	// Images are raw encoded image files; JSON encodes them as base64.
	Images [][]byte
	// Format is nil, the JSON string "json", or a JSON schema object.
	Format json.RawMessage
	// Options are model options; deterministic config values override them.
	Options map[string]any
	// KeepAlive overrides Config.KeepAlive.
	KeepAlive string
	// Timeout per attempt; 0 uses Config.RequestTimeout(Mode).
	Timeout time.Duration
}

// Usage is token accounting as reported by Ollama.
type Usage struct {
	InputTokens  int `json:"input_tokens"`
	OutputTokens int `json:"output_tokens"`
}

// GenerateResponse is the decoded non-streaming /api/generate answer.
type GenerateResponse struct {
	Model      string
	Response   string
	Done       bool
	DoneReason string
	Usage      Usage
	// RawBody is the HTTP body as received.
	RawBody    []byte
	HTTPStatus int
	Latency    time.Duration
	// Attempts is how many HTTP attempts were made.
	Attempts int
}

// EmbedResponse is the result of Embed.
type EmbedResponse struct {
	Model     string
	Embedding []float32
	// Endpoint is "/api/embed" or "/api/embeddings" (legacy fallback).
	Endpoint   string
	HTTPStatus int
	Latency    time.Duration
	Attempts   int
}

// ModelInfo is one entry of /api/tags.
type ModelInfo struct {
	Name       string    `json:"name"`
	Model      string    `json:"model"`
	ModifiedAt time.Time `json:"modified_at"`
	Size       int64     `json:"size"`
	Digest     string    `json:"digest"`
}

// SleepFunc waits d or until ctx ends. Tests inject one to record backoff.
type SleepFunc func(ctx context.Context, d time.Duration) error

// Client talks to one Ollama server. It is safe for concurrent use.
type Client struct {
	cfg   Config
	hc    *http.Client
	sleep SleepFunc
}

// Option configures a Client.
type Option func(*Client)

// WithSleep replaces the backoff sleep (tests record the sequence).
func WithSleep(f SleepFunc) Option { return func(c *Client) { c.sleep = f } }

// New returns a client for cfg (defaults filled in). hc may be nil for
// http.DefaultClient; timeouts are applied per request via context, so a
// shared client without Timeout is fine.
func New(cfg Config, hc *http.Client, opts ...Option) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	c := &Client{cfg: cfg.withDefaults(), hc: hc, sleep: sleepCtx}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Config returns the effective configuration.
func (c *Client) Config() Config { return c.cfg }

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// generatePayload is the exact wire shape: model only at top level, no nulls.
type generatePayload struct {
	Model     string          `json:"model"`
	Prompt    string          `json:"prompt"`
	System    string          `json:"system,omitempty"`
	Stream    bool            `json:"stream"`
	Images    [][]byte        `json:"images,omitempty"`
	Format    json.RawMessage `json:"format,omitempty"`
	Options   map[string]any  `json:"options,omitempty"`
	KeepAlive string          `json:"keep_alive,omitempty"`
}

type generateBody struct {
	Model           string `json:"model"`
	Response        string `json:"response"`
	Done            bool   `json:"done"`
	DoneReason      string `json:"done_reason"`
	PromptEvalCount int    `json:"prompt_eval_count"`
	EvalCount       int    `json:"eval_count"`
	Error           string `json:"error"`
}

// options merges config options, request options and (when enabled) the
// deterministic sampling values, which win.
func (c *Client) options(req map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range c.cfg.Options {
		out[k] = v
	}
	for k, v := range req {
		out[k] = v
	}
	if c.cfg.Deterministic.Enabled {
		out["temperature"] = c.cfg.Deterministic.Temperature
		out["top_p"] = c.cfg.Deterministic.TopP
		out["seed"] = c.cfg.Deterministic.Seed
	}
	// "model" inside options was a quirk of the original; Ollama ignores it
	// at best, so it never goes out.
	delete(out, "model")
	for k, v := range out {
		if v == nil {
			delete(out, k)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// Generate runs one non-streaming completion.
func (c *Client) Generate(ctx context.Context, req GenerateRequest) (*GenerateResponse, error) {
	if req.Model == "" {
		return nil, reason.New(CodeHTTP400, "generate: model is required")
	}
	ka := req.KeepAlive
	if ka == "" {
		ka = c.cfg.KeepAlive
	}
	body, err := json.Marshal(generatePayload{
		Model: req.Model, Prompt: req.Prompt, System: req.System, Stream: false,
		Images: req.Images, Format: req.Format, Options: c.options(req.Options), KeepAlive: ka,
	})
	if err != nil {
		return nil, reason.Permanent(CodeHTTP400, fmt.Errorf("encode generate payload: %w", err))
	}
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = c.cfg.RequestTimeout(req.Mode)
	}
	res, err := c.do(ctx, http.MethodPost, "/api/generate", body, timeout, string(req.Mode))
	if err != nil {
		return nil, err
	}
	var gb generateBody
	if err := json.Unmarshal(res.body, &gb); err != nil {
		return nil, reason.Transient(CodeInvalidJSON, fmt.Errorf("generate: body is not JSON (%s)", preview(res.body)))
	}
	if gb.Error != "" {
		return nil, reason.Transient(CodeHTTP5xx, fmt.Errorf("generate: ollama error: %s", reason.Truncate(gb.Error, 200)))
	}
	model := gb.Model
	if model == "" {
		model = req.Model
	}
	return &GenerateResponse{
		Model: model, Response: gb.Response, Done: gb.Done, DoneReason: gb.DoneReason,
		Usage:   Usage{InputTokens: gb.PromptEvalCount, OutputTokens: gb.EvalCount},
		RawBody: res.body, HTTPStatus: res.status, Latency: res.latency, Attempts: res.attempts,
	}, nil
}

// Embed returns the embedding of input. It uses /api/embed and falls back to
// the legacy /api/embeddings when the server answers 404 for the endpoint
// itself (Ollama before 0.3), not when the model is missing.
func (c *Client) Embed(ctx context.Context, model, input string) (*EmbedResponse, error) {
	if model == "" {
		return nil, reason.New(CodeHTTP400, "embed: model is required")
	}
	timeout := c.cfg.RequestTimeout(ModeEmbed)
	opts := c.options(nil)
	body, _ := json.Marshal(struct {
		Model     string         `json:"model"`
		Input     string         `json:"input"`
		Options   map[string]any `json:"options,omitempty"`
		KeepAlive string         `json:"keep_alive,omitempty"`
	}{model, input, opts, c.cfg.KeepAlive})
	res, err := c.do(ctx, http.MethodPost, "/api/embed", body, timeout, string(ModeEmbed))
	if err == nil {
		var eb struct {
			Model      string      `json:"model"`
			Embeddings [][]float32 `json:"embeddings"`
			Error      string      `json:"error"`
		}
		if jerr := json.Unmarshal(res.body, &eb); jerr != nil {
			return nil, reason.Transient(CodeInvalidJSON, fmt.Errorf("embed: body is not JSON (%s)", preview(res.body)))
		}
		if len(eb.Embeddings) == 0 || len(eb.Embeddings[0]) == 0 {
			return nil, reason.Transient(CodeInvalidJSON, fmt.Errorf("embed: no embeddings in answer (%s)", preview(res.body)))
		}
		return &EmbedResponse{Model: orStr(eb.Model, model), Embedding: eb.Embeddings[0], Endpoint: "/api/embed",
			HTTPStatus: res.status, Latency: res.latency, Attempts: res.attempts}, nil
	}
	if reason.Code(err) != CodeHTTP404 {
		return nil, err
	}
	body, _ = json.Marshal(struct {
		Model     string         `json:"model"`
		Prompt    string         `json:"prompt"`
		Options   map[string]any `json:"options,omitempty"`
		KeepAlive string         `json:"keep_alive,omitempty"`
	}{model, input, opts, c.cfg.KeepAlive})
	res, err = c.do(ctx, http.MethodPost, "/api/embeddings", body, timeout, string(ModeEmbed))
	if err != nil {
		return nil, err
	}
	var lb struct {
		Embedding []float32 `json:"embedding"`
		Error     string    `json:"error"`
	}
	if jerr := json.Unmarshal(res.body, &lb); jerr != nil {
		return nil, reason.Transient(CodeInvalidJSON, fmt.Errorf("embeddings: body is not JSON (%s)", preview(res.body)))
	}
	if len(lb.Embedding) == 0 {
		return nil, reason.Transient(CodeInvalidJSON, fmt.Errorf("embeddings: empty embedding (%s)", preview(res.body)))
	}
	return &EmbedResponse{Model: model, Embedding: lb.Embedding, Endpoint: "/api/embeddings",
		HTTPStatus: res.status, Latency: res.latency, Attempts: res.attempts}, nil
}

// Version calls /api/version with the short health timeout and no retries,
// so the service's health gate answers fast when Ollama is down.
func (c *Client) Version(ctx context.Context) (string, error) {
	res, err := c.once(ctx, http.MethodGet, "/api/version", nil, c.cfg.HealthTimeout(), "")
	if err != nil {
		return "", err
	}
	var v struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(res.body, &v); err != nil {
		return "", reason.Transient(CodeInvalidJSON, fmt.Errorf("version: %w", err))
	}
	return v.Version, nil
}

// Tags lists the installed models (/api/tags), with the health timeout.
func (c *Client) Tags(ctx context.Context) ([]ModelInfo, error) {
	res, err := c.once(ctx, http.MethodGet, "/api/tags", nil, c.cfg.HealthTimeout(), "")
	if err != nil {
		return nil, err
	}
	var t struct {
		Models []ModelInfo `json:"models"`
	}
	if err := json.Unmarshal(res.body, &t); err != nil {
		return nil, reason.Transient(CodeInvalidJSON, fmt.Errorf("tags: %w", err))
	}
	return t.Models, nil
}

// MissingModels returns the wanted models that /api/tags does not list,
// matching tag-less names sensibly (see ModelMatches).
func (c *Client) MissingModels(ctx context.Context, want []string) ([]string, error) {
	models, err := c.Tags(ctx)
	if err != nil {
		return nil, err
	}
	return MissingModels(models, want), nil
}

// MissingModels returns the entries of want that no installed model matches.
func MissingModels(installed []ModelInfo, want []string) []string {
	var missing []string
	for _, w := range want {
		found := false
		for _, m := range installed {
			if ModelMatches(m.Name, w) || ModelMatches(m.Model, w) {
				found = true
				break
			}
		}
		if !found {
			missing = append(missing, w)
		}
	}
	return missing
}

// ModelMatches compares model names the way Ollama resolves them: case
// insensitive, a missing tag means ":latest" ("llava" ⇔ "llava:latest"), and
// the default registry prefix is optional. "llava:7b" does not match "llava".
func ModelMatches(a, b string) bool {
	return a != "" && canonicalModel(a) == canonicalModel(b)
}

func canonicalModel(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimPrefix(s, "registry.ollama.ai/")
	s = strings.TrimPrefix(s, "library/")
	name := s
	if i := strings.LastIndex(s, "/"); i >= 0 {
		name = s[i+1:]
	}
	if !strings.Contains(name, ":") {
		s += ":latest"
	}
	return s
}

type httpResult struct {
	body     []byte
	status   int
	latency  time.Duration
	attempts int
}

// do runs a request with transport retries: connection failures and 502/
// 503/504 are retried up to MaxAttempts with exponential backoff; other
// HTTP errors and per-attempt timeouts end at once (the job-level retry
// handles them, and ModeBudget accounts for the worst case either way).
func (c *Client) do(ctx context.Context, method, path string, body []byte, timeout time.Duration, mode string) (*httpResult, error) {
	var lastErr error
	for attempt := 1; attempt <= c.cfg.Retry.MaxAttempts; attempt++ {
		if attempt > 1 {
			if err := c.sleep(ctx, c.cfg.backoff(attempt-1)); err != nil {
				return nil, classifyTransport(ctx, err)
			}
		}
		res, err := c.once(ctx, method, path, body, timeout, mode)
		if err == nil {
			res.attempts = attempt
			return res, nil
		}
		lastErr = err
		if !retryableTransport(ctx, err) {
			return nil, err
		}
	}
	return nil, lastErr
}

func retryableTransport(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var re *reason.Error
	if !errors.As(err, &re) {
		return false
	}
	switch re.Code {
	case CodeOllamaDown:
		return true
	case CodeHTTP5xx:
		st, _ := re.Fields["http_status"].(int)
		return st == http.StatusBadGateway || st == http.StatusServiceUnavailable || st == http.StatusGatewayTimeout
	}
	return false
}

func (c *Client) once(ctx context.Context, method, path string, body []byte, timeout time.Duration, mode string) (*httpResult, error) {
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	url := c.cfg.BaseURL + path
	req, err := http.NewRequestWithContext(actx, method, url, rd)
	if err != nil {
		return nil, reason.Permanent("config_invalid", fmt.Errorf("build request %s: %w", path, err))
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if mode != "" {
		req.Header.Set("X-Supervisor-Mode", mode)
	}
	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, classifyTransport(actx, fmt.Errorf("%s %s: %w", method, path, err))
	}
	defer resp.Body.Close()
	// 64 MiB bounds a runaway body; real answers are a few KiB.
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, classifyTransport(actx, fmt.Errorf("%s %s: read body: %w", method, path, err))
	}
	lat := time.Since(start)
	if resp.StatusCode != http.StatusOK {
		return nil, classifyHTTP(resp.StatusCode, path, data)
	}
	return &httpResult{body: data, status: resp.StatusCode, latency: lat, attempts: 1}, nil
}

// classifyTransport maps a failed round trip to timeout or ollama_down.
func classifyTransport(ctx context.Context, err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return reason.Transient(CodeTimeout, err)
	}
	if errors.Is(err, context.Canceled) {
		return reason.Transient("cancelled", err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return reason.Transient(CodeTimeout, err)
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) {
		return reason.Transient(CodeOllamaDown, err)
	}
	// DNS failures, EOF before a response and similar: the server is not
	// reachable in a usable way.
	return reason.Transient(CodeOllamaDown, err)
}

// classifyHTTP maps a non-200 answer to a reason code, keeping a short
// body preview (Ollama puts the cause in {"error": …}).
func classifyHTTP(status int, path string, body []byte) error {
	msg := ollamaError(body)
	err := fmt.Errorf("HTTP %d %s: %s", status, path, msg)
	var e *reason.Error
	switch {
	case status == http.StatusNotFound && strings.Contains(strings.ToLower(msg), "model"):
		e = reason.Permanent(CodeHTTP404Model, err)
	case status == http.StatusNotFound:
		e = reason.Permanent(CodeHTTP404, err)
	case status == http.StatusBadRequest:
		e = reason.Permanent(CodeHTTP400, err)
	case status >= 500:
		e = reason.Transient(CodeHTTP5xx, err)
	default:
		e = reason.Permanent(CodeHTTP4xx, err)
	}
	return e.With("http_status", status)
}

func ollamaError(body []byte) string {
	var eb struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &eb) == nil && eb.Error != "" {
		return reason.Truncate(eb.Error, 200)
	}
	return preview(body)
}

// preview is a short, log-safe excerpt of a body; base64 blobs are omitted.
func preview(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 && !strings.ContainsAny(s[:200], " \n") {
		return "<omitted>"
	}
	return reason.Truncate(s, 200)
}

func orStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
