package media_test

import (
	"context"
	"database/sql"
	"fmt"
	"github.com/localsupervisor/supervisor/pkg/db/dbtest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/library"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/sdmeta"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func openDB(t testing.TB) *sql.DB {
	t.Helper()
	d := dbtest.Open(t, filepath.Join(t.TempDir(), "t.sqlite"))
	return d
}

func mustMedia(t testing.TB, d *sql.DB, path, hash string) int64 {
	t.Helper()
	id, err := media.Insert(context.Background(), d, media.NewMedia{Path: path, Type: "image", Hash: hash, Filesize: 3}, t0)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func count(t testing.TB, d *sql.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := d.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSetMetaNeverAppendsUnchanged(t *testing.T) {
	ctx := context.Background()
	d := openDB(t)
	id := mustMedia(t, d, "/x/a.png", "aa11")
	steps := []struct {
		key, val string
		wrote    bool
	}{
		{"k", "1", true}, {"k", "1", false}, {"k", "2", true}, {"k", "1", true}, {"other", "1", true},
	}
	for i, s := range steps {
		w, err := media.SetMeta(ctx, d, id, "web", s.key, s.val, t0)
		if err != nil || w != s.wrote {
			t.Fatalf("step %d: wrote=%v err=%v, want %v", i, w, err, s.wrote)
		}
	}
	if v, _, _ := media.GetMeta(ctx, d, id, "k"); v != "1" {
		t.Fatalf("newest wins: got %q", v)
	}
	n, err := media.SetMetaPairs(ctx, d, id, []media.MetaPair{{"x", "k", "1"}, {"x", "n", "a"}, {"x", "n", "b"}}, t0)
	if err != nil || n != 1 {
		t.Fatalf("pairs wrote %d (%v), want 1 (k unchanged, n last-wins)", n, err)
	}
	if v, _, _ := media.GetMeta(ctx, d, id, "n"); v != "b" {
		t.Fatalf("n=%q", v)
	}
	for i := 0; i < 3; i++ {
		if _, err := media.IncMetaInt(ctx, d, id, "web", "activity.clicks", 1, t0); err != nil {
			t.Fatal(err)
		}
	}
	if v, _, _ := media.GetMeta(ctx, d, id, "activity.clicks"); v != "3" {
		t.Fatalf("clicks=%q", v)
	}
	if w, _ := media.SetMetaIfAbsent(ctx, d, id, "import", "k", "zzz", t0); w {
		t.Fatal("SetMetaIfAbsent overwrote")
	}
}

func TestInsertNewMetaPairs(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name  string
		pairs []media.MetaPair
		want  map[string]string
		rows  int
	}{
		{"none", nil, map[string]string{}, 0},
		{"distinct", []media.MetaPair{{"import", "a", "1"}, {"scanner", "b", "2"}}, map[string]string{"a": "1", "b": "2"}, 2},
		{"last wins", []media.MetaPair{{"x", "n", "a"}, {"x", "k", "1"}, {"x", "n", "b"}}, map[string]string{"n": "b", "k": "1"}, 2},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := openDB(t)
			id := mustMedia(t, d, fmt.Sprintf("/x/%d.png", i), fmt.Sprintf("bb%02d", i))
			n, err := media.InsertNewMetaPairs(ctx, d, id, c.pairs, t0)
			if err != nil || n != c.rows {
				t.Fatalf("wrote %d (%v), want %d", n, err, c.rows)
			}
			got, err := media.AllMeta(ctx, d, id)
			if err != nil {
				t.Fatal(err)
			}
			var rows int
			if err := d.QueryRow(`SELECT count(*) FROM media_meta WHERE media_id=?`, id).Scan(&rows); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) || rows != c.rows {
				t.Fatalf("meta %v (%d rows), want %v (%d)", got, rows, c.want, c.rows)
			}
		})
	}
}

