package web

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/localsupervisor/supervisor/pkg/forge"
	"github.com/localsupervisor/supervisor/pkg/forge/forgetest"
	"github.com/localsupervisor/supervisor/pkg/forgejob"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/library"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/svtest"
)

// recLauncher records spawns instead of starting processes.
type recLauncher struct {
	mu    sync.Mutex
	calls []string
}

func (l *recLauncher) Spawn(_ context.Context, worker string, args []string) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, worker+" "+strings.Join(args, " "))
	return "started_unverified", nil
}

type forgeEnv struct {
	*fixture
	c      *client
	fake   *forgetest.Server
	svc    *forgejob.Service
	queue  *jobs.Queue
	launch *recLauncher
	img    []byte
}

func boolPtr(b bool) *bool { return &b }

// newForgeEnv serves the web UI with the Forge panel against the fake Forge;
// cfg nil means "no forge section". The client is admin (internal key).
func newForgeEnv(t *testing.T, cfg func(*forgetest.Server) *forge.Config) *forgeEnv {
	t.Helper()
	f := newFixture(t)
	fake := forgetest.Start(t, forgetest.Options{})
	clock := f.srv.clock
	q := jobs.NewQueue(jobs.QueueOptions{DB: f.db, Clock: clock, Config: jobs.DefaultConfig()})
	var fc *forge.Config
	if cfg != nil {
		fc = cfg(fake)
		// The web's own switch reads the same section as the service.
		b, err := json.Marshal(fc)
		if err != nil {
			t.Fatal(err)
		}
		f.cfg.Forge = b
	}
	svc, err := forgejob.New(forgejob.Service{DB: f.db, Queue: q, Config: fc, Roots: library.RootsFromPaths(f.cfg.Paths),
		PreviewsDir: filepath.Join(f.base, "PREVIEWS"), BackupsDir: filepath.Join(f.base, "BACKUPS"), Clock: clock, ProgressInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	fw := NewForge(ForgeOptions{Service: svc, ProbeTimeout: time.Second})
	l := &recLauncher{}
	f.cfg.Workers.WebSpawnEnabled = true
	s, err := New(Options{Config: f.cfg, DB: f.db, ReadDB: f.srv.rdb, Log: zerolog.Nop(), Clock: clock, Jobs: q, JobAdmin: JobAdminAdapter{Q: q},
		Launcher: l, ExtraRoutes: fw.Routes, DetailSections: []DetailSection{fw.DetailSection()}})
	if err != nil {
		t.Fatal(err)
	}
	f.srv, f.h = s, s.Handler()
	// The fixture's image row has no real hash/size; give it its file's.
	var path string
	if err := f.db.QueryRow(`SELECT path FROM media WHERE id = ?`, f.imgID).Scan(&path); err != nil {
		t.Fatal(err)
	}
	img, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.Exec(`UPDATE media SET hash = ?, filesize = ?, width = 128, height = 128 WHERE id = ?`, md5hex(img), len(img), f.imgID); err != nil {
		t.Fatal(err)
	}
	c := f.client()
	c.hdr.Set("X-Internal-Key", testKey)
	return &forgeEnv{fixture: f, c: c, fake: fake, svc: svc, queue: q, launch: l, img: img}
}

// okForge is a complete, enabled config pointing at the fake.
func okForge(s *forgetest.Server) *forge.Config { return s.Config() }

func md5hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

func (e *forgeEnv) postJSON(form url.Values) (int, map[string]any) {
	e.t.Helper()
	e.c.hdr.Set("Accept", "application/json")
	defer e.c.hdr.Del("Accept")
	rec := e.c.do("POST", "/forge.php", form)
	return rec.Code, decode(e.t, rec.Body.String())
}

func (e *forgeEnv) regenForm(extra url.Values) url.Values {
	form := url.Values{"action": {"regen"}, "media_id": {strconv.FormatInt(e.imgID, 10)},
		"prompt": {"a lighthouse on a rocky coast at sunset, dramatic clouds, warm light, detailed oil painting"},
		"model":  {forgetest.DefaultModels()[1].ModelName}, "gen": {"txt2img"}}
	for k, v := range extra {
		form[k] = v
	}
	return form
}

// runJobs processes queued forge jobs in-process (the forge_regen handler
// forge-worker runs).
func (e *forgeEnv) runJobs() jobs.Summary {
	e.t.Helper()
	r, err := jobs.NewRunner(jobs.RunnerOptions{Queue: e.queue, Worker: "forge_worker", Types: forgejob.Types(),
		Handlers: e.svc.Handlers(), LogsDir: filepath.Join(e.base, "LOGS"), HeartbeatInterval: 20 * time.Millisecond,
		Grace: time.Second, Abandon: time.Second})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := r.Start(); err != nil {
		e.t.Fatal(err)
	}
	defer r.Close()
	sum, err := r.RunBatch(context.Background(), 10)
	if err != nil {
		e.t.Fatal(err)
	}
	return sum
}

func (e *forgeEnv) detail() string {
	e.t.Helper()
	rec := e.c.do("GET", "/media_view.php?id="+strconv.FormatInt(e.imgID, 10), nil)
	if rec.Code != 200 {
		e.t.Fatalf("detail: %d %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

func (e *forgeEnv) versions(jobID int64) []forgejob.Version {
	e.t.Helper()
	v, err := e.svc.Versions(context.Background(), jobID)
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

func jobIDOf(t *testing.T, m map[string]any) int64 {
	t.Helper()
	f, ok := m["job_id"].(float64)
	if !ok || f <= 0 {
		t.Fatalf("no job_id in %v", m)
	}
	return int64(f)
}

func TestForgePanelRegenPreviewAcceptDiscard(t *testing.T) {
	e := newForgeEnv(t, okForge)
	page := e.detail()
	for _, want := range []string{`id="forge-regen-form"`, `id="forge-repair-form"`, `name="recipe"`, `value="repair.strong"`,
		`name="seed_policy"`, `name="variants"`, `src="/forge.js"`, `id="forge-regen-link"`} {
		if !strings.Contains(page, want) {
			t.Errorf("panel lacks %s", want)
		}
	}
	if strings.Contains(page, `id="forge-config-problem"`) {
		t.Error("valid config shown as a problem")
	}

	code, m := e.postJSON(e.regenForm(url.Values{"variants": {"3"}, "seed_policy": {"fixed"}, "seed": {"4242"}}))
	if code != 200 || m["ok"] != true || m["variants"] != float64(3) {
		t.Fatalf("regen: %d %v", code, m)
	}
	jobID := jobIDOf(t, m)
	if h, _ := m["health"].(map[string]any); h["state"] != forgejob.HealthOK {
		t.Errorf("health %v", m["health"])
	}
	if len(e.launch.calls) != 1 || e.launch.calls[0] != "forge-worker --media-id="+strconv.FormatInt(e.imgID, 10) {
		t.Errorf("spawns %v", e.launch.calls)
	}
	// The planned request carries the form's choices.
	var payload string
	e.db.QueryRow(`SELECT payload_json FROM jobs WHERE id = ?`, jobID).Scan(&payload)
	var req forge.Request
	if err := json.Unmarshal([]byte(payload), &req); err != nil {
		t.Fatal(err)
	}
	if req.Payload.Seed != 4242 || req.Generation != forge.Txt2Img || req.Payload.Variants() != 3 || !strings.Contains(req.Payload.Prompt, "lighthouse") {
		t.Errorf("planned request %+v", req.Payload)
	}

	if s := e.runJobs(); s.Done != 1 {
		t.Fatalf("runner %+v", s)
	}
	page = e.detail()
	for v := 1; v <= 3; v++ {
		if !strings.Contains(page, "/forge_preview.php?job_id="+strconv.FormatInt(jobID, 10)+"&amp;variant="+strconv.Itoa(v)) {
			t.Errorf("panel lacks preview %d", v)
		}
	}
	vs := e.versions(jobID)
	// The preview endpoint serves exactly the preview file.
	rec := e.c.do("GET", "/forge_preview.php?job_id="+strconv.FormatInt(jobID, 10)+"&variant=1", nil)
	if rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), svtest.ReadFile(t, vs[0].Path)) {
		t.Fatalf("preview: %d (%d bytes)", rec.Code, rec.Body.Len())
	}

	// Accept variant 1 as the new original.
	var oldPath string
	e.db.QueryRow(`SELECT path FROM media WHERE id = ?`, e.imgID).Scan(&oldPath)
	code, m = e.postJSON(url.Values{"action": {"accept"}, "media_id": {strconv.FormatInt(e.imgID, 10)}, "job_id": {strconv.FormatInt(jobID, 10)},
		"variant": {"1"}, "as": {"replace"}})
	if code != 200 || m["ok"] != true {
		t.Fatalf("accept replace: %d %v", code, m)
	}
	if strings.Contains(mustJSON(t, m), e.base) {
		t.Error("accept answer leaks server paths")
	}
	var newPath, hash string
	e.db.QueryRow(`SELECT path, hash FROM media WHERE id = ?`, e.imgID).Scan(&newPath, &hash)
	if hash != vs[0].MD5 || md5hex(svtest.ReadFile(t, newPath)) != vs[0].MD5 {
		t.Errorf("media not replaced by variant 1: hash %s", hash)
	}
	if _, err := os.Stat(oldPath); oldPath != newPath && !os.IsNotExist(err) {
		t.Errorf("old file %s still there", oldPath)
	}
	backup, _, _ := media.GetMeta(context.Background(), e.db, e.imgID, "forge.backup_path")
	if !bytes.Equal(svtest.ReadFile(t, backup), e.img) {
		t.Error("backup is not the original")
	}

	// Accept variant 2 as a child media.
	code, m = e.postJSON(url.Values{"action": {"accept"}, "media_id": {strconv.FormatInt(e.imgID, 10)}, "job_id": {strconv.FormatInt(jobID, 10)},
		"variant": {"2"}, "as": {"child"}})
	if code != 200 {
		t.Fatalf("accept child: %d %v", code, m)
	}
	child := int64(m["child_media_id"].(float64))
	var parent int64
	var childHash string
	if err := e.db.QueryRow(`SELECT parent_media_id, hash FROM media WHERE id = ?`, child).Scan(&parent, &childHash); err != nil || parent != e.imgID || childHash != vs[1].MD5 {
		t.Errorf("child %d: parent %d hash %s (%v)", child, parent, childHash, err)
	}

	// Discard variant 3: file gone, no longer served or acceptable.
	code, m = e.postJSON(url.Values{"action": {"discard"}, "media_id": {strconv.FormatInt(e.imgID, 10)}, "job_id": {strconv.FormatInt(jobID, 10)}, "variant": {"3"}})
	if code != 200 {
		t.Fatalf("discard: %d %v", code, m)
	}
	if _, err := os.Stat(vs[2].Path); !os.IsNotExist(err) {
		t.Error("discarded preview file still exists")
	}
	if rec := e.c.do("GET", "/forge_preview.php?job_id="+strconv.FormatInt(jobID, 10)+"&variant=3", nil); rec.Code != 404 {
		t.Errorf("discarded preview served: %d", rec.Code)
	}
	code, m = e.postJSON(url.Values{"action": {"accept"}, "media_id": {strconv.FormatInt(e.imgID, 10)}, "job_id": {strconv.FormatInt(jobID, 10)},
		"variant": {"3"}, "as": {"child"}})
	if code != 400 || m["reason_code"] != forgejob.CodeAlreadyAccepted {
		t.Errorf("accepting a discarded preview: %d %v", code, m)
	}
	got := e.versions(jobID)
	if got[0].AcceptedAs != "replace" || got[1].AcceptedAs != "child" || got[2].AcceptedAs != forgejob.AcceptDiscarded {
		t.Errorf("versions after accept/discard: %+v", got)
	}
	for _, a := range []string{forgejob.AuditJobCreated, forgejob.AuditPreviewAccepted, forgejob.AuditPreviewDiscarded} {
		var n int
		e.db.QueryRow(`SELECT COUNT(*) FROM audit_log WHERE action = ?`, a).Scan(&n)
		if n == 0 {
			t.Errorf("no %s audit row", a)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestForgeFormPostRedirectsWithMessage(t *testing.T) {
	e := newForgeEnv(t, okForge)
	rec := e.c.do("POST", "/forge.php", e.regenForm(url.Values{"mode": {"replace"}}))
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("form post: %d %s", rec.Code, rec.Body)
	}
	loc := rec.Header().Get("Location")
	if !strings.HasPrefix(loc, "/media_view.php?") || !strings.Contains(loc, "forge_msg=") || !strings.HasSuffix(loc, "#forge-panel") {
		t.Fatalf("redirect %q", loc)
	}
	page := e.c.do("GET", strings.TrimSuffix(loc, "#forge-panel"), nil).Body.String()
	if !strings.Contains(page, `id="forge-msg"`) || !strings.Contains(page, "queued (replace, 1 variant(s))") {
		t.Errorf("panel does not show the enqueue message")
	}
	// An invalid option comes back as a visible message too.
	rec = e.c.do("POST", "/forge.php", e.regenForm(url.Values{"seed_policy": {"sometimes"}}))
	loc = rec.Header().Get("Location")
	if rec.Code != http.StatusSeeOther || !strings.Contains(loc, "forge_code="+forge.CodeOptionInvalid) {
		t.Errorf("invalid option: %d %q", rec.Code, loc)
	}
}

func TestForgeRepairDialog(t *testing.T) {
	e := newForgeEnv(t, okForge)
	code, m := e.postJSON(url.Values{"action": {"repair"}, "media_id": {strconv.FormatInt(e.imgID, 10)}, "source": {"minimal"},
		"goal": {"vary"}, "intensity": {"normal"}, "tech_fix": {"universal_negative"}, "prompt_edit": {"+ golden hour"}})
	if code != 200 {
		t.Fatalf("repair: %d %v", code, m)
	}
	jobID := jobIDOf(t, m)
	var payload string
	e.db.QueryRow(`SELECT payload_json FROM jobs WHERE id = ?`, jobID).Scan(&payload)
	var req forge.Request
	if err := json.Unmarshal([]byte(payload), &req); err != nil {
		t.Fatal(err)
	}
	if req.Repair == nil || req.Repair.RecipeID != "vary.normal" || req.Payload.Variants() != 2 || !strings.Contains(req.Payload.Prompt, "golden hour") {
		t.Errorf("repair request %+v %+v", req.Repair, req.Payload)
	}
	if s := e.runJobs(); s.Done != 1 || len(e.versions(jobID)) != 2 {
		t.Errorf("runner %+v versions %d", s, len(e.versions(jobID)))
	}
	code, m = e.postJSON(url.Values{"action": {"repair"}, "media_id": {strconv.FormatInt(e.imgID, 10)}, "goal": {"explode"}})
	if code != 400 || m["reason_code"] != forge.CodeOptionInvalid {
		t.Errorf("bad goal: %d %v", code, m)
	}
}

func TestForgeConfigProblemsVisible(t *testing.T) {
	for _, c := range []struct {
		name    string
		cfg     func(*forgetest.Server) *forge.Config
		code    string
		missing string
	}{
		{"no forge section", nil, forge.CodeConfigMissing, "forge"},
		{"dispatch key absent", func(s *forgetest.Server) *forge.Config {
			c := s.Config()
			c.DispatchEnabled = nil
			return c
		},
			forge.CodeConfigIncomplete, "forge.dispatch_enabled"},
		{"disabled", func(s *forgetest.Server) *forge.Config {
			c := s.Config()
			c.Enabled = boolPtr(false)
			return c
		}, forge.CodeDisabled, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newForgeEnv(t, c.cfg)
			page := e.detail()
			switch c.code {
			case forge.CodeConfigMissing, forge.CodeDisabled:
				// Forge switched off: no regeneration form and no config
				// problem for a person who never asked for Forge, only
				// the one sentence beside the disabled action.
				if strings.Contains(page, `id="forge-config-problem"`) || !strings.Contains(page, `id="forge-off"`) {
					t.Errorf("forge off: the panel shows or the reason is missing")
				}
			default:
				if !strings.Contains(page, `id="forge-config-problem" data-reason-code="`+c.code+`"`) || (c.missing != "" && !strings.Contains(page, c.missing)) {
					t.Errorf("panel does not show %s / %s", c.code, c.missing)
				}
			}
			code, m := e.postJSON(e.regenForm(nil))
			if code != http.StatusConflict || m["reason_code"] != c.code || m["config_path"] == nil || m["missing_keys"] == nil {
				t.Fatalf("regen: %d %v", code, m)
			}
			if c.missing != "" && !strings.Contains(mustJSON(t, m["missing_keys"]), c.missing) {
				t.Errorf("missing_keys %v", m["missing_keys"])
			}
			var n int
			e.db.QueryRow(`SELECT COUNT(*) FROM jobs`).Scan(&n)
			if n != 0 || len(e.launch.calls) != 0 {
				t.Errorf("jobs %d spawns %v after a config error", n, e.launch.calls)
			}
		})
	}
}

func TestForgeDownShowsHealthDetails(t *testing.T) {
	for _, c := range []struct {
		fault    forgetest.Fault
		httpCode float64
	}{{forgetest.FaultDown, 0}, {forgetest.FaultUnauthorized, 401}, {forgetest.FaultServerError, 500}} {
		t.Run(string(c.fault), func(t *testing.T) {
			e := newForgeEnv(t, okForge)
			e.fake.SetFault(c.fault)
			code, m := e.postJSON(e.regenForm(nil))
			if code != http.StatusBadGateway || m["http_code"] != c.httpCode || !strings.Contains(m["target_url"].(string), "/sdapi/v1/options") || m["reason_code"] == "" {
				t.Fatalf("regen with forge %s: %d %v", c.fault, code, m)
			}
			var n int
			e.db.QueryRow(`SELECT COUNT(*) FROM audit_log WHERE action = 'forge_health_failed'`).Scan(&n)
			if n != 1 {
				t.Errorf("forge_health_failed audits = %d", n)
			}
			page := e.detail()
			if !strings.Contains(page, `data-state="failed"`) || !strings.Contains(page, "target_url=<code>") {
				t.Error("panel does not show the failed health")
			}
			code, m = e.postJSON(url.Values{"action": {"health"}})
			if h, _ := m["health"].(map[string]any); code != 200 || h["state"] != forgejob.HealthFailed || h["target_url"] == "" {
				t.Errorf("health action: %d %v", code, m)
			}
		})
	}
}

func TestForgeSlowDoesNotBlockEnqueue(t *testing.T) {
	e := newForgeEnv(t, okForge)
	f := NewForge(ForgeOptions{Service: e.svc, ProbeTimeout: 30 * time.Millisecond})
	s, err := New(Options{Config: e.cfg, DB: e.db, ReadDB: e.srv.rdb, Log: zerolog.Nop(), Clock: e.srv.clock, Jobs: e.queue,
		ExtraRoutes: f.Routes, DetailSections: []DetailSection{f.DetailSection()}})
	if err != nil {
		t.Fatal(err)
	}
	e.h = s.Handler()
	e.fake.SetFault(forgetest.FaultSlow)
	code, m := e.postJSON(e.regenForm(nil))
	if h, _ := m["health"].(map[string]any); code != 200 || h["state"] != forgejob.HealthUnverified {
		t.Fatalf("slow forge: %d %v", code, m)
	}
	code, m = e.postJSON(url.Values{"action": {"models"}})
	if code != 200 || m["reason_code"] != forge.CodeCancelled {
		t.Errorf("models with slow forge: %d %v", code, m)
	}
}

func TestForgeModelsAndStatusProgress(t *testing.T) {
	e := newForgeEnv(t, okForge)
	code, m := e.postJSON(url.Values{"action": {"models"}})
	if code != 200 || len(m["models"].([]any)) != len(forgetest.DefaultModels()) {
		t.Fatalf("models: %d %v", code, m)
	}
	// Now cached: the panel lists them without calling Forge.
	before := len(e.fake.RequestsTo(forge.PathSDModels))
	if page := e.detail(); !strings.Contains(page, `<option value="`+forgetest.DefaultModels()[2].ModelName+`"`) {
		t.Error("model datalist not filled from the cache")
	}
	if after := len(e.fake.RequestsTo(forge.PathSDModels)); after != before {
		t.Errorf("rendering the panel called sd-models (%d → %d)", before, after)
	}
	_, m = e.postJSON(e.regenForm(nil))
	jobID := jobIDOf(t, m)
	if _, err := e.db.Exec(`UPDATE jobs SET status = 'running', stage = 'generate', progress_bits = 250, progress_bits_total = 1000 WHERE id = ?`, jobID); err != nil {
		t.Fatal(err)
	}
	code, m = e.postJSON(url.Values{"action": {"status"}, "media_id": {strconv.FormatInt(e.imgID, 10)}})
	js := m["jobs"].([]any)
	if code != 200 || len(js) != 1 || js[0].(map[string]any)["progress_bits"] != float64(250) {
		t.Fatalf("status: %d %v", code, m)
	}
	if page := e.detail(); !strings.Contains(page, `<progress class="forge-progress" max="100" value="25"`) || !strings.Contains(page, `data-live="true"`) {
		t.Error("panel does not show the progress")
	}
	// Cancel from the panel.
	code, m = e.postJSON(url.Values{"action": {"cancel"}, "media_id": {strconv.FormatInt(e.imgID, 10)}, "job_id": {strconv.FormatInt(jobID, 10)}})
	var cr int
	e.db.QueryRow(`SELECT cancel_requested FROM jobs WHERE id = ?`, jobID).Scan(&cr)
	if code != 200 || cr != 1 {
		t.Errorf("cancel: %d %v cancel_requested=%d", code, m, cr)
	}
}

func TestForgeRoutesRejectWithoutCSRFOrAdmin(t *testing.T) {
	e := newForgeEnv(t, okForge)
	e.postJSON(url.Values{"action": {"models"}}) // warm nothing; ensures routes work as admin
	anon := e.client()
	id := strconv.FormatInt(e.imgID, 10)
	for _, c := range []struct {
		name   string
		action string
		csrf   bool
		want   int
	}{
		{"regen without csrf", "regen", false, 403},
		{"regen not admin", "regen", true, 403},
		{"accept without csrf", "accept", false, 403},
		{"accept not admin", "accept", true, 403},
		{"discard not admin", "discard", true, 403},
		{"repair not admin", "repair", true, 403},
		{"health not admin", "health", true, 403},
		{"models not admin", "models", true, 403},
		{"status not admin", "status", true, 403},
		{"cancel not admin", "cancel", true, 403},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := anon.post("/forge.php", url.Values{"action": {c.action}, "media_id": {id}, "job_id": {"1"}, "variant": {"1"}}, c.csrf)
			if rec.Code != c.want {
				t.Errorf("%d, want %d", rec.Code, c.want)
			}
		})
	}
	var n int
	e.db.QueryRow(`SELECT COUNT(*) FROM jobs`).Scan(&n)
	if n != 0 {
		t.Errorf("%d jobs created by rejected requests", n)
	}
	if rec := anon.do("GET", "/forge.php", nil); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET /forge.php: %d", rec.Code)
	}
	if rec := anon.do("GET", "/forge_preview.php?job_id=1&variant=1", nil); rec.Code != 403 {
		t.Errorf("preview not admin: %d", rec.Code)
	}
	if body := anon.do("GET", "/media_view.php?id="+id, nil).Body.String(); strings.Contains(body, "forge-regen-form") {
		t.Error("non-admin sees the Forge panel")
	}
	// An admin with a session (no internal key) still needs the CSRF token.
	adm := e.client()
	adm.login()
	if rec := adm.post("/forge.php", url.Values{"action": {"health"}}, false); rec.Code != 403 {
		t.Errorf("admin without csrf: %d", rec.Code)
	}
	if rec := adm.post("/forge.php", url.Values{"action": {"health"}}, true); rec.Code != http.StatusSeeOther && rec.Code != 200 {
		t.Errorf("admin with csrf: %d %s", rec.Code, rec.Body)
	}
}

func TestForgePreviewAdultGate(t *testing.T) {
	e := newForgeEnv(t, okForge)
	_, m := e.postJSON(e.regenForm(nil))
	jobID := jobIDOf(t, m)
	e.runJobs()
	if _, err := e.db.Exec(`UPDATE media SET has_nsfw = 1 WHERE id = ?`, e.imgID); err != nil {
		t.Fatal(err)
	}
	u := "/forge_preview.php?job_id=" + strconv.FormatInt(jobID, 10) + "&variant=1"
	if rec := e.c.do("GET", u, nil); rec.Code != 403 {
		t.Errorf("adult preview without adult session: %d", rec.Code)
	}
	for _, bad := range []string{"/forge_preview.php?job_id=x&variant=1", "/forge_preview.php?job_id=" + strconv.FormatInt(jobID, 10) + "&variant=0",
		"/forge_preview.php?job_id=9999&variant=1"} {
		if rec := e.c.do("GET", bad, nil); rec.Code != 400 && rec.Code != 404 {
			t.Errorf("%s: %d", bad, rec.Code)
		}
	}
}

func TestLegacyForgeRegenActionIsPlanned(t *testing.T) {
	e := newForgeEnv(t, okForge)
	raw, _ := json.Marshal(map[string]any{"enabled": true, "dispatch_enabled": true, "base_url": e.fake.URL})
	e.cfg.Forge = raw
	e.c.hdr.Set("Accept", "application/json")
	rec := e.c.do("POST", "/media_view.php?id="+strconv.FormatInt(e.imgID, 10), url.Values{"action": {"forge_regen"},
		"media_id": {strconv.FormatInt(e.imgID, 10)}, "mode": {"preview"}, "prompt": {"a red lighthouse, detailed painting, sunset"}})
	if rec.Code != 200 {
		t.Fatalf("forge_regen: %d %s", rec.Code, rec.Body)
	}
	var payload string
	if err := e.db.QueryRow(`SELECT payload_json FROM jobs WHERE type = 'forge_regen' AND media_id = ?`, e.imgID).Scan(&payload); err != nil {
		t.Fatal(err)
	}
	var req forge.Request
	if err := json.Unmarshal([]byte(payload), &req); err != nil || req.Payload.Prompt == "" || req.Plan.PromptSource != "manual" {
		t.Errorf("legacy action enqueued an unplanned payload: %s", payload)
	}
}

// stubThumbs records thumbnail requests and answers with a fixed file.
type stubThumbs struct {
	file string
	got  []ThumbSource
}

func (s *stubThumbs) Thumb(_ context.Context, src ThumbSource) (Thumb, error) {
	s.got = append(s.got, src)
	return Thumb{Path: s.file, ContentType: "image/jpeg", ModTime: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, nil
}

func TestForgePreviewThumbnail(t *testing.T) {
	e := newForgeEnv(t, okForge)
	thumbFile := filepath.Join(e.base, "thumb.jpg")
	if err := os.WriteFile(thumbFile, []byte("thumb-bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	st := &stubThumbs{file: thumbFile}
	f := NewForge(ForgeOptions{Service: e.svc})
	s, err := New(Options{Config: e.cfg, DB: e.db, ReadDB: e.srv.rdb, Log: zerolog.Nop(), Clock: e.srv.clock, Jobs: e.queue, Thumbs: st,
		ExtraRoutes: f.Routes, DetailSections: []DetailSection{f.DetailSection()}})
	if err != nil {
		t.Fatal(err)
	}
	e.h = s.Handler()
	_, m := e.postJSON(e.regenForm(nil))
	jobID := jobIDOf(t, m)
	e.runJobs()
	if !strings.Contains(e.detail(), "variant=1&amp;size=240") {
		t.Error("panel does not ask for preview thumbnails")
	}
	rec := e.c.do("GET", "/forge_preview.php?job_id="+strconv.FormatInt(jobID, 10)+"&variant=1&size=240", nil)
	if rec.Code != 200 || rec.Body.String() != "thumb-bytes" || rec.Header().Get("Content-Type") != "image/jpeg" {
		t.Fatalf("thumbnail: %d %q %s", rec.Code, rec.Body, rec.Header().Get("Content-Type"))
	}
	vs := e.versions(jobID)
	if len(st.got) != 1 || st.got[0].Path != vs[0].Path || st.got[0].ID != e.imgID || st.got[0].Size != 240 {
		t.Errorf("thumbnail requests %+v", st.got)
	}
	// Without size the preview itself is served.
	rec = e.c.do("GET", "/forge_preview.php?job_id="+strconv.FormatInt(jobID, 10)+"&variant=1", nil)
	if !bytes.Equal(rec.Body.Bytes(), svtest.ReadFile(t, vs[0].Path)) {
		t.Error("full preview not served without size")
	}
}
