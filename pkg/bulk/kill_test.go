package bulk

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/svtest"
)

// TestBulkHardDeleteKill9: the real media-worker runs a hard delete of
// 1,500 media (files in the library) as a media_bulk job and is killed
// with SIGKILL mid-way; a second media-worker process recovers the job
// (its owner is dead) and finishes it. Afterwards every selected media's
// row is gone, each with exactly one hard-delete audit row; no file
// outside the selection was touched; and of the selected files at most
// the one whose row committed just before the kill is left (the existing
// delete path removes the row first, then the file), none twice.
func TestBulkHardDeleteKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	const n, sel = 1600, 1500
	e := newEnv(t, n, true)
	cfg := map[string]any{
		"db": map[string]any{"path": filepath.Join(e.base, "sv.sqlite")},
		"paths": map[string]any{"images_sfw": e.roots.ImagesSFW, "images_nsfw": e.roots.ImagesNSFW, "videos_sfw": e.roots.VideosSFW,
			"videos_nsfw": e.roots.VideosNSFW, "logs": filepath.Join(e.base, "LOGS"), "thumb_cache": filepath.Join(e.base, "thumbs")},
		"logging": map[string]any{"console": false},
		"jobs":    map[string]any{"retry_base_ms": 1, "retry_cap_ms": 1},
	}
	b, _ := json.Marshal(cfg)
	cfgPath := filepath.Join(e.base, "config.json")
	if err := os.WriteFile(cfgPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	id := e.enqueue(t, Request{Action: Action{Name: ActHardDelete, Confirmed: true}, IDs: e.ids[:sel]})
	bin := svtest.BuildBinary(t, "./cmd/media-worker")

	cmd := exec.Command(bin, "--config="+cfgPath, "--no-top-up", "--limit=5")
	cmd.Dir = e.base
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill once the job has committed some media but not all.
	killedAt := -1
	for range 20000 {
		if bits := e.job(t, id).Bits; bits >= 50 && bits < sel {
			killedAt = bits
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if killedAt < 0 {
		t.Fatalf("the job never got mid-way before the kill: %+v", e.job(t, id))
	}
	if row := e.job(t, id); row.Status != jobs.StatusRunning {
		t.Fatalf("after the kill the job is %+v, want still running (its owner dead)", row)
	}

	if r := svtest.RunBinary(t, e.base, nil, bin, "--config="+cfgPath, "--no-top-up", "--limit=5"); r.Code != 0 {
		t.Fatalf("second worker: %+v", r)
	}
	row := e.job(t, id)
	if row.Status != jobs.StatusDone || row.Bits != sel || row.Total != sel {
		t.Fatalf("job after the rerun %+v (killed at %d)", row, killedAt)
	}
	if left := e.count(t, `SELECT count(*) FROM media WHERE id <= ?`, e.ids[sel-1]); left != 0 {
		t.Fatalf("%d selected rows left", left)
	}
	if k := e.count(t, `SELECT count(*) FROM media`); k != n-sel {
		t.Fatalf("%d rows left, want the %d unselected", k, n-sel)
	}
	if a := e.count(t, `SELECT count(*) FROM audit_log WHERE action = 'media_hard_delete'`); a != sel {
		t.Fatalf("%d hard-delete audit rows, want exactly %d", a, sel)
	}
	if a := e.count(t, `SELECT count(DISTINCT entity_id) FROM audit_log WHERE action = 'hard_delete'`); a > sel {
		t.Fatalf("%d bulk audit rows for %d media", a, sel)
	}
	orphans := 0
	for i := range n {
		root := e.roots.ImagesSFW
		if i%2 == 1 {
			root = e.roots.VideosSFW
		}
		_, err := os.Stat(filepath.Join(root, fmt.Sprintf("m%04d.bin", i)))
		exists := !errors.Is(err, os.ErrNotExist)
		switch {
		case i >= sel && !exists:
			t.Fatalf("unselected media #%d lost its file", i)
		case i < sel && exists:
			orphans++
		}
	}
	if orphans > 1 {
		t.Fatalf("%d selected files left, want at most the one in flight at the kill", orphans)
	}
	t.Logf("killed at %d of %d; files left in flight: %d", killedAt, sel, orphans)
}
