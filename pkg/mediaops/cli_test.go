package mediaops_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/mediaops"
	"github.com/localsupervisor/supervisor/pkg/probe"
	"github.com/localsupervisor/supervisor/pkg/svtest"
)

// run runs a built binary with the test config and fails on an exit code
// other than want.
func (e *env) run(t *testing.T, want int, bin, cfg string, args ...string) svtest.RunResult {
	t.Helper()
	r := svtest.RunBinary(t, e.dir, nil, bin, append(args, "--config="+cfg)...)
	if r.Code != want {
		t.Fatalf("%s %v: exit %d, want %d\n%s\n%s", filepath.Base(bin), args, r.Code, want, r.Stdout, r.Stderr)
	}
	return r
}

// binaryTest skips under -short, runs in parallel and returns a fresh
// env, its config file and the built binary of the main package pkg.
func binaryTest(t *testing.T, pkg string) (e *env, cfg, bin string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a binary")
	}
	t.Parallel()
	e = newEnv(t)
	return e, writeConfig(t, e), svtest.BuildBinary(t, pkg)
}

// TestMediaWorkerBinary runs the real media worker binary.
func TestMediaWorkerBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	t.Parallel()
	bin := svtest.BuildBinary(t, "./cmd/media-worker")
	t.Run("jobs", func(t *testing.T) { t.Parallel(); mediaWorkerJobs(t, bin) })
	t.Run("disk full during upscale", func(t *testing.T) { t.Parallel(); upscaleDiskFull(t, bin) })
}

