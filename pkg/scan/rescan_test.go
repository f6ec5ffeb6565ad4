package scan_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/library"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/scan"
	"github.com/localsupervisor/supervisor/pkg/scanner"
	"github.com/localsupervisor/supervisor/pkg/scanner/scannertest"
	"github.com/localsupervisor/supervisor/pkg/svtest/pngtest"
)

// taggedImporter is a move-mode importer with a fake tagger answering
// score.
func taggedImporter(t *testing.T, score float64) (*sql.DB, library.Roots, *scan.Importer, *scannertest.Server) {
	t.Helper()
	d := openDB(t)
	roots := testRoots(t)
	fake := scannertest.New(t, scannertest.Options{NSFWScore: score})
	cfg := scanner.DefaultConfig()
	cfg.BaseURL, cfg.Token = fake.URL, "x"
	im := newImporter(d, roots, scan.ModeMove)
	im.Tagger = scanner.New(cfg, nil)
	return d, roots, im, fake
}

func TestRescanMovesCanonicalKeepsLockedTags(t *testing.T) {
	ctx := context.Background()
	d, roots, im, fake := taggedImporter(t, 0.1)
	p := filepath.Join(t.TempDir(), "a.png")
	data := pngtest.WithText(pngtest.PNG(12, 12, 4), "parameters", a1111)
	os.WriteFile(p, data, 0o644)
	out, err := im.ImportFile(ctx, p)
	if err != nil || out.Status != scan.StatusImported {
		t.Fatalf("%+v %v", out, err)
	}
	if _, err := media.AddTag(ctx, d, out.MediaID, "keep me", "", 0.5, true); err != nil {
		t.Fatal(err)
	}
	fake.SetOptions(scannertest.Options{NSFWScore: 0.99})
	res, err := im.RescanMedia(ctx, out.MediaID)
	if err != nil {
		t.Fatal(err)
	}
	want := library.CanonicalPath(roots, "image", true, md5hex(data), "png")
	if !res.HasNSFW || res.Rating != 3 || res.PathAfter != want {
		t.Fatalf("%+v want path %s", res, want)
	}
	if _, err := os.Stat(want); err != nil {
		t.Fatal(err)
	}
	tags, _ := media.Tags(ctx, d, out.MediaID)
	if len(tags) == 0 || tags[0].Name != "keep me" || !tags[0].Locked || tags[0].Confidence != 0.5 {
		t.Fatalf("locked tag lost: %+v", tags)
	}
	// Missing file → status missing, failed scan_result.
	os.Remove(want)
	if _, err := im.RescanMedia(ctx, out.MediaID); err == nil {
		t.Fatal("rescan of missing file succeeded")
	}
	m, _ := media.Get(ctx, d, out.MediaID)
	if m.Status != "missing" {
		t.Fatalf("status %s", m.Status)
	}
}

func TestPromptsRebuildIdempotent(t *testing.T) {
	ctx := context.Background()
	d := openDB(t)
	im := newImporter(d, testRoots(t), scan.ModeInPlace)
	dir := t.TempDir()
	for i, name := range []string{"a.png", "b.png"} {
		os.WriteFile(filepath.Join(dir, name), pngtest.WithText(pngtest.PNG(8, 8, uint8(i)), "parameters", a1111+name), 0o644)
	}
	ex := im.Extract
	im.Extract = nil // import without metadata
	if _, err := im.ScanPath(ctx, dir, scan.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	im.Extract = ex
	s1, err := im.PromptsRebuild(ctx, scan.RebuildOptions{})
	if err != nil || s1.Total != 2 || s1.Processed != 2 {
		t.Fatalf("first %+v %v", s1, err)
	}
	s2, err := im.PromptsRebuild(ctx, scan.RebuildOptions{})
	if err != nil || s2.Total != 0 {
		t.Fatalf("second run must do nothing: %+v %v", s2, err)
	}
	s3, _ := im.PromptsRebuild(ctx, scan.RebuildOptions{Force: true})
	var hist, meta int
	d.QueryRow(`SELECT COUNT(*) FROM prompt_history`).Scan(&hist)
	d.QueryRow(`SELECT COUNT(*) FROM media_meta WHERE meta_key='parameters'`).Scan(&meta)
	if s3.Processed != 2 || s3.Changed != 0 || hist != 2 || meta != 2 {
		t.Fatalf("forced rerun appended: %+v hist=%d meta=%d", s3, hist, meta)
	}
}

// TestRescanKeepsManualNSFWDecision (issue #17 item 1): a person's 18+ or
// safe decision survives a rescan whose tagger says otherwise: has_nsfw
// and the file's place stay, the tags are refreshed.
func TestRescanKeepsManualNSFWDecision(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tagger float64 // the tagger's nsfw score, before and after
		manual bool
	}{
		{"adult over safe verdict", 0.1, true},
		{"safe over adult verdict", 0.99, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			d, roots, im, _ := taggedImporter(t, tc.tagger)
			p := filepath.Join(t.TempDir(), "a.png")
			os.WriteFile(p, pngtest.PNG(12, 12, 9), 0o644)
			out, err := im.ImportFile(ctx, p)
			if err != nil || out.Status != scan.StatusImported {
				t.Fatalf("%+v %v", out, err)
			}
			// The function the web's toggle_nsfw action calls.
			decided, err := media.SetNSFW(ctx, d, roots, out.MediaID, tc.manual, t0)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 2 {
				res, err := im.RescanMedia(ctx, out.MediaID)
				if err != nil {
					t.Fatal(err)
				}
				m, _ := media.Get(ctx, d, out.MediaID)
				if m.HasNSFW != tc.manual || res.HasNSFW != tc.manual || m.Path != decided {
					t.Fatalf("rescan %d: has_nsfw=%v path=%s, want %v at %s", i, m.HasNSFW, m.Path, tc.manual, decided)
				}
				if _, err := os.Stat(decided); err != nil {
					t.Fatalf("rescan %d moved the file: %v", i, err)
				}
			}
		})
	}
}

