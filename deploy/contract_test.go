package deploy

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/jobs/workerstate"
	"github.com/localsupervisor/supervisor/pkg/svtest"
)

// linuxBin returns a folder with every binary for this machine: the
// linux/amd64 release when SV_RELEASE_DIR names one (CI), else a plain
// go build of ./cmd/... made once.
func linuxBin(t *testing.T) string {
	t.Helper()
	if os.Getenv("SV_RELEASE_DIR") != "" {
		return filepath.Join(release(t).unpacked(t, "linux/amd64"), "bin")
	}
	shared.unpackMu.Lock()
	defer shared.unpackMu.Unlock()
	dir := filepath.Join(shared.dir, "linux-bin")
	if _, err := os.Stat(filepath.Join(dir, "webui")); err == nil {
		return dir
	}
	cmd := exec.Command("go", "build", "-o", dir+"/", "./cmd/...")
	cmd.Dir = svtest.RepoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/...: %v\n%s", err, out)
	}
	return dir
}

var requiredRe = regexp.MustCompile(`Required flags? "([^"]+)" not set`)

// commandPaths lists bin's verbs (and their subcommands) from its help.
func commandPaths(t *testing.T, bin string, prefix []string) [][]string {
	t.Helper()
	out, _ := exec.Command(bin, append(prefix, "--help")...).CombinedOutput()
	var paths [][]string
	in := false
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "COMMANDS:":
			in = true
		case in && line != "" && !strings.HasPrefix(line, " "):
			in = false
		case in && strings.TrimSpace(line) != "":
			name := strings.TrimSuffix(strings.Fields(line)[0], ",")
			if name == "help" {
				continue
			}
			p := append(append([]string{}, prefix...), name)
			if sub := commandPaths(t, bin, p); len(sub) > 0 {
				paths = append(paths, sub...)
			} else {
				paths = append(paths, p)
			}
		}
	}
	return paths
}

// TestFlagContract: every binary and every verb takes the shared flags
// (--config, --json) before and after the verb with the same effect. The
// config given is one the loader refuses (an unknown key), so a command
// that honours --config fails naming that file, whichever position it was
// written in; one that fell back to CONFIG/config.json in the working
// directory (media-worker, forge-worker before this contract) or rejected
// the flag after the verb (jobs-admin: the shipped prune unit failed every
// night) fails the test. Required flags of a verb get a dummy value.
func TestFlagContract(t *testing.T) {
	binDir := linuxBin(t)
	bad := filepath.Join(t.TempDir(), "refused-config.json")
	if err := os.WriteFile(bad, []byte(`{"not_a_config_key": 1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	// Binaries that never read the config (a file inspector) must still
	// accept the flags.
	noConfig := map[string]bool{"meta-inspect": true}
	// Verbs that check their arguments before reading the config get the
	// least they need.
	needs := map[string][]string{"media-worker enqueue": {"--all-missing"}}
	for _, name := range cmdNames(t) {
		bin := filepath.Join(binDir, name)
		paths := commandPaths(t, bin, nil)
		if len(paths) == 0 {
			paths = [][]string{nil}
		}
		for _, verb := range paths {
			t.Run(strings.Join(append([]string{name}, verb...), "_"), func(t *testing.T) {
				work := t.TempDir() // an empty working directory: no CONFIG/ to fall back to
				extra := needs[strings.Join(append([]string{name}, verb...), " ")]
				run := func(args []string) svtest.RunResult {
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					defer cancel()
					cmd := exec.CommandContext(ctx, bin, args...)
					cmd.Dir = work
					cmd.Env = append(os.Environ(), "SV_CONFIG=", "SV_BASE=")
					var so, se bytes.Buffer
					cmd.Stdout, cmd.Stderr = &so, &se
					err := cmd.Run()
					code := 0
					if ee, ok := err.(*exec.ExitError); ok {
						code = ee.ExitCode()
					} else if err != nil {
						t.Fatal(err)
					}
					return svtest.RunResult{Code: code, Stdout: so.String(), Stderr: se.String()}
				}
				shared := []string{"--config=" + bad, "--json"}
				var before, after svtest.RunResult
				for try := 0; try < 6; try++ {
					before = run(append(append(append([]string{}, shared...), verb...), extra...))
					after = run(append(append(append([]string{}, verb...), extra...), shared...))
					m := requiredRe.FindStringSubmatch(before.Stderr + before.Stdout + after.Stderr + after.Stdout)
					if m == nil {
						break
					}
					for _, f := range strings.Split(m[1], ", ") {
						extra = append(extra, "--"+strings.Trim(f, `"`)+"=1")
					}
				}
				for pos, r := range map[string]svtest.RunResult{"before": before, "after": after} {
					all := r.Stdout + r.Stderr
					if strings.Contains(all, "flag provided but not defined") {
						t.Errorf("shared flags %s the verb are refused:\n%s", pos, all)
					}
					if !noConfig[name] && !strings.Contains(all, bad) {
						t.Errorf("--config %s the verb is not honoured (exit %d, no mention of the refused config):\n%s", pos, r.Code, all)
					}
				}
				if before.Code != after.Code {
					t.Errorf("exit %d with the flags before the verb, %d after", before.Code, after.Code)
				}
			})
		}
	}
}

// shippedCommand is one command line a shipped unit, timer or cron line runs.
type shippedCommand struct {
	origin string
	line   string   // as shipped, /opt/supervisor replaced by the test's base
	env    []string // Environment= lines
	// long is set for services that run until stopped.
	long bool
}

