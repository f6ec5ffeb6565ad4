package ollama

import (
	"net/url"
	"strings"
	"time"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

// Defaults of Config, mirroring sv_ollama_config() of the original where the
// original value was sensible.
const (
	DefaultBaseURL           = "http://127.0.0.1:11434"
	DefaultModel             = "llava:latest"
	DefaultTextModel         = "llama3:latest"
	DefaultEmbedModel        = "nomic-embed-text:latest"
	DefaultTimeoutMS         = 20000
	DefaultTimeoutMSText     = 90000
	DefaultTimeoutMSVision   = 180000
	DefaultHealthTimeoutMS   = 3000
	DefaultMaxImageBytes     = 4 << 20
	DefaultMaxImagePixels    = 80_000_000
	DefaultRetryMaxAttempts  = 3
	DefaultRetryBackoffMS    = 1000
	DefaultRetryBackoffMSMax = 30000
	DefaultBatchSize         = 5
	DefaultMaxRetries        = 2
	DefaultMaxConcurrency    = 2
	DefaultSpawnCooldownSec  = 10
	DefaultKillGraceMS       = 3000
	// DefaultOverheadMS is the part of a mode budget reserved for work around
	// the HTTP calls (image load and downscale, DB writes, process start).
	DefaultOverheadMS          = 15000
	DefaultRequestFormat       = "schema"
	DefaultPromptEvalFallback  = "tags"
	DefaultPromptEvalSeparator = ", "
	DefaultDupeTopK            = 8
	DefaultDupeThreshold       = 0.92
)

// Config mirrors the ollama.* keys of the original configuration (spec
// section 0) plus the keys needed to fix its defects. JSON decoding into
// DefaultConfig() leaves absent keys at their defaults.
type Config struct {
	// Enabled false makes every job fail permanently with ollama_disabled.
	Enabled bool `json:"enabled"`
	// BaseURL of the Ollama server. Default DefaultBaseURL.
	BaseURL string `json:"base_url"`
	// PromptsDir overrides the embedded templates file by file; empty = embedded only.
	PromptsDir string `json:"prompts_dir"`
	// RequestFormat: "schema" (default) sends a JSON schema per mode as
	// `format`, "json" sends "json", "none" sends nothing.
	RequestFormat string `json:"request_format"`
	// ModelDefault is the legacy ollama.model_default key; it fills Model.Vision.
	ModelDefault string `json:"model_default"`
	// Model names the model per kind.
	Model ModelConfig `json:"model"`
	// TimeoutMS is the default HTTP timeout (image downloads, unknown modes).
	TimeoutMS int `json:"timeout_ms"`
	// TimeoutMSText is the per-attempt HTTP timeout of text and embed requests.
	TimeoutMSText int `json:"timeout_ms_text"`
	// TimeoutMSVision is the per-attempt HTTP timeout of image requests.
	TimeoutMSVision int `json:"timeout_ms_vision"`
	// HealthTimeoutMS bounds /api/version and /api/tags (default 3000).
	HealthTimeoutMS int `json:"health_timeout_ms"`
	// MaxImageBytes: larger images are downscaled; 0 disables the limit.
	MaxImageBytes int64 `json:"max_image_bytes"`
	// MaxImagePixels: images with more pixels are not decoded at all
	// (too_large_for_vision) to bound memory.
	MaxImagePixels int64 `json:"max_image_pixels"`
	// KeepAlive is passed as keep_alive ("5m", "-1"); empty = server default.
	KeepAlive string `json:"keep_alive"`
	// Options are extra model options (num_ctx, …) sent with every request.
	Options map[string]any `json:"options"`
	// Retry configures transport retries inside one job attempt and the
	// job retry backoff.
	Retry RetryConfig `json:"retry"`
	// Deterministic sampling options override per-request values when enabled.
	Deterministic DeterministicConfig `json:"deterministic"`
	// Worker configures the service loop and child deadlines.
	Worker WorkerConfig `json:"worker"`
	// PromptEvalFallback: "tags" | "metadata" | "none".
	PromptEvalFallback string `json:"prompt_eval_fallback"`
	// PromptEvalFallbackSeparator joins tag names for the tags fallback.
	PromptEvalFallbackSeparator string `json:"prompt_eval_fallback_separator"`
	// SpawnCooldown is the launcher cooldown in seconds.
	SpawnCooldown int `json:"spawn_cooldown"`
	// Optional makes health report a down Ollama as a warning, not an error.
	Optional bool `json:"optional"`
	// NSFWUpdatesMedia lets nsfw_classify raise media.has_nsfw/rating.
	NSFWUpdatesMedia bool `json:"nsfw_updates_media"`
	// VideoFrames lets vision modes analyse a representative video frame.
	VideoFrames bool `json:"video_frames"`
	// Dupe configures dupe hints.
	Dupe DupeConfig `json:"dupe_hints"`
}

// ModelConfig names the model per kind (ollama.model.*).
type ModelConfig struct {
	Default string `json:"default"`
	Vision  string `json:"vision"`
	Text    string `json:"text"`
	Embed   string `json:"embed"`
}

// RetryConfig is ollama.retry.*.
type RetryConfig struct {
	// MaxAttempts is the number of HTTP attempts per request (≥1).
	MaxAttempts int `json:"max_attempts"`
	// BackoffMS is the base of the exponential backoff.
	BackoffMS int `json:"backoff_ms"`
	// BackoffMSMax caps one backoff step (honoured, unlike the original).
	BackoffMSMax int `json:"backoff_ms_max"`
}

// DeterministicConfig is ollama.deterministic.*.
type DeterministicConfig struct {
	Enabled     bool    `json:"enabled"`
	Temperature float64 `json:"temperature"`
	TopP        float64 `json:"top_p"`
	Seed        int     `json:"seed"`
}

// WorkerConfig is ollama.worker.*.
type WorkerConfig struct {
	BatchSize      int `json:"batch_size"`
	MaxRetries     int `json:"max_retries"`
	MaxConcurrency int `json:"max_concurrency"`
	// MaxSecondsText / MaxSecondsVision, when > 0, fix the mode budget (the
	// child's kill deadline); the per-attempt HTTP timeout is then derived
	// from it. When 0 the budget is derived from the HTTP timeouts.
	MaxSecondsText   int `json:"max_seconds_text"`
	MaxSecondsVision int `json:"max_seconds_vision"`
	// KillGraceMS is the time between SIGTERM and SIGKILL for a child.
	KillGraceMS int `json:"kill_grace_ms"`
	// OverheadMS is reserved in each budget for non-HTTP work.
	OverheadMS int `json:"overhead_ms"`
}

// DupeConfig configures dupe hints.
type DupeConfig struct {
	TopK        int     `json:"topk"`
	Threshold   float64 `json:"threshold"`
	DomainSplit bool    `json:"domain_split"`
}

// DefaultConfig returns the configuration with every default filled in.
func DefaultConfig() Config {
	return Config{
		Enabled:         true,
		BaseURL:         DefaultBaseURL,
		RequestFormat:   DefaultRequestFormat,
		Model:           ModelConfig{Default: DefaultModel, Vision: DefaultModel, Text: DefaultTextModel, Embed: DefaultEmbedModel},
		TimeoutMS:       DefaultTimeoutMS,
		TimeoutMSText:   DefaultTimeoutMSText,
		TimeoutMSVision: DefaultTimeoutMSVision,
		HealthTimeoutMS: DefaultHealthTimeoutMS,
		MaxImageBytes:   DefaultMaxImageBytes,
		MaxImagePixels:  DefaultMaxImagePixels,
		Retry:           RetryConfig{MaxAttempts: DefaultRetryMaxAttempts, BackoffMS: DefaultRetryBackoffMS, BackoffMSMax: DefaultRetryBackoffMSMax},
		Deterministic:   DeterministicConfig{Enabled: true, Temperature: 0, TopP: 1, Seed: 42},
		Worker: WorkerConfig{BatchSize: DefaultBatchSize, MaxRetries: DefaultMaxRetries, MaxConcurrency: DefaultMaxConcurrency,
			KillGraceMS: DefaultKillGraceMS, OverheadMS: DefaultOverheadMS},
		PromptEvalFallback:          DefaultPromptEvalFallback,
		PromptEvalFallbackSeparator: DefaultPromptEvalSeparator,
		SpawnCooldown:               DefaultSpawnCooldownSec,
		Optional:                    true,
		Dupe:                        DupeConfig{TopK: DefaultDupeTopK, Threshold: DefaultDupeThreshold, DomainSplit: true},
	}
}

// withDefaults fills zero values, so a Config built by hand (tests, callers
// that did not start from DefaultConfig) still behaves.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.BaseURL == "" {
		c.BaseURL = d.BaseURL
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	if c.RequestFormat == "" {
		c.RequestFormat = d.RequestFormat
	}
	if c.Model.Default == "" {
		c.Model.Default = c.ModelDefault
	}
	if c.Model.Default == "" {
		c.Model.Default = d.Model.Default
	}
	if c.Model.Vision == "" {
		c.Model.Vision = c.Model.Default
	}
	if c.Model.Text == "" {
		c.Model.Text = d.Model.Text
	}
	if c.Model.Embed == "" {
		c.Model.Embed = d.Model.Embed
	}
	if c.TimeoutMS <= 0 {
		c.TimeoutMS = d.TimeoutMS
	}
	c.TimeoutMS = max(c.TimeoutMS, 1000)
	if c.TimeoutMSText <= 0 {
		c.TimeoutMSText = d.TimeoutMSText
	}
	if c.TimeoutMSVision <= 0 {
		c.TimeoutMSVision = d.TimeoutMSVision
	}
	if c.HealthTimeoutMS <= 0 {
		c.HealthTimeoutMS = d.HealthTimeoutMS
	}
	if c.MaxImageBytes < 0 {
		c.MaxImageBytes = 0
	}
	if c.MaxImagePixels <= 0 {
		c.MaxImagePixels = d.MaxImagePixels
	}
	if c.Retry.MaxAttempts <= 0 {
		c.Retry.MaxAttempts = d.Retry.MaxAttempts
	}
	if c.Retry.BackoffMS <= 0 {
		c.Retry.BackoffMS = d.Retry.BackoffMS
	}
	c.Retry.BackoffMS = max(c.Retry.BackoffMS, 100)
	if c.Retry.BackoffMSMax <= 0 {
		c.Retry.BackoffMSMax = d.Retry.BackoffMSMax
	}
	if c.Worker.BatchSize <= 0 {
		c.Worker.BatchSize = d.Worker.BatchSize
	}
	if c.Worker.MaxRetries < 0 {
		c.Worker.MaxRetries = 0
	}
	if c.Worker.MaxConcurrency <= 0 {
		c.Worker.MaxConcurrency = d.Worker.MaxConcurrency
	}
	if c.Worker.KillGraceMS <= 0 {
		c.Worker.KillGraceMS = d.Worker.KillGraceMS
	}
	if c.Worker.OverheadMS <= 0 {
		c.Worker.OverheadMS = d.Worker.OverheadMS
	}
	if c.PromptEvalFallbackSeparator == "" {
		c.PromptEvalFallbackSeparator = d.PromptEvalFallbackSeparator
	}
	if c.SpawnCooldown <= 0 {
		c.SpawnCooldown = d.SpawnCooldown
	}
	if c.Dupe.TopK <= 0 {
		c.Dupe.TopK = d.Dupe.TopK
	}
	if c.Dupe.Threshold <= 0 || c.Dupe.Threshold > 1 {
		c.Dupe.Threshold = d.Dupe.Threshold
	}
	return c
}

