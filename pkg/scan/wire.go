package scan

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/localsupervisor/supervisor/pkg/config"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/library"
	"github.com/localsupervisor/supervisor/pkg/probe"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/scanner"
	"github.com/localsupervisor/supervisor/pkg/sdmeta"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// Setup is the result of building an Importer from the config.
type Setup struct {
	Importer *Importer
	Scanner  scanner.Config
	// ScannerErr is the validation error when the scanner is enabled but
	// misconfigured (reason_code, missing_keys, config_path); nil otherwise.
	ScannerErr error

	// breaker guards every tagger this Setup builds (nil: disabled by
	// scanner.breaker_threshold 0), so one dead tagger is noticed once per
	// worker, whichever job or per-job client meets it.
	breaker    *scanner.Breaker
	httpClient *http.Client
}

// FromConfig wires an Importer from the configuration: roots, mode, pixel
// budget, ffprobe/ffmpeg, sdmeta with stealth setting and the tagger
// (nil when scanner.enabled is false or the scanner is misconfigured; see
// Setup.ScannerErr) behind the circuit breaker scanner.breaker_* configure.
func FromConfig(cfg *config.Config, d *sql.DB, clock svtime.Clock, httpClient *http.Client) (*Setup, error) {
	sc := scanner.DefaultConfig()
	if err := cfg.DecodeSection("scanner", &sc); err != nil {
		return nil, err
	}
	ffprobe := &probe.FFprobe{Path: cfg.Tools.FFprobe}
	ffmpeg := &probe.FFmpeg{Path: cfg.Tools.FFmpeg, Probe: ffprobe}
	meta := StealthOptions(cfg.Import.StealthPNGInfo, cfg.Metadata.Stealth, cfg.Import.MaxPixels)
	im := &Importer{
		DB: d, Roots: library.RootsFromPaths(cfg.Paths), Derivatives: cfg.Paths.Derivatives,
		Duplicates: cfg.Import.Duplicates, DuplicatesDir: cfg.Paths.Duplicates, Mode: cfg.Import.Mode, MaxPixels: cfg.Import.MaxPixels, BatchSize: cfg.Import.BatchSize,
		Clock: clock, ScannerName: sc.Name, Frames: ffmpeg, Prober: ffprobe, DefaultNSFW: cfg.DefaultNSFW == 1,
		// No full decode on import: header dimensions and the pixel budget
		// are checked here; integrity_check jobs decode later (import speed).
		VerifyDecode: false,
		Extract: func(ctx context.Context, r io.ReadSeeker, name string, video *probe.VideoInfo) (sdmeta.Result, error) {
			opts := meta
			opts.VideoTags = func(ctx context.Context, p string) (map[string]string, error) {
				if video == nil {
					vi, err := ffprobe.Probe(ctx, p)
					if err != nil {
						return nil, err
					}
					video = vi
				}
				return video.FormatTags, nil
			}
			return sdmeta.ExtractReader(ctx, r, name, opts)
		},
	}
	s := &Setup{Importer: im, Scanner: sc, httpClient: httpClient}
	if sc.BreakerThreshold > 0 {
		s.breaker = scanner.NewBreaker(scanner.BreakerOptions{Threshold: sc.BreakerThreshold,
			CoolDown: sc.BreakerCoolDownDuration(), Clock: clock, OnChange: im.breakerChanged})
	}
	if sc.Enabled {
		if err := sc.ValidateAt(cfg.ConfigPath); err != nil {
			s.ScannerErr = err
		} else {
			im.Tagger = s.tagger(sc)
		}
	}
	return s, nil
}

// StealthOptions maps import.stealth_pnginfo (off, auto, always; the
// legacy metadata.stealth true means always) to the extraction options
// every import, rescan and prompts rebuild use. The stealth decode stays
// within the import pixel budget as well as sdmeta's own bound.
func StealthOptions(mode string, legacyAlways bool, maxPixels int64) sdmeta.Options {
	if legacyAlways {
		mode = sdmeta.StealthAlways
	}
	o := sdmeta.StealthMode(mode)
	if maxPixels > 0 && maxPixels < sdmeta.MaxStealthPixelsDefault {
		o.MaxStealthPixels = int(maxPixels)
	}
	return o
}

// tagger builds the tagger for sc: a client on the Setup's HTTP client
// behind its breaker. Every tagger of one Setup shares the breaker state,
// so a scan_path job with its own nsfw_threshold does not pay the
// timeouts again.
func (s *Setup) tagger(sc scanner.Config) Tagger {
	return s.breaker.Guard(scanner.New(sc, s.httpClient))
}

// breakerChanged logs a breaker state change once (scanner_breaker in
// LOGS/scanner_ingest.jsonl): the refused calls themselves are logged per
// file as ordinary scanner_ingest events with scanner_circuit_open.
func (im *Importer) breakerChanged(ev scanner.BreakerEvent) {
	if im.Ingest == nil {
		return
	}
	f := ev.Fields()
	f["operation"] = "breaker"
	im.Ingest("scanner_breaker", f)
}

// ScanPathPayload is the scan_path job payload, as the original wrote it.
type ScanPathPayload struct {
	Path          string   `json:"path"`
	RequestedPath string   `json:"requested_path"`
	Limit         int      `json:"limit"`
	Mode          string   `json:"mode,omitempty"`
	Source        string   `json:"source,omitempty"`
	NSFWThreshold *float64 `json:"nsfw_threshold,omitempty"`
	CreatedAt     string   `json:"created_at"`
}

// NewScanPathPayload normalises path (absolute, cleaned, must exist) and
// validates mode. source labels who asked (web, cli, …).
func NewScanPathPayload(path string, limit int, mode, source string, now time.Time) (ScanPathPayload, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return ScanPathPayload{}, err
	}
	if _, err := os.Stat(abs); err != nil {
		return ScanPathPayload{}, reason.Newf(CodeScanPathMissing, "scan path %s does not exist", abs)
	}
	if mode != "" && !ValidMode(mode) {
		return ScanPathPayload{}, reason.Newf(CodeInvalidMode, "unknown import mode %q", mode)
	}
	return ScanPathPayload{Path: abs, RequestedPath: path, Limit: limit, Mode: mode, Source: source, CreatedAt: svtime.Format(now)}, nil
}

// ScanPathResult is the scan_path job result.
type ScanPathResult struct {
	Path        string  `json:"path"`
	Limit       int     `json:"limit"`
	Result      Summary `json:"result"`
	CompletedAt string  `json:"completed_at"`
	// Warnings repeats Result.Warnings at the top level, where the job
	// center and jobs-admin look for a job's warnings.
	Warnings *jobs.Warnings `json:"warnings,omitempty"`
}

// HandleRescanMedia runs one rescan_media job for mediaID.
func (s *Setup) HandleRescanMedia(ctx context.Context, mediaID int64) (any, error) {
	if s.ScannerErr != nil {
		return nil, s.ScannerErr
	}
	return s.Importer.RescanMedia(ctx, mediaID)
}

// MarshalPayload is a helper for enqueuers that store payload_json.
func (p ScanPathPayload) MarshalPayload() json.RawMessage {
	b, _ := json.Marshal(p)
	return b
}
