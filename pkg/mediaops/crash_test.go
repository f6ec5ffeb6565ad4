package mediaops_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/library"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/mediaops"
	"github.com/localsupervisor/supervisor/pkg/svtest"
)

// writeConfig writes a config pointing every path at the test env.
func writeConfig(t *testing.T, e *env) string {
	t.Helper()
	cfg := map[string]any{
		"db": map[string]any{"path": filepath.Join(e.dir, "DB", "t.sqlite")},
		"paths": map[string]any{
			"images_sfw": e.svc.Roots.ImagesSFW, "images_nsfw": e.svc.Roots.ImagesNSFW,
			"videos_sfw": e.svc.Roots.VideosSFW, "videos_nsfw": e.svc.Roots.VideosNSFW,
			"derivatives": e.svc.Derivatives, "logs": filepath.Join(e.dir, "LOGS"), "thumb_cache": filepath.Join(e.dir, "thumbs"),
		},
		"logging": map[string]any{"console": false},
		// Requeue a crashed job at once instead of after the default backoff.
		"jobs": map[string]any{"retry_base_ms": 1, "retry_cap_ms": 1},
	}
	b, _ := json.Marshal(cfg)
	return writeFile(t, filepath.Join(e.dir, "config.json"), b)
}

// enqueuedRename builds the rename worker with tags, adds one image at a
// non-canonical path and enqueues its rename through the binary.
func enqueuedRename(t *testing.T, tags string) (e *env, id int64, from, canon, cfg, bin string) {
	t.Helper()
	e = newEnv(t)
	data := pngBytes(t, 12, 12)
	from = filepath.Join(e.svc.Roots.ImagesSFW, "flat name.png")
	id = e.addMedia(t, from, "image", data, false)
	canon = library.CanonicalPath(e.svc.Roots, "image", false, md5hex(data), "png")
	cfg = writeConfig(t, e)
	bin = svtest.BuildBinaryWith(t, "./cmd/library-rename-worker", svtest.BuildOptions{Tags: tags})
	if r := svtest.RunBinary(t, e.dir, nil, bin, "enqueue", "--config="+cfg); r.Code != 0 || !strings.Contains(r.Stdout, "enqueued=1") {
		t.Fatalf("enqueue: %+v", r)
	}
	return e, id, from, canon, cfg, bin
}

// TestRenameKill9ThenRerun kills the rename worker with SIGKILL between
// the file move and the DB commit, then re-runs it: file and DB must agree.
func TestRenameKill9ThenRerun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	t.Parallel()
	ctx := context.Background()
	// The fault hook exists only in svfault builds.
	e, id, from, canon, cfg, bin := enqueuedRename(t, "svfault")
	r := svtest.RunBinary(t, e.dir, []string{mediaops.EnvCrashAfterMove + "=1"}, bin, "--config="+cfg, "--limit=1")
	if r.Code == 0 {
		t.Fatalf("worker was not killed: %+v", r)
	}
	m, _ := media.Get(ctx, e.db, id)
	if _, err := os.Stat(canon); err != nil || m.Path != from {
		t.Fatalf("crash point not reached: file %v, row %s", err, m.Path)
	}
	r = svtest.RunBinary(t, e.dir, nil, bin, "--config="+cfg, "--limit=5")
	if r.Code != 0 {
		t.Fatalf("re-run: %+v", r)
	}
	m, _ = media.Get(ctx, e.db, id)
	if m.Path != canon {
		t.Fatalf("row %s, want %s (%s)", m.Path, canon, r.Stdout)
	}
	if _, err := os.Stat(canon); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(from); !os.IsNotExist(err) {
		t.Fatal("source still there")
	}
	var st, res string
	e.db.QueryRow(`SELECT status, COALESCE(result_json,'') FROM jobs WHERE type='library_rename'`).Scan(&st, &res)
	if st != "done" || !strings.Contains(res, "adopted_target") {
		t.Fatalf("job %s %s", st, res)
	}
}

// TestReleaseBuildIgnoresFaultEnv: a worker built without the svfault tag
// must not kill itself when the fault variable is set; it moves the file
// and commits as usual.
func TestReleaseBuildIgnoresFaultEnv(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	t.Parallel()
	ctx := context.Background()
	e, id, _, canon, cfg, bin := enqueuedRename(t, "")
	r := svtest.RunBinary(t, e.dir, []string{mediaops.EnvCrashAfterMove + "=1"}, bin, "--config="+cfg, "--limit=1")
	if r.Code != 0 {
		t.Fatalf("release build reacted to %s: %+v", mediaops.EnvCrashAfterMove, r)
	}
	m, _ := media.Get(ctx, e.db, id)
	if m.Path != canon {
		t.Fatalf("row %s, want %s", m.Path, canon)
	}
	var res string
	e.db.QueryRow(`SELECT COALESCE(result_json,'') FROM jobs WHERE type='library_rename' AND status='done'`).Scan(&res)
	if !strings.Contains(res, `"moved"`) {
		t.Fatalf("job result %q, want outcome moved", res)
	}
}
