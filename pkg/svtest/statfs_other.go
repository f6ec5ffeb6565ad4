//go:build !linux

package svtest

import "testing"

// freeBytes is only needed on Linux, the one system MountTmpfs supports.
func freeBytes(tb testing.TB, _ string) int64 {
	tb.Helper()
	SkipUnlessRequired(tb, "free space is only measured on Linux")
	return 0
}
