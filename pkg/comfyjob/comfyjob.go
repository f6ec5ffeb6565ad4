// Package comfyjob regenerates media from the ComfyUI workflow embedded in
// their files: it loads the API graph, applies the edits a person chose
// (seed, prompts, steps, cfg, denoise, size) to the main sampler pass the
// importer reads, queues a comfy_regen job and runs it against ComfyUI.
// Outputs become previews through forgejob, so accepting (replace with
// backup, keep as linked child) and discarding them, and the lineage rows,
// are Forge's.
package comfyjob

import (
	"database/sql"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"github.com/localsupervisor/supervisor/pkg/comfy"
	"github.com/localsupervisor/supervisor/pkg/config"
	"github.com/localsupervisor/supervisor/pkg/forgejob"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// Audit actions.
const (
	AuditJobCreated = "comfy_job_created"
	AuditPreview    = "comfy_regen_preview"
)

// Reason codes of this package.
const (
	CodeNoGraph        = "comfy_graph_absent"
	CodeRequestInvalid = "comfy_request_invalid"
	CodeOutputInvalid  = "comfy_output_invalid"
)

// Progress milestones (of progressTotal) per stage: polling gives stages,
// not sampler steps.
const progressTotal = 1000

var stageBits = map[string]int{comfy.StageValidate: 50, comfy.StageQueued: 100, comfy.StageRunning: 300, comfy.StageFetch: 900}

// Types are the job types this package handles.
func Types() []string { return []string{jobs.TypeComfyRegen} }

// Service holds the dependencies of the ComfyUI regeneration.
type Service struct {
	// DB is the writer handle. Required.
	DB *sql.DB
	// Queue enqueues jobs (Enqueue only).
	Queue *jobs.Queue
	// Config is the comfyui section (nil: absent, i.e. switched off).
	Config *comfy.Config
	// Client talks to ComfyUI; built from Config by New when nil.
	Client *comfy.Client
	// Previews stores outputs and runs the accept flow. Required.
	Previews *forgejob.Service
	// Clock stamps rows (default svtime.SystemClock).
	Clock svtime.Clock
	// Log receives job events.
	Log zerolog.Logger
	// Rand draws new seeds in [0, n) (default math/rand/v2).
	Rand func(n int64) int64
	// PollInterval of /history (default comfy.PollIntervalDefault).
	PollInterval time.Duration
}

// New fills defaults and builds the client from Config. A disabled or
// invalid section is not an error here: every action answers with
// Config.Validate's reason.
func New(s Service) (*Service, error) {
	if s.DB == nil || s.Previews == nil {
		panic("comfyjob: nil DB or Previews") // wiring error
	}
	if s.Clock == nil {
		s.Clock = svtime.SystemClock{}
	}
	if s.Rand == nil {
		s.Rand = rand.Int64N
	}
	if s.Client == nil && s.Config != nil && s.Config.Validate() == nil {
		c, err := comfy.New(s.Config.BaseURLOrDefault(), &http.Client{})
		if err != nil {
			return nil, err
		}
		s.Client = c
	}
	return &s, nil
}

// FromConfig wires the service from the loaded configuration; previews is
// the forgejob service built from the same configuration.
func FromConfig(cfg *config.Config, d *sql.DB, q *jobs.Queue, previews *forgejob.Service, clock svtime.Clock, log zerolog.Logger) (*Service, error) {
	var cc *comfy.Config
	if len(cfg.ComfyUI) > 0 && string(cfg.ComfyUI) != "null" {
		cc = &comfy.Config{}
		if err := cfg.DecodeSection("comfyui", cc); err != nil {
			return nil, err
		}
		cc.ConfigPath = cfg.ConfigPath
	}
	return New(Service{DB: d, Queue: q, Config: cc, Previews: previews, Clock: clock, Log: log})
}

// ConfigError is nil when ComfyUI is switched on and configured.
func (s *Service) ConfigError() error {
	if err := s.Config.Validate(); err != nil {
		return err
	}
	if s.Client == nil {
		return reason.New(comfy.CodeConfigInvalid, "ComfyUI client not configured: check comfyui.base_url")
	}
	return nil
}

// Handlers maps the job types to Run (RunnerOptions.Handlers).
func (s *Service) Handlers() map[string]jobs.Handler {
	return map[string]jobs.Handler{jobs.TypeComfyRegen: s.Run}
}

func (s *Service) now() time.Time { return s.Clock.Now().UTC() }
