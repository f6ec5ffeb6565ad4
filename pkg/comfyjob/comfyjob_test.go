package comfyjob_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/comfy"
	"github.com/localsupervisor/supervisor/pkg/comfy/comfytest"
	"github.com/localsupervisor/supervisor/pkg/comfyjob"
	"github.com/localsupervisor/supervisor/pkg/db/dbtest"
	"github.com/localsupervisor/supervisor/pkg/forgejob"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/library"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/sdmeta"
	"github.com/localsupervisor/supervisor/pkg/svtest/pngtest"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

type env struct {
	tb    testing.TB
	dir   string
	db    *sql.DB
	fake  *comfytest.Server
	svc   *comfyjob.Service
	prev  *forgejob.Service
	queue *jobs.Queue
	roots library.Roots
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	dir := tb.TempDir()
	d := dbtest.Open(tb, filepath.Join(dir, "DB", "local.sqlite"))
	fake := comfytest.Start(tb, comfytest.Options{})
	roots := library.Roots{ImagesSFW: filepath.Join(dir, "LIB", "img"), ImagesNSFW: filepath.Join(dir, "LIB", "img18"),
		VideosSFW: filepath.Join(dir, "LIB", "vid"), VideosNSFW: filepath.Join(dir, "LIB", "vid18")}
	q := jobs.NewQueue(jobs.QueueOptions{DB: d, Clock: svtime.SystemClock{}, Config: jobs.DefaultConfig()})
	prev, err := forgejob.New(forgejob.Service{DB: d, Queue: q, Roots: roots, PreviewsDir: filepath.Join(dir, "PREVIEWS"),
		BackupsDir: filepath.Join(dir, "BACKUPS"), ProgressInterval: -1})
	if err != nil {
		tb.Fatal(err)
	}
	svc, err := comfyjob.New(comfyjob.Service{DB: d, Queue: q, Config: fake.Config(), Previews: prev})
	if err != nil {
		tb.Fatal(err)
	}
	return &env{tb: tb, dir: dir, db: d, fake: fake, svc: svc, prev: prev, queue: q, roots: roots}
}

// addComfyMedia catalogues a PNG whose "prompt" chunk is graph, stored the
// way the importer stores it (media.StoreExtraction of sdmeta's result).
func (e *env) addComfyMedia(graph string) int64 {
	e.tb.Helper()
	data := pngtest.WithText(pngtest.PNG(32, 32, uint8(len(graph))), "prompt", graph)
	path := filepath.Join(e.roots.ImagesSFW, "src", filepath.Base(e.tb.TempDir())+".png")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		e.tb.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		e.tb.Fatal(err)
	}
	ctx := context.Background()
	now := time.Now()
	id, err := media.Insert(ctx, e.db, media.NewMedia{Path: path, Type: "image", Source: "import", Width: 32, Height: 32,
		Filesize: int64(len(data)), Hash: filepath.Base(path), FileMTime: now}, now)
	if err != nil {
		e.tb.Fatal(err)
	}
	r, err := sdmeta.Extract(ctx, path, sdmeta.Options{})
	if err != nil {
		e.tb.Fatal(err)
	}
	if _, err := media.StoreExtraction(ctx, e.db, id, r, media.PromptSourceImport, now); err != nil {
		e.tb.Fatal(err)
	}
	return id
}

func (e *env) runner() *jobs.Runner {
	e.tb.Helper()
	r, err := jobs.NewRunner(jobs.RunnerOptions{Queue: e.queue, Worker: "forge_worker", Types: comfyjob.Types(),
		Handlers: e.svc.Handlers(), LogsDir: filepath.Join(e.dir, "LOGS"), HeartbeatInterval: 50 * time.Millisecond,
		Grace: time.Second, Abandon: time.Second})
	if err != nil {
		e.tb.Fatal(err)
	}
	if err := r.Start(); err != nil {
		e.tb.Fatal(err)
	}
	e.tb.Cleanup(func() { r.Close() })
	return r
}

// bigGraph pads the default graph with a long prompt, so the importer's
// media_meta copy is truncated at sdmeta.MaxRawBytes.
func bigGraph(t *testing.T) string {
	var g map[string]any
	if err := json.Unmarshal([]byte(comfytest.Graph), &g); err != nil {
		t.Fatal(err)
	}
	g["6"].(map[string]any)["inputs"].(map[string]any)["text"] = strings.Repeat("very detailed ", sdmeta.MaxRawBytes/10)
	b, _ := json.Marshal(g)
	return string(b)
}

func TestSourceFromMetaOrFile(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	small := e.addComfyMedia(comfytest.Graph)
	src, err := e.svc.Source(ctx, e.db, small)
	if err != nil || src.From != "meta" || src.Targets.Main.NodeID != "3" {
		t.Fatalf("small: %+v %v", src, err)
	}
	big := e.addComfyMedia(bigGraph(t))
	src, err = e.svc.Source(ctx, e.db, big)
	if err != nil || src.From != "file" || !strings.HasPrefix(src.Targets.Main.Prompt, "very detailed") {
		t.Fatalf("big (truncated in media_meta): %+v %v", src, err)
	}
}

