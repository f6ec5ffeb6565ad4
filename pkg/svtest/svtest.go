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

// SharedDir is the one lookup of the team's shared folder (ARCHITECTURE.md,
// spec/, fixtures/): $SV_SHARED_DIR when set, else ../shared beside the
// repository (where CI puts it). It only locates the folder; see
// SharedFixtures and OptionalSharedFixtures for what a test does when the
// folder is absent.
func SharedDir(tb testing.TB) string {
	tb.Helper()
	if dir := os.Getenv("SV_SHARED_DIR"); dir != "" {
		return dir
	}
	return filepath.Join(RepoRoot(tb), "..", "shared")
}

// sharedFixturesPath is shared/fixtures/realworld and whether it exists.
func sharedFixturesPath(tb testing.TB) (string, bool) {
	tb.Helper()
	p := filepath.Join(SharedDir(tb), "fixtures", "realworld")
	_, err := os.Stat(p)
	return p, err == nil
}

// SharedFixtures returns the shared real-world fixtures folder
// (SharedDir/fixtures/realworld). When it is absent the test is skipped, or
// fails under SV_REQUIRE_TOOLS=1 (see SkipUnlessRequired).
func SharedFixtures(tb testing.TB) string {
	tb.Helper()
	p, ok := sharedFixturesPath(tb)
	if !ok {
		SkipUnlessRequired(tb, "shared fixtures missing at %s (set SV_SHARED_DIR to the shared folder)", p)
	}
	return p
}

// OptionalSharedFixtures is SharedFixtures for tests that also have inputs
// of their own (fuzz seeds): when the fixtures are absent it returns "" and
// the test goes on without them, except under SV_REQUIRE_TOOLS=1, where it
// fails so CI never runs with fewer inputs than intended.
func OptionalSharedFixtures(tb testing.TB) string {
	tb.Helper()
	p, ok := sharedFixturesPath(tb)
	if ok {
		return p
	}
	if os.Getenv("SV_REQUIRE_TOOLS") == "1" {
		tb.Fatalf("shared fixtures missing at %s (set SV_SHARED_DIR to the shared folder; SV_REQUIRE_TOOLS=1)", p)
	}
	tb.Logf("shared fixtures missing at %s: running without them", p)
	return ""
}
