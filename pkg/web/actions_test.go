package web

import (
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/localsupervisor/supervisor/pkg/config"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/ollama"
	"github.com/localsupervisor/supervisor/pkg/scan"
)

// enableServices switches the named optional services on in cfg, as a
// config.json with "<section>": {"enabled": true} would.
func enableServices(cfg *config.Config, services ...string) {
	on := json.RawMessage(`{"enabled": true}`)
	for _, svc := range services {
		switch svc {
		case ServiceTagger:
			cfg.Scanner = on
		case ServiceOllama:
			cfg.Ollama = on
		case ServiceForge:
			cfg.Forge = on
		default:
			panic("unknown service " + svc)
		}
	}
}

// actionEnv is a server with web spawning on, every start recorded (the
// generic launcher and the Ollama autostart) and the Ollama routes wired;
// the client is logged in as admin.
type actionEnv struct {
	*fixture
	c     *client
	rec   *spawnRecorder
	video int64
}

func newActionEnv(t *testing.T, services ...string) *actionEnv {
	t.Helper()
	f := newFixture(t, services...)
	f.cfg.Workers.WebSpawnEnabled = true
	rec := &spawnRecorder{}
	q := jobs.NewQueue(jobs.QueueOptions{DB: f.db, Clock: f.srv.clock, Config: jobs.DefaultConfig()})
	s, err := New(Options{Config: f.cfg, DB: f.db, ReadDB: f.srv.rdb, Log: zerolog.Nop(), Clock: f.srv.clock, Jobs: q,
		JobAdmin: JobAdminAdapter{Q: q}, Launcher: rec,
		ExtraRoutes: OllamaRoutes(OllamaOptions{Config: ollama.DefaultConfig(), Jobs: jobs.DefaultConfig(),
			LogsDir: filepath.Join(f.base, "LOGS"), ServiceBin: filepath.Join(f.base, "bin", "ollama-service"), Autostart: rec.autostart})})
	if err != nil {
		t.Fatal(err)
	}
	f.srv, f.h = s, s.Handler()
	video := f.insert(filepath.Join(f.cfg.MediaRoots()[0], "clip.mp4"), "video", 0, "ccc")
	c := f.client()
	c.login()
	return &actionEnv{fixture: f, c: c, rec: rec, video: video}
}

// postJSON posts form to target as a fetch caller and decodes the answer.
func (e *actionEnv) postJSON(target string, form url.Values) (int, map[string]any) {
	e.t.Helper()
	e.c.hdr.Set("Accept", "application/json")
	defer e.c.hdr.Del("Accept")
	rec := e.c.post(target, form, true)
	return rec.Code, decode(e.t, rec.Body.String())
}

// jobs lists "type:media_id:payload" of every job, oldest first.
func (e *actionEnv) jobs() []string {
	e.t.Helper()
	rows, err := e.db.Query(`SELECT type, COALESCE(media_id, 0), COALESCE(payload_json, '') FROM jobs ORDER BY id`)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var typ, payload string
		var mid int64
		if err := rows.Scan(&typ, &mid, &payload); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, typ+":"+strconv.FormatInt(mid, 10)+":"+payload)
	}
	return out
}

func (e *actionEnv) starts() (workers []string, services int) {
	e.rec.mu.Lock()
	defer e.rec.mu.Unlock()
	return append([]string(nil), e.rec.workers...), len(e.rec.services)
}

