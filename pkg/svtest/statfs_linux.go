package svtest

import (
	"syscall"
	"testing"
)

// freeBytes is the space left for unprivileged writes on dir's filesystem.
func freeBytes(tb testing.TB, dir string) int64 {
	tb.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		tb.Fatal(err)
	}
	return int64(st.Bavail) * int64(st.Bsize)
}
