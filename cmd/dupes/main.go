// Command dupes reviews duplicate media from the command line (issue #20):
// list the groups (exact copies, look-alikes by perceptual hash, Ollama
// embedding neighbours), resolve one (keep one, merge what the others had
// into it, soft-delete them), remember "not duplicates", apply the
// automatic rules (cron-friendly, with a dry run) and rebuild the groups.
package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/localsupervisor/supervisor/pkg/cliapp"
	"github.com/localsupervisor/supervisor/pkg/collections"
	"github.com/localsupervisor/supervisor/pkg/dupes"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

// Reason codes of wrong usage.
const (
	codeUsage   = "usage"
	codeAutoOff = "dupes_auto_off"
)

func main() { os.Exit(cliapp.Run(app(), os.Args)) }

func app() *cli.App {
	return &cli.App{
		Name:  "dupes",
		Usage: "review duplicate media: list groups, keep one, merge and soft-delete the rest",
		Flags: cliapp.Flags(),
		Commands: []*cli.Command{
			{Name: "list", Usage: "list the duplicate groups of the last rebuild",
				Flags: []cli.Flag{&cli.StringFlag{Name: "tier", Usage: "exact, phash or embedding (default: all)"},
					&cli.IntFlag{Name: "limit", Usage: "at most N groups (0: all)"}, jsonFlag()},
				Action: withEnv(list)},
			{Name: "resolve", Usage: "keep one media, give it what the discarded ones had, soft-delete them",
				Flags: []cli.Flag{&cli.Int64Flag{Name: "keep", Usage: "the media kept"},
					&cli.Int64SliceFlag{Name: "discard", Usage: "a media to discard (repeat or comma-separate)"},
					&cli.BoolFlag{Name: "dry-run", Usage: "print the plan, change nothing"}, jsonFlag()},
				Action: withEnv(resolve)},
			{Name: "dismiss", Usage: "remember that the media named (IDs) are not duplicates of each other", ArgsUsage: "ID ID…",
				Flags: []cli.Flag{jsonFlag()}, Action: withEnv(dismiss)},
			{Name: "auto", Usage: "resolve every group the automatic rules (config dupes.auto) decide",
				Flags:  []cli.Flag{&cli.BoolFlag{Name: "dry-run", Usage: "print the plans, change nothing"}, jsonFlag()},
				Action: withEnv(auto)},
			{Name: "rebuild", Usage: "recompute the duplicate groups", Flags: []cli.Flag{jsonFlag()}, Action: withEnv(rebuild)},
		},
	}
}

func jsonFlag() cli.Flag { return &cli.BoolFlag{Name: "json", Usage: "print JSON"} }

func withEnv(fn func(c *cli.Context, env *cliapp.Env) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		env, err := cliapp.Setup(c, cliapp.Options{Service: "dupes", NeedDB: true, CurrentSchema: true})
		if err != nil {
			return err
		}
		defer env.Close()
		env.JSON = env.JSON || c.Bool("json")
		return fn(c, env)
	}
}

func actor(env *cliapp.Env) collections.Actor {
	return collections.Actor{At: env.Clock.Now(), Key: "cli"}
}

func options(env *cliapp.Env) dupes.Options {
	return dupes.OptionsFrom(env.Config.Dupes)
}

func list(c *cli.Context, env *cliapp.Env) error {
	groups, err := dupes.List(c.Context, env.DB, c.String("tier"), c.Int("limit"))
	if err != nil {
		return err
	}
	if env.JSON {
		return env.PrintJSON(map[string]any{"count": len(groups), "groups": groups})
	}
	for _, g := range groups {
		fmt.Fprintf(env.Stdout, "group %d (%s)\n", g.ID, g.Tier)
		for _, m := range g.Members {
			prompt := "-"
			if m.HasPrompt {
				prompt = "prompt"
			}
			fmt.Fprintf(env.Stdout, "  %d\t%s\t%dx%d\t%d bytes\t%s\trating %d\t%s\t%s\n", m.ID, m.Format, m.Width, m.Height,
				m.Filesize, prompt, m.Rating, strings.Join(m.Tags, ","), m.Path)
		}
	}
	fmt.Fprintf(env.Stdout, "%d groups\n", len(groups))
	return nil
}

