//go:build windows

package launch

import (
	"context"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/windows"

	"github.com/localsupervisor/supervisor/pkg/jobs/workerstate"
)

const exeSuffix = ".exe"

// detachAttr starts the child detached from the parent's console, in its
// own process group and without a window, so it survives the parent and a
// Ctrl+C in the parent's console.
func detachAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{
		CreationFlags: windows.CREATE_NEW_PROCESS_GROUP | windows.DETACHED_PROCESS | windows.CREATE_NO_WINDOW,
		HideWindow:    true,
	}
}

// StopGroup ends pid and its child processes. Windows has no SIGTERM for
// detached processes: the process gets the grace period to exit on its own
// (after the caller set a cancel flag), then the tree is killed with
// taskkill /T /F.
func StopGroup(ctx context.Context, pid int, grace time.Duration) error {
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) && workerstate.ProcessAlive(pid) {
		select {
		case <-ctx.Done():
			deadline = time.Now()
		case <-time.After(100 * time.Millisecond):
		}
	}
	if !workerstate.ProcessAlive(pid) {
		return nil
	}
	cmd := exec.Command("taskkill", "/T", "/F", "/PID", strconv.Itoa(pid))
	cmd.SysProcAttr = &syscall.SysProcAttr{HideWindow: true, CreationFlags: windows.CREATE_NO_WINDOW}
	return cmd.Run()
}
