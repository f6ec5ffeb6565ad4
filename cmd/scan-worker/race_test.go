package main_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"image"
	"image/png"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/scan"
	"github.com/localsupervisor/supervisor/pkg/svtest"
)

// TestOverlappingMoveImportersLoseNothing is the outside fault test that
// found move mode destroying originals: a folder and its subfolders queued
// as separate scan_path jobs, several scan-worker processes (plus inline
// scan-path --now importers, which no queue lock serialises) on them at
// once, with and without random SIGKILLs. After every round, before any
// recovery, every distinct content of the inbox must exist intact (same
// SHA-256) in the inbox or the library; after a final clean run every
// content has exactly one media row whose file holds it, and no source is
// left. The code before the fix lost files in most rounds of this test.
func TestOverlappingMoveImportersLoseNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process race test")
	}
	workerBin := svtest.BuildBinary(t, "./cmd/scan-worker")
	pathBin := svtest.BuildBinary(t, "./cmd/scan-path")
	rounds := []struct {
		workers, inline int
		kill            bool
	}{
		{2, 0, false}, {2, 0, false}, {2, 1, false},
		{4, 0, false}, {4, 2, false},
		{2, 1, true}, {4, 1, true},
	}
	for i, r := range rounds {
		name := fmt.Sprintf("round%d_workers%d_inline%d_kill%v", i, r.workers, r.inline, r.kill)
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			raceRound(t, workerBin, pathBin, "move", r.workers, r.inline, r.kill, uint64(i))
			t.Logf("%s took %s", name, time.Since(start).Round(time.Millisecond))
		})
	}
}

// TestOverlappingCopyImportersLoseNothing is the same race in copy mode,
// whose copies are staged in the library roots and fsynced ahead of each
// importer's writer: sources are never touched, and the library ends with
// every content exactly once, no staged copy left.
func TestOverlappingCopyImportersLoseNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process race test")
	}
	workerBin := svtest.BuildBinary(t, "./cmd/scan-worker")
	pathBin := svtest.BuildBinary(t, "./cmd/scan-path")
	for i, kill := range []bool{false, true} {
		t.Run(fmt.Sprintf("workers2_inline1_kill%v", kill), func(t *testing.T) {
			raceRound(t, workerBin, pathBin, "copy", 2, 1, kill, uint64(100+i))
		})
	}
}

