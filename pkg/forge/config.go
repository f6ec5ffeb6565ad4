// Package forge talks to a Stable Diffusion WebUI Forge / AUTOMATIC1111 server
// through its HTTP API (/sdapi/v1/...), loads the repair recipes and plans
// regeneration requests.
//
// The package is split in three layers that know nothing of the job queue or
// the database:
//
//   - Config and Validate: the "forge" config section and the runtime
//     validation every Forge action runs first (reason_code, missing_keys,
//     config_path).
//   - Client: one method per A1111 endpoint, model list cache, model
//     resolution, checkpoint switching and the sampler attempt chain.
//   - Planning: pure functions that turn a media row, its current prompt, its
//     tags and the user's overrides into a Request whose Payload marshals to
//     exactly the A1111 API JSON (no internal keys, no base64 except the
//     init image that is attached only when sending).
package forge

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/localsupervisor/supervisor/pkg/config"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

// Defaults for the forge config section. They mirror the original's code
// defaults except GenerationTimeoutDefault, which is new: the original applied
// the 15 s health timeout to whole generations (defect 31).
const (
	BaseURLDefault               = "http://127.0.0.1:7861/"
	TimeoutDefault               = 15 * time.Second
	GenerationTimeoutDefault     = 10 * time.Minute
	InternalModelFallbackDefault = "SDXL_FP16_waiNSFWIllustrious_v120.safetensors"
	SpawnCooldownDefault         = 15 * time.Second
	RecipesPathDefault           = "CONFIG/forge_recipes.json"
	ModelsCacheTTLDefault        = 90 * time.Second
	// ModelsCacheTTLMin is the smallest TTL accepted, as in the original.
	ModelsCacheTTLMin = 10 * time.Second
	// UpscalerDefault is the A1111 upscaler used by extra-single-image when
	// the config names none.
	UpscalerDefault = "R-ESRGAN 4x+"
)

// Reason codes produced by config validation.
const (
	CodeConfigMissing    = "forge_config_missing"
	CodeConfigIncomplete = "forge_config_incomplete"
	CodeDisabled         = "forge_disabled"
	CodeDispatchDisabled = "forge_dispatch_disabled"
)

// Config is the "forge" section of the Supervisor config. Enabled and
// DispatchEnabled are pointers because an absent key is a different error
// (forge_config_incomplete) from a false one (forge_disabled).
type Config struct {
	// Enabled switches every Forge feature on or off (key forge.enabled).
	Enabled *bool `json:"enabled,omitempty"`
	// DispatchEnabled allows enqueuing and running generations
	// (forge.dispatch_enabled).
	DispatchEnabled *bool `json:"dispatch_enabled,omitempty"`
	// BaseURL of the WebUI, default BaseURLDefault.
	BaseURL string `json:"base_url,omitempty"`
	// Timeout in seconds for short calls (health, options, lists); default 15.
	Timeout float64 `json:"timeout,omitempty"`
	// GenerationTimeout in seconds for txt2img/img2img/extras and checkpoint
	// switches; default 600.
	GenerationTimeout float64 `json:"generation_timeout,omitempty"`
	// BasicAuthUser and BasicAuthPass enable HTTP basic auth; both or neither.
	BasicAuthUser string `json:"basic_auth_user,omitempty"`
	BasicAuthPass string `json:"basic_auth_pass,omitempty"`
	// InternalModelFallback is the checkpoint used when the requested model
	// cannot be resolved; default InternalModelFallbackDefault. When it is
	// not installed either, the checkpoint loaded on the server is used
	// (Client.EnsureCheckpoint).
	InternalModelFallback string `json:"internal_model_fallback,omitempty"`
	// SpawnCooldown in seconds between worker spawns from the web UI; default 15.
	SpawnCooldown float64 `json:"spawn_cooldown,omitempty"`
	// RecipesPath of forge_recipes.json; default RecipesPathDefault. A missing
	// file means "use the embedded default".
	RecipesPath string `json:"recipes_path,omitempty"`
	// Upscaler is the upscaler_1 name for extra-single-image.
	Upscaler string `json:"upscaler,omitempty"`
	// ModelsCacheTTL in seconds for the sd-models list; default 90, min 10.
	ModelsCacheTTL float64 `json:"models_cache_ttl,omitempty"`

	// ConfigPath is the file the section was read from; it is reported in
	// validation errors and never serialised.
	ConfigPath string `json:"-"`
}

// BaseURLOrDefault returns the trimmed base URL or the default.
func (c *Config) BaseURLOrDefault() string {
	if c == nil || strings.TrimSpace(c.BaseURL) == "" {
		return BaseURLDefault
	}
	return strings.TrimSpace(c.BaseURL)
}

// HealthTimeout is the timeout for short calls.
func (c *Config) HealthTimeout() time.Duration {
	if c == nil {
		return TimeoutDefault
	}
	return config.Seconds(c.Timeout, TimeoutDefault)
}

