package scan_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/library"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/scan"
	"github.com/localsupervisor/supervisor/pkg/scanner"
	"github.com/localsupervisor/supervisor/pkg/scanner/scannertest"
	"github.com/localsupervisor/supervisor/pkg/svtest/pngtest"
)

func TestRescanMovesCanonicalKeepsLockedTags(t *testing.T) {
	ctx := context.Background()
	d := openDB(t)
	roots := testRoots(t)
	fake := scannertest.New(t, scannertest.Options{NSFWScore: 0.1})
	cfg := scanner.DefaultConfig()
	cfg.BaseURL, cfg.Token = fake.URL, "x"
	im := newImporter(d, roots, scan.ModeMove)
	im.Tagger = scanner.New(cfg, nil)
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