// mediaWorkerJobs enqueues every media job type through the CLI and runs
// the worker: broken files are flagged while their jobs end done, hashes
// are stored, and the upscale leaves a child row.
func mediaWorkerJobs(t *testing.T, bin string) {
	svtest.RequireTool(t, "ffmpeg", "ffprobe")
	fx := svtest.SharedFixtures(t)
	e := newEnv(t)
	cfg := writeConfig(t, e)

	good := e.addMedia(t, filepath.Join(e.svc.Roots.ImagesSFW, "good.png"), "image", pngBytes(t, 32, 24), false)
	data := pngBytes(t, 40, 40)
	cut := e.addMedia(t, filepath.Join(e.svc.Roots.ImagesSFW, "cut.png"), "image", data[:len(data)/2], false)
	video := func(name string) int64 {
		b, err := os.ReadFile(filepath.Join(fx, name))
		if err != nil {
			t.Fatal(err)
		}
		return e.addMedia(t, filepath.Join(e.svc.Roots.VideosSFW, filepath.Base(name)), "video", b, false)
	}
	brokenVideo := video("corrupt/derived_mp4ff_prog_8s_half.mp4")
	liveJunk := video("video/mkvparse_example-live+junk.mkv")

	if r := e.run(t, 0, bin, cfg, "enqueue", "--type=integrity_check", "--all-missing"); !strings.Contains(r.Stdout, "enqueued=4") {
		t.Fatalf("integrity enqueue: %s", r.Stdout)
	}
	e.run(t, 0, bin, cfg, "enqueue", "--type=hash_compute", "--media-id="+strconv.FormatInt(good, 10))
	e.run(t, 0, bin, cfg, "enqueue", "--type=upscale", "--media-id="+strconv.FormatInt(good, 10), "--scale=2")
	e.run(t, 1, bin, cfg, "enqueue", "--type=upscale")
	e.run(t, 1, bin, cfg, "enqueue", "--type=upscale", "--media-id=999")
	// --no-top-up: only the jobs enqueued above run.
	e.run(t, 0, bin, cfg, "--limit=20", "--no-top-up")

	var open int
	e.db.QueryRow(`SELECT COUNT(*) FROM jobs WHERE status<>'done'`).Scan(&open)
	if open != 0 || e.count(t, `SELECT COUNT(*) FROM jobs`) != 6 {
		t.Fatalf("%d of %d jobs not done", open, e.count(t, `SELECT COUNT(*) FROM jobs`))
	}
	for id, want := range map[int64]string{good: "1", cut: "0", brokenVideo: "0", liveJunk: "1"} {
		if got := e.meta(t, id, "integrity.ok"); got != want {
			t.Errorf("media %d integrity.ok=%q, want %s (%s)", id, got, want, e.meta(t, id, "integrity.error_message"))
		}
	}
	// The structural check (mdat cut short) speaks before ffmpeg's decode
	// probe, with the code the import gives the same file (#19 item 9).
	if e.meta(t, brokenVideo, "integrity.error_code") != probe.CodeTruncatedFile || e.meta(t, liveJunk, "integrity.warning") == "" {
		t.Errorf("video verdicts: %q / warning %q", e.meta(t, brokenVideo, "integrity.error_code"), e.meta(t, liveJunk, "integrity.warning"))
	}
	if len(e.meta(t, good, "hash.sha256")) != 64 {
		t.Error("hash.sha256 not stored")
	}
	if e.count(t, `SELECT COUNT(*) FROM media WHERE parent_media_id=? AND source='upscale' AND width=64 AND height=48`, good) != 1 {
		t.Error("no 64x48 upscale child")
	}

	// Without --no-top-up the worker first queues integrity_check and
	// hash_compute for media missing them (three without a hash, the
	// upscale child without an integrity check), then runs them; a second
	// run finds nothing missing and queues nothing.
	e.run(t, 0, bin, cfg, "--limit=20")
	lacking := `SELECT COUNT(*) FROM media m WHERE m.status='active' AND (
		NOT EXISTS (SELECT 1 FROM media_meta mm WHERE mm.media_id=m.id AND mm.meta_key='integrity.checked_at')
		OR NOT EXISTS (SELECT 1 FROM media_meta mm WHERE mm.media_id=m.id AND mm.meta_key='hash.sha256'))`
	jobsN := e.count(t, `SELECT COUNT(*) FROM jobs`)
	if n := e.count(t, lacking); n != 0 || jobsN <= 6 {
		t.Errorf("after top-up run: %d media lacking results, %d jobs (want 0, more than 6)", n, jobsN)
	}
	e.run(t, 0, bin, cfg, "--limit=20")
	if n := e.count(t, `SELECT COUNT(*) FROM jobs`); n != jobsN {
		t.Errorf("run with nothing missing queued jobs: %d jobs", n)
	}
	if n := e.count(t, `SELECT COUNT(*) FROM jobs WHERE status<>'done'`); n != 0 {
		t.Errorf("%d jobs not done", n)
	}
}

