package deploy

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/svtest"
)

// taskfile is the part of Taskfile.yml the tests need. `task` is not
// installed here and no YAML library is in go.sum, so parseTaskfile reads
// the file's plain block layout (vars and tasks at two spaces, their keys
// at four, list items at six); anything it does not understand fails the
// test instead of being skipped.
type taskfile struct {
	vars  map[string]string
	tasks map[string]taskDef
}

type taskDef struct {
	desc string
	cmds []string
	deps string
}

func parseTaskfile(t *testing.T, path string) taskfile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tf := taskfile{vars: map[string]string{}, tasks: map[string]taskDef{}}
	var section, name, key string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " "))
		k, v, isKey := strings.Cut(trimmed, ":")
		v = strings.TrimSpace(v)
		switch {
		case indent == 0 && isKey:
			section, name = k, ""
		case indent == 2 && isKey:
			name, key = k, ""
			switch {
			case section == "tasks":
				tf.tasks[name] = taskDef{}
			case section == "vars" && v != "":
				tf.vars[name] = unquote(v)
			}
		case indent == 4 && section == "vars":
			// A dynamic var (sh: git describe ...): its value is task's.
		case indent == 4 && section == "tasks" && isKey:
			key = k
			d := tf.tasks[name]
			switch k {
			case "desc":
				d.desc = unquote(v)
			case "deps":
				d.deps = v
			}
			tf.tasks[name] = d
		case indent == 6 && section == "tasks" && key == "cmds" && strings.HasPrefix(trimmed, "- "):
			d := tf.tasks[name]
			d.cmds = append(d.cmds, strings.TrimPrefix(trimmed, "- "))
			tf.tasks[name] = d
		default:
			t.Fatalf("%s:%d: layout not understood: %q", path, n, line)
		}
	}
	return tf
}

func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '\'' || s[0] == '"') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}

// render substitutes {{.NAME}} like task does for the variables given.
func render(s string, vars map[string]string) string {
	return regexp.MustCompile(`\{\{\s*\.(\w+)[^}]*\}\}`).ReplaceAllStringFunc(s, func(m string) string {
		name := regexp.MustCompile(`\.(\w+)`).FindStringSubmatch(m)[1]
		if v, ok := vars[name]; ok {
			return v
		}
		return m
	})
}

// TestTaskfileTasks: the tasks the issue names exist and are documented
// (what `task --list` prints is the desc).
func TestTaskfileTasks(t *testing.T) {
	tf := parseTaskfile(t, "../Taskfile.yml")
	for _, name := range []string{"build", "test", "bench", "vet", "run", "install", "selftest", "release", "windows"} {
		d, ok := tf.tasks[name]
		if !ok {
			t.Errorf("task %s missing", name)
			continue
		}
		if len(d.cmds) == 0 {
			t.Errorf("task %s has no cmds", name)
		}
	}
	for name, d := range tf.tasks {
		if d.desc == "" {
			t.Errorf("task %s has no desc, so `task --list` hides it", name)
		}
	}
	// `task release VERSION=x.y.z` hands the version to the script the
	// release tests check (TestReleaseArchives builds with it).
	if got := strings.Join(tf.tasks["release"].cmds, "\n"); got != "bash deploy/release.sh {{.VERSION}} dist" {
		t.Errorf("release task runs %q", got)
	}
	if got := strings.Join(tf.tasks["windows"].cmds, "\n"); !strings.Contains(got, "CGO_ENABLED=1 GOOS=windows GOARCH=amd64 CC=x86_64-w64-mingw32-gcc go build") {
		t.Errorf("windows task is not a cgo mingw-w64 build: %q", got)
	}
	if tf.tasks["install"].deps != "[build]" {
		t.Errorf("install must build first, deps %q", tf.tasks["install"].deps)
	}
}

