package forgetest

import (
	"testing"

	"github.com/localsupervisor/supervisor/pkg/forge"
)

// Start is New with the server's Close registered on tb.Cleanup: the setup
// every test using the fake repeats.
func Start(tb testing.TB, o Options) *Server {
	tb.Helper()
	s := New(o)
	tb.Cleanup(s.Close)
	return s
}

// Config returns a complete, enabled forge config (dispatch on) pointing
// at the fake, as a configured installation would have it.
func (s *Server) Config() *forge.Config {
	on := true
	dispatch := true
	return &forge.Config{Enabled: &on, DispatchEnabled: &dispatch, BaseURL: s.URL, ConfigPath: "/cfg/config.json"}
}
