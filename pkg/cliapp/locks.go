package cliapp

import (
	"path/filepath"
	"sort"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/jobs/workerstate"
)

// HeldWorkerLocks lists the workers whose OS lock is held by a live process
// right now. Workers describe themselves in LOGS/<worker>.lock.json; the
// kernel lock itself is taken by workerstate on a separate file, so the
// decision is delegated to workerstate.LockHeld.
func HeldWorkerLocks(logsDir string) []string {
	matches, _ := filepath.Glob(filepath.Join(logsDir, "*.lock.json"))
	var held []string
	for _, m := range matches {
		svc := strings.TrimSuffix(filepath.Base(m), ".lock.json")
		if ok, err := workerstate.LockHeld(logsDir, svc); err == nil && ok {
			held = append(held, svc)
		}
	}
	sort.Strings(held)
	return held
}
