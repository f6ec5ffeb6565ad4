package web

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/localsupervisor/supervisor/pkg/config"
)

// enableServices switches the named optional services on in cfg, as a
// config.json with "<section>": {"enabled": true} would.
func enableServices(cfg *config.Config, services ...string) {
	on := json.RawMessage(`{"enabled": true}`)
	for _, svc := range services {
		switch svc {
		case ServiceTagger:
			cfg.Scanner = on
		case ServiceOllama:
			cfg.Ollama = on
		case ServiceForge:
			cfg.Forge = on
		default:
			panic("unknown service " + svc)
		}
	}
}

// launchRecorder is a fake Launcher: it records every worker the server
// asks to start and starts nothing.
type launchRecorder struct {
	mu      sync.Mutex
	workers []string
}

func (l *launchRecorder) Spawn(_ context.Context, worker string, _ []string) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.workers = append(l.workers, worker)
	return "started_unverified", nil
}

func (l *launchRecorder) started() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.workers...)
}
