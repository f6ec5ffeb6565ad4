package forge

import (
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/svtest"
)

func ptr[T any](v T) *T { return &v }

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	full := func() *Config {
		return &Config{Enabled: ptr(true), DispatchEnabled: ptr(true), BaseURL: "http://127.0.0.1:7860", ConfigPath: "CONFIG/config.json"}
	}
	tests := []struct {
		name     string
		cfg      *Config
		dispatch bool
		code     string
		missing  []string
	}{
		{"ok", full(), true, "", nil},
		{"section missing", nil, true, CodeConfigMissing, []string{"forge"}},
		{"enabled absent", func() *Config { c := full(); c.Enabled = nil; return c }(), false, CodeConfigIncomplete, []string{"forge.enabled"}},
		{"dispatch absent only matters when required", func() *Config { c := full(); c.DispatchEnabled = nil; return c }(), false, "", nil},
		{"dispatch absent", func() *Config { c := full(); c.DispatchEnabled = nil; return c }(), true, CodeConfigIncomplete, []string{"forge.dispatch_enabled"}},
		{"base_url empty", func() *Config { c := full(); c.BaseURL = "  "; return c }(), true, CodeConfigIncomplete, []string{"forge.base_url"}},
		{"base_url not http", func() *Config { c := full(); c.BaseURL = "ftp://x"; return c }(), true, CodeConfigIncomplete, []string{"forge.base_url"}},
		{"user without pass", func() *Config { c := full(); c.BasicAuthUser = "u"; return c }(), true, CodeConfigIncomplete, []string{"forge.basic_auth_pass"}},
		{"pass without user", func() *Config { c := full(); c.BasicAuthPass = "p"; return c }(), true, CodeConfigIncomplete, []string{"forge.basic_auth_user"}},
		{"several missing", &Config{ConfigPath: "x.json"}, true, CodeConfigIncomplete, []string{"forge.enabled", "forge.dispatch_enabled", "forge.base_url"}},
		{"disabled", func() *Config { c := full(); c.Enabled = ptr(false); return c }(), true, CodeDisabled, []string{}},
		{"dispatch disabled", func() *Config { c := full(); c.DispatchEnabled = ptr(false); return c }(), true, CodeDispatchDisabled, []string{}},
		{"dispatch disabled but not required", func() *Config { c := full(); c.DispatchEnabled = ptr(false); return c }(), false, "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := svtest.ConfigError(t, tc.cfg.Validate(tc.dispatch), tc.code, tc.missing)
			if tc.code == "" {
				return
			}
			if _, ok := f["config_path"].(string); !ok {
				t.Errorf("config_path field missing: %v", f)
			}
		})
	}
}

func TestFormatConfigError(t *testing.T) {
	t.Parallel()
	err := (&Config{ConfigPath: "/etc/sv/config.json", Enabled: ptr(true)}).Validate(true)
	want := "forge_config_incomplete | missing_keys=forge.base_url,forge.dispatch_enabled | config_path=/etc/sv/config.json"
	if got := FormatConfigError(err); got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	err = (&Config{ConfigPath: "c.json", Enabled: ptr(false), BaseURL: "http://x"}).Validate(false)
	if got := FormatConfigError(err); got != "forge_disabled | config_path=c.json" {
		t.Fatalf("got %q", got)
	}
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	var c Config
	if c.HealthTimeout() != 15*time.Second || c.GenerationTimeoutOrDefault() != 10*time.Minute {
		t.Fatalf("timeouts %v %v", c.HealthTimeout(), c.GenerationTimeoutOrDefault())
	}
	c.Timeout, c.GenerationTimeout, c.ModelsCacheTTL = 2.5, 120, 1
	if c.HealthTimeout() != 2500*time.Millisecond || c.GenerationTimeoutOrDefault() != 2*time.Minute {
		t.Fatalf("timeouts %v %v", c.HealthTimeout(), c.GenerationTimeoutOrDefault())
	}
	if c.ModelsCacheTTLOrDefault() != ModelsCacheTTLMin {
		t.Fatalf("ttl below minimum not clamped: %v", c.ModelsCacheTTLOrDefault())
	}
	if c.FallbackModel() != InternalModelFallbackDefault || c.RecipesPathOrDefault() != RecipesPathDefault {
		t.Fatal("string defaults")
	}
}