// noisePNG is a w×h PNG of random pixels: it barely compresses, so its
// size is predictable (about 3·w·h bytes).
func noisePNG(t *testing.T, w, h int) []byte {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256)), 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// upscaleDiskFull runs the media worker under a file size limit
// (RLIMIT_FSIZE via prlimit), so writing the derivative fails half-way as
// on a full disk: the job ends in error, no partial file is left and the
// parent keeps its rows and meta.
func upscaleDiskFull(t *testing.T, bin string) {
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("prlimit (util-linux) not installed")
	}
	e := newEnv(t)
	cfg := writeConfig(t, e)
	parent := e.addMedia(t, filepath.Join(e.svc.Roots.ImagesSFW, "noise.png"), "image", noisePNG(t, 640, 640), false)
	e.run(t, 0, bin, cfg, "enqueue", "--type=upscale", "--media-id="+strconv.FormatInt(parent, 10), "--scale=2")
	metaBefore := e.count(t, `SELECT COUNT(*) FROM media_meta WHERE media_id=?`, parent)

	// 1 MiB: above what the worker writes to the DB, WAL and logs, far
	// below the ~3.5 MB the 1280² derivative needs. The setup's WAL
	// (migrations) is checkpointed away first, so the limit measures the
	// worker's own writes and not how many migrations the schema has.
	const limit = 1 << 20
	if _, err := e.db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	filepath.Walk(e.dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() && fi.Size() >= limit && !strings.HasSuffix(p, "noise.png") {
			t.Fatalf("%s is %d bytes, above the limit before the run", p, fi.Size())
		}
		return nil
	})
	r := svtest.RunBinary(t, e.dir, nil, prlimit, "--fsize="+strconv.Itoa(limit), bin, "--config="+cfg, "--limit=1", "--no-top-up")
	if r.Code != 0 {
		t.Fatalf("worker: %+v", r)
	}
	var st, code, msg string
	if err := e.db.QueryRow(`SELECT status, COALESCE(last_error_code,''), COALESCE(error_message,'') FROM jobs WHERE type='upscale'`).Scan(&st, &code, &msg); err != nil {
		t.Fatal(err)
	}
	if st == "done" || code != mediaops.CodeWriteFailed || !strings.Contains(msg, "file too large") {
		t.Fatalf("job %s (%s: %s), want a failed attempt with the write error", st, code, msg)
	}
	if ents, _ := os.ReadDir(e.svc.Derivatives); len(ents) != 0 {
		t.Fatalf("partial output left: %v", ents)
	}
	if n := e.count(t, `SELECT COUNT(*) FROM media`); n != 1 {
		t.Fatalf("%d media rows, want the parent only", n)
	}
	if e.count(t, `SELECT COUNT(*) FROM media_meta WHERE media_id=?`, parent) != metaBefore {
		t.Fatal("parent meta touched")
	}
}

// TestConsistencyCheckBinaryExitCodes: 0 on a clean catalogue, 2 with
// findings (also in --json), 0 again once --repair=simple fixed all of
// them, 1 for an unknown repair mode.
func TestConsistencyCheckBinaryExitCodes(t *testing.T) {
	e, cfg, bin := binaryTest(t, "./cmd/consistency-check")
	e.run(t, 0, bin, cfg)
	e.run(t, 1, bin, cfg, "--repair=everything")

	// Images never scanned are no failure while the scanner is disabled
	// (the default config): the nightly check of a healthy catalogue is
	// green, with one informational line (issue #17 item 21c).
	for i := range 3 {
		e.addMedia(t, filepath.Join(e.svc.Roots.ImagesSFW, fmt.Sprintf("unscanned%d.png", i)), "image", pngBytes(t, 5+i, 5), false)
	}
	r := e.run(t, 0, bin, cfg)
	if !strings.Contains(r.Stdout, "info  scan_missing_latest") || !strings.Contains(r.Stdout, "3 ") || strings.Count(r.Stdout, "scan_missing_latest") != 1 {
		t.Fatalf("unscanned images with the scanner disabled: %s", r.Stdout)
	}
	// With the scanner enabled each of them is a finding.
	var on map[string]any
	raw, err := os.ReadFile(cfg)
	if err != nil || json.Unmarshal(raw, &on) != nil {
		t.Fatalf("config: %v", err)
	}
	on["scanner"] = map[string]any{"enabled": true, "base_url": "http://127.0.0.1:1"}
	b, _ := json.Marshal(on)
	cfgOn := writeFile(t, filepath.Join(e.dir, "config-scanner.json"), b)
	r = e.run(t, 2, bin, cfgOn)
	if strings.Count(r.Stdout, "warn  scan_missing_latest") != 3 {
		t.Fatalf("unscanned images with the scanner enabled: %s", r.Stdout)
	}
	// Scanned, they are no finding either way.
	if _, err := e.db.Exec(`INSERT INTO scan_results(media_id, scanner, run_at) SELECT id, 's', '2026-01-01T00:00:00Z' FROM media`); err != nil {
		t.Fatal(err)
	}
	e.run(t, 0, bin, cfgOn)

	e.rawExec(t, `INSERT INTO media(id, path, type, source, hash, status, created_at, imported_at, is_deleted) VALUES
		(100, '/x/a.png', 'image', 'import', 'aa', 'deleted', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', 1)`,
		`INSERT INTO scan_results(media_id, scanner, run_at) VALUES (4242, 's', '2026-01-01T00:00:00Z')`)
	r = e.run(t, 2, bin, cfg)
	if !strings.Contains(r.Stdout, "scan_results_orphan") {
		t.Fatalf("finding not printed: %s", r.Stdout)
	}
	r = e.run(t, 2, bin, cfg, "--json")
	var rep struct {
		Counts map[string]int `json:"counts"`
	}
	if err := json.Unmarshal([]byte(lastLine(r.Stdout)), &rep); err != nil || rep.Counts["scan_results_orphan"] != 1 {
		t.Fatalf("--json: %v %+v\n%s", err, rep, r.Stdout)
	}
	e.run(t, 0, bin, cfg, "--repair=simple")
	e.run(t, 0, bin, cfg)
	if n := e.count(t, `SELECT COUNT(*) FROM consistency_log WHERE check_name='scan_results_orphan'`); n < 3 {
		t.Fatalf("consistency_log has %d scan_results_orphan rows, want one per run with findings", n)
	}
}

