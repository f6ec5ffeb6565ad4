package scanner

import (
	"strings"
	"time"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

// Defaults for the scanner.* config keys (spec 0.1). The JSON loader should
// unmarshal the user's file on top of DefaultConfig() so absent keys keep
// these values.
const (
	DefaultImageEndpoint       = "/check"
	DefaultBatchEndpoint       = "/batch"
	DefaultTimeoutSeconds      = 30
	DefaultConnectTimeoutSecs  = 5
	DefaultNSFWThreshold       = 0.7
	DefaultName                = "pixai_sensible"
	DefaultVideoFallbackFrames = 4
	MinVideoFallbackFrames     = 3
	MaxVideoFallbackFrames     = 8
	DefaultVideoFallbackMaxDim = 1280
	// DefaultBreakerThreshold and DefaultBreakerCoolDownSecs configure the
	// Breaker: after that many consecutive timeouts/connection errors/5xx
	// the tagger is skipped for the cool-down.
	DefaultBreakerThreshold    = 3
	DefaultBreakerCoolDownSecs = 60
	// minVideoFallbackMaxDim: smaller values make the tagger useless, so the
	// original resets anything below it to the default rather than clamping.
	minVideoFallbackMaxDim = 256
)

// Config mirrors the scanner.* keys of the config file. JSON tags are the
// key names below "scanner", so pkg/config can embed it directly.
type Config struct {
	// Enabled switches the scanner on. When false no request is ever sent
	// and Validate reports scanner_disabled. Default true (DefaultConfig).
	Enabled bool `json:"enabled"`
	// BaseURL of the tagger, e.g. http://127.0.0.1:8000. Required.
	BaseURL string `json:"base_url"`
	// Token is sent verbatim as the Authorization header value (no
	// automatic "Bearer " prefix: the PixAI scanner compares it raw).
	Token string `json:"token"`
	// APIKey with APIKeyHeader is the alternative auth mode, used only
	// when Token is empty: header "<APIKeyHeader>: <APIKey>".
	APIKey       string `json:"api_key"`
	APIKeyHeader string `json:"api_key_header"`
	// ImageEndpoint for single images (field "image"). Default "/check".
	// An absolute http(s):// URL is used as is.
	ImageEndpoint string `json:"image_endpoint"`
	// BatchEndpoint for videos/GIFs (field "file"). Default "/batch".
	BatchEndpoint string `json:"batch_endpoint"`
	// Timeout is the total per-request timeout in seconds. Default 30.
	Timeout float64 `json:"timeout"`
	// ConnectTimeout bounds obtaining a connection, in seconds. Default 5.
	ConnectTimeout float64 `json:"connect_timeout"`
	// NSFWThreshold: a raw NSFW score at or above it rates explicit.
	// Default 0.7.
	NSFWThreshold float64 `json:"nsfw_threshold"`
	// Name is the scanner label for scan_results.scanner when the response
	// does not name itself. Default "pixai_sensible".
	Name string `json:"name"`
	// VideoFallbackFrames is how many frames the video fallback scans,
	// clamped to 3..8. Default 4.
	VideoFallbackFrames int `json:"video_fallback_frames"`
	// VideoFallbackMaxDim bounds the longer frame side in pixels; values
	// below 256 mean the default 1280.
	VideoFallbackMaxDim int `json:"video_fallback_max_dim"`
	// BreakerThreshold is how many consecutive timeouts, connection errors
	// or 5xx answers open the Breaker. 0 (or negative) disables it.
	// Default 3.
	BreakerThreshold int `json:"breaker_threshold"`
	// BreakerCoolDown is how long, in seconds, an open Breaker refuses
	// calls before it lets one probe through. Default 60.
	BreakerCoolDown float64 `json:"breaker_cooldown_seconds"`
}

// DefaultConfig returns the documented defaults: enabled, no base URL and
// no credentials (so Validate still fails until the user sets them).
func DefaultConfig() Config {
	return Config{
		Enabled:             true,
		ImageEndpoint:       DefaultImageEndpoint,
		BatchEndpoint:       DefaultBatchEndpoint,
		Timeout:             DefaultTimeoutSeconds,
		ConnectTimeout:      DefaultConnectTimeoutSecs,
		NSFWThreshold:       DefaultNSFWThreshold,
		Name:                DefaultName,
		VideoFallbackFrames: DefaultVideoFallbackFrames,
		VideoFallbackMaxDim: DefaultVideoFallbackMaxDim,
		BreakerThreshold:    DefaultBreakerThreshold,
		BreakerCoolDown:     DefaultBreakerCoolDownSecs,
	}
}

// Normalized returns a copy with zero or out-of-range values replaced by
// defaults and strings trimmed. Enabled and BreakerThreshold are left
// alone (a zero is the user's "off"), except that a negative threshold
// becomes 0.
func (c Config) Normalized() Config {
	c.BaseURL = strings.TrimSpace(c.BaseURL)
	c.Token = strings.TrimSpace(c.Token)
	c.APIKey = strings.TrimSpace(c.APIKey)
	c.APIKeyHeader = strings.TrimSpace(c.APIKeyHeader)
	c.ImageEndpoint = strings.TrimSpace(c.ImageEndpoint)
	c.BatchEndpoint = strings.TrimSpace(c.BatchEndpoint)
	c.Name = strings.TrimSpace(c.Name)
	if c.ImageEndpoint == "" {
		c.ImageEndpoint = DefaultImageEndpoint
	}
	if c.BatchEndpoint == "" {
		c.BatchEndpoint = DefaultBatchEndpoint
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeoutSeconds
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = DefaultConnectTimeoutSecs
	}
	// A threshold outside (0,1] would rate everything explicit or nothing.
	if c.NSFWThreshold <= 0 || c.NSFWThreshold > 1 {
		c.NSFWThreshold = DefaultNSFWThreshold
	}
	if c.Name == "" {
		c.Name = DefaultName
	}
	switch {
	case c.VideoFallbackFrames == 0:
		c.VideoFallbackFrames = DefaultVideoFallbackFrames
	case c.VideoFallbackFrames < MinVideoFallbackFrames:
		c.VideoFallbackFrames = MinVideoFallbackFrames
	case c.VideoFallbackFrames > MaxVideoFallbackFrames:
		c.VideoFallbackFrames = MaxVideoFallbackFrames
	}
	if c.VideoFallbackMaxDim < minVideoFallbackMaxDim {
		c.VideoFallbackMaxDim = DefaultVideoFallbackMaxDim
	}
	c.BreakerThreshold = max(c.BreakerThreshold, 0)
	if c.BreakerCoolDown <= 0 {
		c.BreakerCoolDown = DefaultBreakerCoolDownSecs
	}
	return c
}

// TimeoutDuration is Timeout as a time.Duration.
func (c Config) TimeoutDuration() time.Duration { return seconds(c.Timeout, DefaultTimeoutSeconds) }

// BreakerCoolDownDuration is BreakerCoolDown as a time.Duration.
func (c Config) BreakerCoolDownDuration() time.Duration {
	return seconds(c.BreakerCoolDown, DefaultBreakerCoolDownSecs)
}

// ConnectTimeoutDuration is ConnectTimeout as a time.Duration.
func (c Config) ConnectTimeoutDuration() time.Duration {
	return seconds(c.ConnectTimeout, DefaultConnectTimeoutSecs)
}

func seconds(v float64, def float64) time.Duration {
	if v <= 0 {
		v = def
	}
	return time.Duration(v * float64(time.Second))
}

// AuthMode names the header mode in use, for error messages and logs. It
// never contains a secret.
type AuthMode string

// Auth modes.
const (
	AuthNone   AuthMode = "none"
	AuthToken  AuthMode = "token"
	AuthAPIKey AuthMode = "api_key"
)

// AuthMode reports which credentials a request will carry.
func (c Config) AuthMode() AuthMode {
	c = c.Normalized()
	switch {
	case c.Token != "":
		return AuthToken
	case c.APIKey != "" && c.APIKeyHeader != "":
		return AuthAPIKey
	default:
		return AuthNone
	}
}

// RequiredAnyAuth returns the alternatives that satisfy scanner auth, as
// reported in config errors (seed: required_any).
func RequiredAnyAuth() []string {
	return []string{"scanner.token", "scanner.api_key+scanner.api_key_header"}
}

// Validate checks that a scan can be attempted. It returns nil or a
// permanent *reason.Error with Code scanner_disabled,
// scanner_not_configured or scanner_auth_missing and Fields missing_keys
// ([]string of dotted keys) and, for auth, required_any. The caller adds
// config_path with (*reason.Error).With("config_path", p) or
// ValidateAt. Validate performs no I/O: a misconfigured scanner never
// receives image data.
func (c Config) Validate() error {
	c = c.Normalized()
	if !c.Enabled {
		return &reason.Error{
			Code: CodeDisabled, Kind: reason.KindPermanent,
			Msg:    "scanner is disabled (scanner.enabled=false)",
			Fields: map[string]any{"missing_keys": []string{}},
		}
	}
	if c.BaseURL == "" {
		return &reason.Error{
			Code: CodeNotConfigured, Kind: reason.KindPermanent,
			Msg:    "scanner.base_url is not set",
			Fields: map[string]any{"missing_keys": []string{"scanner.base_url"}},
		}
	}
	if !strings.HasPrefix(c.BaseURL, "http://") && !strings.HasPrefix(c.BaseURL, "https://") {
		return &reason.Error{
			Code: CodeNotConfigured, Kind: reason.KindPermanent,
			Msg:    "scanner.base_url must start with http:// or https://",
			Fields: map[string]any{"missing_keys": []string{"scanner.base_url"}},
		}
	}
	if c.Token != "" {
		return nil
	}
	if c.APIKey != "" && c.APIKeyHeader == "" {
		return &reason.Error{
			Code: CodeAuthMissing, Kind: reason.KindPermanent,
			Msg: "API key mode incomplete: scanner.api_key_header is missing",
			Fields: map[string]any{
				"missing_keys": []string{"scanner.api_key_header"},
				"required_any": RequiredAnyAuth(),
			},
		}
	}
	if c.APIKey == "" {
		return &reason.Error{
			Code: CodeAuthMissing, Kind: reason.KindPermanent,
			Msg: "scanner token missing: set scanner.token (or scanner.api_key + scanner.api_key_header)",
			Fields: map[string]any{
				"missing_keys": []string{"scanner.token"},
				"required_any": RequiredAnyAuth(),
			},
		}
	}
	return nil
}

// ValidateAt is Validate with the config_path field set on a failure.
func (c Config) ValidateAt(configPath string) error {
	err := c.Validate()
	if err == nil {
		return nil
	}
	return err.(*reason.Error).With("config_path", configPath)
}
