// Command spawner is used by pkg/launch tests: it spawns the command given
// after "--" through launch.Spawn, prints the status as JSON and exits at
// once, so the test can check that the child outlives its parent.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"os"

	"github.com/localsupervisor/supervisor/pkg/launch"
)

func main() {
	logs := flag.String("logs", "", "logs dir")
	worker := flag.String("worker", "child", "worker name")
	flag.Parse()
	args := flag.Args()
	st := launch.Spawn(context.Background(), launch.SpawnRequest{Worker: *worker, Binary: args[0], Args: args[1:], LogsDir: *logs, RequestedBy: "cli"})
	json.NewEncoder(os.Stdout).Encode(st)
	if !st.OK() {
		os.Exit(1)
	}
}
