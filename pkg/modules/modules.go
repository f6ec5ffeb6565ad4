// Package modules decodes the module sections of the config (jobs,
// scanner, forge, ollama) over each module's defaults. It is the one
// decoding every binary's bootstrap (pkg/cliapp), webui's worker
// supervision (pkg/supervise) and the web's service switches (pkg/web)
// share, without those packages depending on the command-line bootstrap.
package modules

import (
	"github.com/localsupervisor/supervisor/pkg/comfy"
	"github.com/localsupervisor/supervisor/pkg/config"
	"github.com/localsupervisor/supervisor/pkg/forge"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/ollama"
	"github.com/localsupervisor/supervisor/pkg/scanner"
)

// Modules are the module sections of the config, decoded over each module's
// defaults.
type Modules struct {
	Jobs    jobs.Config
	Scanner scanner.Config
	Forge   forge.Config
	Ollama  ollama.Config
	ComfyUI comfy.Config
}

// Load decodes the jobs, scanner, forge and ollama sections. Unknown
// keys and wrong types are errors that name "<section>.<key>" and the file,
// so every binary rejects a broken module section at start, not when the
// module is first used.
func Load(cfg *config.Config) (Modules, error) {
	m := Modules{Jobs: jobs.DefaultConfig(), Scanner: scanner.DefaultConfig(), Ollama: ollama.DefaultConfig()}
	if err := cfg.DecodeSection("jobs", &m.Jobs); err != nil {
		return m, err
	}
	if err := cfg.DecodeSection("scanner", &m.Scanner); err != nil {
		return m, err
	}
	if err := cfg.DecodeSection("forge", &m.Forge); err != nil {
		return m, err
	}
	m.Forge.ConfigPath = cfg.ConfigPath
	if err := cfg.DecodeSection("ollama", &m.Ollama); err != nil {
		return m, err
	}
	if err := cfg.DecodeSection("comfyui", &m.ComfyUI); err != nil {
		return m, err
	}
	m.ComfyUI.ConfigPath = cfg.ConfigPath
	return m, nil
}

// Enabled reports whether the optional service of a config section
// ("scanner", "forge", "ollama") is switched on, decoded over the module's
// defaults: the one answer the web's actions and webui's worker
// supervision both use, so they never disagree. Other sections: false.
func (m Modules) Enabled(section string) bool {
	switch section {
	case "scanner":
		return m.Scanner.Enabled
	case "forge":
		return m.Forge.Enabled != nil && *m.Forge.Enabled
	case "ollama":
		return m.Ollama.Enabled
	case "comfyui":
		return m.ComfyUI.Enabled
	}
	return false
}
