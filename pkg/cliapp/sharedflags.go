package cliapp

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// One flag contract for every binary: the shared flags (Flags: --config,
// --json) work before and after a verb, `jobs-admin --config=C prune` and
// `jobs-admin prune --config=C` alike.
//
// urfave/cli v2 gives each command its own flag set and resolves a name in
// the innermost set that defines it, set or not. Defining the shared flags
// at both levels therefore lets an empty inner flag hide the outer value
// (media-worker and forge-worker ignored --config given before the verb),
// and defining them only at the top rejects them after the verb (the shipped
// jobs-admin prune unit exited 1 every night). So the shared flags live at
// the top level only, and Run moves a shared flag written after the verb in
// front of it before parsing: every lookup, c.String("config") in any
// command, then finds the one value.

// normalizeSharedFlags puts the shared flags on app (when missing) and
// removes them from every command, so they resolve to one flag set.
func normalizeSharedFlags(app *cli.App) {
	shared := Flags()
	have := map[string]bool{}
	for _, f := range app.Flags {
		for _, n := range f.Names() {
			have[n] = true
		}
	}
	for _, f := range shared {
		if !have[f.Names()[0]] {
			app.Flags = append(app.Flags, f)
		}
	}
	names := sharedNames()
	var strip func(cmds []*cli.Command)
	strip = func(cmds []*cli.Command) {
		for _, cmd := range cmds {
			kept := cmd.Flags[:0:0]
			for _, f := range cmd.Flags {
				if _, shared := names[f.Names()[0]]; !shared {
					kept = append(kept, f)
				}
			}
			cmd.Flags = kept
			strip(cmd.Subcommands)
		}
	}
	strip(app.Commands)
}

// sharedNames maps each shared flag name to whether it takes a value.
func sharedNames() map[string]bool {
	m := map[string]bool{}
	for _, f := range Flags() {
		_, isBool := f.(*cli.BoolFlag)
		for _, n := range f.Names() {
			m[n] = !isBool
		}
	}
	return m
}

// hoistSharedFlags returns args with every shared flag that follows the
// first non-flag argument (the verb) moved to just after the program name.
// Arguments after a "--" terminator are left alone, and so is the value of a
// command's own flag that happens to look like a shared flag only when
// written as --flag=value (a separate "--title --json" is ambiguous to any
// parser; urfave would read --json as the title too, so it stays).
func hoistSharedFlags(args []string) []string {
	if len(args) < 2 {
		return args
	}
	names := sharedNames()
	var hoisted, rest []string
	seenVerb := false
	for i := 1; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			seenVerb = true
			rest = append(rest, a)
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		takesValue, shared := names[name]
		if !seenVerb || !shared {
			rest = append(rest, a)
			continue
		}
		hoisted = append(hoisted, a)
		if takesValue && !hasValue && i+1 < len(args) {
			i++
			hoisted = append(hoisted, args[i])
		}
	}
	out := make([]string, 0, len(args))
	out = append(out, args[0])
	out = append(out, hoisted...)
	return append(out, rest...)
}