func raceRound(t *testing.T, workerBin, pathBin, mode string, workers, inline int, kill bool, seed uint64) {
	dir := t.TempDir()
	lib := filepath.Join(dir, "lib")
	d, cp := librarySite(t, dir, mode)
	inbox := filepath.Join(dir, "inbox")
	want, twice := writeRaceInbox(t, inbox, seed)

	// The overlapping jobs: the inbox, each top folder and each leaf.
	q := jobs.NewQueue(jobs.QueueOptions{DB: d, Config: jobs.DefaultConfig()})
	paths := []string{inbox}
	for s := 0; s < 4; s++ {
		paths = append(paths, filepath.Join(inbox, fmt.Sprintf("s%d", s)))
		for l := 0; l < 3; l++ {
			paths = append(paths, filepath.Join(inbox, fmt.Sprintf("s%d", s), fmt.Sprintf("t%d", l)))
		}
	}
	for _, p := range paths {
		pl, err := scan.NewScanPathPayload(p, 0, mode, "race", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := scan.EnqueueScanPath(context.Background(), q, pl); err != nil {
			t.Fatal(err)
		}
	}

	env := append(os.Environ(), "SV_CONFIG=", "SV_BASE=")
	rng := rand.New(rand.NewPCG(seed, 42))
	var mu sync.Mutex
	var running []*exec.Cmd
	var wg sync.WaitGroup
	start := func(bin string, args ...string) {
		defer wg.Done()
		// A killed process is started again (a cron run after a crash),
		// at most a few times.
		for attempt := 0; attempt < 4; attempt++ {
			cmd := exec.Command(bin, args...)
			cmd.Dir, cmd.Env = dir, env
			var errb bytes.Buffer
			cmd.Stderr = &errb
			if err := cmd.Start(); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			running = append(running, cmd)
			mu.Unlock()
			err := cmd.Wait()
			if err == nil || !kill || !strings.Contains(err.Error(), "killed") {
				if err != nil && !strings.Contains(err.Error(), "killed") {
					t.Logf("%s %v: %v\n%s", filepath.Base(bin), args, err, errb.String())
				}
				return
			}
		}
	}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go start(workerBin, "--config="+cp, fmt.Sprintf("--instance=w%d", w), "--limit=100")
	}
	for i := 0; i < inline; i++ {
		wg.Add(1)
		go start(pathBin, "--config="+cp, "--now", "--mode="+mode, "--path="+paths[i*5%len(paths)])
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	kills := 0
	if kill {
	loop:
		for kills < 6 {
			select {
			case <-done:
				break loop
			case <-time.After(time.Duration(30+rng.IntN(250)) * time.Millisecond):
			}
			mu.Lock()
			if len(running) > 0 {
				c := running[rng.IntN(len(running))]
				if c.ProcessState == nil && c.Process.Kill() == nil {
					kills++
				}
			}
			mu.Unlock()
		}
	}
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		mu.Lock()
		for _, c := range running {
			c.Process.Kill()
		}
		mu.Unlock()
		<-done
		t.Fatal("importers did not finish within 5 minutes")
	}
	t.Logf("%d workers, %d inline importers, %d kills", workers, inline, kills)

	// The invariant, before any recovery: nothing may have vanished.
	have := shaSet(t, inbox, lib)
	inboxHas := shaSet(t, inbox)
	lost := 0
	for h, p := range want {
		if !have[h] {
			lost++
			if lost <= 5 {
				t.Errorf("content of %s (sha256 %s) exists neither in the inbox nor in the library", p, h[:12])
			}
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d distinct contents lost", lost, len(want))
	}
	// A content the inbox held twice is catalogued once, but both files'
	// bytes stay: move mode puts the duplicate's source aside under
	// lib/_duplicates (issue #17 item 5), it never just deletes it.
	copies := shaCount(t, inbox, lib)
	for h := range twice {
		if copies[h] < 2 {
			t.Errorf("content %s was in the inbox twice, %d file(s) hold it now", h[:12], copies[h])
		}
	}

	// A final clean run finishes whatever the kills interrupted.
	if r := svtest.RunBinary(t, dir, []string{"SV_CONFIG=", "SV_BASE="}, workerBin, "--config="+cp, "--limit=100"); r.Code != 0 {
		t.Fatalf("final scan-worker exit %d\n%s", r.Code, r.Stderr)
	}
	if r := svtest.RunBinary(t, dir, []string{"SV_CONFIG=", "SV_BASE="}, pathBin, "--config="+cp, "--now", "--mode="+mode, "--path="+inbox); r.Code != 0 {
		t.Fatalf("final scan-path exit %d\n%s", r.Code, r.Stderr)
	}
	if mode == "copy" {
		// Copy mode never touches a source: the inbox alone still
		// holds every content.
		for h, p := range want {
			if !inboxHas[h] {
				t.Errorf("copy mode lost source %s", p)
			}
		}
	}
	checkCatalogue(t, d, want, inbox, lib, mode)
	if mode == "move" {
		aside := shaCount(t, filepath.Join(lib, "_duplicates"))
		for h := range twice {
			if aside[h] == 0 {
				t.Errorf("content %s: its duplicate is not under lib/_duplicates", h[:12])
			}
		}
	}
	var notDone int
	d.QueryRow(`SELECT COUNT(*) FROM jobs WHERE type='scan_path' AND status<>'done'`).Scan(&notDone)
	if notDone > 0 && !kill {
		t.Errorf("%d scan_path jobs not done without any kill", notDone)
	}
}

// writeRaceInbox writes 2,400 distinct PNGs in inbox/s<0..3>/t<0..2> plus
// 60 byte-identical copies of some of them in other folders, and returns
// sha256 → one path of every distinct content, and the sha256 of the
// contents written twice.
func writeRaceInbox(t *testing.T, inbox string, seed uint64) (map[string]string, map[string]bool) {
	t.Helper()
	want := map[string]string{}
	var contents [][]byte
	for i := 0; i < 2400; i++ {
		img := image.NewGray(image.Rect(0, 0, 12, 12))
		for j := range img.Pix {
			img.Pix[j] = uint8(i*31 + j*7 + int(seed))
		}
		img.Pix[0], img.Pix[1], img.Pix[2] = uint8(i), uint8(i>>8), uint8(seed)
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(inbox, fmt.Sprintf("s%d", i%4), fmt.Sprintf("t%d", (i/4)%3), fmt.Sprintf("f%04d.png", i))
		writeFile(t, p, buf.Bytes())
		s := sha256.Sum256(buf.Bytes())
		want[hex.EncodeToString(s[:])] = p
		contents = append(contents, buf.Bytes())
	}
	if len(want) != 2400 {
		t.Fatalf("generator made %d distinct files", len(want))
	}
	twice := map[string]bool{}
	for i := 0; i < 60; i++ {
		writeFile(t, filepath.Join(inbox, fmt.Sprintf("s%d", (i+1)%4), fmt.Sprintf("t%d", (i+2)%3), fmt.Sprintf("copy%02d.png", i)), contents[i*37])
		s := sha256.Sum256(contents[i*37])
		twice[hex.EncodeToString(s[:])] = true
	}
	return want, twice
}

func writeFile(t *testing.T, p string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// shaCount counts the regular files below the given folders per SHA-256
// (a hard link in two folders counts twice: two names keep the bytes).
func shaCount(t *testing.T, dirs ...string) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, root := range dirs {
		filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
			if err != nil || !e.Type().IsRegular() {
				return nil
			}
			if data, err := os.ReadFile(p); err == nil {
				s := sha256.Sum256(data)
				n[hex.EncodeToString(s[:])]++
			}
			return nil
		})
	}
	return n
}

