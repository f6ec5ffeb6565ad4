//go:build windows

package ollamasvc

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
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

// childGuard is a job object with JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE: the
// service holds its only handle, so when the service ends, also by a hard
// kill, Windows closes the handle and kills every child (and their
// children, which inherit the job). Their jobs are then taken back by stuck
// recovery (the owner's pid is gone).
type childGuard struct{ h windows.Handle }

func newChildGuard() (*childGuard, error) {
	h, err := windows.CreateJobObject(nil, nil)
	if err != nil {
		return nil, fmt.Errorf("create job object: %w", err)
	}
	info := windows.JOBOBJECT_EXTENDED_LIMIT_INFORMATION{}
	info.BasicLimitInformation.LimitFlags = windows.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
	if _, err := windows.SetInformationJobObject(h, windows.JobObjectExtendedLimitInformation,
		uintptr(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info))); err != nil {
		_ = windows.CloseHandle(h)
		return nil, fmt.Errorf("configure job object: %w", err)
	}
	return &childGuard{h: h}, nil
}

// adopt puts a started child into the job object.
func (g *childGuard) adopt(cmd *exec.Cmd) error {
	ph, err := windows.OpenProcess(windows.PROCESS_SET_QUOTA|windows.PROCESS_TERMINATE, false, uint32(cmd.Process.Pid))
	if err != nil {
		return fmt.Errorf("open child process: %w", err)
	}
	defer windows.CloseHandle(ph)
	if err := windows.AssignProcessToJobObject(g.h, ph); err != nil {
		return fmt.Errorf("assign child to job object: %w", err)
	}
	return nil
}

func (g *childGuard) close() { _ = windows.CloseHandle(g.h) }

// parentDeathSignals: Windows kills the children outright (childGuard).
func parentDeathSignals() []os.Signal { return nil }
