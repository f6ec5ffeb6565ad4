//go:build windows

package vidax

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/localsupervisor/supervisor/pkg/launch"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// jobName names the job object of the ComfyUI started as pid. A named job
// can be opened again by a restarted vidax (CreateJobObject on an existing
// name returns it), and it lives while ComfyUI does.
func jobName(pid int) *uint16 {
	n, _ := windows.UTF16PtrFromString(`Local\vidax-comfyui-` + strconv.Itoa(pid))
	return n
}

// afterStart puts ComfyUI (started with CREATE_NEW_PROCESS_GROUP by
// launch.DetachAttr) into its job object, so stop reaches the Python
// children it starts too. Without KILL_ON_JOB_CLOSE: ComfyUI outlives
// vidax, as the original's detached start.
func afterStart(cmd *exec.Cmd) error {
	h, err := windows.CreateJobObject(nil, jobName(cmd.Process.Pid))
	if err != nil {
		return fmt.Errorf("create job object: %w", err)
	}
	ph, err := windows.OpenProcess(windows.PROCESS_SET_QUOTA|windows.PROCESS_TERMINATE, false, uint32(cmd.Process.Pid))
	if err != nil {
		_ = windows.CloseHandle(h)
		return fmt.Errorf("open process: %w", err)
	}
	defer windows.CloseHandle(ph)
	if err := windows.AssignProcessToJobObject(h, ph); err != nil {
		_ = windows.CloseHandle(h)
		return fmt.Errorf("assign to job object: %w", err)
	}
	// The handle stays open for the life of this vidax (one per start;
	// ComfyUI is started rarely); the job itself lives while ComfyUI does.
	return nil
}

// stopGroup: Windows has no SIGTERM for a detached process, so the grace
// is launch.StopGroup's wait; the tree is then ended through the job
// object, else with taskkill /T /F.
func stopGroup(ctx context.Context, pid int, grace time.Duration) error {
	if h, err := openJob(pid); err == nil {
		defer windows.CloseHandle(h)
		if terr := windows.TerminateJobObject(h, 1); terr == nil {
			return nil
		}
	}
	return launch.StopGroup(ctx, pid, grace)
}

// openJob opens the named job of pid (x/sys has no OpenJobObject;
// CreateJobObject would silently create an empty one).
func openJob(pid int) (windows.Handle, error) {
	const jobObjectTerminate = 0x0008
	proc := windows.NewLazySystemDLL("kernel32.dll").NewProc("OpenJobObjectW")
	r, _, err := proc.Call(jobObjectTerminate, 0, uintptr(unsafe.Pointer(jobName(pid))))
	if r == 0 {
		return 0, err
	}
	return windows.Handle(r), nil
}

// sameProcess guards against a recycled pid: the process must have been
// created around the state's started_at (recorded right after the start,
// to the second). A process that cannot be asked counts as ours.
func sameProcess(st ProcState) bool {
	started, ok := svtime.Parse(st.StartedAt)
	if !ok {
		return true
	}
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(st.PID))
	if err != nil {
		return true
	}
	defer windows.CloseHandle(h)
	var created, exited, kernel, user windows.Filetime
	if err := windows.GetProcessTimes(h, &created, &exited, &kernel, &user); err != nil {
		return true
	}
	ct := time.Unix(0, created.Nanoseconds())
	return !ct.Before(started.Add(-time.Minute)) && !ct.After(started.Add(2*time.Second))
}
