//go:build !windows

package workerstate

import (
	"errors"
	"syscall"
)

// ProcessAlive reports whether a process with pid exists. EPERM means it
// exists but belongs to someone else.
func ProcessAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
