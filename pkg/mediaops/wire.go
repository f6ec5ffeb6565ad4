package mediaops

import (
	"cmp"
	"context"
	"database/sql"
	"net/http"

	"github.com/localsupervisor/supervisor/pkg/config"
	"github.com/localsupervisor/supervisor/pkg/forge"
	"github.com/localsupervisor/supervisor/pkg/library"
	"github.com/localsupervisor/supervisor/pkg/probe"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// EnvCrashAfterMove names a fault-injection switch for crash tests: when
// set to "1" in the environment of a library-rename-worker built with
// -tags svfault, the process SIGKILLs itself right after moving a file and
// before the DB commit, the worst possible moment. Release builds (without
// the tag) ignore it.
const EnvCrashAfterMove = "SV_FAULT_RENAME_KILL_AFTER_MOVE"

// FromConfig builds a Service from the configuration: library roots,
// derivatives folder, pixel budget, ffmpeg/ffprobe paths and, when the
// forge section is valid and enabled, the Forge upscaler (the configured
// forge.upscaler). hc may be nil (http.DefaultClient semantics).
func FromConfig(cfg *config.Config, d *sql.DB, clock svtime.Clock, hc *http.Client) (*Service, error) {
	ff := &probe.FFmpeg{Path: cfg.Tools.FFmpeg, Probe: &probe.FFprobe{Path: cfg.Tools.FFprobe}}
	s := &Service{DB: d, Clock: clock, Roots: library.RootsFromPaths(cfg.Paths), Derivatives: cfg.Paths.Derivatives,
		MaxPixels: cfg.Import.MaxPixels, Decode: probe.NewDecodeBudget(cfg.Import.MaxPixels), Video: FFmpegChecker{FF: ff}, Frames: ff}
	if len(cfg.Forge) > 0 {
		var fc forge.Config
		if err := cfg.DecodeSection("forge", &fc); err != nil {
			return nil, err
		}
		if fc.Validate(false) == nil {
			if hc == nil {
				hc = &http.Client{}
			}
			cl, err := forge.NewClientFromConfig(&fc, hc, clock)
			if err != nil {
				return nil, err
			}
			s.Remote = ForgeUpscaler(cl, fc.Upscaler)
		}
	}
	s.AfterMove = faultAfterMove()
	return s, nil
}

// ForgeUpscaler adapts a Forge client to RemoteUpscaler; model overrides
// the configured upscaler per job.
func ForgeUpscaler(cl *forge.Client, upscaler string) RemoteUpscaler {
	return func(ctx context.Context, src []byte, scale float64, model string) ([]byte, string, string, error) {
		model = cmp.Or(model, upscaler)
		im, err := cl.UpscaleImage(ctx, forge.UpscaleRequest{Image: src, Upscaler: model, Factor: scale})
		if err != nil {
			return nil, "", "", err
		}
		return im.Data, im.Ext(), model, nil
	}
}
