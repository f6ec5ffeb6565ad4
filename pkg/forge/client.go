package forge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// Reason codes produced by the client.
const (
	CodeUnreachable      = "forge_unreachable"
	CodeTimeout          = "forge_timeout"
	CodeCancelled        = "forge_cancelled"
	CodeHTTP401          = "forge_http_401"
	CodeHTTP403          = "forge_http_403"
	CodeHTTP5xx          = "forge_http_5xx"
	CodeHTTP422          = "forge_http_422"
	CodeEmptyImages      = "forge_empty_images"
	CodeInvalidResponse  = "forge_invalid_response"
	CodeImageTooSmall    = "forge_image_too_small"
	CodeImageBlack       = "forge_image_black"
	CodeModelNotFound    = "forge_model_not_found"
	CodeModelSwitch      = "forge_model_switch_failed"
	CodeSamplerUnknown   = "forge_sampler_unknown"
	CodeSchedulerUnknown = "forge_scheduler_unknown"
	CodeAllAttemptsFail  = "forge_all_attempts_failed"
)

// A1111 API paths.
const (
	PathOptions     = "/sdapi/v1/options"
	PathSDModels    = "/sdapi/v1/sd-models"
	PathSamplers    = "/sdapi/v1/samplers"
	PathSchedulers  = "/sdapi/v1/schedulers"
	PathTxt2Img     = "/sdapi/v1/txt2img"
	PathImg2Img     = "/sdapi/v1/img2img"
	PathProgress    = "/sdapi/v1/progress"
	PathInterrupt   = "/sdapi/v1/interrupt"
	PathExtraSingle = "/sdapi/v1/extra-single-image"
)

// maxResponseBytes bounds a response body: four 2048² PNG variants in base64
// stay far below it, a runaway proxy does not.
const maxResponseBytes = 512 << 20

// NegativeCacheTTLDefault is how long a failed sd-models fetch is remembered,
// so a web page listing models does not hammer a server that is down.
const NegativeCacheTTLDefault = 15 * time.Second

// ClientOptions configures a Client. Zero fields take the documented defaults.
type ClientOptions struct {
	// BaseURL of the WebUI (default BaseURLDefault).
	BaseURL string
	// User and Pass enable basic auth when either is non-empty.
	User, Pass string
	// HealthTimeout bounds short calls (default TimeoutDefault).
	HealthTimeout time.Duration
	// GenerationTimeout bounds txt2img/img2img/extras and checkpoint switches
	// (default GenerationTimeoutDefault).
	GenerationTimeout time.Duration
	// ModelsTTL is the sd-models cache lifetime (default ModelsCacheTTLDefault).
	ModelsTTL time.Duration
	// NegativeTTL is how long a failed model list fetch is cached
	// (default NegativeCacheTTLDefault).
	NegativeTTL time.Duration
	// HTTP is the client used; default a new http.Client without timeout
	// (timeouts come from contexts so short and long calls can differ).
	HTTP *http.Client
	// Clock drives the model cache; default svtime.SystemClock.
	Clock svtime.Clock
}

// Client is an A1111/Forge API client. It is safe for concurrent use.
type Client struct {
	base      *url.URL
	user      string
	pass      string
	shortTO   time.Duration
	genTO     time.Duration
	modelsTTL time.Duration
	negTTL    time.Duration
	hc        *http.Client
	clock     svtime.Clock

	mu    sync.Mutex
	cache modelCache
}

