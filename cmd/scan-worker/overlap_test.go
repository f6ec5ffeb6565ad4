package main_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/scan"
	"github.com/localsupervisor/supervisor/pkg/svtest"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// TestOverlappingScanPathJobsNeverRunTogether (issue #16 item 2): two
// scan-worker processes share a queue with scan_path jobs for a folder, two
// of its subfolders and two unrelated folders. While they work, the test
// watches the running scan_path rows: two overlapping folders are never
// running at once. Afterwards every job is done and no two overlapping
// jobs' [started_at, finished_at] intervals intersect (the stored times
// have second resolution, so touching intervals are allowed). Disjoint
// jobs may run in parallel; whether they did is logged.
func TestOverlappingScanPathJobsNeverRunTogether(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	bin := svtest.BuildBinary(t, "./cmd/scan-worker")
	ctx := context.Background()
	dir := t.TempDir()
	d, cp := site(t, dir, map[string]any{"enabled": false})
	in := filepath.Join(dir, "in")
	folders := []string{in, filepath.Join(in, "s1"), filepath.Join(in, "s2"), filepath.Join(dir, "other1"), filepath.Join(dir, "inbox")}
	for fi, f := range folders {
		for i := 0; i < 150; i++ {
			pngFile(t, filepath.Join(f, fmt.Sprintf("f%03d.png", i)), uint8(fi*50+i))
		}
	}
	q := jobs.NewQueue(jobs.QueueOptions{DB: d, Config: jobs.DefaultConfig()})
	paths := map[int64]string{}
	for _, f := range folders {
		p, err := scan.NewScanPathPayload(f, 0, "", "test", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		res, err := scan.EnqueueScanPath(ctx, q, p)
		if err != nil {
			t.Fatal(err)
		}
		paths[res.JobID] = p.Path
	}
	overlap := func(a, b string) bool {
		sep := string(filepath.Separator)
		a, b = strings.TrimSuffix(a, sep)+sep, strings.TrimSuffix(b, sep)+sep
		return strings.HasPrefix(a, b) || strings.HasPrefix(b, a)
	}

	env := []string{"SV_CONFIG=", "SV_BASE="}
	var exited []chan error
	for _, inst := range []string{"a", "b"} {
		cmd := exec.Command(bin, "--config="+cp, "--loop", "--sleep-ms=100", "--limit=1", "--instance="+inst)
		cmd.Dir, cmd.Env = dir, append(os.Environ(), env...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		exited = append(exited, done)
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			<-done
		})
	}
	together := map[string]bool{} // disjoint pairs seen running at once
	for {
		rows, err := d.Query(`SELECT id FROM jobs WHERE status = 'running' AND type = 'scan_path'`)
		if err != nil {
			t.Fatal(err)
		}
		var running []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			running = append(running, id)
		}
		rows.Close()
		for i, a := range running {
			for _, b := range running[i+1:] {
				if overlap(paths[a], paths[b]) {
					t.Fatalf("overlapping jobs running together: %s and %s", paths[a], paths[b])
				}
				together[filepath.Base(paths[a])+"+"+filepath.Base(paths[b])] = true
			}
		}
		var open int
		if err := d.QueryRow(`SELECT COUNT(*) FROM jobs WHERE type = 'scan_path' AND status IN ('queued', 'running')`).Scan(&open); err != nil {
			t.Fatal(err)
		}
		if open == 0 {
			break
		}
		for _, c := range exited {
			select {
			case err := <-c:
				t.Fatalf("a worker exited with %d jobs open: %v", open, err)
			default:
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Logf("disjoint jobs seen running together: %v", together)

	type span struct{ start, end time.Time }
	spans := map[int64]span{}
	for id, p := range paths {
		row, err := q.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		s, ok1 := svtime.Parse(row.StartedAt)
		e, ok2 := svtime.Parse(row.FinishedAt)
		if row.Status != jobs.StatusDone || !ok1 || !ok2 || row.Attempts != 1 {
			t.Fatalf("job %s: %+v", p, row)
		}
		spans[id] = span{s, e}
	}
	for a, pa := range paths {
		for b, pb := range paths {
			if a < b && overlap(pa, pb) && spans[a].start.Before(spans[b].end) && spans[b].start.Before(spans[a].end) {
				t.Errorf("overlapping jobs ran concurrently: %s %v and %s %v", pa, spans[a], pb, spans[b])
			}
		}
	}
}
