package deploy

import (
	"bufio"
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"debug/pe"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/svtest"
)

// TestReleaseArchives unpacks every archive of a release, checks its
// checksum, contents and machine type, and runs --version of every binary
// this machine can run: linux/amd64 natively, windows/amd64 under Wine,
// linux/arm64 under qemu-user when it is installed (else its ELF header is
// checked only).
func TestReleaseArchives(t *testing.T) {
	rs := release(t)
	sums := readSums(t, filepath.Join(rs.dir, "SHA256SUMS"))
	names := cmdNames(t)
	for _, target := range releaseTargets {
		t.Run(strings.ReplaceAll(target, "/", "-"), func(t *testing.T) {
			archive, ok := rs.archives[target]
			if !ok {
				t.Fatalf("release %s has no %s archive (have %v)", rs.version, target, rs.archives)
			}
			if got := fileSHA256(t, filepath.Join(rs.dir, archive)); sums[archive] != got {
				t.Fatalf("SHA256SUMS says %q for %s, the file has %s", sums[archive], archive, got)
			}
			st, _ := os.Stat(filepath.Join(rs.dir, archive))
			t.Logf("%s: %.1f MB", archive, float64(st.Size())/1e6)
			root := rs.unpacked(t, target)
			goos, goarch, _ := strings.Cut(target, "/")
			exe := ""
			if goos == "windows" {
				exe = ".exe"
			}
			for _, f := range []string{"README.md", "CONFIG/config.example.json", "CONFIG/README.md", "CONFIG/forge_recipes.json", "deploy/README.md"} {
				if _, err := os.Stat(filepath.Join(root, f)); err != nil {
					t.Errorf("%s lacks %s", archive, f)
				}
			}
			if _, err := os.Stat(filepath.Join(root, "CONFIG", "config.json")); err == nil {
				t.Errorf("%s ships a CONFIG/config.json: an upgrade unpacked over an installation would overwrite the user's", archive)
			}
			platformDir := map[string]string{"linux": "deploy/systemd/supervisor-webui.service", "windows": "deploy/windows/install.ps1"}[goos]
			if _, err := os.Stat(filepath.Join(root, platformDir)); err != nil {
				t.Errorf("%s lacks %s", archive, platformDir)
			}
			if m, _ := filepath.Glob(filepath.Join(root, "deploy", "*", "*_test.go")); len(m) > 0 {
				t.Errorf("%s ships test files %v", archive, m)
			}
			if m, _ := filepath.Glob(filepath.Join(root, "deploy", "testdata")); len(m) > 0 {
				t.Errorf("%s ships the test tooling (testdata: the Wine ProcessPrng shim is for tests only)", archive)
			}
			bins, _ := os.ReadDir(filepath.Join(root, "bin"))
			if len(bins) != len(names) {
				t.Errorf("%s has %d binaries, cmd/ has %d", archive, len(bins), len(names))
			}
			var w *wineEnv
			if goos == "windows" {
				w = wine(t)
			}
			qemu, _ := exec.LookPath("qemu-aarch64")
			for _, n := range names {
				bin := filepath.Join(root, "bin", n+exe)
				checkMachine(t, bin, goos, goarch)
				var res svtest.RunResult
				switch {
				case target == "linux/amd64":
					res = svtest.RunBinary(t, root, nil, bin, "--version")
				case goos == "windows":
					res = w.run(t, root, bin, "--version")
				case qemu != "":
					res = svtest.RunBinary(t, root, nil, qemu, "-L", "/usr/aarch64-linux-gnu", bin, "--version")
				default:
					continue
				}
				want := n + " version " + rs.version
				if res.Code != 0 || strings.TrimSpace(res.Stdout) != want {
					t.Errorf("%s --version: exit %d, %q, want %q\n%s", n+exe, res.Code, strings.TrimSpace(res.Stdout), want, res.Stderr)
				}
			}
		})
	}
}

func readSums(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("release has no SHA256SUMS: %v", err)
	}
	defer f.Close()
	sums := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok || len(sum) != 64 {
			t.Fatalf("SHA256SUMS line %q is not sha256sum's format", sc.Text())
		}
		sums[name] = sum
	}
	return sums
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// checkMachine asserts bin is an executable for goos/goarch and, when it
// contains go-sqlite3, that it was built with cgo: without, go-sqlite3
// compiles to a stub that fails on the first database open (what the
// CGO_ENABLED=0 Windows build of earlier CI produced).
func checkMachine(t *testing.T, bin, goos, goarch string) {
	t.Helper()
	if bi, err := buildinfo.ReadFile(bin); err != nil {
		t.Errorf("%s: no Go build info: %v", bin, err)
	} else {
		cgo := ""
		for _, s := range bi.Settings {
			if s.Key == "CGO_ENABLED" {
				cgo = s.Value
			}
		}
		for _, d := range bi.Deps {
			if d.Path == "github.com/mattn/go-sqlite3" && cgo != "1" {
				t.Errorf("%s uses go-sqlite3 but was built with CGO_ENABLED=%q: its database calls would fail", bin, cgo)
			}
		}
	}
	if goos == "windows" {
		f, err := pe.Open(bin)
		if err != nil {
			t.Errorf("%s is not a PE executable: %v", bin, err)
			return
		}
		defer f.Close()
		if f.Machine != pe.IMAGE_FILE_MACHINE_AMD64 {
			t.Errorf("%s: PE machine %#x, want amd64", bin, f.Machine)
		}
		return
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Errorf("%s is not an ELF executable: %v", bin, err)
		return
	}
	defer f.Close()
	want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[goarch]
	if f.Machine != want {
		t.Errorf("%s: ELF machine %v, want %v", bin, f.Machine, want)
	}
}