func TestTags(t *testing.T) {
	ctx := context.Background()
	d := openDB(t)
	id := mustMedia(t, d, "/x/a.png", "aa11")
	n, err := media.UpsertTags(ctx, d, id, []media.TagInput{{Name: "cat", Confidence: 0.5}, {Name: "CAT", Confidence: 0.9}, {Name: "dog", Confidence: 0}, {Name: " ", Confidence: 1}})
	if err != nil || n != 1 {
		t.Fatalf("upsert n=%d err=%v", n, err)
	}
	tagID, err := media.AddTag(ctx, d, id, "manual", "", 0, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := media.RemoveTag(ctx, d, id, tagID); reason.Code(err) != media.CodeTagLocked {
		t.Fatalf("remove locked: %v", err)
	}
	// A rescan replaces only unlocked tags, and never the locked confidence.
	if _, err := media.ReplaceScannerTags(ctx, d, id, []media.TagInput{{Name: "manual", Confidence: 0.1}, {Name: "bird", Confidence: 0.7}}); err != nil {
		t.Fatal(err)
	}
	tags, _ := media.Tags(ctx, d, id)
	got := map[string]float64{}
	for _, tg := range tags {
		got[tg.Name] = tg.Confidence
	}
	if _, ok := got["cat"]; ok || got["manual"] != 1.0 || got["bird"] != 0.7 || len(got) != 2 {
		t.Fatalf("tags after rescan: %v", got)
	}
	if err := media.LockTag(ctx, d, id, tagID, false); err != nil {
		t.Fatal(err)
	}
	if err := media.RemoveTag(ctx, d, id, tagID); err != nil {
		t.Fatal(err)
	}
	if err := media.LockTag(ctx, d, id, tagID, true); reason.Code(err) != media.CodeTagNotFound {
		t.Fatalf("lock missing: %v", err)
	}
}

func TestAuditRedacts(t *testing.T) {
	ctx := context.Background()
	d := openDB(t)
	err := media.Audit(ctx, d, media.AuditEntry{Action: "x", EntityType: "media", EntityID: 1, ActorKey: "supersecretkey",
		Details: map[string]any{"api_key": "s3cr3t", "nested": map[string]any{"Authorization": "Bearer abc", "ok": "v"}, "path": "/p"}, At: t0})
	if err != nil {
		t.Fatal(err)
	}
	var det, key string
	d.QueryRow(`SELECT details_json, actor_key FROM audit_log`).Scan(&det, &key)
	if strings.Contains(det, "s3cr3t") || strings.Contains(det, "Bearer") || !strings.Contains(det, `"ok":"v"`) || strings.Contains(key, "supersecret") {
		t.Fatalf("not redacted: %s / %s", det, key)
	}
}

func TestSoftHardDeleteRating(t *testing.T) {
	ctx := context.Background()
	d := openDB(t)
	root := t.TempDir()
	f := filepath.Join(root, "aa", "aa11.png")
	os.MkdirAll(filepath.Dir(f), 0o755)
	os.WriteFile(f, []byte("abc"), 0o644)
	id := mustMedia(t, d, f, "aa11")
	if err := media.SetRating(ctx, d, id, 4); reason.Code(err) != media.CodeInvalidRating {
		t.Fatal("rating 4 accepted")
	}
	if err := media.SetRating(ctx, d, id, 2); err != nil {
		t.Fatal(err)
	}
	if err := media.SoftDelete(ctx, d, id, t0); err != nil {
		t.Fatal(err)
	}
	m, _ := media.Get(ctx, d, id)
	if !m.IsDeleted || m.DeletedAt == "" || m.Rating != 2 {
		t.Fatalf("%+v", m)
	}
	media.Restore(ctx, d, id)
	if m, _ = media.Get(ctx, d, id); m.IsDeleted || m.DeletedAt != "" {
		t.Fatalf("restore: %+v", m)
	}
	removed, err := media.HardDelete(ctx, d, []string{root}, id, t0)
	if err != nil || !removed {
		t.Fatalf("hard delete %v %v", removed, err)
	}
	if _, err := os.Stat(f); !os.IsNotExist(err) {
		t.Fatal("file not removed")
	}
	if _, err := media.Get(ctx, d, id); reason.Code(err) != media.CodeNotFound {
		t.Fatal("row not removed")
	}
}

func TestSetNSFWMovesToCanonical(t *testing.T) {
	ctx := context.Background()
	d := openDB(t)
	base := t.TempDir()
	roots := library.Roots{ImagesSFW: filepath.Join(base, "i"), ImagesNSFW: filepath.Join(base, "i18"), VideosSFW: filepath.Join(base, "v"), VideosNSFW: filepath.Join(base, "v18")}
	hash := "abcdef0123"
	src := library.CanonicalPath(roots, "image", false, hash, "png")
	os.MkdirAll(filepath.Dir(src), 0o755)
	os.WriteFile(src, []byte("img"), 0o644)
	id := mustMedia(t, d, src, hash)
	p, err := media.SetNSFW(ctx, d, roots, id, true, t0)
	if err != nil {
		t.Fatal(err)
	}
	want := library.CanonicalPath(roots, "image", true, hash, "png")
	if p != want {
		t.Fatalf("path %s want %s", p, want)
	}
	if _, err := os.Stat(want); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(src); !os.IsNotExist(err) {
		t.Fatal("old file left")
	}
	m, _ := media.Get(ctx, d, id)
	if !m.HasNSFW || m.Path != want {
		t.Fatalf("%+v", m)
	}
	// Outside the roots: flag only, no move.
	out := filepath.Join(base, "elsewhere.png")
	os.WriteFile(out, []byte("x"), 0o644)
	id2 := mustMedia(t, d, out, "bb22")
	if p, err := media.SetNSFW(ctx, d, roots, id2, true, t0); err != nil || p != out {
		t.Fatalf("outside: %s %v", p, err)
	}
}

func TestPromptsUpdateInPlaceWithHistory(t *testing.T) {
	ctx := context.Background()
	d := openDB(t)
	id := mustMedia(t, d, "/x/a.png", "aa11")
	steps := 20
	r := sdmeta.Result{Prompt: "a cat", Steps: &steps, RawBlock: "a cat\nSteps: 20", Chunks: []sdmeta.Chunk{{Source: "pngtext", Key: "parameters", Value: "a cat\nSteps: 20"}}}
	cases := []struct {
		name        string
		res         sdmeta.Result
		wantVersion int
	}{
		{"first", r, 1},
		{"same again", r, 0},
		{"changed", func() sdmeta.Result { x := r; x.Prompt = "a dog"; return x }(), 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := media.StoreExtraction(ctx, d, id, c.res, media.PromptSourceImport, t0)
			if err != nil {
				t.Fatal(err)
			}
			if res.Version != c.wantVersion {
				t.Fatalf("version %d want %d", res.Version, c.wantVersion)
			}
		})
	}
	if n := count(t, d, `SELECT COUNT(*) FROM prompts WHERE media_id=?`, id); n != 1 {
		t.Fatalf("prompts rows %d, want 1 (updated in place)", n)
	}
	if n := count(t, d, `SELECT COUNT(*) FROM media_meta WHERE media_id=? AND meta_key='parameters'`, id); n != 1 {
		t.Fatalf("parameters meta rows %d, want 1", n)
	}
	_, p, _ := media.CurrentPrompt(ctx, d, id)
	if p.Prompt != "a dog" || p.Steps == nil || *p.Steps != 20 || !strings.Contains(p.SourceMetadata, "extractor_version") {
		t.Fatalf("%+v", p)
	}
	h, _ := media.History(ctx, d, id)
	if len(h) != 2 || h[0].Version != 2 || h[0].Source != "import" {
		t.Fatalf("history %+v", h)
	}
}

func TestLogs(t *testing.T) {
	ctx := context.Background()
	d := openDB(t)
	if err := media.ImportLog(ctx, d, "/a", media.ImportError, "decompression_bomb", t0); err != nil {
		t.Fatal(err)
	}
	if err := media.ConsistencyLog(ctx, d, "c", "warning", "m", t0); err != nil {
		t.Fatal(err)
	}
	if count(t, d, `SELECT COUNT(*) FROM import_log WHERE status='error' AND message='decompression_bomb' AND created_at='2026-01-02T03:04:05Z'`) != 1 {
		t.Fatal("import_log row")
	}
}
