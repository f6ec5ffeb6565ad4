// Command logwriter is a test helper of pkg/logging: it appends numbered
// lines to LOGS/<name>.jsonl through a logging.Set with 1 MB rotation, so
// a test can run several of it at once against one file
// (logwriter <dir> <name> <writer-id> <lines> <start-file>). It starts
// writing once <start-file> exists, so the processes overlap.
package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/localsupervisor/supervisor/pkg/logging"
)

func main() {
	if len(os.Args) != 6 {
		fmt.Fprintln(os.Stderr, "usage: logwriter <dir> <name> <writer-id> <lines> <start-file>")
		os.Exit(2)
	}
	dir, name, id, start := os.Args[1], os.Args[2], os.Args[3], os.Args[5]
	n, err := strconv.Atoi(os.Args[4])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	set, err := logging.NewSet(logging.Options{Dir: dir, Console: io.Discard, MaxSizeMB: 1, MaxBackups: 1000})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer set.Close()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
		if _, err := os.Stat(start); err == nil || time.Now().After(deadline) {
			break
		}
	}
	l := set.File(name, "logwriter")
	pad := strings.Repeat("x", 700)
	for i := 0; i < n; i++ {
		l.Info().Str("w", id).Int("seq", i).Str("pad", pad).Msg("line")
	}
}
