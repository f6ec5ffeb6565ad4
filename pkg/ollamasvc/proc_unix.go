//go:build !windows

package ollamasvc

import (
	"os/exec"
	"syscall"
)

// setGroup starts the child in its own process group so a kill reaches
// everything it started, and (on Linux, see setParentDeath) ties the
// child's life to the service's.
func setGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	setParentDeath(cmd.SysProcAttr)
}

// signalGroup sends sig to the child's process group; term=false is SIGKILL.
func signalGroup(pid int, term bool) error {
	sig := syscall.SIGKILL
	if term {
		sig = syscall.SIGTERM
	}
	return syscall.Kill(-pid, sig)
}

// childGuard ties children to the service. Unix needs no handle: the
// parent-death signal is part of the start (setGroup).
type childGuard struct{}

func newChildGuard() (*childGuard, error) { return &childGuard{}, nil }

// adopt is a no-op on Unix (see setGroup).
func (*childGuard) adopt(*exec.Cmd) error { return nil }

func (*childGuard) close() {}