// Normalized returns the config with defaults applied, as the Client uses it.
func (c Config) Normalized() Config { return c.withDefaults() }

// Validate checks the keys the client cannot work without. The error is a
// *reason.Error with code config_invalid and field missing_keys (full key
// names such as "ollama.base_url").
func (c Config) Validate() error {
	var missing, invalid []string
	if strings.TrimSpace(c.BaseURL) == "" {
		missing = append(missing, "ollama.base_url")
	} else if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		invalid = append(invalid, "ollama.base_url")
	}
	if c.Model.Vision == "" && c.Model.Default == "" && c.ModelDefault == "" {
		missing = append(missing, "ollama.model.vision")
	}
	if c.Model.Text == "" {
		missing = append(missing, "ollama.model.text")
	}
	if c.Model.Embed == "" {
		missing = append(missing, "ollama.model.embed")
	}
	switch c.RequestFormat {
	case "", "schema", "json", "none":
	default:
		invalid = append(invalid, "ollama.request_format")
	}
	switch c.PromptEvalFallback {
	case "", "tags", "metadata", "none":
	default:
		invalid = append(invalid, "ollama.prompt_eval_fallback")
	}
	if c.MaxImageBytes < 0 {
		invalid = append(invalid, "ollama.max_image_bytes")
	}
	if len(missing) == 0 && len(invalid) == 0 {
		return nil
	}
	e := reason.Newf("config_invalid", "ollama config: missing %v invalid %v", missing, invalid)
	if missing == nil {
		missing = []string{}
	}
	return e.With("missing_keys", missing).With("invalid_keys", invalid)
}

