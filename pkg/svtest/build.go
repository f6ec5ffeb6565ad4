package svtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// BuildBinary builds the main package at pkgPath (module-relative, e.g.
// "./cmd/migrate") into a temporary folder and returns the binary's path.
func BuildBinary(tb testing.TB, pkgPath string) string {
	tb.Helper()
	return BuildBinaryWith(tb, pkgPath, BuildOptions{})
}

// BuildOptions are the go build flags BuildBinaryWith passes.
type BuildOptions struct {
	// Tags is the -tags value, e.g. "svfault" for fault-injection builds.
	Tags string
}

// BuildBinaryWith is BuildBinary with build flags.
func BuildBinaryWith(tb testing.TB, pkgPath string, o BuildOptions) string {
	tb.Helper()
	out := filepath.Join(tb.TempDir(), filepath.Base(pkgPath))
	args := []string{"build", "-o", out}
	if o.Tags != "" {
		args = append(args, "-tags", o.Tags)
	}
	cmd := exec.Command("go", append(args, pkgPath)...)
	cmd.Dir = RepoRoot(tb)
	cmd.Env = os.Environ()
	if b, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go %s: %v\n%s", strings.Join(cmd.Args[1:], " "), err, b)
	}
	return out
}

// RunResult is the outcome of RunBinary.
type RunResult struct {
	Code   int
	Stdout string
	Stderr string
}

// RunBinary runs bin with args in dir and extra environment, returning its
// exit code and output.
func RunBinary(tb testing.TB, dir string, env []string, bin string, args ...string) RunResult {
	tb.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var so, se strings.Builder
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			tb.Fatalf("run %s: %v", bin, err)
		}
		code = ee.ExitCode()
	}
	return RunResult{Code: code, Stdout: so.String(), Stderr: se.String()}
}
