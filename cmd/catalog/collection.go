package main

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/localsupervisor/supervisor/pkg/catalog"
	"github.com/localsupervisor/supervisor/pkg/cliapp"
	"github.com/localsupervisor/supervisor/pkg/collections"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

// codeUsage: wrong arguments (the message says what to type).
const codeUsage = "usage"

// collectionEnv opens the database for a collection verb and passes the
// writer handle and the audit actor.
func collectionEnv(fn func(c *cli.Context, env *cliapp.Env, by collections.Actor) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		env, err := cliapp.Setup(c, cliapp.Options{Service: "catalog", NeedDB: true, CurrentSchema: true})
		if err != nil {
			return err
		}
		defer env.Close()
		env.JSON = env.JSON || c.Bool("json")
		return fn(c, env, collections.Actor{At: env.Clock.Now(), Key: "cli"})
	}
}

// args checks the number of arguments. urfave/cli reads options only
// before the first argument; an option typed after them would silently
// become an argument (a description named "--description"), so it is
// refused with where to put it.
func args(c *cli.Context, min int, usage string) error {
	for _, a := range c.Args().Slice() {
		if _, err := strconv.Atoi(a); err != nil && strings.HasPrefix(a, "-") && a != "-" {
			return reason.Newf(codeUsage, "%q looks like an option: put options right after the verb, before the arguments (usage: %s %s)",
				a, c.Command.HelpName, usage)
		}
	}
	if c.NArg() < min {
		return reason.Newf(codeUsage, "usage: %s %s", c.Command.HelpName, usage)
	}
	return nil
}

