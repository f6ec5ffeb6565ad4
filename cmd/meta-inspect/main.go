// Command meta-inspect prints the generation metadata the extractor reads
// from each file (the original meta_inspect.php), without touching the
// database.
//
//	meta-inspect FILE... [--json] [--stealth] [--ffprobe=ffprobe]
//
// Exit code 0 when every file was read, 1 when any file could not be read
// at all, 2 on usage errors.
package main

import (
	"context"
	"os"
	"os/signal"

	"github.com/localsupervisor/supervisor/cmd/meta-inspect/inspect"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := inspect.Run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
