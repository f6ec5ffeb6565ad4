// Package forgejob runs Forge regenerations as queue jobs: enqueue (plan a
// regen or a repair recipe into a forge_regen job), the forge_regen job
// handler (also for the legacy forge_regen_replace / forge_regen_v3 rows of
// old databases), preview and replace output modes with backup and
// byte-for-byte restore, and accepting a preview as the new original or as a
// child media linked to its source.
//
// It knows nothing of HTTP or CLI flags; cmd/forge-worker and the web UI call
// it. The Forge protocol itself lives in pkg/forge.
package forgejob

import (
	"context"
	"database/sql"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/localsupervisor/supervisor/pkg/forge"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/library"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/sdmeta"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// Audit actions written by this package (original names plus the new
// accept operation).
const (
	AuditJobCreated      = "forge_job_created"
	AuditModelResolved   = "forge_model_resolved"
	AuditHealthFailed    = "forge_health_failed"
	AuditRegenReplace    = "forge_regen_replace"
	AuditRegenPreview    = "forge_regen_preview"
	AuditRegenFailed     = "forge_regen_failed"
	AuditPreviewAccepted = "forge_preview_accepted"
	AuditScanStale       = "scan_stale"
)

// Reason codes of this package.
const (
	CodeMediaMissing     = "forge_media_missing"
	CodeMediaNotImage    = forge.CodeMediaNotImage
	CodeRequestInvalid   = "forge_request_invalid"
	CodeOutputFailed     = "forge_output_failed"
	CodeBackupFailed     = "forge_backup_failed"
	CodeReplaceFailed    = "forge_replace_failed"
	CodeRestoreFailed    = "forge_restore_failed"
	CodeHashCollision    = "forge_hash_collision"
	CodePathUnsafe       = "forge_path_unsafe"
	CodeJobNotAccept     = "forge_job_not_acceptable"
	CodeVariantNotFound  = "forge_variant_not_found"
	CodePreviewChanged   = "forge_preview_changed"
	CodeAlreadyAccepted  = "forge_preview_already_accepted"
	CodeAcceptModeUnkown = "forge_accept_mode_invalid"
)

// Accept modes.
const (
	AcceptReplace = "replace"
	AcceptChild   = "child"
)

// Meta and prompt sources.
const (
	SourceRegenReplace = "forge_regen_replace"
	SourceAcceptChild  = "forge_accept_child"
	SourceAccept       = "forge_accept_replace"
)

// ProgressIntervalDefault is how often a running generation's progress is
// polled into jobs.progress_bits.
const ProgressIntervalDefault = 2 * time.Second

// Types are the job types the forge worker claims, current type first.
func Types() []string {
	return []string{jobs.TypeForgeRegen, jobs.TypeForgeRegenReplace, jobs.TypeForgeRegenV3}
}

// Service holds the dependencies of every Forge job operation. Zero optional
// fields disable that step, as documented per field.
type Service struct {
	// DB is the writer handle. Required.
	DB *sql.DB
	// Queue enqueues jobs (Enqueue only).
	Queue *jobs.Queue
	// Config is the forge config section; nil means the section is absent
	// (every action then answers forge_config_missing).
	Config *forge.Config
	// Client talks to Forge; built from Config by New when nil.
	Client *forge.Client
	// Recipes for repair planning (default: the embedded recipes).
	Recipes *forge.Recipes
	// Roots are the library roots (canonical placement of replaced files).
	Roots library.Roots
	// PreviewsDir and BackupsDir are paths.previews and paths.backups; both
	// must lie outside the library roots.
	PreviewsDir string
	BackupsDir  string
	// Clock stamps rows and file names (default svtime.SystemClock).
	Clock svtime.Clock
	// Log receives job events (default disabled).
	Log zerolog.Logger
	// Rescan re-tags a media after its file was replaced (the scan
	// package's Importer.RescanMedia). nil or a failure marks the media
	// scan_stale, like the original without a scanner.
	Rescan func(ctx context.Context, mediaID int64) error
	// Extract reads generation metadata from the new file (sdmeta.Extract
	// with the configured options); nil stores the prompt from the request.
	Extract func(ctx context.Context, path string) (sdmeta.Result, error)
	// Rand returns a uniform integer in [0, n) for seeds (default
	// math/rand/v2).
	Rand func(n int64) int64
	// ProgressInterval is the progress poll period (default
	// ProgressIntervalDefault; <0 disables polling).
	ProgressInterval time.Duration
}

// New fills defaults and builds the Forge client from Config when the
// section is usable. An invalid config is not an error here: every action
// validates and answers with the reason_code/missing_keys/config_path error.
func New(s Service) (*Service, error) {
	if s.DB == nil {
		panic("forgejob: nil DB")
	}
	if s.Clock == nil {
		s.Clock = svtime.SystemClock{}
	}
	if s.Rand == nil {
		s.Rand = rand.Int64N
	}
	if s.ProgressInterval == 0 {
		s.ProgressInterval = ProgressIntervalDefault
	}
	if s.Recipes == nil {
		if s.Config != nil {
			r, err := forge.LoadRecipes(s.Config.RecipesPathOrDefault())
			if err != nil {
				return nil, err
			}
			s.Recipes = r
		} else {
			s.Recipes = forge.DefaultRecipes()
		}
	}
	if s.Client == nil && s.Config != nil && s.Config.Validate(false) == nil {
		c, err := forge.NewClientFromConfig(s.Config, nil, s.Clock)
		if err != nil {
			return nil, err
		}
		s.Client = c
	}
	return &s, nil
}

// validate runs the runtime config validation (dispatch required for
// anything that generates) and makes sure a client exists.
func (s *Service) validate(requireDispatch bool) error {
	if err := s.Config.Validate(requireDispatch); err != nil {
		// The visible message is the original's one-liner; Fields keep
		// reason_code/missing_keys/config_path for JSON answers.
		if re, ok := err.(*reason.Error); ok {
			cp := *re
			cp.Msg += strings.TrimPrefix(forge.FormatConfigError(err), re.Code)
			cp.Kind = reason.KindPermanent
			return &cp
		}
		return err
	}
	if s.Client == nil {
		return reason.New(forge.CodeConfigIncomplete, "forge client not configured")
	}
	return nil
}

func (s *Service) now() time.Time { return s.Clock.Now().UTC() }

// ConfigProblem is the visible answer of a failed runtime validation.
type ConfigProblem struct {
	ReasonCode  string   `json:"reason_code"`
	MissingKeys []string `json:"missing_keys"`
	ConfigPath  string   `json:"config_path"`
	Message     string   `json:"message"`
}

// Problem converts a validation error into a ConfigProblem (nil for other
// errors).
func Problem(err error) *ConfigProblem {
	code := reason.Code(err)
	switch code {
	case forge.CodeConfigMissing, forge.CodeConfigIncomplete, forge.CodeDisabled, forge.CodeDispatchDisabled:
	default:
		return nil
	}
	f := reason.FieldsOf(err)
	p := &ConfigProblem{ReasonCode: code, Message: forge.FormatConfigError(err), MissingKeys: []string{}}
	if mk, ok := f["missing_keys"].([]string); ok && mk != nil {
		p.MissingKeys = mk
	}
	if cp, ok := f["config_path"].(string); ok {
		p.ConfigPath = cp
	}
	return p
}

func errf(code, format string, args ...any) *reason.Error { return reason.Newf(code, format, args...) }
