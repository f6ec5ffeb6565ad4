package cliapp

import (
	"path/filepath"
	"sort"
	"strings"

	"github.com/gofrs/flock"
)

// HeldWorkerLocks lists the workers whose LOGS/<worker>.lock.json is locked
// by a live process right now. A kernel lock vanishes with its process, so
// a lock we can take ourselves is not held.
func HeldWorkerLocks(logsDir string) []string {
	matches, _ := filepath.Glob(filepath.Join(logsDir, "*.lock.json"))
	var held []string
	for _, m := range matches {
		lk := flock.New(m)
		ok, err := lk.TryLock()
		if err != nil {
			continue
		}
		if ok {
			lk.Unlock()
			continue
		}
		held = append(held, strings.TrimSuffix(filepath.Base(m), ".lock.json"))
	}
	sort.Strings(held)
	return held
}
