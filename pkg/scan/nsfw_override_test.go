package scan_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/library"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/scan"
	"github.com/localsupervisor/supervisor/pkg/scanner"
	"github.com/localsupervisor/supervisor/pkg/scanner/scannertest"
	"github.com/localsupervisor/supervisor/pkg/svtest/pngtest"
)

// TestNSFWOverrideSurvivesTaggerResults (issue #23 item 7): a person's
// 18+ decision on a media the tagger calls safe survives both automatic
// writers of has_nsfw in this package: a rescan (the file stays in the
// 18+ root, it is not moved back) and the tagger's verdict on the edited
// content of an in-place file.
func TestNSFWOverrideSurvivesTaggerResults(t *testing.T) {
	ctx := context.Background()
	t.Run("rescan", func(t *testing.T) {
		d, roots, im, _ := taggedImporter(t, 0.1)
		data := pngtest.PNG(12, 12, 21)
		out := importPNG(t, im, data)
		adult, err := media.SetNSFW(ctx, d, roots, out.MediaID, true, t0)
		if want := library.CanonicalPath(roots, "image", true, md5hex(data), "png"); err != nil || adult != want {
			t.Fatalf("SetNSFW: %s %v, want %s", adult, err, want)
		}
		if _, err := im.RescanMedia(ctx, out.MediaID); err != nil {
			t.Fatal(err)
		}
		m, _ := media.Get(ctx, d, out.MediaID)
		if !m.HasNSFW || m.Path != adult {
			t.Fatalf("after rescan: has_nsfw=%v path=%s, want the 18+ decision at %s", m.HasNSFW, m.Path, adult)
		}
		if _, err := os.Stat(adult); err != nil {
			t.Fatalf("file moved back: %v", err)
		}
	})
	t.Run("in-place edit re-tagged", func(t *testing.T) {
		d := openDB(t)
		fake := scannertest.New(t, scannertest.Options{NSFWScore: 0.1})
		cfg := scanner.DefaultConfig()
		cfg.BaseURL, cfg.Token = fake.URL, "x"
		im := newImporter(d, testRoots(t), scan.ModeInPlace)
		im.Tagger = scanner.New(cfg, nil)
		dir := t.TempDir()
		p := filepath.Join(dir, "a.png")
		os.WriteFile(p, pngtest.PNG(8, 8, 1), 0o644)
		if s, err := im.ScanPath(ctx, dir, scan.RunOptions{}); err != nil || s.Imported != 1 {
			t.Fatalf("%+v %v", s, err)
		}
		m, _ := media.ActiveAt(ctx, d, p)
		// In place: outside the library roots, so the decision moves nothing.
		if _, err := media.SetNSFW(ctx, d, im.Roots, m.ID, true, t0); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(p, pngtest.PNG(16, 12, 2), 0o644)
		later := time.Now().Add(time.Minute)
		os.Chtimes(p, later, later)
		if s, err := im.ScanPath(ctx, dir, scan.RunOptions{}); err != nil || s.Imported != 1 {
			t.Fatalf("second scan: %+v %v", s, err)
		}
		got, _ := media.ActiveAt(ctx, d, p)
		if got.ID != m.ID || !got.HasNSFW || got.Path != p {
			t.Fatalf("after the tagger's safe verdict: %+v", got)
		}
	})
}

// TestUnlockNSFWLetsRescanDecide (issue #23 item 7): unlocking a person's
// decision changes nothing by itself (an audit row says it was lifted);
// the next rescan applies the tagger's verdict again and moves the file
// to the matching root.
func TestUnlockNSFWLetsRescanDecide(t *testing.T) {
	ctx := context.Background()
	d, roots, im, _ := taggedImporter(t, 0.99)
	data := pngtest.PNG(12, 12, 33)
	out := importPNG(t, im, data)
	safe, err := media.SetNSFW(ctx, d, roots, out.MediaID, false, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := im.RescanMedia(ctx, out.MediaID); err != nil {
		t.Fatal(err)
	}
	if m, _ := media.Get(ctx, d, out.MediaID); m.HasNSFW || m.Path != safe {
		t.Fatalf("locked safe lost on rescan: %+v", m)
	}
	had, err := media.UnlockNSFW(ctx, d, out.MediaID, t0)
	if err != nil || !had {
		t.Fatalf("unlock: %v %v", had, err)
	}
	if m, _ := media.Get(ctx, d, out.MediaID); m.HasNSFW || m.Path != safe {
		t.Fatalf("unlock alone changed the media: %+v", m)
	}
	var audits int
	d.QueryRow(`SELECT COUNT(*) FROM audit_log WHERE action='media_nsfw_unlock' AND entity_id=?`, out.MediaID).Scan(&audits)
	if audits != 1 {
		t.Fatalf("%d unlock audit rows, want 1", audits)
	}
	if had, err := media.UnlockNSFW(ctx, d, out.MediaID, t0); err != nil || had {
		t.Fatalf("second unlock: %v %v, want nothing to unlock", had, err)
	}
	res, err := im.RescanMedia(ctx, out.MediaID)
	if err != nil {
		t.Fatal(err)
	}
	adult := library.CanonicalPath(roots, "image", true, md5hex(data), "png")
	if m, _ := media.Get(ctx, d, out.MediaID); !m.HasNSFW || m.Path != adult || res.PathAfter != adult {
		t.Fatalf("after unlock the rescan's verdict must apply: %+v", m)
	}
	if _, err := os.Stat(adult); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(safe); !os.IsNotExist(err) {
		t.Fatalf("old copy left at %s: %v", safe, err)
	}
}

// importPNG imports data as a new file through im and returns the outcome.
func importPNG(t *testing.T, im *scan.Importer, data []byte) scan.Outcome {
	t.Helper()
	p := filepath.Join(t.TempDir(), "a.png")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := im.ImportFile(context.Background(), p)
	if err != nil || out.Status != scan.StatusImported {
		t.Fatalf("%+v %v", out, err)
	}
	return out
}
