// Command catalog works with the media catalogue from the command line:
// `catalog query 'QUERY'` lists the media a search finds (the same query
// language and SQL as the web list, issue #18).
package main

import (
	"os"

	"github.com/urfave/cli/v2"

	"github.com/localsupervisor/supervisor/pkg/cliapp"
)

func main() {
	app := &cli.App{
		Name:     "catalog",
		Usage:    "search the media catalogue",
		Flags:    cliapp.Flags(),
		Commands: []*cli.Command{queryCommand()},
	}
	os.Exit(cliapp.Run(app, os.Args))
}