// TestTaskfileBuildStampsVersion links a probe that prints pkg/version
// with the build task's -ldflags: a wrong -X path would build fine and
// silently report "dev". (-trimpath is left out: it does not change -X and
// would recompile the standard library outside the build cache.)
func TestTaskfileBuildStampsVersion(t *testing.T) {
	tf := parseTaskfile(t, "../Taskfile.yml")
	build := strings.Join(tf.tasks["build"].cmds, "\n")
	if !strings.Contains(build, `-ldflags "{{.LDFLAGS}}"`) || !strings.Contains(build, "-o bin/ ./cmd/...") {
		t.Fatalf("build task does not build every binary with LDFLAGS:\n%s", build)
	}
	const stamp = "v9.8.7-test"
	ldflags := render(tf.vars["LDFLAGS"], map[string]string{"VERSION": stamp})
	if !strings.Contains(ldflags, "-X ") {
		t.Fatalf("LDFLAGS %q stamps nothing", ldflags)
	}
	out := filepath.Join(t.TempDir(), "versionprobe")
	cmd := exec.Command("go", "build", "-ldflags", ldflags, "-o", out, "./deploy/testdata/versionprobe")
	cmd.Dir = svtest.RepoRoot(t)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	r := svtest.RunBinary(t, t.TempDir(), nil, out)
	if r.Code != 0 || strings.TrimSpace(r.Stdout) != stamp {
		t.Fatalf("probe: exit %d %q, want %s", r.Code, r.Stdout+r.Stderr, stamp)
	}
}

// TestTaskfileInstall runs the install task's commands (rendered as task
// would) into a temporary prefix from a stand-in checkout with a built
// bin/: binaries and the config example land in the prefix, and a second
// install keeps the admin's config.json.
func TestTaskfileInstall(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	tf := parseTaskfile(t, "../Taskfile.yml")
	work, prefix := t.TempDir(), filepath.Join(t.TempDir(), "with space", "supervisor")
	os.MkdirAll(filepath.Join(work, "bin"), 0o755)
	os.MkdirAll(filepath.Join(work, "CONFIG"), 0o755)
	for _, b := range []string{"webui", "scan-worker"} {
		os.WriteFile(filepath.Join(work, "bin", b), []byte("#!/bin/sh\necho "+b+"\n"), 0o755)
	}
	for _, c := range []string{"config.example.json", "README.md", "forge_recipes.json"} {
		b, err := os.ReadFile(filepath.Join("..", "CONFIG", c))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(work, "CONFIG", c), b, 0o644)
	}
	install := func() {
		t.Helper()
		for _, c := range tf.tasks["install"].cmds {
			line := render(c, map[string]string{"PREFIX": prefix})
			cmd := exec.Command("sh", "-c", line)
			cmd.Dir = work
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", line, err, b)
			}
		}
	}
	install()
	for _, p := range []string{"bin/webui", "bin/scan-worker", "CONFIG/config.example.json", "CONFIG/forge_recipes.json", "CONFIG/config.json"} {
		if _, err := os.Stat(filepath.Join(prefix, p)); err != nil {
			t.Errorf("after install: %v", err)
		}
	}
	if st, err := os.Stat(filepath.Join(prefix, "LOGS")); err != nil || !st.IsDir() {
		t.Errorf("LOGS not created: %v", err)
	}
	mine := filepath.Join(prefix, "CONFIG", "config.json")
	os.WriteFile(mine, []byte(`{"web":{"addr":"0.0.0.0:9000"}}`), 0o644)
	install()
	if b, _ := os.ReadFile(mine); !strings.Contains(string(b), "9000") {
		t.Errorf("reinstall overwrote config.json: %s", b)
	}
}

// TestReleaseScriptRefusesBadInput: a version that is not x.y.z or an
// unknown target stops the script before anything is built, with the
// reason and what to type instead.
func TestReleaseScriptRefusesBadInput(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"latest"}, "is not x.y.z"},
		{[]string{"1.2"}, "is not x.y.z"},
		{[]string{"1.2.3", t.TempDir(), "plan9/amd64"}, "unsupported target plan9/amd64"},
	} {
		cmd := exec.Command("bash", append([]string{"release.sh"}, tt.args...)...)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), tt.want) {
			t.Errorf("release.sh %v: err %v, output %q, want %q", tt.args, err, out, tt.want)
		}
	}
}
