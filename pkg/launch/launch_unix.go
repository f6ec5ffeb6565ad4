//go:build !windows

package launch

import (
	"context"
	"errors"
	"syscall"
	"time"
)

const exeSuffix = ""

// detachAttr starts the child in a new session (setsid): it has no
// controlling terminal and does not get the parent's SIGINT/SIGHUP, so it
// outlives the parent.
func detachAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setsid: true}
}

// StopGroup stops the process group led by pid: SIGTERM, then SIGKILL after
// grace if any member is still alive. The child must have been started in
// its own group (Spawn does that).
func StopGroup(ctx context.Context, pid int, grace time.Duration) error {
	if pid <= 0 {
		return errors.New("invalid pid")
	}
	if err := syscall.Kill(-pid, syscall.SIGTERM); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return nil
		}
		return err
	}
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := syscall.Kill(-pid, 0); errors.Is(err, syscall.ESRCH) {
			return nil
		}
		select {
		case <-ctx.Done():
			return killGroup(pid)
		case <-deadline.C:
			return killGroup(pid)
		case <-tick.C:
		}
	}
}

func killGroup(pid int) error {
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return nil
}
