// Command forge-worker runs Forge regeneration jobs (the original
// forge_worker_cli.php / forge_service_cli.php) and ComfyUI regenerations
// from embedded workflows (comfy_regen, when comfyui.enabled), and offers
// the Forge operations on the command line (accept and discard work for
// both generators' previews):
//
//	forge-worker [--limit=1] [--media-id=N] [--loop --sleep-ms=1500]
//	forge-worker enqueue --media-id=N [--mode=preview|replace] [--recipe=repair.normal] [overrides]
//	forge-worker accept --job-id=N --variant=1 --as=replace|child
//	forge-worker discard --job-id=N [--variant=N]
//	forge-worker recipes [--json]
//	forge-worker comfy-enqueue --media-id=N [--seed=new|same|N] [--prompt=…] [--steps=N] …
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/localsupervisor/supervisor/pkg/cliapp"
	"github.com/localsupervisor/supervisor/pkg/comfyjob"
	"github.com/localsupervisor/supervisor/pkg/config"
	"github.com/localsupervisor/supervisor/pkg/forge"
	"github.com/localsupervisor/supervisor/pkg/forgejob"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/workercmd"
)

const worker = "forge_worker"

func main() {
	app := workercmd.App(workercmd.Spec{
		Name:            "forge-worker",
		Usage:           "run Forge regeneration jobs (forge_regen and legacy forge_regen_replace/forge_regen_v3) and ComfyUI regenerations (comfy_regen)",
		Worker:          worker,
		Types:           append(forgejob.Types(), comfyjob.Types()...),
		DefaultLimit:    1,
		SleepFromConfig: func(c *config.Config) int { return c.Workers.Forge.SleepMS },
		Setup: func(ctx context.Context, env *workercmd.Env) (map[string]jobs.Handler, func(), error) {
			s, err := forgejob.FromConfig(env.Config, env.DB, env.Queue, env.Clock, env.Log)
			if err != nil {
				return nil, nil, err
			}
			cs, err := comfyjob.FromConfig(env.Config, env.DB, env.Queue, s, env.Clock, env.Log)
			if err != nil {
				return nil, nil, err
			}
			h := s.Handlers()
			for t, fn := range cs.Handlers() {
				h[t] = fn
			}
			return h, nil, nil
		},
	})
	app.Commands = []*cli.Command{enqueueCmd(), comfyEnqueueCmd(), acceptCmd(), discardCmd(), recipesCmd()}
	os.Exit(cliapp.Run(app, os.Args))
}

func setup(c *cli.Context) (*cliapp.Env, *forgejob.Service, error) {
	env, err := cliapp.Setup(c, cliapp.Options{Service: worker, NeedDB: true, CurrentSchema: true})
	if err != nil {
		return nil, nil, err
	}
	q := env.Queue()
	s, err := forgejob.FromConfig(env.Config, env.DB, q, env.Clock, env.Log)
	if err != nil {
		env.Close()
		return nil, nil, err
	}
	return env, s, nil
}

// configErr turns a runtime validation failure into the visible
// "reason | missing_keys=… | config_path=…" line.
func configErr(err error) error {
	if p := forgejob.Problem(err); p != nil {
		return cli.Exit(p.Message, cliapp.ExitFailure)
	}
	return err
}

