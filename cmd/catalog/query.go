package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/urfave/cli/v2"

	"github.com/localsupervisor/supervisor/pkg/catalog"
	"github.com/localsupervisor/supervisor/pkg/cliapp"
	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/query"
)

// maxLimit bounds --limit (the list pages through it 500 at a time).
const maxLimit = 100_000

func queryCommand() *cli.Command {
	return &cli.Command{
		Name:      "query",
		Usage:     "list the media a search finds (the web list's query language: model:juggernaut steps:>=30 tag:1girl -nsfw:yes …)",
		ArgsUsage: "'QUERY'",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "one JSON object per media and line"},
			&cli.IntFlag{Name: "limit", Value: 100, Usage: "at most this many media (newest first)"},
		},
		Action: runQuery,
	}
}

// queryArgs are the query text and the flags; flags may also follow the
// query (catalog query 'model:x' --json), which urfave/cli leaves as
// arguments.
func queryArgs(c *cli.Context) (q string, jsonOut bool, limit int, err error) {
	jsonOut, limit = c.Bool("json"), c.Int("limit")
	for _, lc := range c.Lineage() {
		if lc.Bool("json") {
			jsonOut = true
		}
	}
	var words []string
	args := c.Args().Slice()
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--json" || a == "-json":
			jsonOut = true
		case a == "--limit" || a == "-limit":
			if i+1 >= len(args) {
				return "", false, 0, fmt.Errorf("--limit needs a number")
			}
			i++
			if limit, err = strconv.Atoi(args[i]); err != nil {
				return "", false, 0, fmt.Errorf("--limit %q is not a number", args[i])
			}
		case strings.HasPrefix(a, "--limit="):
			if limit, err = strconv.Atoi(strings.TrimPrefix(a, "--limit=")); err != nil {
				return "", false, 0, fmt.Errorf("%s: not a number", a)
			}
		default:
			words = append(words, a)
		}
	}
	if limit < 1 || limit > maxLimit {
		return "", false, 0, fmt.Errorf("--limit must be 1..%d", maxLimit)
	}
	return strings.Join(words, " "), jsonOut, limit, nil
}

func runQuery(c *cli.Context) error {
	q, jsonOut, limit, err := queryArgs(c)
	if err != nil {
		return err
	}
	env, err := cliapp.Setup(c, cliapp.Options{Service: "catalog", NeedDB: true, CurrentSchema: true})
	if err != nil {
		return err
	}
	defer env.Close()
	// The command line is the owner's: adult media and the admin fields
	// (vote:) included, as in an admin web session with 18+ shown.
	f := catalog.ParseFilterAt(url.Values{"q": {q}}, true, env.Clock.Now())
	if f.QueryErr != nil {
		fmt.Fprint(env.Stderr, Caret(q, f.QueryErr))
		return cliapp.Findings(f.QueryErr.Code)
	}
	f.Adult = true
	return printMatches(c.Context, env.DB, f, limit, env.Clock.Now().Unix(), jsonOut, env.Stdout)
}

// Caret renders a query error: the message, the query and a caret under
// the error position (a rune column, so it stands under the character).
func Caret(q string, e *query.Error) string {
	pos := min(max(e.Pos, 0), len(q))
	col := utf8.RuneCountInString(q[:pos])
	return fmt.Sprintf("query error (%s): %s\n  %s\n  %s^\n", e.Code, e.Msg, q, strings.Repeat(" ", col))
}

// match is one output line.
type match struct {
	ID     int64  `json:"id"`
	Path   string `json:"path"`
	Type   string `json:"type"`
	Model  string `json:"model,omitempty"`
	Prompt string `json:"prompt,omitempty"`
	Rating int    `json:"rating"`
}

// printMatches pages through the matches (newest first, keyset pages of
// at most 500) and prints each.
func printMatches(ctx context.Context, d *sql.DB, f catalog.Filter, limit int, now int64, jsonOut bool, w io.Writer) error {
	pg := catalog.Page{}
	enc := json.NewEncoder(w)
	for left := limit; left > 0; {
		pg.Limit = min(left, 500)
		res, err := catalog.List(ctx, d, f, pg, now)
		if err != nil {
			return err
		}
		prompts, models, err := genSummary(ctx, d, res.Cards)
		if err != nil {
			return err
		}
		for _, card := range res.Cards {
			m := match{ID: card.ID, Path: card.Path, Type: card.Type, Model: models[card.ID], Prompt: prompts[card.ID], Rating: card.Rating}
			if m.Model == "" {
				m.Model = card.Model
			}
			if jsonOut {
				if err := enc.Encode(m); err != nil {
					return err
				}
				continue
			}
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\n", m.ID, m.Path, m.Model, snippet(m.Prompt, 80))
		}
		left -= len(res.Cards)
		if res.Next == nil {
			break
		}
		pg.After = res.Next
	}
	return nil
}

// genSummary reads the newest prompt and the media_gen model of cards
// (two queries for the page).
func genSummary(ctx context.Context, d *sql.DB, cards []catalog.Card) (prompts, models map[int64]string, err error) {
	prompts, models = map[int64]string{}, map[int64]string{}
	if len(cards) == 0 {
		return prompts, models, nil
	}
	args := make([]any, len(cards))
	for i, c := range cards {
		args[i] = c.ID
	}
	in := strings.TrimSuffix(strings.Repeat("?,", len(cards)), ",")
	for _, s := range []struct {
		sql string
		m   map[int64]string
	}{
		{"SELECT media_id, COALESCE(prompt, '') FROM prompts WHERE media_id IN (" + in + ") ORDER BY id", prompts}, // newest last: wins
		{"SELECT media_id, COALESCE(model, '') FROM media_gen WHERE media_id IN (" + in + ")", models},
	} {
		rows, err := d.QueryContext(ctx, s.sql, args...)
		if err != nil {
			return nil, nil, fmt.Errorf("match details: %w", db.Classify(err))
		}
		for rows.Next() {
			var id int64
			var v string
			if err := rows.Scan(&id, &v); err != nil {
				rows.Close()
				return nil, nil, fmt.Errorf("match details: %w", db.Classify(err))
			}
			s.m[id] = v
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("match details: %w", db.Classify(err))
		}
	}
	return prompts, models, nil
}

// snippet is the first n runes of s on one line.
func snippet(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}
