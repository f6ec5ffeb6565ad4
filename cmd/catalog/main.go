// Command catalog works with the catalogue from the command line: search
// (query: the web list's query language and SQL, issue #18), albums
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
		Usage:    "search the catalogue, albums and saved searches",
		Flags:    cliapp.Flags(),
		Commands: []*cli.Command{queryCommand(), collectionCommand(), savedCommand()},
	}
}