func resolve(c *cli.Context, env *cliapp.Env) error {
	if c.NArg() > 0 {
		return reason.Newf(codeUsage, "unexpected argument %q: name media with --keep=ID --discard=ID", c.Args().First())
	}
	if !c.IsSet("keep") || c.Int64("keep") <= 0 {
		return reason.New(codeUsage, "--keep=ID is required (the media kept, a positive number)")
	}
	p, err := dupes.Resolve(c.Context, env.DB, c.Int64("keep"), c.Int64Slice("discard"), dupes.ResolveOptions{DryRun: c.Bool("dry-run"), Actor: actor(env)})
	if err != nil {
		return err
	}
	if env.JSON {
		return env.PrintJSON(p)
	}
	verb := "kept"
	if p.DryRun {
		verb = "dry run: would keep"
	}
	fmt.Fprintf(env.Stdout, "%s %d, soft-delete %v: %d tags, %d albums, %d meta values%s%s\n", verb, p.Keep, p.Discard,
		len(p.Tags), len(p.Collections), len(p.Meta), ratingText(p), promptText(p))
	return nil
}

func ratingText(p dupes.Plan) string {
	if p.Rating == nil {
		return ""
	}
	return fmt.Sprintf(", rating %d from %d", p.Rating.Rating, p.Rating.From)
}

func promptText(p dupes.Plan) string {
	if p.Prompt == nil {
		return ""
	}
	return fmt.Sprintf(", prompt history (%d versions) from %d", p.Prompt.Versions, p.Prompt.From)
}

func dismiss(c *cli.Context, env *cliapp.Env) error {
	var ids []int64
	for _, a := range c.Args().Slice() {
		id, err := strconv.ParseInt(a, 10, 64)
		if err != nil || id <= 0 {
			return reason.Newf(codeUsage, "%q is not a media id (a positive number)", a)
		}
		ids = append(ids, id)
	}
	if err := dupes.NotDuplicates(c.Context, env.DB, ids, dupes.ActionNotDuplicates, actor(env)); err != nil {
		return err
	}
	env.Summary(fmt.Sprintf("remembered: %v are not duplicates", ids), map[string]any{"not_duplicates": ids})
	return nil
}

func auto(c *cli.Context, env *cliapp.Env) error {
	a := env.Config.Dupes.Auto
	dry := c.Bool("dry-run")
	if !a.Enabled && !dry {
		return reason.New(codeAutoOff, "the automatic rules are off: set dupes.auto.enabled to true in CONFIG/config.json (see the plans first with --dry-run)")
	}
	rules := dupes.Rules{Tiers: a.Tiers, PreferResolution: a.PreferResolution, PreferPNG: a.PreferPNG, PreferMetadata: a.PreferMetadata}
	plans, err := dupes.Auto(c.Context, env.DB, rules, dupes.ResolveOptions{DryRun: dry, Actor: actor(env)})
	if err != nil {
		return err
	}
	if env.JSON {
		return env.PrintJSON(map[string]any{"dry_run": dry, "plans": plans})
	}
	decided := 0
	for _, p := range plans {
		if p.Keep != 0 {
			decided++
			fmt.Fprintf(env.Stdout, "group %d (%s): keep %d, discard %v (%s)\n", p.Group, p.Tier, p.Keep, p.Discard, p.Why)
		} else {
			fmt.Fprintf(env.Stdout, "group %d (%s): left for review: %s\n", p.Group, p.Tier, p.Why)
		}
	}
	prefix := ""
	if dry {
		prefix = "dry run: "
	}
	fmt.Fprintf(env.Stdout, "%s%d of %d groups resolved\n", prefix, decided, len(plans))
	return nil
}

func rebuild(c *cli.Context, env *cliapp.Env) error {
	b, err := dupes.Rebuild(c.Context, env.DB, options(env), env.Clock.Now())
	if err != nil {
		return err
	}
	env.Summary(fmt.Sprintf("dupes rebuild: build %d, groups exact=%d phash=%d embedding=%d (phash media %d, links %d, dismissed %d, capped %d)",
		b.ID, b.Groups[dupes.TierExact], b.Groups[dupes.TierPhash], b.Groups[dupes.TierEmbedding], b.Hashed, b.Links, b.Dismissed, b.Capped), b)
	return nil
}
