package svtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// SkipUnlessRequired skips tb with the reason, or fails it when
// SV_REQUIRE_TOOLS=1 is set (as in CI), where a missing capability must not
// silently drop a test.
func SkipUnlessRequired(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("SV_REQUIRE_TOOLS") == "1" {
		tb.Fatalf("%s (SV_REQUIRE_TOOLS=1)", msg)
	}
	tb.Skipf("%s; set SV_REQUIRE_TOOLS=1 to make this a failure", msg)
}

// canMount skips (or fails, see SkipUnlessRequired) unless this process may
// mount filesystems: Linux and root.
func canMount(tb testing.TB) {
	tb.Helper()
	if runtime.GOOS != "linux" {
		SkipUnlessRequired(tb, "mounting a test filesystem needs Linux (GOOS=%s)", runtime.GOOS)
	}
	if os.Geteuid() != 0 {
		SkipUnlessRequired(tb, "mounting a test filesystem needs root")
	}
}

func mountCmd(tb testing.TB, args ...string) {
	tb.Helper()
	if out, err := exec.Command("mount", args...).CombinedOutput(); err != nil {
		SkipUnlessRequired(tb, "mount %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
}

func unmountOnCleanup(tb testing.TB, dir string) {
	tb.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			// A process of the test may still hold a file: detach lazily.
			if out2, err2 := exec.Command("umount", "-l", dir).CombinedOutput(); err2 != nil {
				tb.Errorf("umount %s: %v: %s / %s", dir, err, out, out2)
			}
		}
	})
}

// MountTmpfs mounts a tmpfs of size bytes on a new folder below the test's
// temp folder and returns it; it is unmounted when the test ends. Tests of
// full disks use it. Without the right to mount the test is skipped
// (failed under SV_REQUIRE_TOOLS=1).
func MountTmpfs(tb testing.TB, size int64) string {
	tb.Helper()
	canMount(tb)
	dir := filepath.Join(tb.TempDir(), "tmpfs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	mountCmd(tb, "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0755", size), "tmpfs", dir)
	unmountOnCleanup(tb, dir)
	return dir
}

// RemountReadOnly makes the filesystem mounted at dir (a MountTmpfs or
// BindReadOnly folder) read-only; root cannot write it either, unlike a
// folder with mode 0555.
func RemountReadOnly(tb testing.TB, dir string) {
	tb.Helper()
	canMount(tb)
	mountCmd(tb, "-o", "remount,ro", dir)
}

// BindReadOnly mounts src read-only on a new folder and returns it; it is
// unmounted when the test ends.
func BindReadOnly(tb testing.TB, src string) string {
	tb.Helper()
	canMount(tb)
	dir := filepath.Join(tb.TempDir(), "ro")
	if err := os.Mkdir(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	mountCmd(tb, "--bind", src, dir)
	unmountOnCleanup(tb, dir)
	mountCmd(tb, "-o", "remount,bind,ro", dir)
	return dir
}

// FillDisk writes a filler file into dir until the filesystem has at most
// leave bytes free and returns its path; removing it frees the space.
func FillDisk(tb testing.TB, dir string, leave int64) string {
	tb.Helper()
	p := filepath.Join(dir, "filler.bin")
	f, err := os.Create(p)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	free := freeBytes(tb, dir)
	if n := free - leave; n > 0 {
		buf := make([]byte, 64<<10)
		for n > 0 {
			k := min(int64(len(buf)), n)
			w, err := f.Write(buf[:k])
			n -= int64(w)
			if err != nil {
				break // full already: as much as fits
			}
		}
	}
	return p
}
