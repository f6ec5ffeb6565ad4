package workerbin

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

func TestModuleRoot(t *testing.T) {
	dir := t.TempDir()
	repo := filepath.Join(dir, "repo")
	other := filepath.Join(dir, "other")
	os.MkdirAll(filepath.Join(repo, "cmd", "webui"), 0o755)
	os.MkdirAll(filepath.Join(other, "sub"), 0o755)
	os.WriteFile(filepath.Join(repo, "go.mod"), []byte("module "+Module+"\n\ngo 1.26\n"), 0o644)
	os.WriteFile(filepath.Join(other, "go.mod"), []byte("module example.com/other\n"), 0o644)
	cases := []struct{ from, want string }{
		{repo, repo},
		{filepath.Join(repo, "cmd", "webui"), repo},
		{filepath.Join(other, "sub"), ""}, // another module: not ours
		{dir, ""},
		{"", ""},
	}
	for _, c := range cases {
		if got := ModuleRoot(c.from); got != c.want {
			t.Errorf("ModuleRoot(%q) = %q, want %q", c.from, got, c.want)
		}
	}
}

// fakeGo writes a go command that records its arguments and creates the
// binaries `go build -o DIR/ ./cmd/...` would (or fails with fail set).
func fakeGo(t *testing.T, names []string, fail bool) (bin, record string) {
	if runtime.GOOS == "windows" {
		t.Skip("shell script stand-in for go")
	}
	dir := t.TempDir()
	record = filepath.Join(dir, "args")
	script := "#!/bin/sh\necho \"$PWD $@\" >> " + record + "\n"
	if fail {
		script += "echo 'cmd/x/main.go:1: syntax error' >&2\nexit 1\n"
	} else {
		script += "out=$3\nmkdir -p \"$out\"\n"
		for _, n := range names {
			script += "touch \"$out/" + n + "\"\n"
		}
	}
	bin = filepath.Join(dir, "go")
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, record
}

func TestEnsure(t *testing.T) {
	need := []string{"scan-worker", "media-worker"}
	t.Run("beside webui: nothing built", func(t *testing.T) {
		exe := t.TempDir()
		for _, n := range need {
			os.WriteFile(filepath.Join(exe, n), nil, 0o755)
		}
		goBin, rec := fakeGo(t, need, false)
		res, err := Ensure(context.Background(), Options{ExeDir: exe, WorkDir: t.TempDir(), Need: need, GoBin: goBin})
		if err != nil || res.Dir != exe || res.Built {
			t.Fatalf("%+v %v", res, err)
		}
		if _, err := os.Stat(rec); err == nil {
			t.Fatal("go was run although the workers exist")
		}
	})
	t.Run("go run in a checkout: builds bin/", func(t *testing.T) {
		repo := t.TempDir()
		os.WriteFile(filepath.Join(repo, "go.mod"), []byte("module "+Module+"\n"), 0o644)
		goBin, rec := fakeGo(t, need, false)
		var out bytes.Buffer
		res, err := Ensure(context.Background(), Options{ExeDir: t.TempDir(), WorkDir: repo, Need: need, GoBin: goBin, Out: &out})
		if err != nil || res.Dir != filepath.Join(repo, "bin") || !res.Built {
			t.Fatalf("%+v %v", res, err)
		}
		args, _ := os.ReadFile(rec)
		if want := repo + " build -o " + filepath.Join(repo, "bin") + "/ ./cmd/..."; strings.TrimSpace(string(args)) != want {
			t.Fatalf("go ran as %q, want %q", args, want)
		}
		if !strings.Contains(out.String(), "building the worker binaries") {
			t.Fatalf("no progress line for a person: %q", out.String())
		}
		// Second start: bin/ exists, go still runs (picks up code
		// changes) but says nothing.
		out.Reset()
		if _, err := Ensure(context.Background(), Options{ExeDir: t.TempDir(), WorkDir: repo, Need: need, GoBin: goBin, Out: &out}); err != nil || out.Len() != 0 {
			t.Fatalf("warm start: %v %q", err, out.String())
		}
	})
	t.Run("build fails: says how to build by hand", func(t *testing.T) {
		repo := t.TempDir()
		os.WriteFile(filepath.Join(repo, "go.mod"), []byte("module "+Module+"\n"), 0o644)
		goBin, _ := fakeGo(t, need, true)
		_, err := Ensure(context.Background(), Options{ExeDir: t.TempDir(), WorkDir: repo, Need: need, GoBin: goBin})
		if reason.Code(err) != CodeBuildFailed || !strings.Contains(err.Error(), "syntax error") || !strings.Contains(err.Error(), "go build -o bin/ ./cmd/...") {
			t.Fatalf("%v", err)
		}
	})
	t.Run("outside a checkout: unchanged", func(t *testing.T) {
		exe := t.TempDir()
		res, err := Ensure(context.Background(), Options{ExeDir: exe, WorkDir: t.TempDir(), Need: need, GoBin: "/nonexistent/go"})
		if err != nil || res.Dir != exe || res.Built {
			t.Fatalf("%+v %v", res, err)
		}
	})
}
