// Command media-worker runs integrity_check, hash_compute, phash_compute and
// upscale jobs (the original media_worker_cli.php / media_service_cli.php),
// and the web's bulk actions on large selections (media_bulk, pkg/bulk):
//
//	media-worker [--limit=50] [--loop --sleep-ms=1500] [--no-top-up]
//	media-worker enqueue --type=upscale --media-id=N [--scale=2] [--model=X]
//	media-worker enqueue --type=hash_compute --all-missing [--limit=N]
//	media-worker enqueue --type=phash_compute --all-missing   (perceptual hashes of media imported before)
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/localsupervisor/supervisor/pkg/cliapp"
	"github.com/localsupervisor/supervisor/pkg/config"
	"github.com/localsupervisor/supervisor/pkg/dupes"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/mediaops"
	"github.com/localsupervisor/supervisor/pkg/workercmd"
)

func main() {
	app := workercmd.App(workercmd.Spec{
		Name:            "media-worker",
		Usage:           "run media jobs (integrity_check, hash_compute, phash_compute, upscale, media_bulk, dupes_rebuild)",
		Worker:          "media_worker",
		Types:           []string{jobs.TypeIntegrityCheck, jobs.TypeHashCompute, jobs.TypePHashCompute, jobs.TypeUpscale, jobs.TypeMediaBulk, jobs.TypeDupesRebuild},
		DefaultLimit:    50,
		SleepFromConfig: func(c *config.Config) int { return c.Workers.Media.SleepMS },
		ExtraFlags: []cli.Flag{&cli.BoolFlag{Name: "no-top-up",
			Usage: "do not queue integrity_check/hash_compute/phash_compute for media missing them (import follow-ups the queue caps refused)"}},
		Setup: func(ctx context.Context, env *workercmd.Env) (map[string]jobs.Handler, func(), error) {
			s, err := mediaops.FromConfig(env.Config, env.DB, env.Clock, nil)
			if err != nil {
				return nil, nil, err
			}
			hs := s.MediaHandlers()
			b, err := bulkService(ctx, env, s)
			if err != nil {
				return nil, nil, err
			}
			hs[jobs.TypeMediaBulk] = b.Handler()
			hs[jobs.TypeDupesRebuild] = dupes.RebuildHandler(env.DB, dupes.OptionsFrom(env.Config.Dupes), env.Clock)
			return hs, nil, nil
		},
		// Only the instance holding the lock tops the queue up; a cron run
		// that finds a --loop worker running exits without doing it.
		Locked: func(ctx context.Context, env *workercmd.Env) func() {
			if env.CLI.Bool("no-top-up") {
				return nil
			}
			return startTopUp(ctx, env)
		},
	})
	app.Commands = []*cli.Command{{
		Name:  "enqueue",
		Usage: "enqueue media jobs for given media or for every media missing the result",
		Flags: append(cliapp.Flags(),
			&cli.StringFlag{Name: "type", Usage: "integrity_check | hash_compute | phash_compute | upscale", Required: true},
			&cli.Int64SliceFlag{Name: "media-id", Usage: "media id (repeatable)"},
			&cli.BoolFlag{Name: "all-missing", Usage: "every active media without the job's result"},
			&cli.IntFlag{Name: "limit", Usage: "cap for --all-missing (0 = no cap)"},
			&cli.Float64Flag{Name: "scale", Usage: "upscale factor", Value: 2},
			&cli.StringFlag{Name: "model", Usage: "upscaler name (Forge) recorded as upscale.model"},
		),
		Action: enqueue,
	}}
	os.Exit(cliapp.Run(app, os.Args))
}

// topUpEvery is how often a --loop worker tops the queue up again.
const topUpEvery = 10 * time.Second

// startTopUp tops the queue up once before the first claim and, in --loop
// mode, every topUpEvery until the returned stop is called. A failed top-up
// is logged, not fatal: the queued work still gets done.
func startTopUp(ctx context.Context, env *workercmd.Env) (stop func()) {
	t := &mediaops.TopUp{Queue: env.Queue}
	run := func() {
		res, err := t.Run(ctx)
		if err != nil {
			env.Log.Warn().Err(err).Msg("media_worker_top_up_failed")
		}
		for _, r := range res {
			if r.Enqueued > 0 {
				env.Log.Info().Str("type", r.Type).Int("enqueued", r.Enqueued).Int("room", r.Room).
					Int64("after_id", r.AfterID).Int64("up_to_id", r.UpToID).Msg("media_worker_top_up")
			}
		}
	}
	run()
	if !env.CLI.Bool("loop") {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(topUpEvery)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				run()
			}
		}
	}()
	return func() { cancel(); <-done }
}

func enqueue(c *cli.Context) error {
	if len(c.Int64Slice("media-id")) == 0 && !c.Bool("all-missing") {
		return cli.Exit("enqueue needs --media-id=N or --all-missing", cliapp.ExitFailure)
	}
	env, err := cliapp.Setup(c, cliapp.Options{Service: "media_worker", NeedDB: true, CurrentSchema: true})
	if err != nil {
		return err
	}
	defer env.Close()
	q := env.Queue()
	sum, err := mediaops.EnqueueMedia(c.Context, q, mediaops.EnqueueOptions{
		Type: c.String("type"), MediaIDs: c.Int64Slice("media-id"), AllMissing: c.Bool("all-missing"),
		Limit: c.Int("limit"), Upscale: mediaops.UpscalePayload{Scale: c.Float64("scale"), Model: c.String("model")},
	})
	if err != nil {
		return err
	}
	env.Summary(fmt.Sprintf("media-worker enqueue %s: candidates=%d enqueued=%d deduped=%d skipped=%d queue_full=%v",
		c.String("type"), sum.Candidates, sum.Enqueued, sum.Deduped, sum.Skipped, sum.QueueFull), sum)
	if len(sum.Errors) > 0 && sum.Enqueued+sum.Deduped == 0 {
		return cli.Exit(sum.Errors[0], cliapp.ExitFailure)
	}
	return nil
}
