//go:build windows

package workerstate

import "golang.org/x/sys/windows"

// stillActive is the exit code GetExitCodeProcess reports for a live process.
const stillActive = 259

// ProcessAlive reports whether a process with pid exists and has not exited.
func ProcessAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(pid))
	if err != nil {
		// Access denied means the process exists.
		return err == windows.ERROR_ACCESS_DENIED
	}
	defer windows.CloseHandle(h)
	var code uint32
	if err := windows.GetExitCodeProcess(h, &code); err != nil {
		return true
	}
	return code == stillActive
}
