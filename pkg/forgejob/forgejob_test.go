package forgejob_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/db/dbtest"
	"github.com/localsupervisor/supervisor/pkg/forge"
	"github.com/localsupervisor/supervisor/pkg/forge/forgetest"
	"github.com/localsupervisor/supervisor/pkg/forgejob"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/library"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/sdmeta"
	"github.com/localsupervisor/supervisor/pkg/svtest"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

type env struct {
	t     *testing.T
	dir   string
	db    *sql.DB
	fake  *forgetest.Server
	svc   *forgejob.Service
	queue *jobs.Queue
	roots library.Roots
	clock *svtime.FixedClock
}

func boolp(b bool) *bool { return &b }

func newEnv(t *testing.T, mut func(*forgejob.Service)) *env {
	t.Helper()
	dir := t.TempDir()
	d := dbtest.Open(t, filepath.Join(dir, "DB", "local.sqlite"))
	fake := forgetest.Start(t, forgetest.Options{})
	roots := library.Roots{ImagesSFW: filepath.Join(dir, "LIB", "images_sfw"), ImagesNSFW: filepath.Join(dir, "LIB", "images_nsfw"),
		VideosSFW: filepath.Join(dir, "LIB", "videos_sfw"), VideosNSFW: filepath.Join(dir, "LIB", "videos_nsfw")}
	for _, r := range roots.All() {
		if err := os.MkdirAll(r, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	clock := &svtime.FixedClock{T: t0}
	q := jobs.NewQueue(jobs.QueueOptions{DB: d, Clock: clock, Config: jobs.DefaultConfig(), Jitter: func() float64 { return 0.5 }})
	cfg := fake.Config()
	rng := rand.New(rand.NewPCG(1, 2))
	s := forgejob.Service{DB: d, Queue: q, Config: cfg, Roots: roots, PreviewsDir: filepath.Join(dir, "PREVIEWS"),
		BackupsDir: filepath.Join(dir, "BACKUPS"), Clock: clock, ProgressInterval: -1, Rand: rng.Int64N,
		Extract: func(ctx context.Context, path string) (sdmeta.Result, error) {
			return sdmeta.Extract(ctx, path, sdmeta.Options{})
		}}
	if mut != nil {
		mut(&s)
	}
	svc, err := forgejob.New(s)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, dir: dir, db: d, fake: fake, svc: svc, queue: q, roots: roots, clock: clock}
}

// noise is a deterministic non-black image that compresses poorly (so it
// passes Forge output checks and size heuristics).
func noise(w, h int, seed uint64) image.Image {
	r := rand.New(rand.NewPCG(seed, 7))
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.NRGBA{uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(r.IntN(256)), 255})
		}
	}
	return img
}

// addMedia catalogues a w×h image (png or jpg) with a good stored prompt.
// inRoots false places it outside the library roots (in_place import).
func (e *env) addMedia(w, h int, ext string, inRoots bool) (int64, string, []byte) {
	e.t.Helper()
	var buf bytes.Buffer
	img := noise(w, h, uint64(w*h))
	if ext == "jpg" {
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
			e.t.Fatal(err)
		}
	} else if err := png.Encode(&buf, img); err != nil {
		e.t.Fatal(err)
	}
	data := buf.Bytes()
	sum := md5hex(data)
	path := filepath.Join(e.dir, "INPLACE", "orig_"+sum[:6]+"."+ext)
	if inRoots {
		path = library.CanonicalPath(e.roots, "image", false, sum, ext)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		e.t.Fatal(err)
	}
	ctx := context.Background()
	id, err := media.Insert(ctx, e.db, media.NewMedia{Path: path, Type: "image", Source: "import", Width: w, Height: h,
		Filesize: int64(len(data)), Hash: sum, FileMTime: t0}, t0)
	if err != nil {
		e.t.Fatal(err)
	}
	cfg, steps, seed := 6.5, int64(28), "1234"
	pw, ph := int64(w), int64(h)
	_, err = media.SavePrompt(ctx, e.db, id, media.Prompt{
		Prompt:         "a detailed oil painting of a lighthouse on a rocky coast at sunset, dramatic clouds, warm light, masterpiece",
		NegativePrompt: "blurry", Model: "sdxl_base_1.0", Sampler: "DPM++ 2M", Scheduler: "Karras", CFGScale: &cfg, Steps: &steps,
		Seed: seed, Width: &pw, Height: &ph}, media.PromptSourceImport, "", t0)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := media.UpsertTags(ctx, e.db, id, []media.TagInput{{Name: "lighthouse", Type: "content", Confidence: 0.9}}); err != nil {
		e.t.Fatal(err)
	}
	return id, path, data
}

