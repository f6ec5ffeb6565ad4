package web

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"github.com/localsupervisor/supervisor/pkg/db/dbtest"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/rs/zerolog"

	"github.com/localsupervisor/supervisor/pkg/config"
	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/jobs/workerstate"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/probe"
	"github.com/localsupervisor/supervisor/pkg/svtest"
	"github.com/localsupervisor/supervisor/pkg/thumb"
)

// e2eImages spans three list pages of e2ePageSize, so infinite scroll has
// more than one keyset page to load.
const (
	e2eImages   = 30
	e2ePageSize = 12
)

// rangeRecorder wraps the server handler and remembers the Range headers of
// stream requests, so the test can prove the browser's player seeks by range.
type rangeRecorder struct {
	h      http.Handler
	mu     sync.Mutex
	ranges []string
}

func (rr *rangeRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/media_stream.php" && r.Header.Get("Range") != "" {
		rr.mu.Lock()
		rr.ranges = append(rr.ranges, r.Header.Get("Range"))
		rr.mu.Unlock()
	}
	rr.h.ServeHTTP(w, r)
}

func (rr *rangeRecorder) seen() []string {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	return append([]string(nil), rr.ranges...)
}

// sha256File hashes a file like the importer (hex SHA-256, size).
func sha256File(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	return hex.EncodeToString(h.Sum(nil)), n, err
}

func writePNG(t *testing.T, path string, i int) int64 {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 24, 16))
	// Each image differs in its pixels so its hash differs.
	for y := 0; y < 16; y++ {
		for x := 0; x < 24; x++ {
			img.Set(x, y, color.RGBA{uint8(i), uint8(x * 10), uint8(y * 15), 255})
		}
	}
	return savePNG(t, path, img)
}

