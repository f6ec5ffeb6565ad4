//go:build svfault && unix

package mediaops

import (
	"os"
	"syscall"
)

// killSelf ends the process like kill -9 (no deferred cleanup runs).
func killSelf() { _ = syscall.Kill(os.Getpid(), syscall.SIGKILL) }