// TestCleanupMissingBinaryNeedsBothFlags: a dry run lists exactly what
// would go; either confirmation flag alone deletes nothing; both delete
// all but the media with a locked tag.
func TestCleanupMissingBinaryNeedsBothFlags(t *testing.T) {
	e, cfg, bin := binaryTest(t, "./cmd/cleanup-missing")
	keep := e.addMedia(t, filepath.Join(e.svc.Roots.ImagesSFW, "keep.png"), "image", pngBytes(t, 5, 5), false)
	gone := e.addMedia(t, filepath.Join(e.svc.Roots.ImagesSFW, "gone.png"), "image", pngBytes(t, 6, 5), false)
	locked := e.addMedia(t, filepath.Join(e.svc.Roots.ImagesSFW, "locked.png"), "image", pngBytes(t, 7, 5), false)
	os.Remove(filepath.Join(e.svc.Roots.ImagesSFW, "gone.png"))
	os.Remove(filepath.Join(e.svc.Roots.ImagesSFW, "locked.png"))
	e.rawExec(t, `INSERT INTO tags(id, name) VALUES (1, 'keep')`,
		`INSERT INTO media_tags(media_id, tag_id, locked) VALUES (`+strconv.FormatInt(locked, 10)+`, 1, 1)`)

	r := e.run(t, 0, bin, cfg, "--mark")
	var would []string
	for _, l := range strings.Split(r.Stdout, "\n") {
		if strings.HasPrefix(l, "would_delete") {
			would = append(would, l)
		}
	}
	if len(would) != 1 || !strings.Contains(would[0], "media "+strconv.FormatInt(gone, 10)+" ") {
		t.Fatalf("dry run lists %q, want only media %d\n%s", would, gone, r.Stdout)
	}
	for _, flags := range [][]string{{"--confirm"}, {"--no-dry-run"}} {
		e.run(t, 0, bin, cfg, flags...)
		if n := e.count(t, `SELECT COUNT(*) FROM media`); n != 3 {
			t.Fatalf("%v alone deleted: %d media left", flags, n)
		}
	}
	e.run(t, 0, bin, cfg, "--confirm", "--no-dry-run")
	for id, want := range map[int64]int{keep: 1, gone: 0, locked: 1} {
		if n := e.count(t, `SELECT COUNT(*) FROM media WHERE id=?`, id); n != want {
			t.Errorf("media %d: %d rows, want %d", id, n, want)
		}
	}
}

func lastLine(s string) string {
	ls := strings.Split(strings.TrimSpace(s), "\n")
	return ls[len(ls)-1]
}
