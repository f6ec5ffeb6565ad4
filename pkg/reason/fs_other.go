//go:build !unix && !windows

package reason

import "syscall"

func diskFullErrno(e syscall.Errno) bool { return e == syscall.ENOSPC }

func readOnlyErrno(e syscall.Errno) bool { return e == syscall.EROFS }