func md5hex(b []byte) string {
	h := md5sum(b)
	return h
}

func (e *env) enqueue(mediaID int64, er forgejob.EnqueueRequest) int64 {
	e.t.Helper()
	er.MediaID = mediaID
	res, err := e.svc.Enqueue(context.Background(), er)
	if err != nil {
		e.t.Fatalf("enqueue: %v", err)
	}
	return res.JobID
}

func (e *env) runner(handlers map[string]jobs.Handler) *jobs.Runner {
	e.t.Helper()
	r, err := jobs.NewRunner(jobs.RunnerOptions{Queue: e.queue, Worker: "forge_worker", Types: forgejob.Types(),
		Handlers: handlers, LogsDir: filepath.Join(e.dir, "LOGS"), HeartbeatInterval: 20 * time.Millisecond,
		Grace: time.Second, Abandon: time.Second})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := r.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { r.Close() })
	return r
}

func (e *env) runOne() jobs.Summary {
	e.t.Helper()
	sum, err := e.runner(e.svc.Handlers()).RunBatch(context.Background(), 1)
	if err != nil {
		e.t.Fatal(err)
	}
	return sum
}

type jobRow struct {
	Status, Code, Msg, Result, Response, Payload, Request string
}

func (e *env) job(id int64) jobRow {
	e.t.Helper()
	var r jobRow
	var code, msg, res, resp, pl, rq sql.NullString
	if err := e.db.QueryRow(`SELECT status, last_error_code, error_message, result_json, forge_response_json, payload_json, forge_request_json FROM jobs WHERE id=?`, id).
		Scan(&r.Status, &code, &msg, &res, &resp, &pl, &rq); err != nil {
		e.t.Fatal(err)
	}
	r.Code, r.Msg, r.Result, r.Response, r.Payload, r.Request = code.String, msg.String, res.String, resp.String, pl.String, rq.String
	return r
}

func (e *env) result(id int64) forgejob.JobResult {
	e.t.Helper()
	var r forgejob.JobResult
	row := e.job(id)
	if err := json.Unmarshal([]byte(row.Result), &r); err != nil {
		e.t.Fatalf("job %d result %q: %v (status %s %s)", id, row.Result, err, row.Status, row.Msg)
	}
	return r
}

func (e *env) count(q string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.db.QueryRow(q, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func imageSize(t *testing.T, p string) (int, int, string) {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, format, err := image.DecodeConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	return c.Width, c.Height, format
}

func TestPreviewKeepsEveryVariantResizedToOriginal(t *testing.T) {
	for _, c := range []struct {
		name     string
		variants int
		ext      string
	}{
		{"single png", 1, "png"},
		{"four jpg", 4, "jpg"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, nil)
			// 100×70 is generated at 96×64 (multiples of 8) and scaled back.
			id, path, orig := e.addMedia(100, 70, c.ext, true)
			jobID := e.enqueue(id, forgejob.EnqueueRequest{Overrides: forge.Overrides{Variants: c.variants}})
			if s := e.runOne(); s.Done != 1 {
				t.Fatalf("summary %+v, job %+v", s, e.job(jobID))
			}
			res := e.result(jobID)
			if len(res.Versions) != c.variants || res.Replaced {
				t.Fatalf("versions %d replaced %v, want %d previews", len(res.Versions), res.Replaced, c.variants)
			}
			for i, v := range res.Versions {
				if v.Variant != i+1 || v.Role != "preview" {
					t.Errorf("version %d: %+v", i, v)
				}
				wantName := "preview_" + itoa(id) + "_" + itoa(jobID) + "_20260102_030405_" + itoa(int64(i+1)) + "." + c.ext
				if filepath.Base(v.Path) != wantName || filepath.Dir(v.Path) != e.svc.PreviewsDir {
					t.Errorf("preview path %s, want PREVIEWS/%s", v.Path, wantName)
				}
				w, h, _ := imageSize(t, v.Path)
				if w != 100 || h != 70 || v.GenWidth != 96 || v.GenHeight != 64 {
					t.Errorf("variant %d is %dx%d (gen %dx%d), want 100x70 from 96x64", v.Variant, w, h, v.GenWidth, v.GenHeight)
				}
				if md5hex(svtest.ReadFile(t, v.Path)) != v.MD5 {
					t.Errorf("variant %d md5 mismatch", v.Variant)
				}
			}
			if !bytes.Equal(svtest.ReadFile(t, path), orig) {
				t.Error("preview mode changed the original")
			}
			if n := e.count(`SELECT COUNT(*) FROM audit_log WHERE action='forge_job_created'`); n != 1 {
				t.Errorf("forge_job_created audits = %d", n)
			}
			if got := len(e.fake.RequestsTo(forge.PathTxt2Img)) + len(e.fake.RequestsTo(forge.PathImg2Img)); got != 1 {
				t.Errorf("generation requests = %d", got)
			}
		})
	}
}

