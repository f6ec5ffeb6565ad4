package main_test

import (
	"bytes"
	"crypto/md5"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/db/dbtest"
	"github.com/localsupervisor/supervisor/pkg/svtest"
)

// TestKillDuringMoveImport SIGKILLs `scan-path --now --mode=move` at
// several points of an import, re-runs it to completion and checks that no
// file was lost or duplicated: every source content is in the library
// exactly once with one media row, DB rows and library files agree, no
// source is left, and no .svtmp temp survives the final run.
func TestKillDuringMoveImport(t *testing.T) { killDuringImport(t, "move") }

// TestKillDuringCopyImport is TestKillDuringMoveImport for copy mode,
// whose copies are staged in the library roots and fsynced ahead of the
// writer: every source stays, unchanged, and the library ends with every
// content exactly once with its row, no temp (staged or not) left.
func TestKillDuringCopyImport(t *testing.T) { killDuringImport(t, "copy") }

func killDuringImport(t *testing.T, mode string) {
	bin := svtest.BuildBinary(t, "./cmd/scan-path")
	dir := t.TempDir()
	lib := filepath.Join(dir, "lib")
	// Small batches: the kills land while later files are being examined,
	// staged and placed, not only after one commit of everything.
	cp, d := setupScanPath(t, dir, mode, map[string]any{"batch_size": 16})

	src := filepath.Join(dir, "inbox")
	const n = 300
	want := map[string]bool{}      // md5 of every source file
	sources := map[string][]byte{} // every source file's bytes
	for i := 0; i < n; i++ {
		img := image.NewGray(image.Rect(0, 0, 16, 16))
		for j := range img.Pix {
			img.Pix[j] = uint8(i*7 + j)
		}
		img.Pix[0], img.Pix[1] = uint8(i), uint8(i>>8)
		var buf bytes.Buffer
		png.Encode(&buf, img)
		p := filepath.Join(src, fmt.Sprintf("d%d", i%5), fmt.Sprintf("f%03d.png", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, buf.Bytes(), 0o644)
		s := md5.Sum(buf.Bytes())
		want[hex.EncodeToString(s[:])] = true
		sources[p] = buf.Bytes()
	}
	if len(want) != n {
		t.Fatalf("generator made %d distinct files", len(want))
	}
	env := []string{"SV_CONFIG=", "SV_BASE="}
	args := []string{"--config=" + cp, "--path=" + src, "--now", "--mode=" + mode}
	for round, killAt := range []int{1, 40, 120, 200} {
		cmd := exec.Command(bin, args...)
		cmd.Dir, cmd.Env = dir, append(os.Environ(), env...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		killed := false
	poll:
		for {
			select {
			case <-done:
				break poll
			case <-time.After(2 * time.Millisecond):
			}
			var c int
			if d.QueryRow(`SELECT COUNT(*) FROM import_log`).Scan(&c) == nil && c >= killAt {
				cmd.Process.Kill() // SIGKILL
				<-done
				killed = true
				break
			}
		}
		temps, _ := filepath.Glob(filepath.Join(lib, "*", "*.svtmp"))
		t.Logf("round %d: killed=%v at import_log>=%d, %d staged temps left", round, killed, killAt, len(temps))
		if mode == "copy" {
			checkSources(t, sources)
		}
	}
	r := svtest.RunBinary(t, dir, env, bin, append(args, "--json")...)
	if r.Code != 0 {
		t.Fatalf("final run exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}

	rows, err := d.Query(`SELECT path, hash, status FROM media`)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	paths := map[string]bool{}
	for rows.Next() {
		var p, h, st string
		rows.Scan(&p, &h, &st)
		if seen[h] {
			t.Errorf("duplicate media row for %s", h)
		}
		seen[h] = true
		paths[p] = true
		if !want[h] {
			t.Errorf("row %s has unknown hash %s", p, h)
		}
		if st != "active" {
			t.Errorf("row %s status %s", p, st)
		}
		if !strings.HasPrefix(p, lib) {
			t.Errorf("row %s outside the library", p)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("row without file: %v", err)
			continue
		}
		if s := md5.Sum(data); hex.EncodeToString(s[:]) != h {
			t.Errorf("%s content differs from its row", p)
		}
	}
	rows.Close()
	if len(seen) != n {
		t.Errorf("%d media rows, want %d", len(seen), n)
	}
	if mode == "copy" {
		checkSources(t, sources)
	}
	filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return nil
		}
		switch {
		case strings.HasSuffix(p, ".svtmp"):
			t.Errorf("temp left: %s", p)
		case strings.HasPrefix(p, src) && mode == "move":
			t.Errorf("source left after move import: %s", p)
		case strings.HasPrefix(p, src) && sources[p] == nil:
			t.Errorf("unknown file in the inbox: %s", p)
		case strings.HasPrefix(p, lib) && !paths[p]:
			t.Errorf("library file without row: %s", p)
		}
		return nil
	})
}

// checkSources asserts that every source file is still there with its
// bytes (copy mode never touches a source).
func checkSources(t *testing.T, sources map[string][]byte) {
	t.Helper()
	for p, want := range sources {
		got, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("source gone: %v", err)
		} else if !bytes.Equal(got, want) {
			t.Errorf("source %s changed", p)
		}
	}
}

// setupScanPath writes a config for dir (library under dir/lib, scanner
// disabled, import.mode mode and the import settings in imp) and creates
// its migrated database.
func setupScanPath(t *testing.T, dir, mode string, imp map[string]any) (string, *sql.DB) {
	t.Helper()
	lib := filepath.Join(dir, "lib")
	im := map[string]any{"mode": mode}
	for k, v := range imp {
		im[k] = v
	}
	cfg := map[string]any{
		"db":      map[string]any{"path": filepath.Join(dir, "DB", "local.sqlite")},
		"import":  im,
		"scanner": map[string]any{"enabled": false},
		"paths": map[string]any{"images_sfw": filepath.Join(lib, "img"), "images_nsfw": filepath.Join(lib, "img18"),
			"videos_sfw": filepath.Join(lib, "vid"), "videos_nsfw": filepath.Join(lib, "vid18"), "logs": filepath.Join(dir, "LOGS")},
	}
	b, _ := json.Marshal(cfg)
	cp := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return cp, dbtest.Open(t, filepath.Join(dir, "DB", "local.sqlite"))
}
