package forgejob

import (
	"context"
	"database/sql"

	"github.com/rs/zerolog"

	"github.com/localsupervisor/supervisor/pkg/config"
	"github.com/localsupervisor/supervisor/pkg/forge"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/library"
	"github.com/localsupervisor/supervisor/pkg/scan"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// FromConfig wires a Service from the loaded configuration: the forge
// section (absent → every action answers forge_config_missing), library
// roots, paths.previews/paths.backups, the recipes file, metadata extraction
// and the tagger rescan of the scan package. q may be nil for callers that
// never enqueue.
func FromConfig(cfg *config.Config, d *sql.DB, q *jobs.Queue, clock svtime.Clock, log zerolog.Logger) (*Service, error) {
	var fc *forge.Config
	if len(cfg.Forge) > 0 && string(cfg.Forge) != "null" {
		fc = &forge.Config{}
		if err := cfg.DecodeSection("forge", fc); err != nil {
			return nil, err
		}
		fc.ConfigPath = cfg.ConfigPath
	}
	s := Service{DB: d, Queue: q, Config: fc, Roots: library.RootsFromPaths(cfg.Paths),
		PreviewsDir: cfg.Paths.Previews, BackupsDir: cfg.Paths.Backups, Clock: clock, Log: log}
	if fc != nil {
		// The recipes path is relative to the config's base directory, not
		// to wherever the worker was started.
		r, err := forge.LoadRecipes(cfg.Resolve(fc.RecipesPathOrDefault()))
		if err != nil {
			return nil, err
		}
		s.Recipes = r
	}
	if setup, err := scan.FromConfig(cfg, d, clock, nil); err == nil {
		im := setup.Importer
		s.Extract = im.ExtractFile
		if im.Tagger != nil {
			s.Rescan = func(ctx context.Context, id int64) error {
				_, err := im.RescanMedia(ctx, id)
				return err
			}
		}
	}
	return New(s)
}