// GenerationTimeoutOrDefault is the timeout for generations.
func (c *Config) GenerationTimeoutOrDefault() time.Duration {
	if c == nil {
		return GenerationTimeoutDefault
	}
	return config.Seconds(c.GenerationTimeout, GenerationTimeoutDefault)
}

// SpawnCooldownOrDefault is the web spawn cooldown.
func (c *Config) SpawnCooldownOrDefault() time.Duration {
	if c == nil {
		return SpawnCooldownDefault
	}
	return config.Seconds(c.SpawnCooldown, SpawnCooldownDefault)
}

// ModelsCacheTTLOrDefault is the model list TTL, never below ModelsCacheTTLMin.
func (c *Config) ModelsCacheTTLOrDefault() time.Duration {
	if c == nil {
		return ModelsCacheTTLDefault
	}
	d := config.Seconds(c.ModelsCacheTTL, ModelsCacheTTLDefault)
	if d < ModelsCacheTTLMin {
		d = ModelsCacheTTLMin
	}
	return d
}

// FallbackModel returns the configured internal model fallback or the default.
func (c *Config) FallbackModel() string {
	if c == nil || strings.TrimSpace(c.InternalModelFallback) == "" {
		return InternalModelFallbackDefault
	}
	return strings.TrimSpace(c.InternalModelFallback)
}

// RecipesPathOrDefault returns the recipes file path.
func (c *Config) RecipesPathOrDefault() string {
	if c == nil || strings.TrimSpace(c.RecipesPath) == "" {
		return RecipesPathDefault
	}
	return c.RecipesPath
}

// UpscalerOrDefault returns the extras upscaler name.
func (c *Config) UpscalerOrDefault() string {
	if c == nil || strings.TrimSpace(c.Upscaler) == "" {
		return UpscalerDefault
	}
	return c.Upscaler
}

// Validate is the runtime validation every Forge action runs before touching
// the server (original sv_validate_forge_runtime_config). requireDispatch is
// true for actions that generate (regen, repair, worker); model lists only
// need forge.enabled. A nil receiver means the section is absent.
//
// The error is a *reason.Error with Fields "missing_keys" ([]string, maybe
// empty) and "config_path" (string); FormatConfigError renders it the way the
// original did.
func (c *Config) Validate(requireDispatch bool) error {
	if c == nil {
		return configErr(CodeConfigMissing, "forge config section missing", []string{"forge"}, "")
	}
	var missing []string
	if c.Enabled == nil {
		missing = append(missing, "forge.enabled")
	}
	if requireDispatch && c.DispatchEnabled == nil {
		missing = append(missing, "forge.dispatch_enabled")
	}
	if strings.TrimSpace(c.BaseURL) == "" {
		missing = append(missing, "forge.base_url")
	}
	if c.BasicAuthUser != "" && c.BasicAuthPass == "" {
		missing = append(missing, "forge.basic_auth_pass")
	}
	if c.BasicAuthPass != "" && c.BasicAuthUser == "" {
		missing = append(missing, "forge.basic_auth_user")
	}
	if len(missing) > 0 {
		return configErr(CodeConfigIncomplete, "forge config incomplete", missing, c.ConfigPath)
	}
	if u, err := url.Parse(strings.TrimSpace(c.BaseURL)); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return configErr(CodeConfigIncomplete, fmt.Sprintf("forge.base_url %q is not an http(s) URL", c.BaseURL), []string{"forge.base_url"}, c.ConfigPath)
	}
	if !*c.Enabled {
		return configErr(CodeDisabled, "forge is disabled (forge.enabled=false)", []string{}, c.ConfigPath)
	}
	if requireDispatch && !*c.DispatchEnabled {
		return configErr(CodeDispatchDisabled, "forge dispatch is disabled (forge.dispatch_enabled=false)", []string{}, c.ConfigPath)
	}
	return nil
}

func configErr(code, msg string, missing []string, path string) *reason.Error {
	if missing == nil {
		missing = []string{}
	}
	return &reason.Error{
		Code: code,
		Kind: reason.KindPermanent,
		Msg:  msg,
		Fields: map[string]any{
			"missing_keys": missing,
			"config_path":  path,
		},
	}
}

// FormatConfigError renders a validation error as the visible one-line
// message the original showed: "reason | missing_keys=a,b | config_path=…".
// Other errors are returned as err.Error().
func FormatConfigError(err error) string {
	if err == nil {
		return ""
	}
	code := reason.Code(err)
	f := reason.FieldsOf(err)
	if code == "" || f == nil {
		return err.Error()
	}
	parts := []string{code}
	if mk, ok := f["missing_keys"].([]string); ok && len(mk) > 0 {
		s := append([]string(nil), mk...)
		sort.Strings(s)
		parts = append(parts, "missing_keys="+strings.Join(s, ","))
	}
	if p, ok := f["config_path"].(string); ok && p != "" {
		parts = append(parts, "config_path="+p)
	}
	return strings.Join(parts, " | ")
}