// TestActionsNeedTheirService: every dashboard and detail action either
// queues the job its worker accepts (right type, media and payload) and
// starts that worker, or — its service switched off in the config —
// queues nothing, starts nothing and answers 409 with the sentence naming
// the config key.
func TestActionsNeedTheirService(t *testing.T) {
	type want struct {
		status   int
		code     string // reason_code (refusal) or message_code (success)
		jobType  string // the one job queued ("" none)
		payload  map[string]any
		media    bool // the job carries the media id
		worker   string
		services int // Ollama autostarts
		sentence string
	}
	img, vid := "img", "vid"
	cases := []struct {
		name     string
		services []string
		target   string
		form     url.Values
		want     want
	}{
		{"rescan library, tagger off", nil, "/index.php", url.Values{"action": {"rescan_library"}},
			want{status: 409, code: "scanner_disabled", sentence: "scanner.enabled"}},
		{"backfill, tagger off", nil, "/index.php", url.Values{"action": {"backfill_no_tags"}},
			want{status: 409, code: "scanner_disabled", sentence: "scanner.enabled"}},
		{"rescan library", []string{ServiceTagger}, "/index.php", url.Values{"action": {"rescan_library"}},
			want{status: 200, code: "rescan_library_queued", jobType: jobs.TypeScanBackfillTags, payload: map[string]any{"mode": "all"}, worker: "scan-worker", sentence: "job #"}},
		{"rescan_db (original name)", []string{ServiceTagger}, "/index.php", url.Values{"action": {"rescan_db"}},
			want{status: 200, code: "rescan_library_queued", jobType: jobs.TypeScanBackfillTags, payload: map[string]any{"mode": "all"}, worker: "scan-worker"}},
		{"backfill", []string{ServiceTagger}, "/index.php", url.Values{"action": {"backfill_no_tags"}},
			want{status: 200, code: "backfill_queued", jobType: jobs.TypeScanBackfillTags, payload: map[string]any{"mode": "no_tags"}, worker: "scan-worker"}},
		{"tag rescan, tagger off", nil, "/media_view.php", url.Values{"action": {"rescan_job"}, "media_id": {img}},
			want{status: 409, code: "scanner_disabled", sentence: "Tagging is off"}},
		{"tag rescan", []string{ServiceTagger}, "/media_view.php", url.Values{"action": {"rescan_job"}, "media_id": {img}},
			want{status: 200, code: "rescan_queued", jobType: jobs.TypeRescanMedia, media: true, payload: map[string]any{"media_id": "{id}"}, worker: "scan-worker"}},
		{"bulk tag rescan, tagger off", nil, "/media/bulk", url.Values{"action": {"rescan_job"}, "ids": {img}},
			want{status: 409, code: "scanner_disabled"}},
		{"upscale an image", nil, "/media_view.php", url.Values{"action": {"upscale"}, "media_id": {img}},
			want{status: 200, code: "upscale_queued", jobType: jobs.TypeUpscale, media: true, worker: "media-worker"}},
		{"upscale a video", nil, "/media_view.php", url.Values{"action": {"upscale"}, "media_id": {vid}},
			want{status: 400, code: CodeUpscaleNotImage}},
		{"analyze, ollama off", nil, "/media_view.php", url.Values{"action": {"ollama_analyze"}, "media_id": {img}},
			want{status: 409, code: "ollama_disabled", sentence: "ollama.enabled"}},
		{"analyze", []string{ServiceOllama}, "/media_view.php", url.Values{"action": {"ollama_analyze"}, "media_id": {img}, "mode": {"caption"}},
			want{status: 200, code: "analyze_queued", jobType: "ollama_caption", media: true, services: 1}},
		{"ollama page enqueue, ollama off", nil, "/internal_ollama.php", url.Values{"action": {"enqueue"}, "mode": {"caption"}, "media_id": {img}},
			want{status: 409, code: "ollama_disabled"}},
		{"ollama page run batch, ollama off", nil, "/internal_ollama.php", url.Values{"action": {"run_once"}},
			want{status: 409, code: "ollama_disabled"}},
		{"forge regen, forge off", nil, "/media_view.php", url.Values{"action": {"forge_regen"}, "media_id": {img}},
			want{status: 409, code: "forge_disabled", sentence: "forge.enabled"}},
		{"unknown dashboard action", nil, "/index.php", url.Values{"action": {"explode"}},
			want{status: 400, code: "unknown_action"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newActionEnv(t, tc.services...)
			ids := map[string]string{img: strconv.FormatInt(e.imgID, 10), vid: strconv.FormatInt(e.video, 10)}
			form := url.Values{}
			for k, v := range tc.form {
				if id, ok := ids[v[0]]; ok {
					v = []string{id}
				}
				form[k] = v
			}
			target := tc.target
			if target == "/media_view.php" {
				target += "?id=" + form.Get("media_id")
			}
			status, m := e.postJSON(target, form)
			if status != tc.want.status {
				t.Fatalf("status %d, want %d: %v", status, tc.want.status, m)
			}
			code, _ := m["reason_code"].(string)
			if status == 200 {
				code, _ = m["message_code"].(string)
			}
			if code != tc.want.code {
				t.Fatalf("code %q, want %q: %v", code, tc.want.code, m)
			}
			msg, _ := m["message"].(string)
			if msg == "" {
				msg, _ = m["error"].(string)
			}
			if msg == "" || strings.Contains(msg, tc.want.code) || !strings.Contains(msg, tc.want.sentence) {
				t.Fatalf("sentence %q: want plain words containing %q, no raw code", msg, tc.want.sentence)
			}
			got := e.jobs()
			if tc.want.jobType == "" {
				if len(got) != 0 {
					t.Fatalf("refused action queued %v", got)
				}
			} else {
				if len(got) != 1 || !strings.HasPrefix(got[0], tc.want.jobType+":") {
					t.Fatalf("jobs %v, want one %s", got, tc.want.jobType)
				}
				parts := strings.SplitN(got[0], ":", 3)
				if tc.want.media != (parts[1] == ids[img]) {
					t.Fatalf("job media %s (want media %v)", parts[1], tc.want.media)
				}
				var p map[string]any
				_ = json.Unmarshal([]byte(parts[2]), &p)
				for k, v := range tc.want.payload {
					if v == "{id}" {
						v = float64(e.imgID)
					}
					if p[k] != v {
						t.Fatalf("payload %s: %s = %v, want %v", parts[2], k, p[k], v)
					}
				}
			}
			workers, services := e.starts()
			wantWorkers := []string(nil)
			if tc.want.worker != "" {
				wantWorkers = []string{tc.want.worker}
			}
			if strings.Join(workers, ",") != strings.Join(wantWorkers, ",") || services != tc.want.services {
				t.Fatalf("started workers %v and %d Ollama services, want %v and %d", workers, services, wantWorkers, tc.want.services)
			}
		})
	}
}