func enqueueCmd() *cli.Command {
	return &cli.Command{
		Name:  "enqueue",
		Usage: "plan and queue a regeneration (or a repair recipe) for one media",
		Flags: append(cliapp.Flags(),
			&cli.Int64Flag{Name: "media-id", Required: true},
			&cli.StringFlag{Name: "mode", Usage: "preview | replace (default preview)"},
			&cli.StringFlag{Name: "recipe", Usage: "repair recipe goal.intensity, e.g. repair.normal (see 'recipes')"},
			&cli.StringFlag{Name: "source", Usage: "repair source auto|prompt|tags|minimal"},
			&cli.StringFlag{Name: "tech-fix", Usage: "repair tech fix none|sampler_compat|black_reset|universal_negative|normalize_size"},
			&cli.StringFlag{Name: "prompt-edit", Usage: "repair prompt edit: 'replace: a -> b' or '+ text'"},
			&cli.StringFlag{Name: "prompt", Usage: "manual prompt"},
			&cli.StringFlag{Name: "negative", Usage: "manual negative prompt (may be empty)"},
			&cli.BoolFlag{Name: "hybrid", Usage: "stored prompt plus tag prompt"},
			&cli.BoolFlag{Name: "negative-allow-empty"},
			&cli.Int64Flag{Name: "seed"},
			&cli.IntFlag{Name: "steps"},
			&cli.Float64Flag{Name: "cfg"},
			&cli.Float64Flag{Name: "denoise"},
			&cli.StringFlag{Name: "sampler"},
			&cli.StringFlag{Name: "scheduler"},
			&cli.StringFlag{Name: "model"},
			&cli.StringFlag{Name: "strategy", Usage: "prompt_only | img2img | tags | hybrid"},
			&cli.BoolFlag{Name: "force-txt2img"},
			&cli.IntFlag{Name: "variants", Usage: "images to generate (1..8)"},
		),
		Action: func(c *cli.Context) error {
			env, s, err := setup(c)
			if err != nil {
				return err
			}
			defer env.Close()
			ov := forge.Overrides{Mode: c.String("mode"), UseHybrid: c.Bool("hybrid"), AllowEmptyNeg: c.Bool("negative-allow-empty"),
				Sampler: c.String("sampler"), Scheduler: c.String("scheduler"), Model: c.String("model"),
				Strategy: c.String("strategy"), ForceTxt2Img: c.Bool("force-txt2img"), Variants: c.Int("variants")}
			if c.IsSet("prompt") {
				v := c.String("prompt")
				ov.ManualPrompt = &v
			}
			if c.IsSet("negative") {
				v := c.String("negative")
				ov.ManualNegative = &v
			}
			if c.IsSet("seed") {
				v := c.Int64("seed")
				ov.Seed = &v
			}
			if c.IsSet("steps") {
				v := c.Int("steps")
				ov.Steps = &v
			}
			if c.IsSet("cfg") {
				v := c.Float64("cfg")
				ov.CFG = &v
			}
			if c.IsSet("denoise") {
				v := c.Float64("denoise")
				ov.Denoise = &v
			}
			er := forgejob.EnqueueRequest{MediaID: c.Int64("media-id"), Overrides: ov, Recipe: c.String("recipe")}
			if c.IsSet("source") || c.IsSet("tech-fix") || c.IsSet("prompt-edit") {
				er.Repair = &forge.RepairOptions{Source: c.String("source"), TechFix: c.String("tech-fix"), PromptEdit: c.String("prompt-edit"),
					Goal: "repair", Intensity: "normal"}
			}
			res, err := s.Enqueue(c.Context, er)
			if err != nil {
				return configErr(err)
			}
			r := res.Request
			env.Summary(fmt.Sprintf("forge-worker enqueue: job_id=%d deduped=%v media_id=%d mode=%s generation=%s model=%s variants=%d prompt_source=%s",
				res.JobID, res.Deduped, r.MediaID, r.Mode, r.Generation, r.Model.Checkpoint, r.Payload.Variants(), r.Plan.PromptSource), res)
			return nil
		},
	}
}

func acceptCmd() *cli.Command {
	return &cli.Command{
		Name:  "accept",
		Usage: "promote a preview of a finished job: replace the original or add it as a child media",
		Flags: append(cliapp.Flags(),
			&cli.Int64Flag{Name: "job-id", Required: true},
			&cli.IntFlag{Name: "variant", Value: 1},
			&cli.StringFlag{Name: "as", Value: forgejob.AcceptChild, Usage: "replace | child"},
		),
		Action: func(c *cli.Context) error {
			env, s, err := setup(c)
			if err != nil {
				return err
			}
			defer env.Close()
			res, err := s.Accept(c.Context, forgejob.AcceptRequest{JobID: c.Int64("job-id"), Variant: c.Int("variant"), As: c.String("as")})
			if err != nil {
				return err
			}
			line := fmt.Sprintf("forge-worker accept: job_id=%d variant=%d as=%s media_id=%d path=%s", res.JobID, res.Variant, res.As, res.MediaID, res.Path)
			if res.ChildMediaID != 0 {
				line += fmt.Sprintf(" child_media_id=%d", res.ChildMediaID)
			}
			env.Summary(line, res)
			return nil
		},
	}
}

func discardCmd() *cli.Command {
	return &cli.Command{
		Name:  "discard",
		Usage: "reject previews of a finished job: delete the files, mark them discarded",
		Flags: append(cliapp.Flags(),
			&cli.Int64Flag{Name: "job-id", Required: true},
			&cli.IntFlag{Name: "variant", Usage: "1-based preview to discard (default: every preview not accepted)"},
		),
		Action: func(c *cli.Context) error {
			env, s, err := setup(c)
			if err != nil {
				return err
			}
			defer env.Close()
			res, err := s.Discard(c.Context, forgejob.DiscardRequest{JobID: c.Int64("job-id"), Variant: c.Int("variant")})
			if err != nil {
				return err
			}
			env.Summary(fmt.Sprintf("forge-worker discard: job_id=%d discarded=%v", res.JobID, res.Discarded), res)
			return nil
		},
	}
}

