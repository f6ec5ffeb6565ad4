// Command catalog works with the catalogue from the command line: albums
// (collection) and saved searches (saved).
package main

import (
	"os"

	"github.com/urfave/cli/v2"

	"github.com/localsupervisor/supervisor/pkg/cliapp"
)

func main() { os.Exit(cliapp.Run(app(), os.Args)) }

func app() *cli.App {
	return &cli.App{
		Name:     "catalog",
		Usage:    "albums and saved searches of the catalogue",
		Flags:    cliapp.Flags(),
		Commands: []*cli.Command{collectionCommand(), savedCommand()},
	}
}
