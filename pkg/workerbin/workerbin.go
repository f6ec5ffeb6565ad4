// Package workerbin finds the folder of the worker binaries webui starts,
// and builds them when webui runs from a source checkout without them.
//
// Under `go run ./cmd/webui` (the README's quickstart) webui is a temporary
// executable and no scan-worker or media-worker exists anywhere, so an
// import from the dashboard would wait forever. Ensure then builds every
// binary of the checkout into its bin/ folder with the go command that is
// running it (a few seconds when nothing changed, about two minutes the
// first time), so code changes reach the workers as they reach webui.
package workerbin

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

// Module is the module path a checkout's go.mod must declare.
const Module = "github.com/localsupervisor/supervisor"

// CodeBuildFailed is the reason code when building the workers failed.
const CodeBuildFailed = "worker_build_failed"

// Options configure Ensure.
type Options struct {
	// ExeDir is the folder of the running webui ("" if unknown).
	ExeDir string
	// WorkDir is where to look for the checkout (the working directory;
	// Ensure walks up from it to the folder with go.mod).
	WorkDir string
	// Need are the binary file names that must exist (".exe" included on
	// Windows).
	Need []string
	// Out receives the progress lines a person sees on the console.
	Out io.Writer
	// GoBin is the go command (default: the one on $PATH, else the one of
	// the toolchain that built this binary).
	GoBin string
}

// Result says where the workers are and whether Ensure built them.
type Result struct {
	Dir     string
	Built   bool
	Elapsed time.Duration
}

// Ensure returns ExeDir when every needed binary is beside webui (an
// installed release, `go build -o bin/ ./cmd/...`). Otherwise, in a
// source checkout, it builds all binaries into <checkout>/bin and returns
// that folder. Outside a checkout it returns ExeDir unchanged: the
// caller's lookup then names what is missing.
func Ensure(ctx context.Context, o Options) (Result, error) {
	if o.Out == nil {
		o.Out = io.Discard
	}
	if all(o.ExeDir, o.Need) {
		return Result{Dir: o.ExeDir}, nil
	}
	root := ModuleRoot(o.WorkDir)
	if root == "" {
		return Result{Dir: o.ExeDir}, nil
	}
	goBin := o.GoBin
	if goBin == "" {
		goBin = GoCommand()
	}
	dir := filepath.Join(root, "bin")
	fresh := !all(dir, o.Need)
	if fresh {
		fmt.Fprintf(o.Out, "webui: building the worker binaries into %s (first start only: this can take two minutes)…\n", dir)
	}
	start := time.Now()
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", dir+string(filepath.Separator), "./cmd/...")
	cmd.Dir = root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(out.String())
		return Result{Dir: o.ExeDir}, reason.Newf(CodeBuildFailed,
			"building the worker binaries failed (%v): %s; build them by hand with `go build -o bin/ ./cmd/...` in %s", err, msg, root)
	}
	el := time.Since(start)
	if fresh {
		fmt.Fprintf(o.Out, "webui: worker binaries ready in %.0fs\n", el.Seconds())
	}
	return Result{Dir: dir, Built: true, Elapsed: el}, nil
}

// ModuleRoot returns the folder at or above dir whose go.mod declares
// Module, or "".
func ModuleRoot(dir string) string {
	if dir == "" {
		return ""
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				f := strings.Fields(line)
				if len(f) == 2 && f[0] == "module" && f[1] == Module {
					return dir
				}
			}
			return ""
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// GoCommand is the go command on $PATH. Under `go test` that is always the
// toolchain running the test (go test puts its GOROOT/bin first on the
// test's PATH), so no fallback to the deprecated runtime.GOROOT is needed;
// without one, exec reports "go" as not found.
func GoCommand() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "go"
}

func all(dir string, names []string) bool {
	if dir == "" {
		return false
	}
	for _, n := range names {
		if st, err := os.Stat(filepath.Join(dir, n)); err != nil || st.IsDir() {
			return false
		}
	}
	return true
}