// savePNG writes img as a PNG file and returns its size.
func savePNG(t *testing.T, path string, img image.Image) int64 {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// steppingClock advances one second per reading so imported_at values are
// distinct and the newest-first order is predictable.
type steppingClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *steppingClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

type e2eEnv struct {
	cfg     *config.Config
	db      *sql.DB
	url     string
	rec     *rangeRecorder
	videoID int64
	firstID int64 // newest image
}

// openE2EDB opens the test database as webui does: a migrated writer and
// a read-only handle with a short busy timeout (closed at cleanup).
func openE2EDB(t *testing.T, cfg *config.Config) (w, r *sql.DB) {
	t.Helper()
	w = dbtest.Open(t, cfg.DB.Path)
	r, err := db.OpenReadOnly(context.Background(), db.Options{Path: cfg.DB.Path, BusyTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return w, r
}

func newE2E(t *testing.T) *e2eEnv {
	t.Helper()
	return newE2EN(t, e2eImages)
}

// newE2EN is newE2E with n generated images.
func newE2EN(t *testing.T, n int) *e2eEnv {
	t.Helper()
	ffmpeg := svtest.RequireTool(t, "ffmpeg")
	base := t.TempDir()
	cfg := testConfig(t, base)
	cfg.Tools.FFmpeg = ffmpeg
	ctx := context.Background()
	w, r := openE2EDB(t, cfg)
	clock := &steppingClock{t: time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)}
	env := &e2eEnv{cfg: cfg, db: w}

	// The generated library: rows go in through pkg/media like an import.
	imgDir, vidDir := cfg.Paths.ImagesSFW, cfg.Paths.VideosSFW
	for _, d := range []string{imgDir, vidDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	vid := filepath.Join(vidDir, "clip.mp4")
	out, err := exec.Command(ffmpeg, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
		"testsrc=duration=3:size=160x120:rate=10", "-pix_fmt", "yuv420p", "-c:v", "libx264", "-movflags", "+faststart",
		"-y", vid).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v %s", err, out)
	}
	vsha, vsize, err := sha256File(vid)
	if err != nil {
		t.Fatal(err)
	}
	if env.videoID, err = media.Insert(ctx, w, media.NewMedia{Path: vid, Type: "video", Width: 160, Height: 120,
		Duration: 3, FPS: 10, Filesize: vsize, Hash: vsha}, clock.Now()); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		p := filepath.Join(imgDir, fmt.Sprintf("img%03d.png", i))
		writePNG(t, p, i)
		sha, size, err := sha256File(p)
		if err != nil {
			t.Fatal(err)
		}
		id, err := media.Insert(ctx, w, media.NewMedia{Path: p, Type: "image", Width: 24, Height: 16, Filesize: size, Hash: sha}, clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		env.firstID = id
	}
	// The newest image's prompt was written with spaces and a CRLF the
	// trimmed form drops; the detail page offers it "as written".
	if _, err := media.SavePrompt(ctx, w, env.firstID, media.Prompt{Prompt: "a lighthouse\nat dusk", PromptRaw: " a lighthouse\r\nat dusk  ",
		Model: "lighthouseXL"}, media.PromptSourceImport, "", clock.Now()); err != nil {
		t.Fatal(err)
	}

	gen, err := thumb.New(thumb.Options{CacheDir: filepath.Join(base, "thumbs"), MaxPixels: cfg.Import.MaxPixels,
		FFmpeg: &probe.FFmpeg{Path: ffmpeg}})
	if err != nil {
		t.Fatal(err)
	}
	q := jobs.NewQueue(jobs.QueueOptions{DB: w, Clock: clock, Config: jobs.DefaultConfig()})
	s, err := New(Options{Config: cfg, DB: w, ReadDB: r, Log: zerolog.Nop(), Clock: clock, Thumbs: ThumbAdapter{G: gen},
		Jobs: q, JobAdmin: JobAdminAdapter{Q: q}, Version: "e2e", PageSize: e2ePageSize})
	if err != nil {
		t.Fatal(err)
	}
	env.rec = &rangeRecorder{h: s.Handler()}
	ts := httptest.NewServer(env.rec)
	t.Cleanup(ts.Close)
	env.url = ts.URL
	return env
}

func artifactsDir(t *testing.T) string {
	if d := os.Getenv("SV_ARTIFACTS_DIR"); d != "" {
		d = filepath.Join(d, "web-e2e")
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// TestBrowserEndToEnd drives the real UI in headless Chromium: login with the
// internal key, filter, infinite scroll, detail page, video playback by
// Range requests, tag add, keyboard rating.
func TestBrowserEndToEnd(t *testing.T) {
	chromium := svtest.RequireTool(t, "chromium")
	env := newE2E(t)
	shots := artifactsDir(t)

	// Chromium's helper processes can still write into the profile for a
	// moment after the browser is gone, which makes t.TempDir's strict
	// cleanup fail; the profile is removed best-effort instead.
	profile, err := os.MkdirTemp("", "sv-e2e-profile-")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for i := 0; i < 20; i++ {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("mute-audio", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	bctx, cancelB := chromedp.NewContext(actx)
	defer cancelB()
	// Generous bound for a loaded shared machine; an idle one needs ~10 s.
	ctx, cancel := context.WithTimeout(bctx, 100*time.Second)
	defer cancel()

	shot := func(name string) chromedp.Action {
		return chromedp.ActionFunc(func(ctx context.Context) error {
			var buf []byte
			if err := chromedp.FullScreenshot(&buf, 80).Do(ctx); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name+".png"), buf, 0o644)
		})
	}
	start := time.Now()
	run := func(step string, actions ...chromedp.Action) {
		t.Helper()
		defer func() { t.Logf("%-12s done at %v", step, time.Since(start).Round(time.Millisecond)) }()
		if err := chromedp.Run(ctx, actions...); err != nil {
			var loc, state string
			_ = chromedp.Run(ctx, chromedp.Location(&loc), chromedp.Evaluate(`JSON.stringify({cards: document.querySelectorAll('.card[data-id]').length, next: (document.getElementById('grid')||{dataset:{}}).dataset.next, log: window.__errs || []})`, &state))
			t.Fatalf("%s: %v (at %s; page %s)", step, err, loc, state)
		}
	}
	cardCount := func(n *int) chromedp.Action {
		return chromedp.Evaluate(`document.querySelectorAll('#grid .card[data-id]').length`, n)
	}

	// 1. Log in with the internal key; the form posts with the CSRF token.
	var admin string
	run("login",
		chromedp.Navigate(env.url+"/login?next=/mediadb.php"),
		chromedp.WaitVisible(`#login-key`, chromedp.ByQuery),
		chromedp.SendKeys(`#login-key`, testKey, chromedp.ByQuery),
		chromedp.Click(`#login-submit`, chromedp.ByQuery),
		chromedp.WaitVisible(`#grid`, chromedp.ByQuery),
		chromedp.AttributeValue(`body`, "data-admin", &admin, nil, chromedp.ByQuery),
		shot("01-list"),
	)
	if admin != "true" {
		t.Fatalf("after login body data-admin=%q, want true", admin)
	}

	// 2. Apply a filter: images only. The video must disappear.
	var n int
	var loc string
	run("filter",
		chromedp.SetValue(`#f-type`, "image", chromedp.ByQuery),
		chromedp.Click(`#filter-apply`, chromedp.ByQuery),
		chromedp.WaitVisible(`#chips`, chromedp.ByQuery),
		chromedp.Location(&loc),
		cardCount(&n),
	)
	if !strings.Contains(loc, "type=image") {
		t.Fatalf("filter not in URL: %s", loc)
	}
	if n != e2ePageSize {
		t.Fatalf("first filtered page has %d cards, want %d", n, e2ePageSize)
	}
	var hasVideo bool
	run("no video", chromedp.Evaluate(fmt.Sprintf(`!!document.querySelector('.card[data-id="%d"]')`, env.videoID), &hasVideo))
	if hasVideo {
		t.Fatal("video card shown under type=image")
	}

	// 3. Infinite scroll: scrolling to the end appends the second keyset page.
	run("scroll",
		// Scroll on every poll: each appended page pushes the sentinel out
		// of view again.
		chromedp.Poll(fmt.Sprintf(`(window.scrollTo(0, document.body.scrollHeight), document.querySelectorAll('#grid .card[data-id]').length >= %d)`, e2eImages), nil,
			chromedp.WithPollingTimeout(15*time.Second)),
		cardCount(&n),
		shot("02-scrolled"),
	)
	if n != e2eImages {
		t.Fatalf("after scrolling %d cards, want %d (duplicates or missing across the page boundary)", n, e2eImages)
	}
	var distinct int
	run("distinct", chromedp.Evaluate(`new Set(Array.from(document.querySelectorAll('#grid .card[data-id]')).map(c => c.dataset.id)).size`, &distinct))
	if distinct != e2eImages {
		t.Fatalf("%d distinct ids among %d cards", distinct, n)
	}

	// 4. Open a detail page from the list by clicking the first card.
	var detailID string
	run("open detail",
		chromedp.Evaluate(`window.scrollTo(0, 0)`, nil),
		chromedp.Click(`#grid .card[data-id] a.thumb`, chromedp.ByQuery),
		chromedp.WaitVisible(`#detail`, chromedp.ByQuery),
		chromedp.AttributeValue(`#detail`, "data-id", &detailID, nil, chromedp.ByQuery),
		shot("03-detail-image"),
	)
	if detailID != fmt.Sprint(env.firstID) {
		t.Fatalf("detail of %s, want the newest image %d", detailID, env.firstID)
	}
	var asWritten string
	run("as written",
		chromedp.Click(`#prompt-as-written summary`, chromedp.ByQuery),
		chromedp.WaitVisible(`#prompt-raw`, chromedp.ByQuery),
		chromedp.ScrollIntoView(`#prompt-raw`, chromedp.ByQuery),
		chromedp.Text(`#prompt-raw`, &asWritten, chromedp.ByQuery),
		shot("03b-prompt-as-written"),
	)
	if !strings.Contains(asWritten, "·a lighthouse\\r↵") || !strings.Contains(asWritten, "at dusk··") {
		t.Fatalf("as-written prompt shows %q", asWritten)
	}

	// 5. Play the video: the player must load it through Range requests.
	var played bool
	run("play video",
		chromedp.Navigate(fmt.Sprintf("%s/media_view.php?id=%d", env.url, env.videoID)),
		chromedp.WaitVisible(`#player`, chromedp.ByQuery),
		chromedp.Evaluate(`document.getElementById('player').play().then(() => true, () => false)`, &played,
			func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }),
		chromedp.Poll(`(() => { const v = document.getElementById('player'); return v.readyState >= 2 && v.currentTime > 0 || v.error !== null; })()`,
			nil, chromedp.WithPollingTimeout(15*time.Second)),
		shot("04-video"),
	)
	var mediaErr string
	run("video error", chromedp.Evaluate(`(() => { const e = document.getElementById('player').error; return e ? e.code + ' ' + e.message : ''; })()`, &mediaErr))
	if mediaErr != "" || !played {
		t.Fatalf("video did not play: played=%v error=%q", played, mediaErr)
	}
	if rs := env.rec.seen(); len(rs) == 0 {
		t.Fatal("no Range request reached /media_stream.php while the video played")
	} else {
		t.Logf("range requests: %v", rs)
	}

	// 6. Add a tag through the admin form (full POST with CSRF token).
	var tagsText string
	run("tag add",
		chromedp.SendKeys(`#tag-name`, "e2e-sunset", chromedp.ByQuery),
		chromedp.Click(`#tag-add`, chromedp.ByQuery),
	)
	// The video had no tags: a tag item only exists on the reloaded page
	// (polling JavaScript across the navigation would hit the old page).
	// The reads retry when a query resolved a node of the page being
	// replaced (No node with given id found, seen on a loaded machine).
	if err := runFresh(ctx, chromedp.WaitVisible(`#tags li.tag`, chromedp.ByQuery), chromedp.Text(`#tags`, &tagsText, chromedp.ByQuery)); err != nil {
		t.Fatalf("tag list after add: %v", err)
	}
	if !strings.Contains(tagsText, "e2e-sunset") {
		t.Fatalf("tag list after add: %q", tagsText)
	}
	var tagged int
	if err := env.db.QueryRow(`SELECT COUNT(*) FROM media_tags mt JOIN tags t ON t.id = mt.tag_id WHERE mt.media_id = ? AND t.name = 'e2e-sunset'`,
		env.videoID).Scan(&tagged); err != nil || tagged != 1 {
		t.Fatalf("tag in DB: count=%d err=%v", tagged, err)
	}

	// 7. Rate with the keyboard: "3" on the detail page.
	run("rate key",
		chromedp.Evaluate(`document.activeElement && document.activeElement.blur()`, nil),
		chromedp.KeyEvent("3"),
		chromedp.Poll(`document.getElementById('rating-chip').textContent.includes('3')`, nil, chromedp.WithPollingTimeout(10*time.Second)),
		shot("05-rated"),
	)
	var rating int
	if err := env.db.QueryRow(`SELECT rating FROM media WHERE id = ?`, env.videoID).Scan(&rating); err != nil || rating != 3 {
		t.Fatalf("rating in DB = %d (err %v), want 3", rating, err)
	}

	// 7b. The facet panel beside the list (#18): the top models of the
	// images arrive after the page; clicking one adds its term to the
	// search and keeps the other filters. On a narrow screen the panel
	// sits above the cards, folded.
	if _, err := env.db.Exec(`INSERT OR REPLACE INTO media_gen(media_id, software, model, sampler)
		SELECT id, 'comfyui', CASE WHEN id % 3 = 0 THEN 'harborMix_v2' ELSE 'lighthouseXL' END, 'DPM++ 2M Karras' FROM media WHERE type = 'image'`); err != nil {
		t.Fatal(err)
	}
	var facetText, facetTerm string
	run("facets",
		chromedp.Navigate(env.url+"/mediadb.php?type=image"),
		chromedp.WaitVisible(`#facets section[data-field="model"] a.facet-link`, chromedp.ByQuery),
		chromedp.Text(`#facets`, &facetText, chromedp.ByQuery),
		chromedp.AttributeValue(`#facets section[data-field="model"] a.facet-link`, "data-term", &facetTerm, nil, chromedp.ByQuery),
		shot("07-facets"),
		chromedp.Click(`#facets section[data-field="model"] a.facet-link`, chromedp.ByQuery),
		chromedp.WaitVisible(`#chips`, chromedp.ByQuery),
		chromedp.Location(&loc),
		shot("07b-facet-clicked"),
	)
	if !strings.Contains(facetText, "lighthouseXL") || !strings.Contains(facetText, "harborMix_v2") || !strings.Contains(facetText, "DPM++ 2M Karras") {
		t.Fatalf("facet panel shows %q", facetText)
	}
	if u, err := url.Parse(loc); err != nil || u.Query().Get("q") != `model:"lighthouseXL"` || facetTerm != `model:"lighthouseXL"` ||
		u.Query().Get("type") != "image" {
		t.Fatalf("after the facet click at %s (term %q)", loc, facetTerm)
	}
	// The term finds exactly that model's images: the 20 lighthouseXL
	// ones (infinite scroll brings the second page), no harborMix_v2.
	var lighthouseMods string
	run("facet results",
		chromedp.Poll(fmt.Sprintf(`(window.scrollTo(0, document.body.scrollHeight), document.querySelectorAll('#grid .card[data-id]').length >= %d)`, e2eImages-e2eImages/3), nil,
			chromedp.WithPollingTimeout(15*time.Second)),
		chromedp.Evaluate(`Array.from(document.querySelectorAll('#grid .card[data-id]')).map(c => c.dataset.id % 3).join('')`, &lighthouseMods),
	)
	if len(lighthouseMods) != e2eImages-e2eImages/3 || strings.Contains(lighthouseMods, "0") {
		t.Fatalf("model:\"lighthouseXL\" shows cards with ids mod 3 %q, want the %d lighthouseXL images", lighthouseMods, e2eImages-e2eImages/3)
	}
	// ...and so does a term typed into the search box: a word prefix of
	// the other model with a steps-free comparison it must ignore.
	var harbor int
	var harborIDs string
	run("search by model",
		chromedp.Evaluate(`window.scrollTo(0, 0), document.getElementById('q').value = ''`, nil),
		chromedp.SendKeys(`#q`, "model:harbor -tag:nothing\n", chromedp.ByQuery),
	)
	// The form submit navigates; wait for the new page before reading it.
	for i := 0; i < 100 && !strings.Contains(loc, "harbor"); i++ {
		time.Sleep(100 * time.Millisecond)
		_ = chromedp.Run(ctx, chromedp.Location(&loc))
	}
	run("search results",
		chromedp.WaitVisible(`#grid`, chromedp.ByQuery),
		cardCount(&harbor),
		chromedp.Evaluate(`Array.from(document.querySelectorAll('#grid .card[data-id]')).map(c => c.dataset.id % 3).join('')`, &harborIDs),
		shot("07d-search-model"),
	)
	if harbor != e2eImages/3 || strings.Trim(harborIDs, "0") != "" {
		t.Fatalf("model:harbor shows %d cards (ids mod 3: %q), want the %d harborMix_v2 images", harbor, harborIDs, e2eImages/3)
	}
	// A query that does not parse says where, in words, instead of a list.
	var qerr string
	run("query error",
		chromedp.Navigate(env.url+"/mediadb.php?q="+url.QueryEscape("steps:abc")),
		chromedp.WaitVisible(`.query-error`, chromedp.ByQuery),
		chromedp.Text(`.query-error`, &qerr, chromedp.ByQuery),
		shot("07e-query-error"),
	)
	if !strings.Contains(qerr, "steps") {
		t.Fatalf("query error says %q", qerr)
	}
	var above, folded bool
	run("facets narrow",
		chromedp.EmulateViewport(480, 900),
		chromedp.Navigate(env.url+"/mediadb.php?type=image"),
		chromedp.WaitReady(`#facets section[data-field="model"]`, chromedp.ByQuery),
		chromedp.Evaluate(`document.getElementById('facets').getBoundingClientRect().bottom <= document.getElementById('grid').getBoundingClientRect().top`, &above),
		chromedp.Evaluate(`!document.getElementById('facets-box').open`, &folded),
		shot("07c-facets-narrow"),
		chromedp.EmulateViewport(1280, 900),
	)
	if !above || !folded {
		t.Fatalf("narrow screen: facet panel above the cards %v, folded %v", above, folded)
	}

	// 8. The open dashboard re-renders its services from the poll: a
	// heartbeat file written after the page loaded shows up without reload.
	run("dashboard",
		chromedp.Navigate(env.url+"/index.php"),
		chromedp.WaitVisible(`#services`, chromedp.ByQuery),
		chromedp.ActionFunc(func(context.Context) error {
			if err := workerstate.EnsureDir(env.cfg.Paths.Logs); err != nil {
				return err
			}
			return workerstate.WriteHeartbeat(env.cfg.Paths.Logs, workerstate.Heartbeat{Service: "e2e_worker", PID: 1,
				State: workerstate.StateStopped, LastHeartbeatUTC: "2026-01-02T03:00:00Z"})
		}),
		chromedp.Poll(`(document.querySelector('[data-service="e2e_worker"]') || {}).textContent === 'e2e_worker: stopped'`, nil,
			chromedp.WithPollingTimeout(15*time.Second)),
		shot("06-dashboard-services"),
	)
	t.Logf("screenshots in %s", shots)
}