// mediaIDs parses the arguments from index from on as media ids.
func mediaIDs(c *cli.Context, from int) ([]int64, error) {
	var ids []int64
	for _, a := range c.Args().Slice()[from:] {
		id, err := strconv.ParseInt(a, 10, 64)
		if err != nil || id <= 0 {
			return nil, reason.Newf(codeUsage, "%q is not a media id (a positive number)", a)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// resolved finds the collection named (or numbered) by the first argument;
// saved says which kind the verb works on.
func resolved(ctx context.Context, d *sql.DB, ref string, saved bool) (collections.Collection, error) {
	col, err := collections.Resolve(ctx, d, ref)
	if err != nil {
		return col, err
	}
	if saved && !col.Saved {
		return col, reason.Newf(collections.CodeNotFound, "%q is an album, not a saved search: use `catalog collection`", col.Name)
	}
	return col, nil
}

func printJSON(env *cliapp.Env, v any) error { return env.PrintJSON(v) }

func printList(env *cliapp.Env, list []collections.Collection, saved bool) error {
	var out []collections.Collection
	for _, col := range list {
		if col.Saved == saved {
			out = append(out, col)
		}
	}
	if env.JSON {
		return printJSON(env, map[string]any{"count": len(out), "collections": out})
	}
	for _, col := range out {
		if saved {
			fmt.Fprintf(env.Stdout, "%d\t%s\t%s\n", col.ID, col.Name, col.Query)
		} else {
			fmt.Fprintf(env.Stdout, "%d\t%s\t%d media\t%s\n", col.ID, col.Name, col.Count, col.Description)
		}
	}
	fmt.Fprintf(env.Stdout, "%d %s\n", len(out), map[bool]string{false: "albums", true: "saved searches"}[saved])
	return nil
}

func collectionCommand() *cli.Command {
	jsonFlag := &cli.BoolFlag{Name: "json", Usage: "print JSON"}
	return &cli.Command{
		Name:  "collection",
		Usage: "albums: media in your own order (ID|NAME: an album's number or exact name)",
		Subcommands: []*cli.Command{
			{Name: "list", Usage: "list albums with their media counts", Flags: []cli.Flag{jsonFlag},
				Action: collectionEnv(func(c *cli.Context, env *cliapp.Env, _ collections.Actor) error {
					list, err := collections.List(c.Context, env.DB)
					if err != nil {
						return err
					}
					return printList(env, list, false)
				})},
			{Name: "create", Usage: "create an album", ArgsUsage: "[--description TEXT] NAME", Flags: []cli.Flag{&cli.StringFlag{Name: "description"}},
				Action: collectionEnv(func(c *cli.Context, env *cliapp.Env, by collections.Actor) error {
					if err := args(c, 1, "[--description TEXT] NAME"); err != nil {
						return err
					}
					col, err := collections.Create(c.Context, env.DB, c.Args().First(), c.String("description"), "", by)
					if err != nil {
						return err
					}
					env.Summary(fmt.Sprintf("album %d %q created", col.ID, col.Name), col)
					return nil
				})},
			{Name: "rename", Usage: "rename an album or saved search", ArgsUsage: "ID|NAME NEW_NAME", Action: collectionEnv(rename)},
			{Name: "describe", Usage: "set the description (\"\" clears it)", ArgsUsage: "ID|NAME TEXT",
				Action: collectionEnv(func(c *cli.Context, env *cliapp.Env, by collections.Actor) error {
					if err := args(c, 2, "ID|NAME TEXT"); err != nil {
						return err
					}
					col, err := collections.Resolve(c.Context, env.DB, c.Args().First())
					if err != nil {
						return err
					}
					if err := collections.Describe(c.Context, env.DB, col.ID, c.Args().Get(1), by); err != nil {
						return err
					}
					env.Summary(fmt.Sprintf("album %d: description saved", col.ID), map[string]any{"id": col.ID})
					return nil
				})},
			{Name: "delete", Usage: "delete an album (its media stay in the library)", ArgsUsage: "ID|NAME", Action: collectionEnv(deleteVerb(false))},
			{Name: "add", Usage: "append media to an album", ArgsUsage: "ID|NAME MEDIA_ID...",
				Action: collectionEnv(func(c *cli.Context, env *cliapp.Env, by collections.Actor) error {
					col, ids, err := albumAndMedia(c, env)
					if err != nil {
						return err
					}
					res, err := collections.Add(c.Context, env.DB, col.ID, ids, by)
					if err != nil {
						return err
					}
					env.Summary(fmt.Sprintf("album %d %q: %d added, %d already in it", col.ID, col.Name, res.Added, res.Already), res)
					return nil
				})},
			{Name: "remove", Usage: "take media out of an album (they stay in the library)", ArgsUsage: "ID|NAME MEDIA_ID...",
				Action: collectionEnv(func(c *cli.Context, env *cliapp.Env, by collections.Actor) error {
					col, ids, err := albumAndMedia(c, env)
					if err != nil {
						return err
					}
					n, err := collections.Remove(c.Context, env.DB, col.ID, ids, by)
					if err != nil {
						return err
					}
					env.Summary(fmt.Sprintf("album %d %q: %d removed", col.ID, col.Name, n), map[string]any{"removed": n})
					return nil
				})},
			{Name: "move", Usage: "reorder: --to N puts the media at position N (1 = first, 0 = last); --by N moves them N places (negative: forward)",
				ArgsUsage: "--to N|--by N ID|NAME MEDIA_ID...", Flags: []cli.Flag{&cli.IntFlag{Name: "to"}, &cli.IntFlag{Name: "by"}},
				Action: collectionEnv(move)},
			{Name: "show", Usage: "list an album's media in order", ArgsUsage: "[--json] [--limit N] ID|NAME",
				Flags:  []cli.Flag{jsonFlag, &cli.IntFlag{Name: "limit", Value: 1000, Usage: "at most this many media"}},
				Action: collectionEnv(show)},
		},
	}
}

func rename(c *cli.Context, env *cliapp.Env, by collections.Actor) error {
	if err := args(c, 2, "ID|NAME NEW_NAME"); err != nil {
		return err
	}
	col, err := collections.Resolve(c.Context, env.DB, c.Args().First())
	if err != nil {
		return err
	}
	if err := collections.Rename(c.Context, env.DB, col.ID, c.Args().Get(1), by); err != nil {
		return err
	}
	env.Summary(fmt.Sprintf("%d %q renamed to %q", col.ID, col.Name, c.Args().Get(1)), map[string]any{"id": col.ID})
	return nil
}

func deleteVerb(saved bool) func(c *cli.Context, env *cliapp.Env, by collections.Actor) error {
	return func(c *cli.Context, env *cliapp.Env, by collections.Actor) error {
		if err := args(c, 1, "ID|NAME"); err != nil {
			return err
		}
		col, err := resolved(c.Context, env.DB, c.Args().First(), saved)
		if err != nil {
			return err
		}
		if err := collections.Delete(c.Context, env.DB, col.ID, by); err != nil {
			return err
		}
		env.Summary(fmt.Sprintf("%d %q deleted (no media deleted)", col.ID, col.Name), map[string]any{"id": col.ID, "deleted": true})
		return nil
	}
}

func albumAndMedia(c *cli.Context, env *cliapp.Env) (collections.Collection, []int64, error) {
	if err := args(c, 2, "ID|NAME MEDIA_ID..."); err != nil {
		return collections.Collection{}, nil, err
	}
	col, err := collections.Resolve(c.Context, env.DB, c.Args().First())
	if err != nil {
		return col, nil, err
	}
	ids, err := mediaIDs(c, 1)
	return col, ids, err
}

func move(c *cli.Context, env *cliapp.Env, by collections.Actor) error {
	col, ids, err := albumAndMedia(c, env)
	if err != nil {
		return err
	}
	switch {
	case c.IsSet("to") && !c.IsSet("by"):
		err = collections.MoveTo(c.Context, env.DB, col.ID, ids, c.Int("to"), by)
	case c.IsSet("by") && !c.IsSet("to"):
		err = collections.Shift(c.Context, env.DB, col.ID, ids, c.Int("by"), by)
	default:
		return reason.New(codeUsage, "say where to: --to N (position, 1 = first, 0 = last) or --by N (places, negative = forward), before the album, e.g. catalog collection move --to 1 ALBUM 12")
	}
	if err != nil {
		return err
	}
	env.Summary(fmt.Sprintf("album %d %q: order changed", col.ID, col.Name), map[string]any{"id": col.ID})
	return nil
}

func show(c *cli.Context, env *cliapp.Env, _ collections.Actor) error {
	if err := args(c, 1, "[--json] [--limit N] ID|NAME"); err != nil {
		return err
	}
	col, err := collections.Resolve(c.Context, env.DB, c.Args().First())
	if err != nil {
		return err
	}
	type item struct {
		Position int    `json:"position"`
		ID       int64  `json:"media_id"`
		Type     string `json:"type"`
		Path     string `json:"path"`
		Title    string `json:"title"`
	}
	var items []item
	if !col.Saved {
		limit := c.Int("limit")
		pg := catalog.Page{Limit: min(max(limit, 1), 500)}
		for len(items) < limit {
			p, err := collections.Items(c.Context, env.DB, col.ID, pg, true)
			if err != nil {
				return err
			}
			for _, card := range p.Cards {
				if len(items) < limit {
					items = append(items, item{Position: len(items) + 1, ID: card.ID, Type: card.Type, Path: card.Path, Title: card.DisplayTitle()})
				}
			}
			if p.Next == nil {
				break
			}
			pg.After = p.Next
		}
	}
	if env.JSON {
		return printJSON(env, map[string]any{"collection": col, "media": items})
	}
	if col.Saved {
		fmt.Fprintf(env.Stdout, "saved search %d %q: %s\n", col.ID, col.Name, col.Query)
		return nil
	}
	fmt.Fprintf(env.Stdout, "album %d %q: %d media\n", col.ID, col.Name, col.Count)
	if col.Description != "" {
		fmt.Fprintln(env.Stdout, col.Description)
	}
	for _, it := range items {
		fmt.Fprintf(env.Stdout, "%d\t%d\t%s\t%s\n", it.Position, it.ID, it.Type, it.Path)
	}
	return nil
}

func savedCommand() *cli.Command {
	return &cli.Command{
		Name:  "saved",
		Usage: "saved searches: named queries that run again whenever they are opened",
		Subcommands: []*cli.Command{
			{Name: "list", Usage: "list saved searches", Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print JSON"}},
				Action: collectionEnv(func(c *cli.Context, env *cliapp.Env, _ collections.Actor) error {
					list, err := collections.List(c.Context, env.DB)
					if err != nil {
						return err
					}
					return printList(env, list, true)
				})},
			{Name: "create", Usage: "save a query under a name", ArgsUsage: "[--description TEXT] NAME QUERY", Flags: []cli.Flag{&cli.StringFlag{Name: "description"}},
				Action: collectionEnv(func(c *cli.Context, env *cliapp.Env, by collections.Actor) error {
					if err := args(c, 2, "NAME QUERY"); err != nil {
						return err
					}
					col, err := collections.Create(c.Context, env.DB, c.Args().First(), c.String("description"), c.Args().Get(1), by)
					if err != nil {
						return err
					}
					env.Summary(fmt.Sprintf("saved search %d %q created: %s", col.ID, col.Name, col.Query), col)
					return nil
				})},
			{Name: "rename", Usage: "rename a saved search", ArgsUsage: "ID|NAME NEW_NAME", Action: collectionEnv(rename)},
			{Name: "delete", Usage: "delete a saved search (no media are touched)", ArgsUsage: "ID|NAME", Action: collectionEnv(deleteVerb(true))},
		},
	}
}