// shaSet is the set of contents below the given folders (shaCount). The
// inbox is read before the library: move mode links into the library
// before it unlinks the source, so a file in flight is seen in one of them.
func shaSet(t *testing.T, dirs ...string) map[string]bool {
	t.Helper()
	have := map[string]bool{}
	for h := range shaCount(t, dirs...) {
		have[h] = true
	}
	return have
}

// checkCatalogue asserts the finished state of an import: one active
// media row per distinct content, whose file holds that content, no source
// left in the inbox after a move import, no library file without a row,
// no temp left.
func checkCatalogue(t *testing.T, d *sql.DB, want map[string]string, inbox, lib, mode string) {
	t.Helper()
	rows, err := d.Query(`SELECT m.path, m.status, mm.meta_value FROM media m
		JOIN media_meta mm ON mm.media_id=m.id AND mm.meta_key='hash.sha256'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := map[string]bool{}
	paths := map[string]bool{}
	for rows.Next() {
		var p, st, h string
		if err := rows.Scan(&p, &st, &h); err != nil {
			t.Fatal(err)
		}
		if seen[h] {
			t.Errorf("two media rows for sha256 %s", h[:12])
		}
		seen[h], paths[p] = true, true
		if _, ok := want[h]; !ok {
			t.Errorf("row %s with unknown sha256 %s", p, h[:12])
		}
		if st != "active" {
			t.Errorf("row %s status %s", p, st)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("row without its file: %v", err)
			continue
		}
		if s := sha256.Sum256(data); hex.EncodeToString(s[:]) != h {
			t.Errorf("%s does not hold the content of its row", p)
		}
	}
	if len(seen) != len(want) {
		t.Errorf("%d media rows with a sha256, want %d", len(seen), len(want))
	}
	filepath.WalkDir(inbox, func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() && mode == "move" {
			t.Errorf("source left after the move import: %s", p)
		}
		return nil
	})
	filepath.WalkDir(lib, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return nil
		}
		if strings.HasPrefix(p, filepath.Join(lib, "_duplicates")+string(filepath.Separator)) {
			return nil // duplicates' sources put aside: no rows of their own
		}
		if strings.HasSuffix(p, ".svtmp") {
			t.Errorf("temp left: %s", p)
		} else if !paths[p] {
			t.Errorf("library file without a row: %s", p)
		}
		return nil
	})
}
