package deploy

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/svtest"
)

// The release archives and the Wine prefix are expensive (minutes to build,
// seconds to boot), so the tests of this package share one of each; they
// live in a folder TestMain removes.
var (
	shared struct {
		dir string

		releaseOnce sync.Once
		release     releaseSet
		releaseErr  string

		wineOnce sync.Once
		wine     *wineEnv
		wineErr  string

		unpackMu sync.Mutex
		unpacked map[string]string
	}
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sv-deploy-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	shared.dir = dir
	code := m.Run()
	if shared.wine != nil {
		shared.wine.stop()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// releaseSet is a folder of release archives and the version in their names.
type releaseSet struct {
	dir      string
	version  string
	archives map[string]string // "linux/amd64" -> file name
}

var archiveRe = regexp.MustCompile(`^supervisor-(.+)-(linux|windows)-(amd64|arm64)\.(tar\.gz|zip)$`)

// releaseTargets are the platforms every release has.
var releaseTargets = []string{"linux/amd64", "linux/arm64", "windows/amd64"}

// release returns the archives of SV_RELEASE_DIR (CI builds them once in
// its release step), else builds them with deploy/release.sh into the
// shared folder (needs the Debian cross compilers).
func release(t *testing.T) releaseSet {
	t.Helper()
	shared.releaseOnce.Do(func() {
		dir := os.Getenv("SV_RELEASE_DIR")
		if dir == "" {
			for _, cc := range []string{"gcc", "aarch64-linux-gnu-gcc", "x86_64-w64-mingw32-gcc", "zip"} {
				if _, err := exec.LookPath(cc); err != nil {
					shared.releaseErr = "building the release archives needs " + cc + " (apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross gcc-mingw-w64-x86-64 zip), or set SV_RELEASE_DIR to a folder made by deploy/release.sh"
					return
				}
			}
			dir = filepath.Join(shared.dir, "dist")
			cmd := exec.Command("bash", "deploy/release.sh", "0.0.0-test", dir)
			cmd.Dir = svtest.RepoRoot(t)
			if out, err := cmd.CombinedOutput(); err != nil {
				shared.releaseErr = fmt.Sprintf("deploy/release.sh: %v\n%s", err, out)
				return
			}
		}
		rs, err := readReleaseDir(dir)
		if err != nil {
			shared.releaseErr = err.Error()
			return
		}
		shared.release = rs
	})
	if shared.releaseErr != "" {
		svtest.SkipUnlessRequired(t, "%s", shared.releaseErr)
	}
	return shared.release
}

func readReleaseDir(dir string) (releaseSet, error) {
	rs := releaseSet{dir: dir, archives: map[string]string{}}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return rs, err
	}
	for _, e := range ents {
		m := archiveRe.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		if rs.version != "" && rs.version != m[1] {
			return rs, fmt.Errorf("%s holds archives of two versions (%s, %s)", dir, rs.version, m[1])
		}
		rs.version = m[1]
		rs.archives[m[2]+"/"+m[3]] = e.Name()
	}
	if len(rs.archives) == 0 {
		return rs, fmt.Errorf("no release archives in %s", dir)
	}
	return rs, nil
}

// unpacked extracts the archive of target once and returns the folder it
// holds (supervisor-VERSION-GOOS-GOARCH).
func (rs releaseSet) unpacked(t *testing.T, target string) string {
	t.Helper()
	name, ok := rs.archives[target]
	if !ok {
		t.Fatalf("no %s archive in %s", target, rs.dir)
	}
	shared.unpackMu.Lock()
	defer shared.unpackMu.Unlock()
	if shared.unpacked == nil {
		shared.unpacked = map[string]string{}
	}
	if d, ok := shared.unpacked[name]; ok {
		return d
	}
	// Windows installs live under "C:\Program Files\…": a space in the
	// path tests the quoting of every Task Scheduler action.
	dest := filepath.Join(shared.dir, "unpacked", strings.NewReplacer("/", "-").Replace(target))
	if strings.HasPrefix(target, "windows/") {
		dest = filepath.Join(shared.dir, "unpacked", "Program Files", strings.NewReplacer("/", "-").Replace(target))
	}
	if err := extract(filepath.Join(rs.dir, name), dest); err != nil {
		t.Fatalf("unpack %s: %v", name, err)
	}
	root := filepath.Join(dest, strings.TrimSuffix(strings.TrimSuffix(name, ".zip"), ".tar.gz"))
	if _, err := os.Stat(root); err != nil {
		t.Fatalf("%s has no folder %s: %v", name, filepath.Base(root), err)
	}
	shared.unpacked[name] = root
	return root
}

// extract unpacks a .tar.gz or .zip into dest, refusing entries that
// leave it. Entries are written as they are read: an archive holds about
// 600 MB of binaries.
func extract(archive, dest string) error {
	if strings.HasSuffix(archive, ".zip") {
		zr, err := zip.OpenReader(archive)
		if err != nil {
			return err
		}
		defer zr.Close()
		for _, f := range zr.File {
			if f.FileInfo().IsDir() {
				if err := writeEntry(dest, f.Name, 0, true, nil); err != nil {
					return err
				}
				continue
			}
			r, err := f.Open()
			if err != nil {
				return err
			}
			err = writeEntry(dest, f.Name, f.Mode(), false, r)
			r.Close()
			if err != nil {
				return err
			}
		}
		return nil
	}
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := writeEntry(dest, h.Name, h.FileInfo().Mode(), h.Typeflag == tar.TypeDir, tr); err != nil {
			return err
		}
	}
}