// TestSpawnNeverStartsASwitchedOffService: whatever asks, the server
// starts no worker of a service the config switches off.
func TestSpawnNeverStartsASwitchedOffService(t *testing.T) {
	for _, tc := range []struct {
		worker   string
		services []string
		want     string
		started  bool
	}{
		{"forge-worker", nil, "forge_disabled", false},
		{"ollama-service", nil, "ollama_disabled", false},
		{"ollama-worker", nil, "ollama_disabled", false},
		{"forge-worker", []string{ServiceForge}, "started", true},
		{"scan-worker", nil, "started", true}, // imports work without the tagger
		{"media-worker", nil, "started", true},
	} {
		t.Run(tc.worker+strings.Join(tc.services, "+"), func(t *testing.T) {
			e := newActionEnv(t, tc.services...)
			if st := e.srv.spawn(t.Context(), tc.worker, nil); st != tc.want {
				t.Fatalf("spawn %s: %q, want %q", tc.worker, st, tc.want)
			}
			if w, _ := e.starts(); (len(w) == 1) != tc.started {
				t.Fatalf("launcher calls %v", w)
			}
		})
	}
}

// TestDisabledActionsShowTheirReason: with every optional service off (the
// defaults) the dashboard's and the detail page's actions that need one
// are disabled with the sentence beside them; with the service on they are
// enabled and no reason is shown.
func TestDisabledActionsShowTheirReason(t *testing.T) {
	disabled := func(page, id string) bool {
		m := regexp.MustCompile(`<button[^>]*id="` + id + `"[^>]*>`).FindString(page)
		return strings.Contains(m, " disabled")
	}
	for _, tc := range []struct {
		name     string
		services []string
		off      bool
	}{{"defaults", nil, true}, {"all on", []string{ServiceTagger, ServiceOllama, ServiceForge}, false}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newActionEnv(t, tc.services...)
			dash := e.c.do("GET", "/index.php", nil).Body.String()
			detail := e.c.do("GET", "/media_view.php?id="+strconv.FormatInt(e.imgID, 10), nil).Body.String()
			for _, c := range []struct{ page, id string }{{dash, "rescan-library"}, {dash, "backfill-tags"}, {detail, "rescan-btn"},
				{detail, "analyze-btn"}, {detail, "ollama-analyze-btn"}} {
				if disabled(c.page, c.id) != tc.off {
					t.Errorf("#%s disabled=%v, want %v", c.id, !tc.off, tc.off)
				}
			}
			for _, c := range []struct{ page, sentence string }{{dash, "Tagging is off: set scanner.enabled to true in CONFIG/config.json"},
				{detail, "Tagging is off"}, {detail, "Ollama is off: set ollama.enabled"}, {detail, "Forge is off: set forge.enabled"}} {
				if strings.Contains(c.page, c.sentence) != tc.off {
					t.Errorf("reason %q shown=%v, want %v", c.sentence, !tc.off, tc.off)
				}
			}
			if strings.Contains(detail, `<a href="#forge-panel" id="forge-regen-link"`) == tc.off {
				t.Errorf("forge regen link active with forge off=%v", tc.off)
			}
			// An upscale button is offered for images only.
			video := e.c.do("GET", "/media_view.php?id="+strconv.FormatInt(e.video, 10), nil).Body.String()
			if !strings.Contains(detail, `id="upscale-btn"`) || strings.Contains(video, `id="upscale-btn"`) {
				t.Error("upscale button not offered for exactly the images")
			}
		})
	}
	// The German page says the same in German.
	e := newActionEnv(t)
	e.c.hdr.Set("Accept-Language", "de")
	if page := e.c.do("GET", "/index.php", nil).Body.String(); !strings.Contains(page, "Tagging ist aus: scanner.enabled") {
		t.Error("German dashboard lacks the German reason")
	}
}