func TestSourceRefusals(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	cyc := strings.Replace(comfytest.Graph, `"latent_image": ["5", 0]`, `"latent_image": ["3", 0]`, 1)
	missing := strings.Replace(comfytest.Graph, `"vae": ["4", 2]`, `"vae": ["40", 2]`, 1)
	for name, tc := range map[string]struct {
		graph, code string
	}{
		"cycle":        {cyc, comfy.CodeGraphCycle},
		"missing link": {missing, comfy.CodeGraphLinkMissing},
		"no graph":     {"a plain prompt from another tool", comfyjob.CodeNoGraph},
	} {
		id := e.addComfyMedia(tc.graph)
		if _, err := e.svc.Source(ctx, e.db, id); reason.Code(err) != tc.code {
			t.Errorf("%s: %v", name, err)
		}
		if _, err := e.svc.Enqueue(ctx, comfyjob.EnqueueRequest{MediaID: id}); reason.Code(err) != tc.code {
			t.Errorf("%s enqueue: %v", name, err)
		}
	}
	if n := len(e.fake.Submitted()); n != 0 {
		t.Fatalf("%d graphs submitted", n)
	}
}

func TestEnqueueDedupesSameEdits(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id := e.addComfyMedia(comfytest.Graph)
	steps := 9
	a, err := e.svc.Enqueue(ctx, comfyjob.EnqueueRequest{MediaID: id, Edits: comfy.Edits{Steps: &steps}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.svc.Enqueue(ctx, comfyjob.EnqueueRequest{MediaID: id, Edits: comfy.Edits{Steps: &steps}})
	if err != nil || !b.Deduped || b.JobID != a.JobID {
		t.Fatalf("second enqueue %+v %v", b, err)
	}
	c, err := e.svc.Enqueue(ctx, comfyjob.EnqueueRequest{MediaID: id, NewSeed: true})
	if err != nil || c.Deduped || c.Edits.Seed == nil {
		t.Fatalf("new seed %+v %v", c, err)
	}
}

func TestRunLargeGraphFromFile(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id := e.addComfyMedia(bigGraph(t))
	res, err := e.svc.Enqueue(ctx, comfyjob.EnqueueRequest{MediaID: id, NewSeed: true, ProbeTimeout: time.Second})
	if err != nil || !res.Checked {
		t.Fatalf("enqueue %+v %v", res, err)
	}
	if s, err := e.runner().RunBatch(ctx, 1); err != nil || s.Done != 1 {
		t.Fatalf("run %+v %v", s, err)
	}
	vs, err := e.prev.Versions(ctx, res.JobID)
	if err != nil || len(vs) != 1 || *vs[0].Seed != *res.Edits.Seed {
		t.Fatalf("versions %+v %v", vs, err)
	}
	g, _ := comfy.ParseGraph(string(e.fake.Submitted()[0]))
	if !strings.HasPrefix(g["6"].Inputs["text"].(string), "very detailed") || len(g["6"].Inputs["text"].(string)) < sdmeta.MaxRawBytes {
		t.Fatal("the submitted graph is not the file's whole graph")
	}
}

// TestCancelRunningJobInterruptsComfyUI: cancelling a running job ends it
// as cancelled (not running, not retried) and takes its prompt out of
// ComfyUI.
func TestCancelRunningJobInterruptsComfyUI(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id := e.addComfyMedia(comfytest.Graph)
	res, err := e.svc.Enqueue(ctx, comfyjob.EnqueueRequest{MediaID: id, NewSeed: true})
	if err != nil {
		t.Fatal(err)
	}
	e.fake.Hold()
	r := e.runner()
	done := make(chan jobs.Summary, 1)
	go func() {
		s, _ := r.RunBatch(ctx, 1)
		done <- s
	}()
	for e.fake.Running() == "" {
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := e.queue.Cancel(ctx, res.JobID); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-done:
		if s.Cancelled != 1 {
			t.Fatalf("summary %+v", s)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the cancelled job did not end")
	}
	var st string
	_ = e.db.QueryRow(`SELECT status FROM jobs WHERE id = ?`, res.JobID).Scan(&st)
	if st != jobs.StatusCancelled {
		t.Fatalf("status %s", st)
	}
	// The fake's worker notices the interrupt asynchronously, like ComfyUI.
	for end := time.Now().Add(5 * time.Second); e.fake.QueueLen() != 0 && time.Now().Before(end); {
		time.Sleep(5 * time.Millisecond)
	}
	if len(e.fake.RequestsTo(comfy.PathInterrupt)) != 1 || e.fake.QueueLen() != 0 {
		t.Fatalf("prompt left in ComfyUI (interrupts %d, queue %d)", len(e.fake.RequestsTo(comfy.PathInterrupt)), e.fake.QueueLen())
	}
}
