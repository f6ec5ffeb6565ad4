// Command fakeworker stands in for a --loop worker in pkg/supervise tests:
// it runs until SIGTERM (exit 0), or ignores SIGTERM with --ignore-term so
// the supervisor's kill-after-grace path is exercised. With --logs and
// --service it writes its heartbeat like a real worker: fresh every 100 ms,
// or once and an hour old with --hung (a live process that does no work).
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/localsupervisor/supervisor/pkg/jobs/workerstate"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

func main() {
	ignore := flag.Bool("ignore-term", false, "ignore SIGTERM")
	_ = flag.Bool("loop", false, "accepted like a real worker")
	logs := flag.String("logs", "", "LOGS folder for the heartbeat")
	service := flag.String("service", "", "heartbeat name")
	hung := flag.Bool("hung", false, "write one heartbeat an hour old, then never again")
	flag.Parse()
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM)
	if *logs != "" && *service != "" {
		beat := func(at time.Time) {
			_ = workerstate.WriteHeartbeat(*logs, workerstate.Heartbeat{Service: *service, PID: os.Getpid(),
				State: workerstate.StateIdle, StartedAtUTC: svtime.Format(at), LastHeartbeatUTC: svtime.Format(at)})
		}
		if *hung {
			beat(time.Now().Add(-time.Hour))
		} else {
			beat(time.Now())
			go func() {
				for range time.Tick(100 * time.Millisecond) {
					beat(time.Now())
				}
			}()
		}
	}
	fmt.Println("fakeworker ready", os.Getpid())
	for range ch {
		if !*ignore {
			os.Exit(0)
		}
	}
}
