// Package svtest holds helpers shared by Supervisor's tests. It must only be
// imported from _test.go files and from test-helper packages (forgetest,
// ollamatest, scannertest, probetest) that are themselves test-only.
package svtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// RequireTool returns the path of an external tool (ffmpeg, ffprobe,
// chromium). When the tool is missing the test is skipped, unless
// SV_REQUIRE_TOOLS=1 is set (as in CI), in which case it fails.
func RequireTool(tb testing.TB, names ...string) string {
	tb.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	SkipUnlessRequired(tb, "required tool %v not found in PATH", names)
	return ""
}

// RepoRoot returns the repository root (the folder holding go.mod).
func RepoRoot(tb testing.TB) string {
	tb.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		tb.Fatal("runtime.Caller failed")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// SharedFixtures returns the team's shared fixtures: $SV_SHARED_DIR/fixtures/
// realworld when set, else ../shared/fixtures/realworld beside the repository
// (where CI puts it). It skips (fails with SV_REQUIRE_TOOLS=1) when absent.
func SharedFixtures(tb testing.TB) string {
	tb.Helper()
	p := filepath.Join(RepoRoot(tb), "..", "shared", "fixtures", "realworld")
	if dir := os.Getenv("SV_SHARED_DIR"); dir != "" {
		p = filepath.Join(dir, "fixtures", "realworld")
	}
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("SV_REQUIRE_TOOLS") == "1" {
			tb.Fatalf("shared fixtures missing at %s", p)
		}
		tb.Skipf("shared fixtures missing at %s", p)
	}
	return p
}