func recipesCmd() *cli.Command {
	return &cli.Command{
		Name:  "recipes",
		Usage: "list and validate the repair recipes (forge.recipes_path or the embedded default)",
		Flags: cliapp.Flags(),
		Action: func(c *cli.Context) error {
			env, err := cliapp.Setup(c, cliapp.Options{Service: worker})
			if err != nil {
				return err
			}
			defer env.Close()
			path := env.Config.Resolve(env.Modules.Forge.RecipesPathOrDefault())
			r, err := forge.LoadRecipes(path)
			if err != nil {
				return cli.Exit(fmt.Sprintf("recipes invalid: %v", err), cliapp.ExitFailure)
			}
			list := r.ListRecipes()
			var b strings.Builder
			fmt.Fprintf(&b, "recipes ok: %d recipes from %s\n", len(list), r.Source)
			for _, x := range list {
				den := "-"
				if x.I2IDenoise != nil {
					den = fmt.Sprintf("%.2f", *x.I2IDenoise)
				}
				fmt.Fprintf(&b, "%-16s mode=%-22s denoise=%-5s variants=%d seed_policy=%s\n", x.ID, x.ModeHint, den, x.Variants, x.SeedPolicy)
			}
			env.Summary(strings.TrimRight(b.String(), "\n"), map[string]any{"ok": true, "source": r.Source, "recipes": list})
			return nil
		},
	}
}

func comfyEnqueueCmd() *cli.Command {
	return &cli.Command{
		Name:  "comfy-enqueue",
		Usage: "queue a ComfyUI regeneration of one media from the workflow embedded in its file (comfyui.enabled)",
		Flags: append(cliapp.Flags(),
			&cli.Int64Flag{Name: "media-id", Required: true},
			&cli.StringFlag{Name: "seed", Value: "new", Usage: "new | same | a number"},
			&cli.StringFlag{Name: "prompt", Usage: "new positive prompt (default: the workflow's)"},
			&cli.StringFlag{Name: "negative", Usage: "new negative prompt"},
			&cli.IntFlag{Name: "steps"},
			&cli.Float64Flag{Name: "cfg"},
			&cli.Float64Flag{Name: "denoise"},
			&cli.IntFlag{Name: "width"},
			&cli.IntFlag{Name: "height"},
			&cli.DurationFlag{Name: "check-timeout", Value: 5 * time.Second, Usage: "check nodes and models against ComfyUI first (0: leave it to the worker)"},
		),
		Action: func(c *cli.Context) error {
			env, s, err := setup(c)
			if err != nil {
				return err
			}
			defer env.Close()
			cs, err := comfyjob.FromConfig(env.Config, env.DB, env.Queue(), s, env.Clock, env.Log)
			if err != nil {
				return err
			}
			er := comfyjob.EnqueueRequest{MediaID: c.Int64("media-id"), ProbeTimeout: c.Duration("check-timeout")}
			switch seed := c.String("seed"); seed {
			case "new":
				er.NewSeed = true
			case "same":
			default:
				v, err := strconv.ParseInt(seed, 10, 64)
				if err != nil {
					return cli.Exit(fmt.Sprintf("--seed must be new, same or a number, got %q", seed), cliapp.ExitFailure)
				}
				er.Edits.Seed = &v
			}
			for name, dst := range map[string]**string{"prompt": &er.Edits.Prompt, "negative": &er.Edits.Negative} {
				if c.IsSet(name) {
					v := c.String(name)
					*dst = &v
				}
			}
			for name, dst := range map[string]**int{"steps": &er.Edits.Steps, "width": &er.Edits.Width, "height": &er.Edits.Height} {
				if c.IsSet(name) {
					v := c.Int(name)
					*dst = &v
				}
			}
			for name, dst := range map[string]**float64{"cfg": &er.Edits.CFG, "denoise": &er.Edits.Denoise} {
				if c.IsSet(name) {
					v := c.Float64(name)
					*dst = &v
				}
			}
			res, err := cs.Enqueue(c.Context, er)
			if err != nil {
				return err
			}
			env.Summary(fmt.Sprintf("forge-worker comfy-enqueue: job_id=%d deduped=%v media_id=%d server_checked=%v",
				res.JobID, res.Deduped, er.MediaID, res.Checked), res)
			return nil
		},
	}
}
