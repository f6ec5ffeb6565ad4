// Package deploy holds the service definitions; its test checks that they
// parse: systemd units with systemd-analyze when present, else a unit-file
// syntax check, and the Task Scheduler XML for its required elements.
package deploy

import (
	"bufio"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/svtest"
)

var execRe = regexp.MustCompile(`^/opt/supervisor/bin/([a-z%-]+)`)

func unitFiles(t *testing.T) []string {
	m, _ := filepath.Glob("systemd/*.service")
	n, _ := filepath.Glob("systemd/*.timer")
	files := append(m, n...)
	if len(files) < 6 {
		t.Fatalf("only %d unit files", len(files))
	}
	return files
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// TestUnitSyntax is the parser check that always runs.
func TestUnitSyntax(t *testing.T) {
	for _, f := range unitFiles(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sections := map[string]map[string]string{}
		var cur string
		sc := bufio.NewScanner(strings.NewReader(string(b)))
		for line := 1; sc.Scan(); line++ {
			s := strings.TrimSpace(sc.Text())
			switch {
			case s == "" || strings.HasPrefix(s, "#") || strings.HasPrefix(s, ";"):
			case strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]"):
				cur = s[1 : len(s)-1]
				sections[cur] = map[string]string{}
			case cur == "":
				t.Errorf("%s:%d: key outside a section", f, line)
			default:
				k, v, ok := strings.Cut(s, "=")
				if !ok || strings.TrimSpace(k) == "" {
					t.Errorf("%s:%d: not key=value: %q", f, line, s)
					continue
				}
				sections[cur][strings.TrimSpace(k)] = v
			}
		}
		if _, ok := sections["Unit"]["Description"]; !ok {
			t.Errorf("%s: no [Unit] Description", f)
		}
		switch filepath.Ext(f) {
		case ".service":
			m := execRe.FindStringSubmatch(sections["Service"]["ExecStart"])
			if m == nil {
				t.Errorf("%s: ExecStart missing or not an installed binary", f)
			} else if name := strings.ReplaceAll(m[1], "%i", "scan"); !fileExists(filepath.Join("..", "cmd", name, "main.go")) {
				t.Errorf("%s: ExecStart runs %s, which is no binary in cmd/", f, name)
			}
			if sections["Service"]["NoNewPrivileges"] != "yes" || sections["Service"]["ProtectSystem"] != "strict" {
				t.Errorf("%s: hardening options missing", f)
			}
		case ".timer":
			if sections["Timer"]["OnCalendar"] == "" {
				t.Errorf("%s: no OnCalendar", f)
			}
			svc := strings.TrimSuffix(f, ".timer") + ".service"
			if _, err := os.Stat(svc); err != nil {
				t.Errorf("%s: no matching service %s", f, svc)
			}
		}
	}
}

