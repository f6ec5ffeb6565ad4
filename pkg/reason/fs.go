package reason

import (
	"errors"
	"syscall"
)

// CodeDiskFull is the reason code of every "no space left" failure, whether
// the library disk or the database disk filled up.
const CodeDiskFull = "disk_full"

// IsDiskFull reports whether err is, anywhere in its chain, an operating
// system "no space left on device" (or "disk quota exceeded") error.
func IsDiskFull(err error) bool {
	var errno syscall.Errno
	return errors.As(err, &errno) && diskFullErrno(errno)
}

// IsReadOnlyFS reports whether err is, anywhere in its chain, an operating
// system "read-only file system" error.
func IsReadOnlyFS(err error) bool {
	var errno syscall.Errno
	return errors.As(err, &errno) && readOnlyErrno(errno)
}

// Hint returns what a user should do about a cross-cutting reason code, in
// plain words, or "" when the code has no general advice.
func Hint(code string) string {
	switch code {
	case CodeDiskFull:
		return "no space left on the disk; free space there (or move that folder to a bigger disk), then run it again"
	}
	return ""
}
