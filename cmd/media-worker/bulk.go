package main

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/localsupervisor/supervisor/pkg/bulk"
	"github.com/localsupervisor/supervisor/pkg/forgejob"
	"github.com/localsupervisor/supervisor/pkg/launch"
	"github.com/localsupervisor/supervisor/pkg/library"
	"github.com/localsupervisor/supervisor/pkg/mediaops"
	"github.com/localsupervisor/supervisor/pkg/modules"
	"github.com/localsupervisor/supervisor/pkg/ollamasvc"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/supervise"
	"github.com/localsupervisor/supervisor/pkg/thumb"
	"github.com/localsupervisor/supervisor/pkg/workercmd"
)

// forgeProbe bounds the Forge health check of each queued regen: the job
// waits for Forge, not a person, but a Forge that does not answer must
// not hold a large selection for the full forge.timeout per media.
const forgeProbe = 5 * time.Second

// bulkService wires the media_bulk handler: the same enqueuers the web's
// single-media actions use (Ollama's ForMedia, the Forge service's
// Enqueue with a recipe, the queue for rescans), the thumbnail cache for
// hard deletes, and pkg/launch to start the worker of the jobs an action
// queued. A service switched off in the config refuses its action.
func bulkService(ctx context.Context, env *workercmd.Env, ms *mediaops.Service) (*bulk.Service, error) {
	cfg := env.Config
	mods, err := modules.Load(cfg)
	if err != nil {
		return nil, err
	}
	s := &bulk.Service{DB: env.DB, Queue: env.Queue, Roots: library.RootsFromPaths(cfg.Paths), DeleteRoots: ms.AllRoots(), Clock: env.Clock,
		Services: map[string]bool{bulk.ServiceTagger: mods.Enabled("scanner"), bulk.ServiceOllama: mods.Enabled("ollama"), bulk.ServiceForge: mods.Enabled("forge")}}
	s.Committed = func(st bulk.State) {
		env.Log.Debug().Int("done", st.Done).Int("skipped", st.Skipped).Int("total", st.Total).Int64("after", st.After).Msg("bulk chunk committed")
	}
	if mods.Enabled("ollama") {
		e := &ollamasvc.Enqueuer{Queue: env.Queue, Clock: env.Clock}
		s.Ollama = func(ctx context.Context, id int64, mode string) (int, error) {
			o, err := ollamasvc.ForMedia(mods.Ollama, id, mode)
			if err != nil {
				return 0, err
			}
			sum, err := e.Enqueue(ctx, o)
			return sum.Enqueued, err
		}
	}
	if mods.Enabled("forge") {
		fs, err := forgejob.FromConfig(cfg, env.DB, env.Queue, env.Clock, env.Log)
		if err != nil {
			env.Log.Warn().Err(err).Str("reason_code", reason.Code(err)).Msg("forge regen unavailable to bulk actions")
		} else {
			s.Forge = func(ctx context.Context, id int64, recipe string) (int64, error) {
				res, err := fs.Enqueue(ctx, forgejob.EnqueueRequest{MediaID: id, Recipe: recipe, ProbeTimeout: forgeProbe})
				return res.JobID, err
			}
		}
	}
	if tc := cfg.Paths.ThumbCache; tc != "" {
		if g, err := thumb.New(thumb.Options{CacheDir: cfg.Resolve(tc)}); err == nil {
			s.Purge = func(id int64) {
				if err := g.Purge(id); err != nil {
					env.Log.Warn().Err(err).Int64("media_id", id).Msg("thumbnail purge failed")
				}
			}
		}
	}
	if cfg.Workers.WebSpawnEnabled {
		exe, _ := os.Executable()
		s.Spawn = func(ctx context.Context, worker string) {
			bin, err := supervise.FindConfigured(cfg, worker, filepath.Dir(exe))
			if err != nil {
				env.Log.Warn().Err(err).Str("worker", worker).Msg("bulk: worker binary not found; its jobs wait for its schedule")
				return
			}
			var args []string
			if cfg.ConfigPath != "" {
				args = []string{"--config=" + cfg.ConfigPath}
			}
			st := launch.Spawn(ctx, launch.SpawnRequest{Worker: worker, Binary: bin, Args: args, LogsDir: cfg.Paths.Logs,
				RequestedBy: "media_bulk", Dir: cfg.BaseDir})
			env.Log.Info().Str("worker", worker).Str("spawn", st.Status).Msg("bulk: started the worker of the queued jobs")
		}
	}
	return s, nil
}
