package main_test

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/svtest"
	"github.com/localsupervisor/supervisor/pkg/svtest/pngtest"
)

// TestInPlaceEditsUnderOverlappingScans (issue #17 item 2): every file of
// an in-place source is edited, then three scan-path --now processes
// (the folder and two subfolders, overlapping) rescan it at once while
// some are SIGKILLed; a final clean run finishes. Every path ends with
// exactly one media row, active, whose hash is the file's current
// content: an edit never adds a second row, whatever ran concurrently
// or was killed.
func TestInPlaceEditsUnderOverlappingScans(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	pathBin := svtest.BuildBinary(t, "./cmd/scan-path")
	dir := t.TempDir()
	d, cp := librarySite(t, dir, "in_place")
	src := filepath.Join(dir, "src")
	const n = 600
	name := func(i int) string { return filepath.Join(src, fmt.Sprintf("s%d", i%2), fmt.Sprintf("f%03d.png", i)) }
	for i := 0; i < n; i++ {
		writeFile(t, name(i), pngtest.PNG(8+i/256, 8, uint8(i)))
	}
	env := []string{"SV_CONFIG=", "SV_BASE="}
	run := func() {
		t.Helper()
		if r := svtest.RunBinary(t, dir, env, pathBin, "--config="+cp, "--now", "--mode=in_place", "--path="+src); r.Code != 0 {
			t.Fatalf("scan-path exit %d\n%s", r.Code, r.Stderr)
		}
	}
	run()
	later := time.Now().Add(time.Minute)
	for i := 0; i < n; i++ {
		writeFile(t, name(i), pngtest.PNG(8+i/256, 9, uint8(i)))
		os.Chtimes(name(i), later, later)
	}
	rng := rand.New(rand.NewPCG(7, 17))
	var wg sync.WaitGroup
	for _, p := range []string{src, filepath.Join(src, "s0"), filepath.Join(src, "s1")} {
		cmd := exec.Command(pathBin, "--config="+cp, "--now", "--mode=in_place", "--path="+p)
		cmd.Dir, cmd.Env = dir, append(os.Environ(), env...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); _ = cmd.Wait() }()
		if rng.IntN(2) == 0 {
			time.AfterFunc(time.Duration(20+rng.IntN(200))*time.Millisecond, func() { _ = cmd.Process.Kill() })
		}
	}
	wg.Wait()
	run()
	var rows, active int
	d.QueryRow(`SELECT COUNT(*), COALESCE(SUM(status='active'),0) FROM media`).Scan(&rows, &active)
	if rows != n || active != n {
		t.Fatalf("%d media rows, %d active, want %d of each", rows, active, n)
	}
	for i := 0; i < n; i++ {
		sum := md5.Sum(pngtest.PNG(8+i/256, 9, uint8(i)))
		var h string
		if err := d.QueryRow(`SELECT hash FROM media WHERE path=? AND status='active'`, name(i)).Scan(&h); err != nil || h != hex.EncodeToString(sum[:]) {
			t.Fatalf("%s: hash %q (%v), want the edited content", name(i), h, err)
		}
	}
}
