//go:build linux

package library

import (
	"errors"
	"io/fs"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// renameNoReplace renames src to dst unless dst exists (the error wraps
// fs.ErrExist): renameat2 with RENAME_NOREPLACE, one system call where a
// link and an unlink are two. errors.ErrUnsupported when the filesystem
// (or kernel) has no such rename.
func renameNoReplace(src, dst string) error {
	err := unix.Renameat2(unix.AT_FDCWD, src, unix.AT_FDCWD, dst, unix.RENAME_NOREPLACE)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.EINVAL), errors.Is(err, syscall.ENOSYS), errors.Is(err, syscall.ENOTSUP):
		return errors.ErrUnsupported
	}
	return &fs.PathError{Op: "rename", Path: dst, Err: err}
}

// changeTime is when fi's inode last changed (its ctime): a temp's age,
// which, unlike the modification time, no one can set to the past.
func changeTime(fi fs.FileInfo) time.Time {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return time.Unix(st.Ctim.Unix())
	}
	return fi.ModTime()
}