// NewClient builds a client. It returns a forge_config_incomplete error when
// the base URL cannot be parsed.
func NewClient(o ClientOptions) (*Client, error) {
	raw := strings.TrimSpace(o.BaseURL)
	if raw == "" {
		raw = BaseURLDefault
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, configErr(CodeConfigIncomplete, fmt.Sprintf("forge.base_url %q is not an http(s) URL", raw), []string{"forge.base_url"}, "")
	}
	u.Path = strings.TrimRight(u.Path, "/")
	c := &Client{
		base:      u,
		user:      o.User,
		pass:      o.Pass,
		shortTO:   o.HealthTimeout,
		genTO:     o.GenerationTimeout,
		modelsTTL: o.ModelsTTL,
		negTTL:    o.NegativeTTL,
		hc:        o.HTTP,
		clock:     o.Clock,
	}
	if c.shortTO <= 0 {
		c.shortTO = TimeoutDefault
	}
	if c.genTO <= 0 {
		c.genTO = GenerationTimeoutDefault
	}
	if c.modelsTTL <= 0 {
		c.modelsTTL = ModelsCacheTTLDefault
	}
	if c.negTTL <= 0 {
		c.negTTL = NegativeCacheTTLDefault
	}
	if c.hc == nil {
		c.hc = &http.Client{}
	}
	if c.clock == nil {
		c.clock = svtime.SystemClock{}
	}
	return c, nil
}

// NewClientFromConfig validates cfg (dispatch not required) and builds a
// client from it.
func NewClientFromConfig(cfg *Config, hc *http.Client, clock svtime.Clock) (*Client, error) {
	if err := cfg.Validate(false); err != nil {
		return nil, err
	}
	return NewClient(ClientOptions{
		BaseURL:           cfg.BaseURLOrDefault(),
		User:              cfg.BasicAuthUser,
		Pass:              cfg.BasicAuthPass,
		HealthTimeout:     cfg.HealthTimeout(),
		GenerationTimeout: cfg.GenerationTimeoutOrDefault(),
		ModelsTTL:         cfg.ModelsCacheTTLOrDefault(),
		HTTP:              hc,
		Clock:             clock,
	})
}

// TargetURL returns the absolute URL of an API path with any userinfo
// stripped, as reported in errors and audit rows.
func (c *Client) TargetURL(path string) string {
	u := *c.base
	u.User = nil
	u.Path = c.base.Path + path
	u.RawQuery = ""
	return u.String()
}

// apiError is the error body shape of the A1111 API exception handler.
type apiError struct {
	Error  string `json:"error"`
	Detail any    `json:"detail"`
	Body   any    `json:"body"`
	Errors string `json:"errors"`
}

func (a apiError) detailString() string {
	switch d := a.Detail.(type) {
	case string:
		return d
	case nil:
		return ""
	default:
		// FastAPI validation errors carry a list of {loc, msg, type}.
		b, _ := json.Marshal(d)
		return string(b)
	}
}

// snippet returns at most 200 printable characters of a body for logs.
func snippet(b []byte) string {
	s := strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		if !unicode.IsPrint(r) {
			return -1
		}
		return r
	}, string(b))
	return reason.Truncate(strings.TrimSpace(s), 200)
}

// call is one HTTP exchange. timeout bounds this call only; the parent ctx
// carries cancellation from the job runner.
type call struct {
	method  string
	path    string
	query   string
	body    any
	out     any
	timeout time.Duration
}