// TestFeedbackBanner: a form post without JavaScript redirects back with a
// code whose sentence the page shows; unknown codes show nothing, so a link
// cannot put text on the page.
func TestFeedbackBanner(t *testing.T) {
	e := newActionEnv(t, ServiceTagger)
	rec := e.c.post("/index.php", url.Values{"action": {"rescan_library"}}, true)
	loc := rec.Header().Get("Location")
	if rec.Code != http.StatusSeeOther || !strings.Contains(loc, "msg=rescan_library_queued") {
		t.Fatalf("redirect %d %q", rec.Code, loc)
	}
	page := e.c.do("GET", loc, nil).Body.String()
	if !strings.Contains(page, `id="dash-msg"`) || !strings.Contains(page, "Library rescan started (job #1)") {
		t.Fatal("dashboard banner lacks the sentence")
	}
	if page := e.c.do("GET", "/index.php?msg=Your+key+leaked", nil).Body.String(); strings.Contains(page, `id="dash-msg"`) {
		t.Fatal("an unknown code became a banner")
	}
	// A refused import comes back as an error banner.
	rec = e.c.post("/index.php", url.Values{"action": {"scan_path"}, "scan_path": {"/no/such/folder"}, "mode": {"copy"}}, true)
	page = e.c.do("GET", rec.Header().Get("Location"), nil).Body.String()
	if !strings.Contains(page, `class="banner error"`) || !strings.Contains(page, "Folder not found") {
		t.Fatalf("refused import: %d %s", rec.Code, rec.Header().Get("Location"))
	}
	id := strconv.FormatInt(e.imgID, 10)
	rec = e.c.post("/media_view.php?id="+id, url.Values{"action": {"rescan_job"}, "media_id": {id}}, true)
	if page := e.c.do("GET", rec.Header().Get("Location"), nil).Body.String(); !strings.Contains(page, "Tag rescan queued (job #") {
		t.Fatalf("detail banner missing after %s", rec.Header().Get("Location"))
	}
}