func itoa(v int64) string { return strconvI(v) }

func TestNoBase64InDatabase(t *testing.T) {
	e := newEnv(t, nil)
	id, _, _ := e.addMedia(100, 70, "png", true)
	// img2img strategy: the init image must be read at run time, never stored.
	jobID := e.enqueue(id, forgejob.EnqueueRequest{Overrides: forge.Overrides{Strategy: forge.StrategyImg2Img, Variants: 2}})
	e.runOne()
	row := e.job(jobID)
	if row.Status != jobs.StatusDone {
		t.Fatalf("job %+v", row)
	}
	reqs := e.fake.RequestsTo(forge.PathImg2Img)
	if len(reqs) != 1 || !bytes.Contains(reqs[0].Body, []byte(`"init_images":["`)) {
		t.Fatalf("img2img requests %d; the init image must be sent", len(reqs))
	}
	for name, col := range map[string]string{"payload_json": row.Payload, "forge_request_json": row.Request,
		"result_json": row.Result, "forge_response_json": row.Response} {
		if strings.Contains(col, "iVBORw0KGgo") || strings.Contains(col, "/9j/") || strings.Contains(col, "init_images") || len(col) > 20000 {
			t.Errorf("%s holds image data (%d bytes)", name, len(col))
		}
		if strings.Contains(col, "_sv_") || strings.Contains(col, `"sampler":`) {
			t.Errorf("%s holds internal keys", name)
		}
	}
	var total int
	if err := e.db.QueryRow(`SELECT COALESCE(SUM(LENGTH(details_json)),0) FROM audit_log`).Scan(&total); err != nil {
		t.Fatal(err)
	}
	if total > 20000 {
		t.Errorf("audit rows hold %d bytes", total)
	}
}

