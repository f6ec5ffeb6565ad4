// Command fakeworker stands in for a --loop worker in pkg/supervise tests:
// it runs until SIGTERM (exit 0), or ignores SIGTERM with --ignore-term so
// the supervisor's kill-after-grace path is exercised.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ignore := flag.Bool("ignore-term", false, "ignore SIGTERM")
	_ = flag.Bool("loop", false, "accepted like a real worker")
	flag.Parse()
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM)
	fmt.Println("fakeworker ready", os.Getpid())
	for range ch {
		if !*ignore {
			os.Exit(0)
		}
	}
}
