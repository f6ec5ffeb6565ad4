package ollama_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"github.com/localsupervisor/supervisor/pkg/db/dbtest"
	"image"
	"image/color"
	"image/png"
	"math/rand"
	"path/filepath"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/ollama"
	"github.com/localsupervisor/supervisor/pkg/ollama/ollamatest"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

func openDB(t testing.TB) *sql.DB {
	t.Helper()
	d := dbtest.Open(t, filepath.Join(t.TempDir(), "t.sqlite"))
	return d
}

func addMedia(t testing.TB, d *sql.DB, typ string) int64 {
	t.Helper()
	r, err := d.Exec(`INSERT INTO media (path, type, source, imported_at) VALUES (?, ?, 'import', '2026-01-01T00:00:00Z')`,
		"/lib/"+typ+time.Now().Format("150405.000000000"), typ)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := r.LastInsertId()
	return id
}

func pngBytes(t testing.TB, w, h int, noisy bool) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	rng := rand.New(rand.NewSource(1))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.RGBA{uint8(x), uint8(y), 128, 255}
			if noisy {
				c = color.RGBA{uint8(rng.Intn(256)), uint8(rng.Intn(256)), uint8(rng.Intn(256)), 255}
			}
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type rig struct {
	fake  *ollamatest.Server
	db    *sql.DB
	store *ollama.Store
	proc  *ollama.Processor
	clock *svtime.FixedClock
}