// writeEntry writes one archive entry (a folder, or a file read from r)
// under dest.
func writeEntry(dest, name string, mode os.FileMode, dir bool, r io.Reader) error {
	p := filepath.Join(dest, filepath.FromSlash(name))
	if !strings.HasPrefix(p, filepath.Clean(dest)+string(filepath.Separator)) {
		return fmt.Errorf("entry %q leaves the archive folder", name)
	}
	if dir {
		return os.MkdirAll(p, 0o755)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	w, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode.Perm()|0o200)
	if err != nil {
		return err
	}
	_, err = io.Copy(w, r)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	return err
}

// cmdNames lists the binaries a release must hold: one per cmd/ folder.
func cmdNames(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(svtest.RepoRoot(t), "cmd"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names
}

// wineEnv runs Windows binaries under Wine in a prefix of the test's own.
type wineEnv struct {
	bin    string // the wine64 loader
	server string // wineserver
	env    []string
}

// wine returns the shared Wine prefix: booted once, with the ProcessPrng
// shim (testdata/processprng) built into its system32 and a persistent
// wineserver, so each program starts in well under a second and no
// wineserver outlives a test holding its output pipes.
func wine(t *testing.T) *wineEnv {
	t.Helper()
	shared.wineOnce.Do(func() {
		w, err := newWine(svtest.RepoRoot(t))
		if err != nil {
			shared.wineErr = err.Error()
			return
		}
		shared.wine = w
	})
	if shared.wineErr != "" {
		svtest.SkipUnlessRequired(t, "%s", shared.wineErr)
	}
	return shared.wine
}

func newWine(repo string) (*wineEnv, error) {
	loader := ""
	for _, c := range []string{"/usr/lib/wine/wine64", "wine64", "wine"} {
		if p, err := exec.LookPath(c); err == nil {
			loader = p
			break
		}
	}
	if loader == "" {
		return nil, fmt.Errorf("Wine is not installed (apt-get install wine64; the loader is /usr/lib/wine/wine64)")
	}
	server := filepath.Join(filepath.Dir(loader), "wineserver")
	if _, err := os.Stat(server); err != nil {
		if p, err := exec.LookPath("wineserver"); err == nil {
			server = p
		} else {
			return nil, fmt.Errorf("wineserver not found beside %s", loader)
		}
	}
	mingw, err := exec.LookPath("x86_64-w64-mingw32-gcc")
	if err != nil {
		return nil, fmt.Errorf("the ProcessPrng shim needs mingw-w64 (apt-get install gcc-mingw-w64-x86-64)")
	}
	prefix := filepath.Join(shared.dir, "wineprefix")
	w := &wineEnv{bin: loader, server: server, env: append(os.Environ(),
		"WINEPREFIX="+prefix, "WINEDEBUG=-all", "WINEARCH=win64",
		// No Mono/Gecko installers: console programs need neither.
		"WINEDLLOVERRIDES=mscoree,mshtml=", "DISPLAY=")}
	// Output goes to files, never to pipes: wineboot starts wineserver and
	// Wine's own services, which inherit its stdout and outlive it, and
	// exec would wait for them to close a pipe.
	if out, err := w.runToFile(shared.dir, loader, "wineboot", "--init"); err != nil {
		return nil, fmt.Errorf("wineboot --init: %v\n%s", err, out)
	}
	// wineboot returns before the prefix is written out; wait for the
	// server that it started to finish.
	_, _ = w.runToFile(shared.dir, server, "-w")
	sys32 := filepath.Join(prefix, "drive_c", "windows", "system32")
	if _, err := os.Stat(sys32); err != nil {
		return nil, fmt.Errorf("wine prefix has no system32: %v", err)
	}
	shim := exec.Command(mingw, "-shared", "-O2", "-s", "-o", filepath.Join(sys32, "bcryptprimitives.dll"),
		filepath.Join(repo, "deploy", "testdata", "processprng", "processprng.c"), "-ladvapi32")
	if out, err := shim.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building the ProcessPrng shim: %v\n%s", err, out)
	}
	if out, err := w.runToFile(shared.dir, server, "-p"); err != nil {
		return nil, fmt.Errorf("wineserver -p: %v\n%s", err, out)
	}
	return w, nil
}