func TestReplaceInRootsMovesToCanonicalPath(t *testing.T) {
	e := newEnv(t, nil)
	id, oldPath, orig := e.addMedia(100, 70, "png", true)
	jobID := e.enqueue(id, forgejob.EnqueueRequest{Overrides: forge.Overrides{Mode: forge.OutputReplace, Variants: 2}})
	e.runOne()
	res := e.result(jobID)
	if !res.Replaced || res.Replace == nil || len(res.Versions) != 2 {
		t.Fatalf("result %+v", res)
	}
	info := res.Replace
	m, err := media.Get(context.Background(), e.db, id)
	if err != nil {
		t.Fatal(err)
	}
	newData := svtest.ReadFile(t, m.Path)
	if m.Hash != md5hex(newData) || m.Hash == md5hex(orig) || m.Hash != info.NewHash {
		t.Fatalf("media hash %s, file %s, old %s", m.Hash, md5hex(newData), md5hex(orig))
	}
	if want := library.CanonicalPath(e.roots, "image", false, m.Hash, "png"); m.Path != want {
		t.Errorf("path %s, want canonical %s", m.Path, want)
	}
	if _, err := os.Stat(oldPath); !os.IsNotExist(err) {
		t.Errorf("old file still present: %v", err)
	}
	if !bytes.Equal(svtest.ReadFile(t, info.BackupPath), orig) || !strings.HasPrefix(info.BackupPath, e.svc.BackupsDir) {
		t.Errorf("backup %s is not the original", info.BackupPath)
	}
	if w, h, _ := imageSize(t, m.Path); w != 100 || h != 70 || *m.Width != 100 || *m.Filesize != int64(len(newData)) {
		t.Errorf("new file %dx%d, row %dx%d", w, h, *m.Width, *m.Height)
	}
	if res.Versions[0].Role != "replaced" || res.Versions[1].Role != "preview" {
		t.Errorf("versions %+v", res.Versions)
	}
	hist, err := media.History(context.Background(), e.db, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) < 2 || hist[0].Source != forgejob.SourceRegenReplace {
		t.Errorf("history %+v, want a forge_regen_replace version on top", hist)
	}
	if n := e.count(`SELECT COUNT(*) FROM audit_log WHERE action='forge_regen_replace' AND entity_id=?`, id); n != 1 {
		t.Errorf("forge_regen_replace audits = %d", n)
	}
	// No tagger wired: the media is flagged for a later rescan.
	if v, _, _ := media.GetMeta(context.Background(), e.db, id, "scan_stale"); v != "1" {
		t.Errorf("scan_stale = %q", v)
	}
}

func TestReplaceFailureRestoresOriginalByteForByte(t *testing.T) {
	for _, c := range []struct {
		name    string
		inRoots bool
	}{
		{"canonical move", true},
		{"in place overwrite", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, nil)
			id, path, orig := e.addMedia(100, 70, "png", c.inRoots)
			jobID := e.enqueue(id, forgejob.EnqueueRequest{Overrides: forge.Overrides{Mode: forge.OutputReplace}})
			// The media update fails after the new file was written.
			if _, err := e.db.Exec(`CREATE TRIGGER boom BEFORE UPDATE OF hash ON media BEGIN SELECT RAISE(ABORT, 'disk on fire'); END`); err != nil {
				t.Fatal(err)
			}
			e.runOne()
			row := e.job(jobID)
			if row.Status == jobs.StatusDone {
				t.Fatalf("job succeeded despite the failing update")
			}
			if got := svtest.ReadFile(t, path); !bytes.Equal(got, orig) {
				t.Fatalf("original not restored byte-for-byte (%d vs %d bytes)", len(got), len(orig))
			}
			m, _ := media.Get(context.Background(), e.db, id)
			if m.Path != path || m.Hash != md5hex(orig) {
				t.Errorf("row changed: %s %s", m.Path, m.Hash)
			}
			backups, _ := os.ReadDir(e.svc.BackupsDir)
			if len(backups) != 0 {
				t.Errorf("backup kept after a verified restore: %v", backups)
			}
			var files int
			_ = filepath.Walk(filepath.Dir(path), func(p string, fi os.FileInfo, err error) error {
				if err == nil && !fi.IsDir() {
					files++
				}
				return nil
			})
			if files != 1 {
				t.Errorf("%d files next to the original, want only the original", files)
			}
			if !strings.Contains(row.Response, "forge_replace_failed") {
				t.Errorf("forge_response_json %s lacks the reason code", row.Response)
			}
		})
	}
}

func TestCancelInterruptsGeneration(t *testing.T) {
	e := newEnv(t, func(s *forgejob.Service) { s.ProgressInterval = 10 * time.Millisecond })
	id, _, _ := e.addMedia(100, 70, "png", true)
	jobID := e.enqueue(id, forgejob.EnqueueRequest{})
	e.fake.Hold()
	r := e.runner(e.svc.Handlers())
	done := make(chan jobs.Summary, 1)
	go func() {
		s, _ := r.RunBatch(context.Background(), 1)
		done <- s
	}()
	select {
	case <-e.fake.Started():
	case <-time.After(10 * time.Second):
		t.Fatal("generation never started")
	}
	// The held generation reports its first step; the poller copies it into
	// progress_bits.
	deadline := time.Now().Add(10 * time.Second)
	for e.count(`SELECT progress_bits FROM jobs WHERE id=?`, jobID) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("progress_bits never updated")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := e.queue.Cancel(context.Background(), jobID); err != nil {
		t.Fatal(err)
	}
	var s jobs.Summary
	select {
	case s = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("runner did not stop after cancel")
	}
	if s.Cancelled != 1 || e.job(jobID).Status != jobs.StatusCancelled {
		t.Errorf("summary %+v status %s", s, e.job(jobID).Status)
	}
	if e.fake.Interrupts() < 1 {
		t.Error("no interrupt sent to Forge")
	}
	if entries, _ := os.ReadDir(e.svc.PreviewsDir); len(entries) != 0 {
		t.Errorf("previews written for a cancelled job: %d", len(entries))
	}
}