// TestMarkMissingAcrossBatches: more vanished files than one markMissing
// write transaction takes (issue #17 item 23) are all marked missing and
// their fingerprints forgotten; the files still present stay active.
func TestMarkMissingAcrossBatches(t *testing.T) {
	ctx := context.Background()
	d := openDB(t)
	im := newImporter(d, testRoots(t), scan.ModeInPlace)
	im.Extract = nil
	dir := t.TempDir()
	const n = 600 // > 2 batches
	for i := range n {
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d.png", i)), pngtest.PNG(3+i/256, 2, uint8(i)), 0o644)
	}
	if s, err := im.ScanPath(ctx, dir, scan.RunOptions{}); err != nil || s.Imported != n {
		t.Fatalf("%+v %v", s, err)
	}
	for i := range n - 1 {
		os.Remove(filepath.Join(dir, fmt.Sprintf("f%03d.png", i)))
	}
	s, err := im.ScanPath(ctx, dir, scan.RunOptions{})
	if err != nil || s.Missing != n-1 {
		t.Fatalf("%+v %v", s, err)
	}
	var missing, active, files int
	d.QueryRow(`SELECT COUNT(*) FROM media WHERE status='missing'`).Scan(&missing)
	d.QueryRow(`SELECT COUNT(*) FROM media WHERE status='active'`).Scan(&active)
	d.QueryRow(`SELECT COUNT(*) FROM scan_files`).Scan(&files)
	if missing != n-1 || active != 1 || files != 1 {
		t.Fatalf("missing=%d active=%d scan_files=%d", missing, active, files)
	}
}

// TestReadersRefuseSymlinkOutside (issue #17 item 20): a library file
// replaced by a symlink to an outside file with a prompt is read neither
// by prompts rebuild nor by rescan (the web UI's rule, sources.Readable):
// the outside text never lands in the catalogue, the tagger never sees
// the file.
func TestReadersRefuseSymlinkOutside(t *testing.T) {
	ctx := context.Background()
	d, _, im, fake := taggedImporter(t, 0.1)
	p := filepath.Join(t.TempDir(), "a.png")
	os.WriteFile(p, pngtest.PNG(12, 12, 4), 0o644)
	out, err := im.ImportFile(ctx, p)
	if err != nil || out.Status != scan.StatusImported {
		t.Fatalf("%+v %v", out, err)
	}
	outside := filepath.Join(t.TempDir(), "secret.png")
	os.WriteFile(outside, pngtest.WithText(pngtest.PNG(12, 12, 5), "parameters", "outside secret prompt\nSteps: 20"), 0o644)
	os.Remove(out.Dest)
	if err := os.Symlink(outside, out.Dest); err != nil {
		t.Fatal(err)
	}
	calls := len(fake.Requests())
	s, err := im.PromptsRebuild(ctx, scan.RebuildOptions{Force: true})
	if err != nil || s.Processed != 0 || s.Refused != 1 {
		t.Fatalf("prompts rebuild read through the link: %+v %v", s, err)
	}
	if _, err := im.RescanMedia(ctx, out.MediaID); reason.Code(err) != library.CodeOutsideRoots {
		t.Fatalf("rescan through the link: %v", err)
	}
	if n := len(fake.Requests()); n != calls {
		t.Fatalf("tagger saw the outside file (%d calls)", n-calls)
	}
	var n int
	d.QueryRow(`SELECT (SELECT COUNT(*) FROM prompts WHERE prompt LIKE '%secret%') + (SELECT COUNT(*) FROM media_meta WHERE meta_value LIKE '%secret%')`).Scan(&n)
	if n != 0 {
		t.Fatalf("outside text in the catalogue (%d rows)", n)
	}
}
