// Package comfy talks to a ComfyUI server through its HTTP API (/prompt,
// /history, /view, /object_info, /queue, /interrupt, /system_stats) and holds
// the "comfyui" config section. It knows nothing of the job queue or the
// database.
package comfy

import (
	"net/url"
	"strings"
	"time"

	"github.com/localsupervisor/supervisor/pkg/config"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

// Defaults for the comfyui config section.
const (
	// BaseURLDefault is ComfyUI's own default listen address.
	BaseURLDefault = "http://127.0.0.1:8188/"
	// VidaxURLDefault is where `vidax serve` listens by default (port 4111,
	// loopback).
	VidaxURLDefault          = "http://127.0.0.1:4111/"
	TimeoutDefault           = 15 * time.Second
	GenerationTimeoutDefault = 10 * time.Minute
)

// Reason codes produced by config validation.
const (
	CodeDisabled      = "comfy_disabled"
	CodeConfigInvalid = "comfy_config_invalid"
)

// Config is the "comfyui" section of the Supervisor config. ComfyUI is
// optional: with the section absent or enabled false every ComfyUI feature is
// off and the UI says how to switch it on.
type Config struct {
	// Enabled switches ComfyUI regeneration and the dashboard card on.
	Enabled bool `json:"enabled"`
	// BaseURL of the ComfyUI server (default BaseURLDefault).
	BaseURL string `json:"base_url,omitempty"`
	// VidaxURL of a `vidax serve` that manages the ComfyUI process and its
	// assets; empty means no vidax (status comes from BaseURL directly and
	// the install/start/stop buttons are not offered).
	VidaxURL string `json:"vidax_url,omitempty"`
	// VidaxAPIKey is sent as x-api-key to vidax.
	VidaxAPIKey string `json:"vidax_api_key,omitempty"`
	// Timeout in seconds for short calls (status, object_info, history).
	Timeout float64 `json:"timeout,omitempty"`
	// GenerationTimeout in seconds a submitted prompt may take.
	GenerationTimeout float64 `json:"generation_timeout,omitempty"`

	// ConfigPath is the file the section was read from, for error messages.
	ConfigPath string `json:"-"`
}

// BaseURLOrDefault returns the trimmed base URL or the default.
func (c *Config) BaseURLOrDefault() string {
	if c == nil || strings.TrimSpace(c.BaseURL) == "" {
		return BaseURLDefault
	}
	return strings.TrimSpace(c.BaseURL)
}

// ShortTimeout is the timeout for status and list calls.
func (c *Config) ShortTimeout() time.Duration {
	if c == nil {
		return TimeoutDefault
	}
	return config.Seconds(c.Timeout, TimeoutDefault)
}

// GenerationTimeoutOrDefault is how long one generation may take.
func (c *Config) GenerationTimeoutOrDefault() time.Duration {
	if c == nil {
		return GenerationTimeoutDefault
	}
	return config.Seconds(c.GenerationTimeout, GenerationTimeoutDefault)
}

// Validate checks the section before any ComfyUI action: it must be enabled
// and its URLs must be http(s) URLs.
func (c *Config) Validate() error {
	if c == nil || !c.Enabled {
		return reason.New(CodeDisabled, "ComfyUI is switched off: set comfyui.enabled to true in the config (and comfyui.base_url if ComfyUI does not listen on 127.0.0.1:8188)")
	}
	for key, v := range map[string]string{"comfyui.base_url": c.BaseURLOrDefault(), "comfyui.vidax_url": c.VidaxURL} {
		if key == "comfyui.vidax_url" && strings.TrimSpace(v) == "" {
			continue
		}
		if u, err := url.Parse(strings.TrimSpace(v)); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return reason.Newf(CodeConfigInvalid, "%s %q is not an http(s) URL: write it like http://127.0.0.1:8188/", key, v).With("key", key).With("config_path", c.ConfigPath)
		}
	}
	return nil
}