func TestAcceptPreview(t *testing.T) {
	for _, as := range []string{forgejob.AcceptReplace, forgejob.AcceptChild} {
		t.Run(as, func(t *testing.T) {
			e := newEnv(t, nil)
			ctx := context.Background()
			id, oldPath, orig := e.addMedia(100, 70, "png", true)
			jobID := e.enqueue(id, forgejob.EnqueueRequest{Overrides: forge.Overrides{Variants: 2}})
			e.runOne()
			v2 := e.result(jobID).Versions[1]
			res, err := e.svc.Accept(ctx, forgejob.AcceptRequest{JobID: jobID, Variant: 2, As: as})
			if err != nil {
				t.Fatal(err)
			}
			src, _ := media.Get(ctx, e.db, id)
			switch as {
			case forgejob.AcceptReplace:
				if src.Hash != v2.MD5 || !bytes.Equal(svtest.ReadFile(t, src.Path), svtest.ReadFile(t, v2.Path)) {
					t.Errorf("media not replaced by variant 2")
				}
				if !bytes.Equal(svtest.ReadFile(t, res.Replace.BackupPath), orig) {
					t.Error("backup is not the original")
				}
			case forgejob.AcceptChild:
				if !bytes.Equal(svtest.ReadFile(t, oldPath), orig) || src.Hash != md5hex(orig) {
					t.Error("source changed by a child accept")
				}
				child, err := media.Get(ctx, e.db, res.ChildMediaID)
				if err != nil {
					t.Fatal(err)
				}
				if child.ParentID == nil || *child.ParentID != id || child.Hash != v2.MD5 {
					t.Errorf("child %+v", child)
				}
				if want := library.CanonicalPath(e.roots, "image", false, v2.MD5, "png"); child.Path != want || !fileExistsT(want) {
					t.Errorf("child path %s, want %s", child.Path, want)
				}
				if _, p, _ := media.CurrentPrompt(ctx, e.db, child.ID); p.Prompt == "" {
					t.Error("child has no prompt")
				}
				// #18 item 5: the child's generation parameters are
				// searchable, as the Forge server's (software forge).
				if n := e.count(`SELECT COUNT(*) FROM media_gen g JOIN prompts p ON p.media_id = g.media_id
					WHERE g.media_id=? AND g.software='forge' AND g.steps = p.steps AND g.seed IS p.seed`, child.ID); n != 1 {
					t.Error("child has no media_gen row from its prompt")
				}
			}
			if got := e.result(jobID).Versions[1].AcceptedAs; got != as {
				t.Errorf("job result accepted_as = %q", got)
			}
			if _, err := e.svc.Accept(ctx, forgejob.AcceptRequest{JobID: jobID, Variant: 2, As: as}); reason.Code(err) != forgejob.CodeAlreadyAccepted {
				t.Errorf("second accept: %v", err)
			}
			if n := e.count(`SELECT COUNT(*) FROM audit_log WHERE action='forge_preview_accepted'`); n != 1 {
				t.Errorf("forge_preview_accepted audits = %d", n)
			}
		})
	}
}

func fileExistsT(p string) bool { _, err := os.Stat(p); return err == nil }

