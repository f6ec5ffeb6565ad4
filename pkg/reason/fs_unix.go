//go:build unix

package reason

import "syscall"

func diskFullErrno(e syscall.Errno) bool { return e == syscall.ENOSPC || e == syscall.EDQUOT }

func readOnlyErrno(e syscall.Errno) bool { return e == syscall.EROFS }
