package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/localsupervisor/supervisor/pkg/catalog"
	"github.com/localsupervisor/supervisor/pkg/comfy"
	"github.com/localsupervisor/supervisor/pkg/comfy/comfytest"
	"github.com/localsupervisor/supervisor/pkg/comfyjob"
	"github.com/localsupervisor/supervisor/pkg/forgejob"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/library"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/sdmeta"
	"github.com/localsupervisor/supervisor/pkg/svtest"
	"github.com/localsupervisor/supervisor/pkg/svtest/pngtest"
)

type comfyEnv struct {
	*fixture
	fake     *comfytest.Server
	c        *client
	queue    *jobs.Queue
	previews *forgejob.Service
	comfy    *comfyjob.Service
	comfyID  int64
	orig     []byte
}

// newComfyEnv serves the ComfyUI panel over a database holding one
// imported ComfyUI PNG (its API graph stored by the importer's own
// StoreExtraction), with comfyui pointing at the fake; the same section is
// written to <base>/CONFIG/config.json for the forge-worker binary.
func newComfyEnv(t *testing.T, enabled bool) *comfyEnv {
	t.Helper()
	f := newFixture(t)
	fake := comfytest.Start(t, comfytest.Options{SlowDelay: 20 * time.Second})
	section := map[string]any{"enabled": enabled, "base_url": fake.URL, "timeout": 1, "generation_timeout": 2}
	b, _ := json.Marshal(section)
	f.cfg.ComfyUI = b
	if err := os.MkdirAll(filepath.Join(f.base, "CONFIG"), 0o755); err != nil {
		t.Fatal(err)
	}
	cb, _ := json.Marshal(map[string]any{"comfyui": section})
	if err := os.WriteFile(filepath.Join(f.base, "CONFIG", "config.json"), cb, 0o644); err != nil {
		t.Fatal(err)
	}
	clock := f.srv.clock
	q := jobs.NewQueue(jobs.QueueOptions{DB: f.db, Clock: clock, Config: jobs.DefaultConfig()})
	fs, err := forgejob.FromConfig(f.cfg, f.db, q, clock, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	cs, err := comfyjob.FromConfig(f.cfg, f.db, q, fs, clock, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	cw := NewComfy(ComfyOptions{Service: cs, Previews: fs, ProbeTimeout: time.Second})
	s, err := New(Options{Config: f.cfg, DB: f.db, ReadDB: f.srv.rdb, Log: zerolog.Nop(), Clock: clock, Jobs: q, JobAdmin: JobAdminAdapter{Q: q},
		Launcher: &recLauncher{}, ExtraRoutes: cw.Routes, DetailSections: []DetailSection{cw.DetailSection()}})
	if err != nil {
		t.Fatal(err)
	}
	f.srv, f.h = s, s.Handler()

	data := pngtest.WithText(pngtest.PNG(64, 48, 3), "prompt", comfytest.Graph)
	sum := md5hex(data)
	path := library.CanonicalPath(library.RootsFromPaths(f.cfg.Paths), "image", false, sum, "png")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := clock.Now()
	id, err := media.Insert(ctx, f.db, media.NewMedia{Path: path, Type: "image", Source: "import", Width: 64, Height: 48,
		Filesize: int64(len(data)), Hash: sum, FileMTime: now}, now)
	if err != nil {
		t.Fatal(err)
	}
	r, err := sdmeta.Extract(ctx, path, sdmeta.Options{})
	if err != nil || r.Format != sdmeta.FormatComfyUI {
		t.Fatalf("fixture extraction %v %v", r.Format, err)
	}
	if _, err := media.StoreExtraction(ctx, f.db, id, r, media.PromptSourceImport, now); err != nil {
		t.Fatal(err)
	}
	c := f.client()
	c.hdr.Set("X-Internal-Key", testKey)
	return &comfyEnv{fixture: f, fake: fake, c: c, queue: q, previews: fs, comfy: cs, comfyID: id, orig: data}
}

func (e *comfyEnv) post(form url.Values) (int, map[string]any) {
	e.t.Helper()
	e.c.hdr.Set("Accept", "application/json")
	defer e.c.hdr.Del("Accept")
	rec := e.c.do("POST", "/comfy.php", form)
	return rec.Code, decode(e.t, rec.Body.String())
}

func (e *comfyEnv) regen(extra url.Values) (int, map[string]any) {
	e.t.Helper()
	form := url.Values{"action": {"regen"}, "media_id": {strconv.FormatInt(e.comfyID, 10)}}
	for k, v := range extra {
		form[k] = v
	}
	return e.post(form)
}

func (e *comfyEnv) detail(id int64) string {
	e.t.Helper()
	rec := e.c.do("GET", "/media_view.php?id="+strconv.FormatInt(id, 10), nil)
	if rec.Code != http.StatusOK {
		e.t.Fatalf("detail %d: %d", id, rec.Code)
	}
	return rec.Body.String()
}

func (e *comfyEnv) jobStatus(id int64) (status, code string) {
	e.t.Helper()
	if err := e.db.QueryRow(`SELECT status, COALESCE(last_error_code,'') FROM jobs WHERE id = ?`, id).Scan(&status, &code); err != nil {
		e.t.Fatal(err)
	}
	return status, code
}

func (e *comfyEnv) versions(jobID int64) []forgejob.Version {
	e.t.Helper()
	vs, err := e.previews.Versions(context.Background(), jobID)
	if err != nil {
		e.t.Fatal(err)
	}
	return vs
}

func TestComfyPanelShownOnlyForComfyMedia(t *testing.T) {
	e := newComfyEnv(t, true)
	page := e.detail(e.comfyID)
	for _, want := range []string{`id="comfy-regen-form"`, "purple galaxy bottle", "text, watermark", `name="steps" value="20"`, `value="same"`} {
		if !strings.Contains(page, want) {
			t.Errorf("panel lacks %q", want)
		}
	}
	if page := e.detail(e.imgID); strings.Contains(page, `id="comfy-panel"`) {
		t.Error("a media without an embedded workflow shows the ComfyUI panel")
	}
}

func TestComfyPanelOffSaysHowToSwitchOn(t *testing.T) {
	e := newComfyEnv(t, false)
	page := e.detail(e.comfyID)
	if !strings.Contains(page, `id="comfy-off"`) || !strings.Contains(page, "comfyui.enabled") || strings.Contains(page, `id="comfy-regen-form"`) {
		t.Fatalf("off panel: %s", page[strings.Index(page, `id="comfy-panel"`)-20:][:600])
	}
	code, out := e.regen(nil)
	if code != http.StatusBadRequest || out["reason_code"] != comfy.CodeDisabled {
		t.Fatalf("regen while off: %d %v", code, out)
	}
}

func TestComfyEnqueueRefusesMissingModelsAndNodes(t *testing.T) {
	e := newComfyEnv(t, true)
	e.fake.SetModels("checkpoints", "other.safetensors")
	code, out := e.regen(nil)
	if code != http.StatusBadRequest || out["reason_code"] != comfy.CodeModelMissing || !strings.Contains(out["error"].(string), "sd_xl_base_1.0.safetensors") {
		t.Fatalf("missing model: %d %v", code, out)
	}
	var n int
	_ = e.db.QueryRow(`SELECT count(*) FROM jobs WHERE type = ?`, jobs.TypeComfyRegen).Scan(&n)
	if n != 0 || len(e.fake.Submitted()) != 0 {
		t.Fatalf("jobs %d, submitted %d", n, len(e.fake.Submitted()))
	}
	// A plain form post shows the refusal in the panel.
	e.c.hdr.Del("Accept")
	rec := e.c.do("POST", "/comfy.php", url.Values{"action": {"regen"}, "media_id": {strconv.FormatInt(e.comfyID, 10)}})
	if rec.Code != http.StatusSeeOther || !strings.Contains(rec.Header().Get("Location"), "comfy_code="+comfy.CodeModelMissing) {
		t.Fatalf("form post: %d %s", rec.Code, rec.Header().Get("Location"))
	}
}

// TestComfyRegenEndToEnd: enqueue from the web handler, the built
// forge-worker binary runs the job against the fake ComfyUI, the preview
// is stored where Forge previews go, and the Forge accept flow takes it as
// a child (new media linked to its source) and as a replacement (backup,
// new file, prompt history); a third preview is discarded.
func TestComfyRegenEndToEnd(t *testing.T) {
	bin := svtest.BuildBinary(t, "./cmd/forge-worker")
	e := newComfyEnv(t, true)
	runWorker := func() {
		t.Helper()
		r := svtest.RunBinary(t, e.base, []string{"SV_BASE=" + e.base, "SV_CONFIG="}, bin, "--limit=1")
		if r.Code != 0 {
			t.Fatalf("forge-worker: %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
		}
	}
	regen := func(form url.Values) int64 {
		t.Helper()
		code, out := e.regen(form)
		if code != http.StatusOK || out["server_checked"] != true {
			t.Fatalf("regen: %d %v", code, out)
		}
		id := jobIDOf(t, out)
		runWorker()
		if st, c := e.jobStatus(id); st != jobs.StatusDone {
			t.Fatalf("job %d: %s %s", id, st, c)
		}
		return id
	}

	// 1. New seed, new prompt, fewer steps, another size → accepted as child.
	job1 := regen(url.Values{"seed": {"new"}, "prompt": {"a red fox in deep snow, golden hour"}, "steps": {"12"}, "width": {"512"}, "height": {"768"}})
	sub := e.fake.Submitted()
	if len(sub) != 1 {
		t.Fatalf("submitted %d", len(sub))
	}
	g, err := comfy.ParseGraph(string(sub[0]))
	if err != nil {
		t.Fatal(err)
	}
	if g["6"].Inputs["text"] != "a red fox in deep snow, golden hour" || g["3"].Inputs["steps"] != json.Number("12") ||
		g["3"].Inputs["seed"] == json.Number("156680208700286") || g["5"].Inputs["height"] != json.Number("768") ||
		g["7"].Inputs["text"] != "text, watermark" {
		t.Fatalf("submitted graph %v / %v / %v", g["3"].Inputs, g["5"].Inputs, g["6"].Inputs)
	}
	vs := e.versions(job1)
	if len(vs) != 1 || vs[0].Role != "preview" || vs[0].Seed == nil || filepath.Dir(vs[0].Path) != e.cfg.Resolve(e.cfg.Paths.Previews) {
		t.Fatalf("versions %+v (previews %s)", vs, e.cfg.Paths.Previews)
	}
	page := e.detail(e.comfyID)
	if !strings.Contains(page, "/comfy_preview.php?job_id="+strconv.FormatInt(job1, 10)+"&amp;variant=1") {
		t.Fatal("panel does not list the preview")
	}
	if rec := e.c.do("GET", "/comfy_preview.php?job_id="+strconv.FormatInt(job1, 10)+"&variant=1", nil); rec.Code != 200 ||
		!strings.HasPrefix(rec.Body.String(), "\x89PNG") {
		t.Fatalf("preview: %d", rec.Code)
	}
	code, out := e.post(url.Values{"action": {"accept"}, "media_id": {strconv.FormatInt(e.comfyID, 10)}, "job_id": {strconv.FormatInt(job1, 10)},
		"variant": {"1"}, "as": {"child"}})
	if code != http.StatusOK {
		t.Fatalf("accept child: %d %v", code, out)
	}
	child := int64(out["child_media_id"].(float64))
	var parent int64
	var source, childPath string
	if err := e.db.QueryRow(`SELECT parent_media_id, source, path FROM media WHERE id = ?`, child).Scan(&parent, &source, &childPath); err != nil {
		t.Fatal(err)
	}
	if parent != e.comfyID || source != forgejob.GeneratorComfyUI {
		t.Fatalf("child parent %d source %s", parent, source)
	}
	if _, in := library.Inside(library.RootsFromPaths(e.cfg.Paths).All(), childPath); !in {
		t.Fatalf("child file %s outside the library", childPath)
	}
	_, cp, err := media.CurrentPrompt(context.Background(), e.db, child)
	if err != nil || cp.Prompt != "a red fox in deep snow, golden hour" || cp.Steps == nil || *cp.Steps != 12 {
		t.Fatalf("child prompt %+v %v", cp, err)
	}
	fam, err := catalog.LoadFamily(context.Background(), e.db, e.comfyID, 10)
	if err != nil || len(fam.Nodes) != 2 {
		t.Fatalf("lineage %+v %v", fam, err)
	}

	// 2. Same seed, unchanged prompt → accepted as replacement.
	job2 := regen(url.Values{"seed": {"same"}, "cfg": {"5.5"}})
	g2, _ := comfy.ParseGraph(string(e.fake.Submitted()[1]))
	if g2["3"].Inputs["seed"] != json.Number("156680208700286") || g2["3"].Inputs["cfg"] != json.Number("5.5") {
		t.Fatalf("same-seed graph %v", g2["3"].Inputs)
	}
	m0, _ := media.Get(context.Background(), e.db, e.comfyID)
	code, out = e.post(url.Values{"action": {"accept"}, "media_id": {strconv.FormatInt(e.comfyID, 10)}, "job_id": {strconv.FormatInt(job2, 10)},
		"variant": {"1"}, "as": {"replace"}})
	if code != http.StatusOK {
		t.Fatalf("accept replace: %d %v", code, out)
	}
	m1, _ := media.Get(context.Background(), e.db, e.comfyID)
	if m1.Hash == m0.Hash || m1.Path == m0.Path {
		t.Fatalf("media not replaced: %s → %s", m0.Path, m1.Path)
	}
	if _, err := os.Stat(m0.Path); !os.IsNotExist(err) {
		t.Errorf("old file still in the library")
	}
	var backup string
	if err := e.db.QueryRow(`SELECT meta_value FROM media_meta WHERE media_id = ? AND meta_key = 'forge.backup_path'`, e.comfyID).Scan(&backup); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(backup); err != nil || string(b) != string(e.orig) {
		t.Fatalf("backup %s does not hold the original (%v)", backup, err)
	}
	var hist int
	_ = e.db.QueryRow(`SELECT count(*) FROM prompt_history WHERE media_id = ? AND source = ?`, e.comfyID, forgejob.SourceAccept).Scan(&hist)
	if hist != 1 {
		t.Fatalf("prompt_history rows for the replace: %d", hist)
	}
	fam, _ = catalog.LoadFamily(context.Background(), e.db, e.comfyID, 10)
	if fam.Nodes[0].Replaced != 1 {
		t.Fatalf("lineage does not count the replacement: %+v", fam.Nodes)
	}
	// The replaced file still carries a workflow: it can be regenerated again.
	if !strings.Contains(e.detail(e.comfyID), `id="comfy-regen-form"`) {
		t.Fatal("replaced media lost its regen form")
	}

	// 3. Discard.
	job3 := regen(url.Values{"seed": {"new"}})
	code, out = e.post(url.Values{"action": {"discard"}, "media_id": {strconv.FormatInt(e.comfyID, 10)}, "job_id": {strconv.FormatInt(job3, 10)}, "variant": {"1"}})
	if code != http.StatusOK {
		t.Fatalf("discard: %d %v", code, out)
	}
	v3 := e.versions(job3)
	if v3[0].AcceptedAs != forgejob.AcceptDiscarded {
		t.Fatalf("versions %+v", v3)
	}
	if _, err := os.Stat(v3[0].Path); !os.IsNotExist(err) {
		t.Fatal("discarded preview still on disk")
	}
}

// TestComfyRegenFaultsLeaveNoJobRunning runs the built forge-worker against
// a ComfyUI that is down, slow, failing with 500, answering garbage,
// failing while it runs, or missing a model: no job stays running;
// transient failures go back to the queue with a retry time, permanent
// ones fail with their reason code.
func TestComfyRegenFaultsLeaveNoJobRunning(t *testing.T) {
	bin := svtest.BuildBinary(t, "./cmd/forge-worker")
	tests := []struct {
		name     string
		setup    func(*comfytest.Server)
		status   string
		wantCode string
	}{
		{"down", func(s *comfytest.Server) { s.SetFault(comfytest.FaultDown) }, jobs.StatusQueued, comfy.CodeUnreachable},
		{"slow", func(s *comfytest.Server) { s.SetFault(comfytest.FaultSlow) }, jobs.StatusQueued, comfy.CodeTimeout},
		{"500", func(s *comfytest.Server) { s.SetFault(comfytest.FaultServerError) }, jobs.StatusQueued, comfy.CodeHTTPStatus},
		{"garbage", func(s *comfytest.Server) { s.SetFault(comfytest.FaultGarbage) }, jobs.StatusError, comfy.CodeInvalidResponse},
		{"exec error", func(s *comfytest.Server) { s.SetFault(comfytest.FaultExecError) }, jobs.StatusError, comfy.CodeExecutionFailed},
		{"model removed", func(s *comfytest.Server) { s.SetModels("checkpoints") }, jobs.StatusError, comfy.CodeModelMissing},
		{"slow run", func(s *comfytest.Server) { s.Hold() }, jobs.StatusQueued, comfy.CodeTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newComfyEnv(t, true)
			code, out := e.regen(nil)
			if code != http.StatusOK {
				t.Fatalf("regen: %d %v", code, out)
			}
			id := jobIDOf(t, out)
			tt.setup(e.fake)
			r := svtest.RunBinary(t, e.base, []string{"SV_BASE=" + e.base, "SV_CONFIG="}, bin, "--limit=1")
			if r.Code != 0 {
				t.Fatalf("forge-worker: %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
			}
			st, c := e.jobStatus(id)
			if st != tt.status || c != tt.wantCode {
				t.Fatalf("job: %s %s, want %s %s", st, c, tt.status, tt.wantCode)
			}
			var running int
			_ = e.db.QueryRow(`SELECT count(*) FROM jobs WHERE status = 'running'`).Scan(&running)
			if running != 0 {
				t.Fatalf("%d jobs left running", running)
			}
			// The fake notices the interrupt asynchronously, like ComfyUI.
			for end := time.Now().Add(5 * time.Second); tt.name == "slow run" && e.fake.QueueLen() != 0 && time.Now().Before(end); {
				time.Sleep(5 * time.Millisecond)
			}
			if tt.name == "slow run" && e.fake.QueueLen() != 0 {
				t.Fatal("a timed-out prompt was left in ComfyUI's queue")
			}
			// The failure is shown in the panel with its reason code.
			if !strings.Contains(e.detail(e.comfyID), `data-reason-code="`+tt.wantCode+`"`) {
				t.Error("panel does not show the failure's reason code")
			}
		})
	}
}

func TestComfyCheckAction(t *testing.T) {
	e := newComfyEnv(t, true)
	code, out := e.post(url.Values{"action": {"check"}, "media_id": {strconv.FormatInt(e.comfyID, 10)}})
	if code != http.StatusOK || out["nodes"] != float64(7) {
		t.Fatalf("check: %d %v", code, out)
	}
	e.fake.SetModels("checkpoints")
	if code, out = e.post(url.Values{"action": {"check"}, "media_id": {strconv.FormatInt(e.comfyID, 10)}}); code != http.StatusBadRequest ||
		out["reason_code"] != comfy.CodeModelMissing || !strings.Contains(out["error"].(string), "sd_xl_base_1.0.safetensors") {
		t.Fatalf("check without the model: %d %v", code, out)
	}
	e.fake.SetFault(comfytest.FaultDown)
	if code, out = e.post(url.Values{"action": {"check"}, "media_id": {strconv.FormatInt(e.comfyID, 10)}}); code != http.StatusBadGateway ||
		out["reason_code"] != comfy.CodeUnreachable {
		t.Fatalf("check with ComfyUI down: %d %v", code, out)
	}
	if len(e.fake.Submitted()) != 0 {
		t.Fatal("a check submitted the workflow")
	}
}