// ModelFor returns the configured model of a mode ("" for dupe_hints).
func (c Config) ModelFor(m Mode) string {
	c = c.withDefaults()
	switch m.ModelKind() {
	case ModelVision:
		return c.Model.Vision
	case ModelText:
		return c.Model.Text
	case ModelEmbed:
		return c.Model.Embed
	}
	return ""
}

// ModelsFor returns the distinct models the given modes need, for the
// service's preflight (only models of queued modes are required).
func (c Config) ModelsFor(modes ...Mode) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range modes {
		if name := c.ModelFor(m); name != "" && !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	return out
}

// backoff returns the sleep before transport attempt n+1 after attempt n
// failed (n ≥ 1): BackoffMS·2^(n-1), capped by BackoffMSMax.
func (c Config) backoff(n int) time.Duration {
	ms := c.Retry.BackoffMS
	for i := 1; i < n && ms < c.Retry.BackoffMSMax; i++ {
		ms *= 2
	}
	return time.Duration(min(ms, c.Retry.BackoffMSMax)) * time.Millisecond
}

// BackoffSchedule returns the sleeps between the transport attempts of one
// request (MaxAttempts-1 entries).
func (c Config) BackoffSchedule() []time.Duration {
	c = c.withDefaults()
	out := make([]time.Duration, 0, c.Retry.MaxAttempts-1)
	for n := 1; n < c.Retry.MaxAttempts; n++ {
		out = append(out, c.backoff(n))
	}
	return out
}