func (c *Client) do(ctx context.Context, k call) error {
	target := c.TargetURL(k.path)
	var rd io.Reader
	if k.body != nil {
		b, err := json.Marshal(k.body)
		if err != nil {
			return reason.Permanent(CodeInvalidResponse, fmt.Errorf("encode %s request: %w", k.path, err))
		}
		rd = bytes.NewReader(b)
	}
	tctx, cancel := context.WithTimeout(ctx, k.timeout)
	defer cancel()
	u := *c.base
	u.Path = c.base.Path + k.path
	u.RawQuery = k.query
	req, err := http.NewRequestWithContext(tctx, k.method, u.String(), rd)
	if err != nil {
		return reason.Permanent(CodeConfigIncomplete, fmt.Errorf("build request %s: %w", target, err))
	}
	req.Header.Set("Accept", "application/json")
	if k.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.user != "" || c.pass != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return c.transportErr(ctx, tctx, k, target, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return c.transportErr(ctx, tctx, k, target, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return httpErr(k.method, target, resp.StatusCode, body)
	}
	if k.out == nil {
		return nil
	}
	if err := json.Unmarshal(body, k.out); err != nil {
		e := reason.Transient(CodeInvalidResponse, fmt.Errorf("%s %s: decode JSON: %w", k.method, target, err))
		e.Fields = map[string]any{"http_code": resp.StatusCode, "target_url": target, "response_snippet": snippet(body)}
		return e
	}
	return nil
}

func (c *Client) transportErr(parent, tctx context.Context, k call, target string, err error) error {
	fields := map[string]any{"http_code": 0, "target_url": target}
	switch {
	case parent.Err() != nil:
		// The job was cancelled (or its own deadline passed): keep the
		// context error in the chain so the runner recognises it.
		e := reason.Permanent(CodeCancelled, fmt.Errorf("%s %s: %w", k.method, target, parent.Err()))
		e.Fields = fields
		return e
	case errors.Is(tctx.Err(), context.DeadlineExceeded) || isTimeout(err):
		e := reason.Transient(CodeTimeout, fmt.Errorf("%s %s: no answer within %s: %w", k.method, target, k.timeout, err))
		e.Fields = fields
		return e
	default:
		e := reason.Transient(CodeUnreachable, fmt.Errorf("%s %s: %w", k.method, target, err))
		e.Fields = fields
		return e
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// httpErr classifies a non-2xx answer: 5xx are transient (Forge restarting,
// out of VRAM), 4xx permanent (auth, bad sampler, bad request).
func httpErr(method, target string, status int, body []byte) error {
	var ae apiError
	_ = json.Unmarshal(body, &ae)
	detail := ae.detailString()
	if detail == "" && ae.Errors != "" {
		detail = ae.Errors
	}
	fields := map[string]any{
		"http_code":        status,
		"target_url":       target,
		"response_snippet": snippet(body),
	}
	if detail != "" {
		fields["detail"] = reason.Truncate(detail, 200)
	}
	code := fmt.Sprintf("forge_http_%d", status)
	kind := reason.KindPermanent
	if status >= 500 {
		code, kind = CodeHTTP5xx, reason.KindTransient
	}
	// 429 means "busy, come back later".
	if status == http.StatusTooManyRequests || status == http.StatusRequestTimeout {
		kind = reason.KindTransient
	}
	msg := fmt.Sprintf("%s %s: HTTP %d", method, target, status)
	if detail != "" {
		msg += ": " + reason.Truncate(detail, 120)
	}
	return &reason.Error{Code: code, Kind: kind, Msg: msg, Fields: fields}
}

// HealthResult is what a health check reports; it is persisted in audit and
// job logs on failure.
type HealthResult struct {
	OK        bool   `json:"ok"`
	HTTPCode  int    `json:"http_code"`
	TargetURL string `json:"target_url"`
	// ActiveModel is sd_model_checkpoint from the options answer.
	ActiveModel string `json:"active_model,omitempty"`
	ReasonCode  string `json:"reason_code,omitempty"`
	Error       string `json:"error,omitempty"`
}

// Health calls GET /sdapi/v1/options with the short timeout. On failure the
// error is a *reason.Error whose Fields hold http_code and target_url; the
// returned HealthResult carries the same facts for the audit log.
func (c *Client) Health(ctx context.Context) (HealthResult, error) {
	var opts map[string]any
	hr := HealthResult{TargetURL: c.TargetURL(PathOptions)}
	err := c.do(ctx, call{method: http.MethodGet, path: PathOptions, out: &opts, timeout: c.shortTO})
	if err != nil {
		hr.ReasonCode = reason.Code(err)
		hr.Error = reason.Truncate(err.Error(), 240)
		if f := reason.FieldsOf(err); f != nil {
			if n, ok := f["http_code"].(int); ok {
				hr.HTTPCode = n
			}
		}
		return hr, err
	}
	hr.OK = true
	hr.HTTPCode = http.StatusOK
	if s, ok := opts["sd_model_checkpoint"].(string); ok {
		hr.ActiveModel = s
	}
	return hr, nil
}

// Options returns the server's options map (GET /sdapi/v1/options).
func (c *Client) Options(ctx context.Context) (map[string]any, error) {
	var opts map[string]any
	if err := c.do(ctx, call{method: http.MethodGet, path: PathOptions, out: &opts, timeout: c.shortTO}); err != nil {
		return nil, err
	}
	return opts, nil
}

// ActiveCheckpoint returns sd_model_checkpoint, usually a checkpoint title
// such as "model.safetensors [abcdef1234]".
func (c *Client) ActiveCheckpoint(ctx context.Context) (string, error) {
	opts, err := c.Options(ctx)
	if err != nil {
		return "", err
	}
	s, _ := opts["sd_model_checkpoint"].(string)
	return s, nil
}

// SetCheckpoint POSTs {"sd_model_checkpoint": checkpoint}. A1111 loads the
// model before answering, so this uses the generation timeout.
func (c *Client) SetCheckpoint(ctx context.Context, checkpoint string) error {
	body := map[string]any{"sd_model_checkpoint": checkpoint}
	return c.do(ctx, call{method: http.MethodPost, path: PathOptions, body: body, timeout: c.genTO})
}

// Sampler is one entry of GET /sdapi/v1/samplers.
type Sampler struct {
	Name    string            `json:"name"`
	Aliases []string          `json:"aliases"`
	Options map[string]string `json:"options"`
}

// Scheduler is one entry of GET /sdapi/v1/schedulers (A1111 ≥ 1.9, Forge).
type Scheduler struct {
	Name    string   `json:"name"`
	Label   string   `json:"label"`
	Aliases []string `json:"aliases"`
}

// Samplers lists the server's samplers.
func (c *Client) Samplers(ctx context.Context) ([]Sampler, error) {
	var out []Sampler
	if err := c.do(ctx, call{method: http.MethodGet, path: PathSamplers, out: &out, timeout: c.shortTO}); err != nil {
		return nil, err
	}
	return out, nil
}

// Schedulers lists the server's schedulers. Servers older than A1111 1.9
// answer 404; that is reported as an empty list, not an error, because
// those servers take the scheduler inside the sampler name.
func (c *Client) Schedulers(ctx context.Context) ([]Scheduler, error) {
	var out []Scheduler
	err := c.do(ctx, call{method: http.MethodGet, path: PathSchedulers, out: &out, timeout: c.shortTO})
	if err != nil {
		if reason.Code(err) == "forge_http_404" {
			return []Scheduler{}, nil
		}
		return nil, err
	}
	return out, nil
}

// Progress is GET /sdapi/v1/progress.
type Progress struct {
	Progress    float64       `json:"progress"`
	ETARelative float64       `json:"eta_relative"`
	State       ProgressState `json:"state"`
	TextInfo    string        `json:"textinfo,omitempty"`
}

// ProgressState is the "state" object of a progress answer.
type ProgressState struct {
	Skipped       bool   `json:"skipped"`
	Interrupted   bool   `json:"interrupted"`
	Job           string `json:"job"`
	JobCount      int    `json:"job_count"`
	JobTimestamp  string `json:"job_timestamp"`
	JobNo         int    `json:"job_no"`
	SamplingStep  int    `json:"sampling_step"`
	SamplingSteps int    `json:"sampling_steps"`
}

// Bits converts the progress fraction to the jobs.progress_bits scale
// (0..total, the queue uses total=1000).
func (p Progress) Bits(total int) int {
	f := p.Progress
	if f < 0 {
		f = 0
	}
	if f > 1 {
		f = 1
	}
	return int(f*float64(total) + 0.5)
}

// Progress polls the running generation. skip_current_image keeps the
// answer small (no base64 preview).
func (c *Client) Progress(ctx context.Context) (Progress, error) {
	var p Progress
	err := c.do(ctx, call{method: http.MethodGet, path: PathProgress, query: "skip_current_image=true", out: &p, timeout: c.shortTO})
	return p, err
}

// Interrupt asks the server to stop the running generation.
func (c *Client) Interrupt(ctx context.Context) error {
	return c.do(ctx, call{method: http.MethodPost, path: PathInterrupt, timeout: c.shortTO})
}

// interruptDetached sends an interrupt even though ctx is already cancelled:
// without it Forge keeps generating for a job nobody waits for.
func (c *Client) interruptDetached(ctx context.Context) {
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.shortTO)
	defer cancel()
	_ = c.Interrupt(ictx)
}