func TestAcceptRejects(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	id, _, _ := e.addMedia(100, 70, "png", true)
	jobID := e.enqueue(id, forgejob.EnqueueRequest{})
	for _, c := range []struct {
		name string
		req  forgejob.AcceptRequest
		code string
	}{
		{"queued job", forgejob.AcceptRequest{JobID: jobID, Variant: 1, As: "child"}, forgejob.CodeJobNotAccept},
		{"bad mode", forgejob.AcceptRequest{JobID: jobID, Variant: 1, As: "merge"}, forgejob.CodeAcceptModeUnkown},
		{"unknown job", forgejob.AcceptRequest{JobID: 999, Variant: 1, As: "child"}, jobs.CodeNotFound},
	} {
		if _, err := e.svc.Accept(ctx, c.req); reason.Code(err) != c.code {
			t.Errorf("%s: %v, want %s", c.name, err, c.code)
		}
	}
	e.runOne()
	res := e.result(jobID)
	if _, err := e.svc.Accept(ctx, forgejob.AcceptRequest{JobID: jobID, Variant: 5, As: "child"}); reason.Code(err) != forgejob.CodeVariantNotFound {
		t.Errorf("missing variant: %v", err)
	}
	if err := os.WriteFile(res.Versions[0].Path, []byte("tampered"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Accept(ctx, forgejob.AcceptRequest{JobID: jobID, Variant: 1, As: "child"}); reason.Code(err) != forgejob.CodePreviewChanged {
		t.Errorf("tampered preview: %v", err)
	}
}

func TestConfigValidationMessages(t *testing.T) {
	for _, c := range []struct {
		name    string
		cfg     *forge.Config
		code    string
		message string
	}{
		{"missing", nil, forge.CodeConfigMissing, "forge_config_missing | missing_keys=forge"},
		{"incomplete", &forge.Config{Enabled: boolp(true), ConfigPath: "/cfg/config.json"}, forge.CodeConfigIncomplete,
			"forge_config_incomplete | missing_keys=forge.base_url,forge.dispatch_enabled | config_path=/cfg/config.json"},
		{"disabled", &forge.Config{Enabled: boolp(false), DispatchEnabled: boolp(true), BaseURL: "http://x", ConfigPath: "/c.json"},
			forge.CodeDisabled, "forge_disabled | config_path=/c.json"},
		{"dispatch off", &forge.Config{Enabled: boolp(true), DispatchEnabled: boolp(false), BaseURL: "http://x", ConfigPath: "/c.json"},
			forge.CodeDispatchDisabled, "forge_dispatch_disabled | config_path=/c.json"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, func(s *forgejob.Service) { s.Config = c.cfg })
			id, _, _ := e.addMedia(64, 64, "png", true)
			_, err := e.svc.Enqueue(context.Background(), forgejob.EnqueueRequest{MediaID: id})
			p := forgejob.Problem(err)
			if p == nil || p.ReasonCode != c.code || p.Message != c.message {
				t.Fatalf("problem %+v from %v, want %s / %q", p, err, c.code, c.message)
			}
			// A job already in the queue fails permanently with the same
			// visible message, persisted in forge_response_json.
			mid := id
			r, err := e.queue.Enqueue(context.Background(), jobs.EnqueueRequest{Type: jobs.TypeForgeRegen, MediaID: &mid,
				Payload: json.RawMessage(`{"prompt":"x"}`)})
			if err != nil {
				t.Fatal(err)
			}
			e.runOne()
			row := e.job(r.JobID)
			if row.Status != jobs.StatusError || row.Code != c.code || !strings.Contains(row.Msg, strings.TrimPrefix(c.message, c.code)) {
				t.Errorf("job %+v", row)
			}
			if !strings.Contains(row.Response, `"missing_keys"`) {
				t.Errorf("forge_response_json %s lacks missing_keys", row.Response)
			}
		})
	}
}