// TestShippedLinuxCommands executes every systemd ExecStart (the worker
// template for each worker it is documented for) and every cron line of
// the README, with /opt/supervisor replaced by a temporary installation of
// the built binaries and the example config. Batch commands must exit 0;
// services must come up (webui listens, a looping worker writes its
// heartbeat) and end cleanly on SIGTERM.
func TestShippedLinuxCommands(t *testing.T) {
	binDir := linuxBin(t)
	base := t.TempDir()
	if err := os.Symlink(binDir, filepath.Join(base, "bin")); err != nil {
		t.Fatal(err)
	}
	repo := svtest.RepoRoot(t)
	writeSiteConfig(t, base, filepath.Join(repo, "CONFIG", "config.example.json"))
	var cmds []shippedCommand
	units, _ := filepath.Glob("systemd/*.service")
	for _, u := range units {
		var env []string
		var execStart, typ string
		sc := bufio.NewScanner(bytes.NewReader(svtest.ReadFile(t, u)))
		for sc.Scan() {
			k, v, _ := strings.Cut(strings.TrimSpace(sc.Text()), "=")
			switch k {
			case "Environment":
				env = append(env, strings.ReplaceAll(v, "/opt/supervisor", base))
			case "ExecStart":
				execStart = strings.ReplaceAll(v, "/opt/supervisor", base)
			case "Type":
				typ = v
			}
		}
		if execStart == "" {
			t.Fatalf("%s has no ExecStart", u)
		}
		timer := fileExists(strings.TrimSuffix(u, ".service") + ".timer")
		if typ == "oneshot" != timer {
			t.Errorf("%s: Type=%s but timer %v", u, typ, timer)
		}
		instances := []string{""}
		if strings.Contains(execStart, "%i") {
			// The template documents its instances in a comment line
			// "# %i is the worker: scan, media, … (…)"; each is run.
			m := regexp.MustCompile(`(?m)^# %i is the worker: ([a-z, -]+)`).FindSubmatch(svtest.ReadFile(t, u))
			if m == nil {
				t.Fatalf("%s: no \"# %%i is the worker: …\" line naming its instances", u)
			}
			instances = strings.Split(strings.TrimSpace(string(m[1])), ", ")
		}
		for _, in := range instances {
			cmds = append(cmds, shippedCommand{origin: filepath.Base(u) + map[bool]string{true: " (@" + in + ")", false: ""}[in != ""],
				line: strings.ReplaceAll(execStart, "%i", in), env: env, long: !timer})
		}
	}
	readme := string(svtest.ReadFile(t, filepath.Join(repo, "README.md")))
	cron := readmeSection(t, readme, "Cron")
	_, block, _ := strings.Cut(cron, "```cron\n")
	block, _, _ = strings.Cut(block, "```")
	for _, l := range strings.Split(strings.TrimSpace(block), "\n") {
		f := strings.Fields(l)
		// The command follows the five schedule fields, or one @keyword.
		var rest []string
		if strings.HasPrefix(f[0], "@") {
			rest = f[1:]
		} else {
			rest = f[5:]
		}
		line := strings.ReplaceAll(strings.Join(rest, " "), "/opt/supervisor", base)
		cmds = append(cmds, shippedCommand{origin: "README cron: " + l, line: line, long: f[0] == "@reboot"})
	}
	if len(cmds) < 12 {
		t.Fatalf("only %d shipped commands found", len(cmds))
	}
	for _, sc := range cmds {
		t.Run(sc.origin, func(t *testing.T) {
			runShipped(t, base, sc)
		})
	}
}

func runShipped(t *testing.T, base string, sc shippedCommand) {
	t.Helper()
	// exec: the shell becomes the program, as systemd runs ExecStart and
	// as a cron line's last command ends up running, so signals and the
	// exit status are the program's own.
	line := "exec " + sc.line
	if dir, rest, ok := strings.Cut(sc.line, " && "); ok && strings.HasPrefix(dir, "cd ") {
		line = dir + " && exec " + rest
	}
	cmd := exec.Command("sh", "-c", line)
	cmd.Dir = base
	cmd.Env = append(append(os.Environ(), "SV_CONFIG=", "SV_BASE="), sc.env...)
	out := &svtest.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if !sc.long {
		if err := cmd.Run(); err != nil {
			t.Fatalf("`%s`: %v\n%s", sc.line, err, out)
		}
		t.Logf("`%s`: %s", sc.line, strings.TrimSpace(out.String()))
		return
	}
	// A service: started in its own process group (as systemd does) so the
	// SIGTERM reaches it through sh's exec or cd &&.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	logs := filepath.Join(base, "LOGS")
	ready := func() bool {
		if listenRe.MatchString(out.String()) {
			return true
		}
		hbs, _ := filepath.Glob(filepath.Join(logs, "*.heartbeat.json"))
		for _, p := range hbs {
			if st, err := os.Stat(p); err == nil && st.ModTime().After(time.Now().Add(-2*time.Second)) {
				hb, err := workerstate.ReadHeartbeat(logs, strings.TrimSuffix(filepath.Base(p), ".heartbeat.json"))
				if err == nil && hb.PID == cmd.Process.Pid {
					return true
				}
			}
		}
		return false
	}
	end := time.Now().Add(wineDeadline)
	for !ready() {
		select {
		case err := <-done:
			t.Fatalf("`%s` ended while it should run: %v\n%s", sc.line, err, out)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(end) {
			t.Fatalf("`%s` did not come up (no listening line, no heartbeat of its pid)\n%s", sc.line, out)
		}
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("`%s` after SIGTERM: %v\n%s", sc.line, err, out)
		}
	case <-time.After(wineDeadline):
		t.Fatalf("`%s` did not stop on SIGTERM\n%s", sc.line, out)
	}
}
