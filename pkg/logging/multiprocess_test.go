package logging_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/svtest"
)

// TestTwoProcessesRotateOneFileWithoutLoss: two processes append to one
// log file (as ollama-service and its children do with ollama_jobs.jsonl)
// through several size rotations; every line of both ends up exactly once,
// whole, in the live file or a backup.
func TestTwoProcessesRotateOneFileWithoutLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := svtest.BuildBinary(t, "./pkg/logging/internal/logwriter")
	dir := t.TempDir()
	start := filepath.Join(dir, "start")
	const perWriter = 4000 // ~3 MB each: several rotations at 1 MB
	writers := []string{"a", "b"}
	var cmds []*exec.Cmd
	for _, w := range writers {
		cmd := exec.Command(bin, dir, "shared", w, strconv.Itoa(perWriter), start)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	if err := os.WriteFile(start, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "shared-*.jsonl"))
	if len(files) < 3 {
		t.Fatalf("%d rotations, want several: %v", len(files), files)
	}
	files = append(files, filepath.Join(dir, "shared.jsonl"))
	seen := map[string]int{}
	bad := 0
	for _, p := range files {
		// Appends take no lock, so a file may pass the limit by the
		// lines another process appended between its size check and
		// the rotation: a few lines, never a second megabyte.
		if st, err := os.Stat(p); err == nil && st.Size() > 1<<20+64<<10 {
			t.Errorf("%s is %d bytes, past the 1 MB limit", filepath.Base(p), st.Size())
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var m struct {
				W   string `json:"w"`
				Seq int    `json:"seq"`
			}
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil || m.W == "" {
				bad++
				continue
			}
			seen[fmt.Sprintf("%s/%d", m.W, m.Seq)]++
		}
		f.Close()
	}
	missing, dup := 0, 0
	for _, w := range writers {
		for i := 0; i < perWriter; i++ {
			switch seen[fmt.Sprintf("%s/%d", w, i)] {
			case 0:
				missing++
			case 1:
			default:
				dup++
			}
		}
	}
	if missing > 0 || dup > 0 || bad > 0 {
		t.Fatalf("of %d lines: %d missing, %d duplicated, %d not whole JSON lines", len(writers)*perWriter, missing, dup, bad)
	}
}
