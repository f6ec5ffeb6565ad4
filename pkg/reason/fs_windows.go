//go:build windows

package reason

import "syscall"

// Windows error numbers (winerror.h); package syscall does not name them.
const (
	errorWriteProtect    syscall.Errno = 19  // ERROR_WRITE_PROTECT
	errorHandleDiskFull  syscall.Errno = 39  // ERROR_HANDLE_DISK_FULL
	errorDiskFull        syscall.Errno = 112 // ERROR_DISK_FULL
	errorDiskQuotaExceed syscall.Errno = 1295
)

func diskFullErrno(e syscall.Errno) bool {
	return e == errorDiskFull || e == errorHandleDiskFull || e == errorDiskQuotaExceed
}

func readOnlyErrno(e syscall.Errno) bool { return e == errorWriteProtect }
