package cliapp

import (
	"io"
	"reflect"
	"testing"

	"github.com/urfave/cli/v2"
)

func TestHoistSharedFlags(t *testing.T) {
	tests := []struct {
		in, want []string
	}{
		{[]string{"x"}, []string{"x"}},
		{[]string{"x", "--config=c", "prune"}, []string{"x", "--config=c", "prune"}},
		{[]string{"x", "prune", "--older-than=720h", "--config=c"}, []string{"x", "--config=c", "prune", "--older-than=720h"}},
		{[]string{"x", "prune", "--config", "c", "--json"}, []string{"x", "--config", "c", "--json", "prune"}},
		{[]string{"x", "dismiss", "5", "6", "-json"}, []string{"x", "-json", "dismiss", "5", "6"}},
		{[]string{"x", "list", "--", "--config=c"}, []string{"x", "list", "--", "--config=c"}},
		{[]string{"x", "--limit=5", "--json"}, []string{"x", "--limit=5", "--json"}},
	}
	for _, tt := range tests {
		if got := hoistSharedFlags(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("hoist(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestSharedFlagsEverywhere runs one app shape per binary family (flags at
// the top only, on the verb only, at both levels as media-worker had) with
// --config and --json before and after the verb, and with SV_CONFIG.
func TestSharedFlagsEverywhere(t *testing.T) {
	shapes := map[string]func(action cli.ActionFunc) *cli.App{
		"top only": func(a cli.ActionFunc) *cli.App {
			return &cli.App{Flags: Flags(), Commands: []*cli.Command{{Name: "prune", Flags: []cli.Flag{&cli.DurationFlag{Name: "older-than"}}, Action: a}}}
		},
		"verb only": func(a cli.ActionFunc) *cli.App {
			return &cli.App{Commands: []*cli.Command{{Name: "prune", Flags: append(Flags(), &cli.DurationFlag{Name: "older-than"}), Action: a}}}
		},
		"both": func(a cli.ActionFunc) *cli.App {
			return &cli.App{Flags: Flags(), Commands: []*cli.Command{{Name: "prune", Flags: append(Flags(), &cli.DurationFlag{Name: "older-than"}), Action: a}}}
		},
		"nested": func(a cli.ActionFunc) *cli.App {
			return &cli.App{Flags: Flags(), Commands: []*cli.Command{{Name: "collection", Subcommands: []*cli.Command{{Name: "prune", Flags: append(Flags(), &cli.DurationFlag{Name: "older-than"}), Action: a}}}}}
		},
	}
	argv := map[string][]string{
		"before":     {"--config=C.json", "--json", "prune", "--older-than=1h"},
		"after":      {"prune", "--older-than=1h", "--config=C.json", "--json"},
		"split":      {"--json", "prune", "--config", "C.json", "--older-than=1h"},
		"after-args": {"prune", "--older-than=1h", "extra", "--json", "--config=C.json"},
	}
	for shape, mk := range shapes {
		for order, a := range argv {
			t.Run(shape+"/"+order, func(t *testing.T) {
				t.Setenv("SV_CONFIG", "")
				var gotCfg string
				var gotJSON bool
				var gotOlder string
				app := mk(func(c *cli.Context) error {
					gotCfg, gotJSON, gotOlder = c.String("config"), c.Bool("json"), c.Duration("older-than").String()
					return nil
				})
				app.Writer, app.ErrWriter = io.Discard, io.Discard
				args := append([]string{"bin"}, a...)
				if shape == "nested" {
					args = append([]string{"bin"}, append([]string{"collection"}, a...)...)
					args = hoistSharedFlags(args)
				}
				if code := Run(app, args); code != 0 {
					t.Fatalf("exit %d", code)
				}
				if gotCfg != "C.json" || !gotJSON || gotOlder != "1h0m0s" {
					t.Fatalf("config %q json %v older-than %s", gotCfg, gotJSON, gotOlder)
				}
			})
		}
	}
	t.Run("env", func(t *testing.T) {
		t.Setenv("SV_CONFIG", "E.json")
		var got string
		app := shapes["both"](func(c *cli.Context) error { got = c.String("config"); return nil })
		if Run(app, []string{"bin", "prune"}) != 0 || got != "E.json" {
			t.Fatalf("env config %q", got)
		}
		app = shapes["both"](func(c *cli.Context) error { got = c.String("config"); return nil })
		if Run(app, []string{"bin", "prune", "--config=F.json"}) != 0 || got != "F.json" {
			t.Fatalf("flag must beat env, got %q", got)
		}
	})
}