// TestSystemdAnalyzeVerify runs the real verifier against copies whose
// paths point at stand-in binaries in a temp folder.
func TestSystemdAnalyzeVerify(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed; TestUnitSyntax covers the syntax")
	}
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "bin"), 0o755)
	units := filepath.Join(root, "units")
	os.MkdirAll(units, 0o755)
	var args []string
	for _, f := range unitFiles(t) {
		b, _ := os.ReadFile(f)
		text := string(b)
		for _, line := range strings.Split(text, "\n") {
			if v, ok := strings.CutPrefix(line, "ExecStart="); ok {
				if m := execRe.FindStringSubmatch(v); m != nil {
					name := strings.ReplaceAll(m[1], "%i", "scan")
					os.WriteFile(filepath.Join(root, "bin", name), []byte("#!/bin/sh\n"), 0o755)
				}
			}
		}
		text = strings.ReplaceAll(text, "/opt/supervisor", root)
		base := filepath.Base(f)
		// Templates are verified through an instance.
		base = strings.Replace(base, "@.", "@scan.", 1)
		os.WriteFile(filepath.Join(units, base), []byte(text), 0o644)
		args = append(args, filepath.Join(units, base))
	}
	cmd := exec.Command(sa, append([]string{"verify", "--man=no"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.Contains(string(out), "is not executable") || strings.Contains(string(out), "Unknown") {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

type task struct {
	XMLName  xml.Name `xml:"Task"`
	Version  string   `xml:"version,attr"`
	Desc     string   `xml:"RegistrationInfo>Description"`
	Triggers struct {
		Inner []byte `xml:",innerxml"`
	} `xml:"Triggers"`
	Principal string `xml:"Principals>Principal>LogonType"`
	Enabled   string `xml:"Settings>Enabled"`
	Exec      []struct {
		Command string `xml:"Command"`
		Args    string `xml:"Arguments"`
		WorkDir string `xml:"WorkingDirectory"`
	} `xml:"Actions>Exec"`
}

// parseTask reads a Task Scheduler definition.
func parseTask(t *testing.T, path string) task {
	t.Helper()
	var tk task
	if err := xml.Unmarshal(svtest.ReadFile(t, path), &tk); err != nil {
		t.Fatalf("%s: not well-formed: %v", path, err)
	}
	return tk
}

func TestTaskSchedulerXML(t *testing.T) {
	files, _ := filepath.Glob("windows/*.xml")
	if len(files) < 3 {
		t.Fatalf("only %d task definitions", len(files))
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		var tk task
		if err := xml.Unmarshal(b, &tk); err != nil {
			t.Errorf("%s: not well-formed: %v", f, err)
			continue
		}
		if tk.XMLName.Space != "http://schemas.microsoft.com/windows/2004/02/mit/task" || tk.Version == "" {
			t.Errorf("%s: wrong root element/namespace", f)
		}
		if tk.Desc == "" || len(strings.TrimSpace(string(tk.Triggers.Inner))) == 0 || tk.Principal == "" || tk.Enabled != "true" {
			t.Errorf("%s: required elements missing", f)
		}
		if len(tk.Exec) != 1 || !strings.HasPrefix(tk.Exec[0].Command, `"%SUPERVISOR_HOME%\bin\`) || !strings.HasSuffix(tk.Exec[0].Command, `.exe"`) {
			t.Errorf("%s: Exec command must be the quoted installed binary, got %+v", f, tk.Exec)
		}
	}
}

// TestPowerShellAvoidsAutomaticVariables guards the original's bug: naming
// a parameter $PID/$Home collides with PowerShell's read-only automatics.
func TestPowerShellAvoidsAutomaticVariables(t *testing.T) {
	bad := regexp.MustCompile(`(?i)\$(pid|home|host|input|args)\b`)
	files, _ := filepath.Glob("windows/*.ps1")
	if len(files) != 2 {
		t.Fatalf("want install.ps1 and uninstall.ps1, got %v", files)
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for i, line := range strings.Split(string(b), "\n") {
			code, _, _ := strings.Cut(line, "#")
			if m := bad.FindString(code); m != "" {
				t.Errorf("%s:%d uses automatic variable %s", f, i+1, m)
			}
		}
	}
}

// TestPowerShellParses runs install.ps1 and uninstall.ps1 through a real
// PowerShell parser: the tree-sitter PowerShell grammar from npm
// (deploy/pslint, installed by `npm ci --prefix deploy/pslint`; CI does).
// No PowerShell itself is available from this machine's registries, so the
// scripts are parsed, not run.
func TestPowerShellParses(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		svtest.SkipUnlessRequired(t, "node is needed for the PowerShell parser")
	}
	if _, err := os.Stat("pslint/node_modules/web-tree-sitter"); err != nil {
		svtest.SkipUnlessRequired(t, "the PowerShell parser is not installed: npm ci --prefix deploy/pslint")
	}
	files, _ := filepath.Glob("windows/*.ps1")
	if len(files) != 2 {
		t.Fatalf("want install.ps1 and uninstall.ps1, got %v", files)
	}
	for i, f := range files {
		files[i] = filepath.Join("..", f)
	}
	cmd := exec.Command(node, append([]string{"lint.mjs"}, files...)...)
	cmd.Dir = "pslint"
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("PowerShell syntax errors: %v\n%s", err, out)
	}
	t.Logf("%s", out)
	// The parser must be able to fail: a script with an unclosed block is
	// refused.
	bad := filepath.Join(t.TempDir(), "bad.ps1")
	os.WriteFile(bad, []byte("param([string]$X)\nif ($X -eq 'a') {\n  Write-Host 'x'\n"), 0o644)
	cmd = exec.Command(node, "lint.mjs", bad)
	cmd.Dir = "pslint"
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("an unclosed block parsed without error:\n%s", out)
	}
}
