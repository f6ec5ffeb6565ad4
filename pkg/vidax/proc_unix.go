//go:build !windows

package vidax

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/localsupervisor/supervisor/pkg/launch"
)

// afterStart: the new session (launch.DetachAttr) is the process group.
func afterStart(*exec.Cmd) error { return nil }

// stopGroup is SIGTERM to the group, grace, SIGKILL.
func stopGroup(ctx context.Context, pid int, grace time.Duration) error {
	return launch.StopGroup(ctx, pid, grace)
}

// sameProcess guards against a recycled pid: where /proc exists, the
// process's argv must be the command vidax started. Without /proc (macOS,
// BSD) the pid's existence has to do.
func sameProcess(st ProcState) bool {
	argv := st.Command
	b, err := os.ReadFile("/proc/" + strconv.Itoa(st.PID) + "/cmdline")
	if err != nil {
		if _, serr := os.Stat("/proc/self"); errors.Is(serr, fs.ErrNotExist) {
			return true
		}
		return false
	}
	got := bytes.Split(bytes.TrimSuffix(b, []byte{0}), []byte{0})
	if len(got) != len(argv) {
		return false
	}
	for i := range argv {
		if string(got[i]) != argv[i] {
			return false
		}
	}
	return true
}