// TestImportFormMode: the chosen mode reaches the scan_path payload (the
// field handleScanPath honours); no choice means config import.mode; an
// unknown mode is refused; a move needs a confirmation — JSON callers get
// 409, a plain form gets a confirm page whose form, posted back, queues it.
func TestImportFormMode(t *testing.T) {
	for _, tc := range []struct {
		name, mode, configMode, confirm string
		wantStatus                      int
		wantMode, wantCode              string
	}{
		{"move confirmed", "move", "move", "1", 200, "move", "import_queued_move"},
		{"copy", "copy", "move", "", 200, "copy", "import_queued_copy"},
		{"keep in place", "in_place", "move", "", 200, "in_place", "import_queued_in_place"},
		{"default from config", "", "in_place", "", 200, "in_place", "import_queued_in_place"},
		{"default move needs confirmation", "", "move", "", 409, "", CodeMoveConfirm},
		{"move unconfirmed", "move", "copy", "0", 409, "", CodeMoveConfirm},
		{"unknown mode", "shred", "move", "1", 400, "", scan.CodeInvalidMode},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newActionEnv(t)
			e.cfg.Import.Mode = tc.configMode
			src := filepath.Join(e.base, "inbox")
			if err := os.MkdirAll(src, 0o755); err != nil {
				t.Fatal(err)
			}
			form := url.Values{"action": {"scan_path"}, "scan_path": {src + "\n" + src}, "mode": {tc.mode}, "confirm_move": {tc.confirm}}
			status, m := e.postJSON("/index.php", form)
			code, _ := m["message_code"].(string)
			if status != 200 {
				code, _ = m["reason_code"].(string)
			}
			if status != tc.wantStatus || code != tc.wantCode {
				t.Fatalf("%d %v, want %d %s", status, m, tc.wantStatus, tc.wantCode)
			}
			got := e.jobs()
			if tc.wantMode == "" {
				if len(got) != 0 {
					t.Fatalf("queued %v", got)
				}
				return
			}
			if len(got) != 1 || !strings.HasPrefix(got[0], jobs.TypeScanPath+":0:") {
				t.Fatalf("jobs %v, want one scan_path", got)
			}
			var p scan.ScanPathPayload
			if err := json.Unmarshal([]byte(strings.SplitN(got[0], ":", 3)[2]), &p); err != nil {
				t.Fatal(err)
			}
			if p.Mode != tc.wantMode || p.Path != src || p.Source != "web" {
				t.Fatalf("payload %+v", p)
			}
		})
	}

	t.Run("confirm page without JavaScript", func(t *testing.T) {
		e := newActionEnv(t)
		src := filepath.Join(e.base, "inbox")
		os.MkdirAll(src, 0o755)
		rec := e.c.post("/index.php", url.Values{"action": {"scan_path"}, "scan_path": {"inbox"}, "mode": {"move"}, "scan_limit": {"7"}}, true)
		page := rec.Body.String()
		if rec.Code != 200 || !strings.Contains(page, `id="import-confirm"`) || !strings.Contains(page, "they leave the folder") || len(e.jobs()) != 0 {
			t.Fatalf("confirm step: %d, jobs %v", rec.Code, e.jobs())
		}
		form := url.Values{}
		for _, m := range regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`).FindAllStringSubmatch(page, -1) {
			form.Set(m[1], html.UnescapeString(m[2]))
		}
		if form.Get("confirm_move") != "1" || form.Get("mode") != "move" || form.Get("scan_path") != "inbox" {
			t.Fatalf("confirm form %v", form)
		}
		rec = e.c.post("/index.php", form, false)
		if rec.Code != http.StatusSeeOther || !strings.Contains(rec.Header().Get("Location"), "msg=import_queued_move") {
			t.Fatalf("confirmed: %d %s", rec.Code, rec.Header().Get("Location"))
		}
		var p scan.ScanPathPayload
		got := e.jobs()
		if len(got) != 1 || json.Unmarshal([]byte(strings.SplitN(got[0], ":", 3)[2]), &p) != nil || p.Mode != "move" || p.Limit != 7 || p.Path != src || p.RequestedPath != "inbox" {
			t.Fatalf("jobs %v", got)
		}
	})

	t.Run("form offers the modes, config default checked", func(t *testing.T) {
		e := newActionEnv(t)
		e.cfg.Import.Mode = "copy"
		page := e.c.do("GET", "/index.php", nil).Body.String()
		for _, want := range []string{`value="move" id="mode-move">`, `value="copy" id="mode-copy" checked>`, `value="in_place" id="mode-in-place">`,
			"they leave this folder", "the originals stay", "Catalogue the files where they are", `data-confirm-move="`} {
			if !strings.Contains(page, want) {
				t.Errorf("import form lacks %s", want)
			}
		}
	})
}