// runToFile runs a program with its output in a file and returns it.
func (w *wineEnv) runToFile(dir, prog string, args ...string) (string, error) {
	f, err := os.CreateTemp(shared.dir, "wine-out-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	cmd := exec.Command(prog, args...)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, w.env, f, f
	err = cmd.Run()
	b, _ := os.ReadFile(f.Name())
	return string(b), err
}

func (w *wineEnv) stop() {
	k := exec.Command(w.server, "-k")
	k.Env = w.env
	_ = k.Run()
}

// command prepares exe (a Linux path to a .exe) with args under Wine.
func (w *wineEnv) command(dir, exe string, args ...string) *exec.Cmd {
	cmd := exec.Command(w.bin, append([]string{exe}, args...)...)
	cmd.Dir = dir
	cmd.Env = w.env
	return cmd
}

// run runs exe under Wine and returns its exit code and output (stdout
// and stderr together in Stdout: both go to one file, see runToFile).
func (w *wineEnv) run(t *testing.T, dir, exe string, args ...string) svtest.RunResult {
	t.Helper()
	out, err := w.runToFile(dir, w.bin, append([]string{exe}, args...)...)
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("wine %s: %v", filepath.Base(exe), err)
		}
		code = ee.ExitCode()
	}
	return svtest.RunResult{Code: code, Stdout: out}
}

// start starts exe under Wine with its output in the file it returns.
func (w *wineEnv) start(t *testing.T, dir, exe string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	return w.startEnv(t, nil, dir, exe, args...)
}

// startEnv is start with extra environment variables.
func (w *wineEnv) startEnv(t *testing.T, env []string, dir, exe string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "wine-out-*")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := w.command(dir, exe, args...)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, f.Name()
}

// winPath is the Windows name Wine gives a Linux path (drive Z: is /).
func winPath(p string) string {
	return `Z:` + strings.ReplaceAll(p, "/", `\`)
}

// waitFor polls cond until it holds or the deadline passes; it asserts an
// outcome, never a duration.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