func (c Config) maxSecondsFor(m Mode) int {
	if m.ModelKind() == ModelVision {
		return c.Worker.MaxSecondsVision
	}
	return c.Worker.MaxSecondsText
}

func (c Config) configuredTimeout(m Mode) time.Duration {
	switch m.ModelKind() {
	case ModelVision:
		return time.Duration(c.TimeoutMSVision) * time.Millisecond
	case ModelText, ModelEmbed:
		return time.Duration(c.TimeoutMSText) * time.Millisecond
	}
	return time.Duration(c.TimeoutMS) * time.Millisecond
}

// RequestTimeout is the per-attempt HTTP timeout of a mode. It is chosen so
// that MaxAttempts attempts plus the backoff sleeps plus the overhead fit in
// ModeBudget(m): the service's kill deadline can never cut a request that
// the client would still retry.
func (c Config) RequestTimeout(m Mode) time.Duration {
	c = c.withDefaults()
	per := c.configuredTimeout(m)
	if secs := c.maxSecondsFor(m); secs > 0 {
		avail := time.Duration(secs)*time.Second - c.backoffTotal() - c.overhead()
		fit := avail / time.Duration(c.Retry.MaxAttempts)
		per = min(per, max(fit, time.Second))
	}
	return per
}

// ModeBudget is the wall-clock budget of one job attempt of mode m, used
// by the service as the child's kill deadline: RequestTimeout ×
// MaxAttempts + all backoff sleeps + overhead. When worker.max_seconds_* is
// set it is that value (the request timeout shrinks to fit instead).
func (c Config) ModeBudget(m Mode) time.Duration {
	c = c.withDefaults()
	if secs := c.maxSecondsFor(m); secs > 0 {
		return time.Duration(secs) * time.Second
	}
	return c.RequestTimeout(m)*time.Duration(c.Retry.MaxAttempts) + c.backoffTotal() + c.overhead()
}

// KillGrace is the time between asking a child to stop and killing it.
func (c Config) KillGrace() time.Duration {
	return time.Duration(c.withDefaults().Worker.KillGraceMS) * time.Millisecond
}

// HealthTimeout bounds /api/version and /api/tags.
func (c Config) HealthTimeout() time.Duration {
	return time.Duration(c.withDefaults().HealthTimeoutMS) * time.Millisecond
}

func (c Config) backoffTotal() time.Duration {
	var t time.Duration
	for n := 1; n < c.Retry.MaxAttempts; n++ {
		t += c.backoff(n)
	}
	return t
}

func (c Config) overhead() time.Duration {
	return time.Duration(c.Worker.OverheadMS) * time.Millisecond
}