func newRig(t *testing.T, mut ...func(*ollama.Config)) *rig {
	t.Helper()
	fake := newFake(t)
	cfg := testConfig(fake.URL)
	for _, m := range mut {
		m(&cfg)
	}
	d := openDB(t)
	clock := &svtime.FixedClock{T: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	rec := &sleepRecorder{}
	client := ollama.New(cfg, nil, ollama.WithSleep(rec.sleep))
	store := ollama.NewStore(d, clock, ollama.StoreOptions{NSFWUpdatesMedia: cfg.NSFWUpdatesMedia})
	return &rig{fake: fake, db: d, store: store, clock: clock,
		proc: &ollama.Processor{Analyzer: ollama.NewAnalyzer(cfg, client, nil), Store: store}}
}

func (r *rig) meta(t *testing.T, id int64, keys ...string) map[string]string {
	t.Helper()
	m, err := r.store.LatestMeta(context.Background(), id, keys...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (r *rig) count(t *testing.T, q string, args ...any) int {
	t.Helper()
	var n int
	if err := r.db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestEveryModeEndToEnd runs all modes in dependency order against the fake
// and checks the stored shapes (client → parse → store).
func TestEveryModeEndToEnd(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	id := addMedia(t, r.db, "image")
	img := pngBytes(t, 64, 48, false)
	in := ollama.Inputs{MediaID: id, MediaType: "image", Image: img, Prompt: "red fox, snow, (masterpiece:1.2)",
		Tags: []string{"snow_field", "Fox", "pine trees", "rating:general"}}
	for _, m := range []ollama.Mode{ollama.ModeCaption, ollama.ModeTitle, ollama.ModePromptEval, ollama.ModeTagsNormalize,
		ollama.ModeQuality, ollama.ModeNSFWClassify, ollama.ModePromptRecon, ollama.ModeEmbed} {
		out, err := r.proc.Process(ctx, m, in, ollama.JobRef{JobID: 7, JobType: m.JobType()})
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		if out.Saved == nil || out.Saved.ResultID == 0 || out.Saved.ParseError {
			t.Fatalf("%s: saved = %+v", m, out.Saved)
		}
		reqs := r.fake.Requests()
		_, sentImage := reqs[len(reqs)-1].JSON["images"]
		if sentImage != m.RequiresImage() {
			t.Errorf("%s: image sent = %v, want %v", m, sentImage, m.RequiresImage())
		}
		if got := r.meta(t, id, m.OutputKey())[m.OutputKey()]; got == "" {
			t.Errorf("%s: output key %s not written", m, m.OutputKey())
		}
	}
	m := r.meta(t, id, "ollama.caption", "ollama.caption.meta", "ollama.title", "ollama.prompt_eval.score",
		"ollama.tags_normalized", "ollama.tags_map", "ollama.tags_raw", "ollama.quality.score", "ollama.quality.flags",
		"ollama.domain.type", "ollama.domain.confidence", "ollama.nsfw.score", "ollama.nsfw.category",
		"ollama.prompt_recon.prompt", "ollama.prompt_recon.tags_source", "ollama.prompt_recon.style_tokens",
		"ollama.embed.text.dims", "ollama.embed.text.vector_id", "ollama.embed.text.hash", "ollama.stage_version", "ollama.last_run_at")
	want := map[string]string{
		"ollama.title":                     "Red fox in snowy pine forest",
		"ollama.prompt_eval.score":         "82",
		"ollama.tags_normalized":           `["fox","pine forest","snow"]`,
		"ollama.tags_raw":                  `["Fox","pine trees","rating:general","snow_field"]`,
		"ollama.quality.score":             "74",
		"ollama.quality.flags":             `["noise","jpeg_artifacts"]`,
		"ollama.domain.type":               "photo",
		"ollama.domain.confidence":         "0.86",
		"ollama.nsfw.score":                "0.02",
		"ollama.nsfw.category":             "safe",
		"ollama.prompt_recon.tags_source":  "normalized",
		"ollama.prompt_recon.style_tokens": `["photo","dusk"]`,
		"ollama.embed.text.dims":           "768",
		"ollama.stage_version":             ollama.StageVersion,
		"ollama.last_run_at":               "2026-01-02T03:04:05Z",
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %q, want %q", k, m[k], v)
		}
	}
	// caption.meta keeps contradictions/missing as arrays, not strings.
	var cm struct {
		Missing  []string `json:"missing"`
		ResultID int64    `json:"result_id"`
	}
	if err := json.Unmarshal([]byte(m["ollama.caption.meta"]), &cm); err != nil || len(cm.Missing) != 1 || cm.ResultID == 0 {
		t.Errorf("caption.meta = %s (%v)", m["ollama.caption.meta"], err)
	}
	// prompt_recon saw the normalised tags and caption from earlier modes.
	recon := r.fake.RequestsTo("/api/generate")
	last := recon[len(recon)-1].JSON["prompt"].(string)
	for _, s := range []string{"Tags: fox, pine forest, snow", "Caption: A red fox", "Original prompt (may be empty): red fox"} {
		if !bytes.Contains([]byte(last), []byte(s)) {
			t.Errorf("prompt_recon prompt lacks %q:\n%s", s, last)
		}
	}
	// The embedded text is built from stored results; the vector is stored once.
	if n := r.count(t, `SELECT count(*) FROM ollama_vectors WHERE media_id=?`, id); n != 1 {
		t.Errorf("vectors = %d", n)
	}
	embedIn := r.fake.RequestsTo("/api/embed")[0].JSON["input"].(string)
	if !bytes.HasPrefix([]byte(embedIn), []byte("caption: A red fox")) {
		t.Errorf("embed input = %q", embedIn)
	}
	// prompt_eval score keeps its 0..100 scale, quality too; score column is numeric.
	var score float64
	if err := r.db.QueryRow(`SELECT score FROM ollama_results WHERE media_id=? AND mode='nsfw_classify'`, id).Scan(&score); err != nil || score != 0.02 {
		t.Errorf("nsfw score column = %v (%v)", score, err)
	}

	// A second embed with unchanged inputs is deduped without an HTTP call.
	before := len(r.fake.RequestsTo("/api/embed"))
	out, err := r.proc.Process(ctx, ollama.ModeEmbed, in, ollama.JobRef{})
	if err != nil || !out.Deduped {
		t.Fatalf("embed again: %+v %v", out, err)
	}
	if len(r.fake.RequestsTo("/api/embed")) != before {
		t.Error("deduped embed made an HTTP call")
	}

	// Re-running caption with the same answer appends no unchanged meta.
	metaBefore := r.count(t, `SELECT count(*) FROM media_meta WHERE media_id=? AND meta_key='ollama.caption'`, id)
	if _, err := r.proc.Process(ctx, ollama.ModeCaption, in, ollama.JobRef{}); err != nil {
		t.Fatal(err)
	}
	if n := r.count(t, `SELECT count(*) FROM media_meta WHERE media_id=? AND meta_key='ollama.caption'`, id); n != metaBefore {
		t.Errorf("unchanged caption appended again: %d → %d", metaBefore, n)
	}
	if n := r.count(t, `SELECT count(*) FROM ollama_results WHERE media_id=? AND mode='caption'`, id); n != 2 {
		t.Errorf("result history rows = %d, want 2", n)
	}
}

func TestDeleteEmbedRemovesVectorsAndMeta(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	id := addMedia(t, r.db, "image")
	in := ollama.Inputs{MediaID: id, Caption: "a fox"}
	if _, err := r.proc.Process(ctx, ollama.ModeEmbed, in, ollama.JobRef{}); err != nil {
		t.Fatal(err)
	}
	c, err := r.store.DeleteResults(ctx, id, ollama.ModeEmbed)
	if err != nil {
		t.Fatal(err)
	}
	if c.DeletedResults != 1 || c.DeletedMeta != 5 || c.DeletedVectors != 1 {
		t.Errorf("counts = %+v", c)
	}
	if n := r.count(t, `SELECT count(*) FROM ollama_vectors`); n != 0 {
		t.Errorf("orphaned vectors: %d", n)
	}
	if got := r.meta(t, id, "ollama.stage_version")["ollama.stage_version"]; got == "" {
		t.Error("stage_version must be kept")
	}
	// Deleting the media cascades (foreign keys on).
	if _, err := r.proc.Process(ctx, ollama.ModeEmbed, in, ollama.JobRef{}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.db.Exec(`DELETE FROM media WHERE id=?`, id); err != nil {
		t.Fatal(err)
	}
	if n := r.count(t, `SELECT count(*) FROM ollama_vectors`) + r.count(t, `SELECT count(*) FROM ollama_results`); n != 0 {
		t.Errorf("rows left after media delete: %d", n)
	}
}

func TestParseDegradationAndFailures(t *testing.T) {
	cases := []struct {
		name      string
		fault     ollamatest.Fault
		mode      ollama.Mode
		code      string // "" = success
		degraded  bool
		keepsText bool
	}{
		{"fenced JSON parses", ollamatest.FaultFenced, ollama.ModeQuality, "", false, false},
		{"only required keys → degraded", ollamatest.FaultDegraded, ollama.ModeQuality, "", true, false},
		{"degraded nsfw derives category", ollamatest.FaultDegraded, ollama.ModeNSFWClassify, "", true, false},
		{"prose → parse_error", ollamatest.FaultNoJSONAnswer, ollama.ModeCaption, ollama.CodeParseError, false, true},
		{"truncated → parse_error", ollamatest.FaultTruncated, ollama.ModeTagsNormalize, ollama.CodeParseError, false, true},
		{"empty → parse_error", ollamatest.FaultEmpty, ollama.ModeTitle, ollama.CodeParseError, false, false},
		{"non-JSON body → invalid_json", ollamatest.FaultNonJSONBody, ollama.ModeTitle, ollama.CodeInvalidJSON, false, false},
		{"model missing", ollamatest.FaultModelMissing, ollama.ModeCaption, ollama.CodeHTTP404Model, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			id := addMedia(t, r.db, "image")
			r.fake.SetFault(tc.fault, 1, "/api/generate")
			in := ollama.Inputs{MediaID: id, MediaType: "image", Image: pngBytes(t, 8, 8, false), Tags: []string{"fox"}}
			out, err := r.proc.Process(context.Background(), tc.mode, in, ollama.JobRef{})
			if got := reason.Code(err); got != tc.code {
				t.Fatalf("code = %q (%v), want %q", got, err, tc.code)
			}
			if tc.code == "" {
				if out.Saved.ParseError != tc.degraded {
					t.Errorf("parse_error = %v, want %v (%v)", out.Saved.ParseError, tc.degraded, out.Result.Output.Problems)
				}
				return
			}
			if tc.code == ollama.CodeParseError && reason.KindOf(err) != reason.KindTransient {
				t.Error("parse_error must be transient (retried once)")
			}
			if raw := ollama.RawOutput(err); (raw != "") != tc.keepsText {
				t.Errorf("raw output kept = %q", raw)
			}
			// Final failure is recorded with the raw answer and marks the mode as ran.
			if _, err := r.store.SaveFailure(context.Background(), id, tc.mode, "llava:latest", err, ollama.JobRef{JobID: 3}); err != nil {
				t.Fatal(err)
			}
			if got := r.meta(t, id, tc.mode.OutputKey())[tc.mode.OutputKey()]; !bytes.Contains([]byte(got), []byte(`"parse_error":true`)) {
				t.Errorf("failure meta = %q", got)
			}
		})
	}
}

func TestImageDownscaleAndTooLarge(t *testing.T) {
	big := pngBytes(t, 600, 600, true)
	r := newRig(t, func(c *ollama.Config) { c.MaxImageBytes = 60_000 })
	id := addMedia(t, r.db, "image")
	out, err := r.proc.Process(context.Background(), ollama.ModeCaption,
		ollama.Inputs{MediaID: id, MediaType: "image", Image: big}, ollama.JobRef{})
	if err != nil {
		t.Fatal(err)
	}
	if out.Result.ImageSource != "path_downscaled" {
		t.Errorf("image source = %q", out.Result.ImageSource)
	}
	sent := r.fake.RequestsTo("/api/generate")[0].JSON["images"].([]any)[0].(string)
	if n := len(sent) * 3 / 4; n > 60_000 || n == 0 {
		t.Errorf("sent %d bytes, limit 60000 (original %d)", n, len(big))
	}

	// Over the pixel budget: permanent too_large_for_vision, marked once, no HTTP call.
	r2 := newRig(t, func(c *ollama.Config) { c.MaxImageBytes = 1000; c.MaxImagePixels = 10_000 })
	id2 := addMedia(t, r2.db, "image")
	for range 2 {
		_, err = r2.proc.Process(context.Background(), ollama.ModeQuality,
			ollama.Inputs{MediaID: id2, MediaType: "image", Image: big}, ollama.JobRef{})
		if reason.Code(err) != ollama.CodeTooLargeForVision || !reason.IsPermanent(err) {
			t.Fatalf("err = %v", err)
		}
	}
	if n := r2.count(t, `SELECT count(*) FROM media_meta WHERE media_id=? AND meta_key='ollama.too_large_for_vision'`, id2); n != 1 {
		t.Errorf("too_large meta rows = %d, want 1", n)
	}
	if len(r2.fake.RequestsTo("/api/generate")) != 0 {
		t.Error("oversized image was sent")
	}
}

func TestVideoWithoutFrameIsPermanent(t *testing.T) {
	r := newRig(t)
	id := addMedia(t, r.db, "video")
	_, err := r.proc.Process(context.Background(), ollama.ModeCaption, ollama.Inputs{MediaID: id, MediaType: "video"}, ollama.JobRef{})
	if reason.Code(err) != ollama.CodeUnsupportedMedia || !reason.IsPermanent(err) {
		t.Fatalf("err = %v", err)
	}
	_, err = r.proc.Process(context.Background(), ollama.ModePromptEval,
		ollama.Inputs{MediaID: id, MediaType: "image", Image: pngBytes(t, 4, 4, false)}, ollama.JobRef{})
	if reason.Code(err) != ollama.CodeMissingInput || !reason.IsPermanent(err) {
		t.Fatalf("prompt_eval without prompt: %v", err)
	}
}

func TestNSFWFeedsMediaWhenConfigured(t *testing.T) {
	for _, feed := range []bool{false, true} {
		r := newRig(t, func(c *ollama.Config) { c.NSFWUpdatesMedia = feed })
		id := addMedia(t, r.db, "image")
		r.fake.SetAnswer("nsfw_classify", `{"nsfw_score":0.97,"nsfw_flags":["nudity"],"category":"NSFW","rationale_short":"x"}`)
		out, err := r.proc.Process(context.Background(), ollama.ModeNSFWClassify,
			ollama.Inputs{MediaID: id, MediaType: "image", Image: pngBytes(t, 4, 4, false)}, ollama.JobRef{})
		if err != nil {
			t.Fatal(err)
		}
		var has, rating int
		if err := r.db.QueryRow(`SELECT has_nsfw, rating FROM media WHERE id=?`, id).Scan(&has, &rating); err != nil {
			t.Fatal(err)
		}
		if feed && (has != 1 || rating != 3 || !out.Saved.MediaUpdated) {
			t.Errorf("feed on: has_nsfw=%d rating=%d", has, rating)
		}
		if !feed && (has != 0 || rating != 0) {
			t.Errorf("feed off changed media: has_nsfw=%d rating=%d", has, rating)
		}
		if got := r.meta(t, id, "ollama.nsfw.category")["ollama.nsfw.category"]; got != "explicit" {
			t.Errorf("category = %q", got)
		}
	}
}

func TestHangingRequestTimesOut(t *testing.T) {
	r := newRig(t, func(c *ollama.Config) { c.TimeoutMSVision = 100 })
	id := addMedia(t, r.db, "image")
	r.fake.SetFault(ollamatest.FaultHang, -1, "/api/generate")
	_, err := r.proc.Process(context.Background(), ollama.ModeCaption,
		ollama.Inputs{MediaID: id, MediaType: "image", Image: pngBytes(t, 4, 4, false)}, ollama.JobRef{})
	if reason.Code(err) != ollama.CodeTimeout {
		t.Fatalf("err = %v", err)
	}
}

// TestNSFWClassifyKeepsManualDecision: a person's "safe" (issue #17 item
// 1) is not raised by an explicit verdict; the unrated media still gets
// the model's rating.
func TestNSFWClassifyKeepsManualDecision(t *testing.T) {
	r := newRig(t, func(c *ollama.Config) { c.NSFWUpdatesMedia = true })
	id := addMedia(t, r.db, "image")
	if _, err := media.SetMeta(context.Background(), r.db, id, media.SourceWeb, media.MetaNSFWManual, "0", time.Now()); err != nil {
		t.Fatal(err)
	}
	r.fake.SetAnswer("nsfw_classify", `{"nsfw_score":0.97,"nsfw_flags":["nudity"],"category":"NSFW","rationale_short":"x"}`)
	if _, err := r.proc.Process(context.Background(), ollama.ModeNSFWClassify,
		ollama.Inputs{MediaID: id, MediaType: "image", Image: pngBytes(t, 4, 4, false)}, ollama.JobRef{}); err != nil {
		t.Fatal(err)
	}
	var has, rating int
	if err := r.db.QueryRow(`SELECT has_nsfw, rating FROM media WHERE id=?`, id).Scan(&has, &rating); err != nil {
		t.Fatal(err)
	}
	if has != 0 || rating != 3 {
		t.Fatalf("has_nsfw=%d rating=%d, want the manual 0 kept and rating 3", has, rating)
	}
}

// TestNSFWClassifyRespectsLockUntilUnlocked (#23 item 7): a person's 18+
// decision stays against a safe verdict, a safe decision against an
// explicit one; once unlocked (media.UnlockNSFW) the explicit verdict
// raises has_nsfw again.
func TestNSFWClassifyRespectsLockUntilUnlocked(t *testing.T) {
	const explicit = `{"nsfw_score":0.97,"nsfw_flags":["nudity"],"category":"explicit","rationale_short":"x"}`
	const safe = `{"nsfw_score":0.01,"nsfw_flags":[],"category":"safe","rationale_short":"x"}`
	for _, tc := range []struct {
		name     string
		decided  string // the person's decision ("1" 18+, "0" safe)
		unlock   bool
		answer   string
		wantNSFW int
	}{
		{"18+ kept against safe", "1", false, safe, 1},
		{"safe kept against explicit", "0", false, explicit, 0},
		{"unlocked: explicit raises", "0", true, explicit, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			r := newRig(t, func(c *ollama.Config) { c.NSFWUpdatesMedia = true })
			id := addMedia(t, r.db, "image")
			if _, err := r.db.Exec(`UPDATE media SET has_nsfw = ? WHERE id = ?`, tc.decided == "1", id); err != nil {
				t.Fatal(err)
			}
			if _, err := media.SetMeta(ctx, r.db, id, media.SourceWeb, media.MetaNSFWManual, tc.decided, time.Now()); err != nil {
				t.Fatal(err)
			}
			if tc.unlock {
				if had, err := media.UnlockNSFW(ctx, r.db, id, time.Now()); err != nil || !had {
					t.Fatalf("unlock: %v %v", had, err)
				}
			}
			r.fake.SetAnswer("nsfw_classify", tc.answer)
			if _, err := r.proc.Process(ctx, ollama.ModeNSFWClassify,
				ollama.Inputs{MediaID: id, MediaType: "image", Image: pngBytes(t, 4, 4, false)}, ollama.JobRef{}); err != nil {
				t.Fatal(err)
			}
			var has int
			if err := r.db.QueryRow(`SELECT has_nsfw FROM media WHERE id=?`, id).Scan(&has); err != nil {
				t.Fatal(err)
			}
			if has != tc.wantNSFW {
				t.Fatalf("has_nsfw=%d, want %d", has, tc.wantNSFW)
			}
		})
	}
}
