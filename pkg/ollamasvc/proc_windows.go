//go:build windows

package ollamasvc

import (
	"os/exec"
	"strconv"
	"syscall"
)

func setGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{CreationFlags: syscall.CREATE_NEW_PROCESS_GROUP}
}

// signalGroup kills the child's whole tree with taskkill /T (Windows has no
// SIGTERM for console-less children, so both steps are the tree kill; /F
// only on the forced step).
func signalGroup(pid int, term bool) error {
	args := []string{"/T", "/PID", strconv.Itoa(pid)}
	if !term {
		args = append([]string{"/F"}, args...)
	}
	return exec.Command("taskkill", args...).Run()
}