func TestHealthFailurePersistsDetails(t *testing.T) {
	for _, c := range []struct {
		fault    forgetest.Fault
		code     string
		httpCode float64
	}{
		{forgetest.FaultUnauthorized, forge.CodeHTTP401, 401},
		{forgetest.FaultServerError, forge.CodeHTTP5xx, 500},
	} {
		t.Run(string(c.fault), func(t *testing.T) {
			e := newEnv(t, nil)
			id, _, _ := e.addMedia(64, 64, "png", true)
			jobID := e.enqueue(id, forgejob.EnqueueRequest{})
			e.fake.SetFault(c.fault)
			_, err := e.svc.Enqueue(context.Background(), forgejob.EnqueueRequest{MediaID: id})
			if reason.Code(err) != c.code {
				t.Fatalf("enqueue during fault: %v", err)
			}
			e.runOne()
			row := e.job(jobID)
			if row.Code != c.code {
				t.Errorf("job code %q, want %s", row.Code, c.code)
			}
			var resp struct {
				Error map[string]any `json:"error"`
			}
			_ = json.Unmarshal([]byte(row.Response), &resp)
			if resp.Error["reason_code"] != c.code || resp.Error["http_code"] != c.httpCode ||
				!strings.HasSuffix(resp.Error["target_url"].(string), forge.PathOptions) {
				t.Errorf("forge_response_json %s", row.Response)
			}
			var details string
			if err := e.db.QueryRow(`SELECT details_json FROM audit_log WHERE action='forge_health_failed' ORDER BY id DESC LIMIT 1`).Scan(&details); err != nil {
				t.Fatal(err)
			}
			var d map[string]any
			_ = json.Unmarshal([]byte(details), &d)
			if d["reason_code"] != c.code || d["http_code"] != c.httpCode || d["target_url"] == "" || d["job_id"] == nil {
				t.Errorf("audit %s", details)
			}
			if n := e.count(`SELECT COUNT(*) FROM audit_log WHERE action='forge_health_failed'`); n != 2 {
				t.Errorf("forge_health_failed audits = %d, want 2 (enqueue + job)", n)
			}
		})
	}
}

func TestLegacyPayloadRuns(t *testing.T) {
	e := newEnv(t, nil)
	id, _, _ := e.addMedia(100, 70, "png", true)
	// What the PHP version stored (payload_json after migration 0002): the
	// whole Forge payload with "sampler", "model", _sv_* keys and base64.
	legacy := `{"prompt":"a lighthouse","negative_prompt":"blurry","model":"sdxl_base_1.0","sampler":"DPM++ 2M Karras",
		"cfg_scale":6.5,"steps":"20","seed":42,"width":96,"height":64,"init_images":["iVBORw0KGgoAAAA"],"denoising_strength":0.3,
		"_sv_mode":"preview","_sv_regen_plan":{"final_prompt":"a lighthouse","orig_width":100,"orig_height":70}}`
	mid := id
	r, err := e.queue.Enqueue(context.Background(), jobs.EnqueueRequest{Type: jobs.TypeForgeRegenReplace, MediaID: &mid, Payload: json.RawMessage(legacy)})
	if err != nil {
		t.Fatal(err)
	}
	e.runOne()
	res := e.result(r.JobID)
	if res.GenerationMode != forge.Img2Img || len(res.Versions) != 1 || res.Replaced {
		t.Fatalf("result %+v", res)
	}
	reqs := e.fake.RequestsTo(forge.PathImg2Img)
	if len(reqs) != 1 {
		t.Fatalf("img2img requests %d", len(reqs))
	}
	var body map[string]any
	_ = json.Unmarshal(reqs[0].Body, &body)
	if body["sampler_name"] != "DPM++ 2M" || body["scheduler"] != "Karras" || body["sampler"] != nil || body["_sv_mode"] != nil {
		t.Errorf("sent body keys: sampler_name=%v scheduler=%v sampler=%v", body["sampler_name"], body["scheduler"], body["sampler"])
	}
	if imgs, _ := body["init_images"].([]any); len(imgs) != 1 || imgs[0] == "iVBORw0KGgoAAAA" {
		t.Error("legacy base64 was sent instead of the current file")
	}
}

func TestRepairRecipeVariants(t *testing.T) {
	e := newEnv(t, nil)
	id, _, _ := e.addMedia(100, 70, "png", true)
	jobID := e.enqueue(id, forgejob.EnqueueRequest{Recipe: "rebuild.strong"})
	e.runOne()
	res := e.result(jobID)
	if len(res.Versions) != 4 {
		t.Errorf("rebuild.strong kept %d variants, want 4", len(res.Versions))
	}
	if _, err := e.svc.Enqueue(context.Background(), forgejob.EnqueueRequest{MediaID: id, Recipe: "polish.max"}); reason.Code(err) != forge.CodeOptionInvalid {
		t.Errorf("unknown recipe: %v", err)
	}
}
