//go:build !windows

package ollamasvc

import (
	"os/exec"
	"syscall"
)

// setGroup starts the child in its own process group so a kill reaches
// everything it started.
func setGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// signalGroup sends sig to the child's process group; term=false is SIGKILL.
func signalGroup(pid int, term bool) error {
	sig := syscall.SIGKILL
	if term {
		sig = syscall.SIGTERM
	}
	return syscall.Kill(-pid, sig)
}
