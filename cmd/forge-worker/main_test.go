package main_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/comfy"
	"github.com/localsupervisor/supervisor/pkg/comfy/comfytest"
	"github.com/localsupervisor/supervisor/pkg/comfyjob"
	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/forge/forgetest"
	"github.com/localsupervisor/supervisor/pkg/forgejob"
	"github.com/localsupervisor/supervisor/pkg/library"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/sdmeta"
	"github.com/localsupervisor/supervisor/pkg/svtest"
	"github.com/localsupervisor/supervisor/pkg/svtest/pngtest"
)

type cliEnv struct {
	t    *testing.T
	bin  string
	dir  string
	cfg  string
	db   string
	fake *forgetest.Server
}

// newCLIEnv writes a config (forge section pointing at the fake, or the
// given incomplete one) and a migrated database with one catalogued 96×64
// PNG.
func newCLIEnv(t *testing.T, bin string, forgeSection map[string]any) (*cliEnv, int64, []byte) {
	t.Helper()
	dir := t.TempDir()
	fake := forgetest.New(forgetest.Options{})
	t.Cleanup(fake.Close)
	lib := filepath.Join(dir, "LIB")
	paths := map[string]any{"images_sfw": filepath.Join(lib, "img"), "images_nsfw": filepath.Join(lib, "img18"),
		"videos_sfw": filepath.Join(lib, "vid"), "videos_nsfw": filepath.Join(lib, "vid18"), "logs": filepath.Join(dir, "LOGS"),
		"previews": filepath.Join(dir, "PREVIEWS"), "backups": filepath.Join(dir, "BACKUPS")}
	dbPath := filepath.Join(dir, "DB", "local.sqlite")
	cfg := map[string]any{"db": map[string]any{"path": dbPath}, "scanner": map[string]any{"enabled": false}, "paths": paths}
	cfg["forge"] = forgeSection
	if forgeSection == nil {
		cfg["forge"] = map[string]any{"enabled": true, "dispatch_enabled": true, "base_url": fake.URL}
	}
	b, _ := json.Marshal(cfg)
	cp := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d, err := db.Open(ctx, db.Options{Path: dbPath, Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := db.Migrate(ctx, d, db.MigrateOptions{}); err != nil {
		t.Fatal(err)
	}
	img := image.NewNRGBA(image.Rect(0, 0, 96, 64))
	for i := range img.Pix {
		img.Pix[i] = uint8(i*31 + i/7)
	}
	img.Set(0, 0, color.NRGBA{1, 2, 3, 255})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	sum := md5.Sum(data)
	hash := hex.EncodeToString(sum[:])
	roots := library.Roots{ImagesSFW: paths["images_sfw"].(string), ImagesNSFW: paths["images_nsfw"].(string),
		VideosSFW: paths["videos_sfw"].(string), VideosNSFW: paths["videos_nsfw"].(string)}
	p := library.CanonicalPath(roots, "image", false, hash, "png")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	id, err := media.Insert(ctx, d, media.NewMedia{Path: p, Type: "image", Source: "import", Width: 96, Height: 64,
		Filesize: int64(len(data)), Hash: hash, FileMTime: now}, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := media.SavePrompt(ctx, d, id, media.Prompt{Prompt: "a lighthouse on a rocky coast at sunset, dramatic clouds, warm light, oil painting",
		Model: "ponyDiffusionV6XL", Sampler: "Euler a", Seed: "99"}, media.PromptSourceImport, "", now); err != nil {
		t.Fatal(err)
	}
	return &cliEnv{t: t, bin: bin, dir: dir, cfg: cp, db: dbPath, fake: fake}, id, data
}

func (e *cliEnv) run(args ...string) svtest.RunResult {
	e.t.Helper()
	return svtest.RunBinary(e.t, e.dir, []string{"SV_CONFIG=", "SV_BASE="}, e.bin, append(args, "--config="+e.cfg)...)
}

func (e *cliEnv) query(q string, args ...any) string {
	e.t.Helper()
	d, err := db.OpenReadOnly(context.Background(), db.Options{Path: e.db})
	if err != nil {
		e.t.Fatal(err)
	}
	defer d.Close()
	var s string
	if err := d.QueryRow(q, args...).Scan(&s); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
	return s
}

// TestCLI builds the binary once for its subtests.
func TestCLI(t *testing.T) {
	bin := svtest.BuildBinary(t, "./cmd/forge-worker")
	t.Run("enqueue run accept discard", func(t *testing.T) { testEnqueueRunAcceptDiscard(t, bin) })
	t.Run("config problem visible", func(t *testing.T) { testConfigProblemIsVisible(t, bin) })
	t.Run("comfy enqueue run accept", func(t *testing.T) { testComfyEnqueueRunAccept(t, bin) })
}

// testComfyEnqueueRunAccept: with only comfyui switched on, the binary
// queues a ComfyUI regeneration of an imported ComfyUI PNG, runs it against
// the fake and accepts the preview as a child through the shared accept
// verb.
func testComfyEnqueueRunAccept(t *testing.T, bin string) {
	e, _, _ := newCLIEnv(t, bin, map[string]any{"enabled": false})
	fake := comfytest.Start(t, comfytest.Options{})
	var cfg map[string]any
	_ = json.Unmarshal(svtest.ReadFile(t, e.cfg), &cfg)
	cfg["comfyui"] = map[string]any{"enabled": true, "base_url": fake.URL}
	b, _ := json.Marshal(cfg)
	if err := os.WriteFile(e.cfg, b, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d, err := db.Open(ctx, db.Options{Path: e.db})
	if err != nil {
		t.Fatal(err)
	}
	data := pngtest.WithText(pngtest.PNG(40, 40, 9), "prompt", comfytest.Graph)
	path := filepath.Join(e.dir, "LIB", "img", "comfy.png")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	id, err := media.Insert(ctx, d, media.NewMedia{Path: path, Type: "image", Source: "import", Width: 40, Height: 40,
		Filesize: int64(len(data)), Hash: "comfy-src", FileMTime: now}, now)
	if err == nil {
		var r sdmeta.Result
		if r, err = sdmeta.Extract(ctx, path, sdmeta.Options{}); err == nil {
			_, err = media.StoreExtraction(ctx, d, id, r, media.PromptSourceImport, now)
		}
	}
	d.Close()
	if err != nil {
		t.Fatal(err)
	}
	mid := strconv.FormatInt(id, 10)
	r := e.run("comfy-enqueue", "--media-id="+mid, "--prompt=a heron at dawn", "--steps=10", "--json")
	var enq comfyjob.EnqueueResult
	if r.Code != 0 || json.Unmarshal([]byte(strings.TrimSpace(r.Stdout)), &enq) != nil || enq.JobID == 0 || !enq.Checked {
		t.Fatalf("comfy-enqueue: %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
	if r = e.run("--limit=1", "--media-id="+mid); r.Code != 0 {
		t.Fatalf("worker: %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
	if st := e.query(`SELECT status FROM jobs WHERE id = ?`, enq.JobID); st != "done" {
		t.Fatalf("job status %s", st)
	}
	if r = e.run("accept", "--job-id="+strconv.FormatInt(enq.JobID, 10), "--as=child"); r.Code != 0 || !strings.Contains(r.Stdout, "child_media_id=") {
		t.Fatalf("accept: %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
	if p := e.query(`SELECT prompt FROM prompts WHERE media_id = (SELECT id FROM media WHERE parent_media_id = ?)`, id); p != "a heron at dawn" {
		t.Fatalf("child prompt %q", p)
	}
	if r = e.run("comfy-enqueue", "--media-id="+mid, "--width=1001"); r.Code == 0 || !strings.Contains(r.Stderr, comfy.CodeValueInvalid) {
		t.Fatalf("bad width: %d %s", r.Code, r.Stderr)
	}
}

// testEnqueueRunAcceptDiscard runs the real binary: enqueue two variants,
// process the job, accept variant 1 as the new original, discard variant 2;
// files and rows are checked after each step.
func testEnqueueRunAcceptDiscard(t *testing.T, bin string) {
	e, id, orig := newCLIEnv(t, bin, nil)
	mid := strconv.FormatInt(id, 10)

	r := e.run("enqueue", "--media-id="+mid, "--variants=2", "--json")
	if r.Code != 0 {
		t.Fatalf("enqueue: %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
	var enq forgejob.EnqueueResult
	if err := json.Unmarshal([]byte(strings.TrimSpace(r.Stdout)), &enq); err != nil || enq.JobID == 0 {
		t.Fatalf("enqueue output %q: %v", r.Stdout, err)
	}
	job := strconv.FormatInt(enq.JobID, 10)

	if r = e.run("--limit=1", "--media-id="+mid); r.Code != 0 {
		t.Fatalf("worker: %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
	if st := e.query(`SELECT status FROM jobs WHERE id = ?`, enq.JobID); st != "done" {
		t.Fatalf("job status %s: %s", st, r.Stderr)
	}
	var res forgejob.JobResult
	if err := json.Unmarshal([]byte(e.query(`SELECT result_json FROM jobs WHERE id = ?`, enq.JobID)), &res); err != nil || len(res.Versions) != 2 {
		t.Fatalf("result %+v %v", res, err)
	}
	oldPath := e.query(`SELECT path FROM media WHERE id = ?`, id)

	if r = e.run("accept", "--job-id="+job, "--variant=1", "--as=replace"); r.Code != 0 {
		t.Fatalf("accept: %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
	newPath, hash := e.query(`SELECT path FROM media WHERE id = ?`, id), e.query(`SELECT hash FROM media WHERE id = ?`, id)
	nb, err := os.ReadFile(newPath)
	if err != nil || hash != res.Versions[0].MD5 {
		t.Fatalf("media after accept: %s %s (%v)", newPath, hash, err)
	}
	if s := md5.Sum(nb); hex.EncodeToString(s[:]) != hash {
		t.Error("new file does not match the media hash")
	}
	if _, err := os.Stat(oldPath); newPath != oldPath && !os.IsNotExist(err) {
		t.Error("old file left in the library")
	}
	backup := e.query(`SELECT meta_value FROM media_meta WHERE media_id = ? AND meta_key = 'forge.backup_path'`, id)
	if b, err := os.ReadFile(backup); err != nil || !bytes.Equal(b, orig) {
		t.Errorf("backup %s is not the original (%v)", backup, err)
	}

	if r = e.run("discard", "--job-id="+job, "--variant=2"); r.Code != 0 || !strings.Contains(r.Stdout, "discarded=[2]") {
		t.Fatalf("discard: %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
	if _, err := os.Stat(res.Versions[1].Path); !os.IsNotExist(err) {
		t.Error("discarded preview still on disk")
	}
	if r = e.run("accept", "--job-id="+job, "--variant=2", "--as=child"); r.Code == 0 || !strings.Contains(r.Stderr, forgejob.CodeAlreadyAccepted) {
		t.Errorf("accepting a discarded preview: %d %s", r.Code, r.Stderr)
	}
}

func testConfigProblemIsVisible(t *testing.T, bin string) {
	e, id, _ := newCLIEnv(t, bin, map[string]any{"enabled": true})
	r := e.run("enqueue", "--media-id="+strconv.FormatInt(id, 10))
	if r.Code == 0 || !strings.Contains(r.Stderr, "forge_config_incomplete") || !strings.Contains(r.Stderr, "forge.dispatch_enabled") ||
		!strings.Contains(r.Stderr, "config_path="+e.cfg) {
		t.Errorf("enqueue without forge section: %d %q", r.Code, r.Stderr)
	}
}
