package scan_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/library"
	"github.com/localsupervisor/supervisor/pkg/scan"
	"github.com/localsupervisor/supervisor/pkg/scanner"
	"github.com/localsupervisor/supervisor/pkg/scanner/scannertest"
	"github.com/localsupervisor/supervisor/pkg/svtest"
	"github.com/localsupervisor/supervisor/pkg/svtest/pngtest"
)

func md5hex(b []byte) string { s := md5.Sum(b); return hex.EncodeToString(s[:]) }

func TestImportGeneratedLibrary(t *testing.T) {
	svtest.RequireTool(t, "ffmpeg", "ffprobe")
	for _, mode := range []string{scan.ModeMove, scan.ModeCopy, scan.ModeInPlace} {
		t.Run(mode, func(t *testing.T) {
			ctx := context.Background()
			d := openDB(t)
			roots := testRoots(t)
			l := genLibrary(t, true)
			fake := scannertest.New(t, scannertest.Options{Token: "tok"})
			cfg := scanner.DefaultConfig()
			cfg.BaseURL, cfg.Token = fake.URL, "tok"
			im := newImporter(d, roots, mode)
			im.Tagger = scanner.New(cfg, nil)
			sum, err := im.ScanPath(ctx, l.src, scan.RunOptions{Walk: scan.WalkOptions{FollowSymlinks: true}})
			if err != nil {
				t.Fatal(err)
			}
			// 8 distinct media (fox, jpg, still gif, anim gif, plain, renamed, mp4, webm), 1 dup, 4 errors, 1 text.
			if sum.Imported != 8 || sum.Duplicates != 1 || sum.Errors != 4 || sum.NotMedia != 1 {
				t.Fatalf("summary %+v", sum)
			}
			// The tagger never saw the duplicate.
			if n := len(fake.Requests()); n != 8 {
				t.Errorf("tagger requests %d, want 8", n)
			}
			var nMedia int
			d.QueryRow(`SELECT COUNT(*) FROM media`).Scan(&nMedia)
			if nMedia != 8 {
				t.Fatalf("media rows %d", nMedia)
			}
			errCodes := map[string]string{}
			rows, _ := d.Query(`SELECT path, message FROM import_log WHERE status='error'`)
			for rows.Next() {
				var p, m string
				rows.Scan(&p, &m)
				errCodes[filepath.Base(p)] = m
			}
			rows.Close()
			for name, code := range map[string]string{"zero.png": "empty_file", "bomb.png": "decompression_bomb",
				"not-an-image.png": "unsupported_type", "truncated.png": ""} {
				m, ok := errCodes[name]
				if !ok || (code != "" && len(m) < len(code)) || (code != "" && m[:len(code)] != code) {
					t.Errorf("%s: import_log %q, want %s", name, m, code)
				}
			}
			check := func(rel, typ, ext string, w, h int) {
				t.Helper()
				b := l.files[rel]
				h5 := md5hex(b)
				var path, gotType string
				var gw, gh int
				var size int64
				if err := d.QueryRow(`SELECT path, type, COALESCE(width,0), COALESCE(height,0), filesize FROM media WHERE hash=?`, h5).Scan(&path, &gotType, &gw, &gh, &size); err != nil {
					t.Fatalf("%s: %v", rel, err)
				}
				want := library.CanonicalPath(roots, typ, false, h5, ext)
				if mode == scan.ModeInPlace {
					want = filepath.Join(l.src, rel)
				}
				if path != want || gotType != typ || gw != w || gh != h || size != int64(len(b)) {
					t.Errorf("%s: path=%s type=%s %dx%d size=%d; want %s %s %dx%d", rel, path, gotType, gw, gh, size, want, typ, w, h)
				}
				if got, err := os.ReadFile(path); err != nil || md5hex(got) != h5 {
					t.Errorf("%s: file at %s wrong: %v", rel, path, err)
				}
				_, srcErr := os.Stat(filepath.Join(l.src, rel))
				if (mode == scan.ModeMove) != os.IsNotExist(srcErr) {
					t.Errorf("%s: source presence wrong for %s: %v", rel, mode, srcErr)
				}
			}
			check("fox.png", "image", "png", 64, 48)
			check("ünïcödé bild.jpg", "image", "jpg", 40, 30)
			check("still.gif", "image", "gif", 16, 12)
			check("anim.gif", "video", "gif", 16, 12)
			check("renamed-png.jpg", "image", "png", 8, 8)
			check("clip.mp4", "video", "mp4", 64, 48)
			check("nested/clip.webm", "video", "webm", 32, 24)
			// The duplicate's source leaves the inbox in move mode, put
			// aside under the duplicates folder at its relative path
			// (the original left it to be re-imported on every scan).
			if _, err := os.Stat(filepath.Join(l.src, "nested/deeper/dup of fox.png")); (mode == scan.ModeMove) != os.IsNotExist(err) {
				t.Errorf("duplicate source handling in %s: %v", mode, err)
			}
			if mode == scan.ModeMove {
				aside, err := os.ReadFile(filepath.Join(im.DuplicatesDir, "nested/deeper/dup of fox.png"))
				if err != nil || !bytes.Equal(aside, l.files["nested/deeper/dup of fox.png"]) || sum.DuplicatesMoved != 1 {
					t.Errorf("duplicate not put aside intact: %v, %d moved", err, sum.DuplicatesMoved)
				}
			}
			// Prompts, sha256, tags, rating.
			fox := md5hex(l.files["fox.png"])
			var prompt, neg string
			var steps int
			if err := d.QueryRow(`SELECT p.prompt, p.negative_prompt, p.steps FROM prompts p JOIN media m ON m.id=p.media_id WHERE m.hash=?`, fox).Scan(&prompt, &neg, &steps); err != nil {
				t.Fatal(err)
			}
			if prompt != "a red fox in snow" || neg != "blurry" || steps != 20 {
				t.Errorf("prompt %q %q %d", prompt, neg, steps)
			}
			var sha, rating, tags, hist int
			d.QueryRow(`SELECT COUNT(*) FROM media_meta WHERE meta_key='hash.sha256' AND length(meta_value)=64`).Scan(&sha)
			d.QueryRow(`SELECT COUNT(*) FROM media WHERE rating=1`).Scan(&rating)
			d.QueryRow(`SELECT COUNT(*) FROM media_tags mt JOIN media m ON m.id=mt.media_id WHERE m.hash=?`, fox).Scan(&tags)
			d.QueryRow(`SELECT COUNT(*) FROM prompt_history`).Scan(&hist)
			if sha != 8 || rating != 8 || tags < 2 || hist != 1 {
				t.Errorf("sha=%d rated=%d foxtags=%d history=%d", sha, rating, tags, hist)
			}
			// Second run: nothing new, no duplicate rows.
			sum2, err := im.ScanPath(ctx, l.src, scan.RunOptions{Walk: scan.WalkOptions{FollowSymlinks: true}})
			if err != nil {
				t.Fatal(err)
			}
			if sum2.Imported != 0 {
				t.Errorf("second run imported %d", sum2.Imported)
			}
			if mode != scan.ModeMove && sum2.Unchanged != 9 {
				t.Errorf("second run %+v, want 9 unchanged", sum2)
			}
			d.QueryRow(`SELECT COUNT(*) FROM media`).Scan(&nMedia)
			if nMedia != 8 {
				t.Fatalf("media rows after rerun %d", nMedia)
			}
		})
	}
}

func TestScannerDisabledAndMissing(t *testing.T) {
	ctx := context.Background()
	d := openDB(t)
	roots := testRoots(t)
	src := t.TempDir()
	p := filepath.Join(src, "a.png")
	os.WriteFile(p, pngtest.PNG(10, 10, 1), 0o644)
	im := newImporter(d, roots, scan.ModeInPlace)
	im.Prober = nil
	out, err := im.ImportFile(ctx, p)
	if err != nil || out.Status != scan.StatusImported {
		t.Fatalf("%+v %v", out, err)
	}
	var rating, pending, scans int
	d.QueryRow(`SELECT rating FROM media`).Scan(&rating)
	d.QueryRow(`SELECT COUNT(*) FROM media_meta WHERE meta_key='scanner.pending'`).Scan(&pending)
	d.QueryRow(`SELECT COUNT(*) FROM scan_results`).Scan(&scans)
	if rating != 0 || pending != 1 || scans != 0 {
		t.Fatalf("rating=%d pending=%d scans=%d", rating, pending, scans)
	}
	os.Remove(p)
	sum, err := im.ScanPath(ctx, src, scan.RunOptions{})
	if err != nil || sum.Missing != 1 {
		t.Fatalf("%+v %v", sum, err)
	}
	var st string
	d.QueryRow(`SELECT status FROM media`).Scan(&st)
	if st != "missing" {
		t.Fatalf("status %s", st)
	}
}

func TestTaggerFaultStillImports(t *testing.T) {
	for _, f := range []scannertest.Fault{scannertest.FaultNone} {
		_ = f
	}
	ctx := context.Background()
	d := openDB(t)
	fake := scannertest.New(t, scannertest.Options{Token: "right"})
	cfg := scanner.DefaultConfig()
	cfg.BaseURL, cfg.Token = fake.URL, "wrong"
	im := newImporter(d, testRoots(t), scan.ModeCopy)
	im.Tagger = scanner.New(cfg, nil)
	p := filepath.Join(t.TempDir(), "a.png")
	os.WriteFile(p, pngtest.PNG(10, 10, 1), 0o644)
	out, err := im.ImportFile(ctx, p)
	if err != nil || out.Status != scan.StatusImported {
		t.Fatalf("%+v %v", out, err)
	}
	var raw string
	var rating int
	d.QueryRow(`SELECT raw_json FROM scan_results`).Scan(&raw)
	d.QueryRow(`SELECT rating FROM media`).Scan(&rating)
	if rating != 0 || !contains(raw, "scanner_auth_failed") {
		t.Fatalf("rating=%d raw=%s", rating, raw)
	}
}

func contains(s, sub string) bool {
	return len(s) >= len(sub) && (s == sub || len(sub) == 0 || indexOf(s, sub) >= 0)
}
func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// TestMoveSymlinkedSource: with symlinks followed, moving a file reached
// through its own symlink gives the library an independent regular file,
// removes the link and leaves the target (outside the scanned tree)
// alone; a file inside a linked folder is moved like any other.
func TestMoveSymlinkedSource(t *testing.T) {
	ctx := context.Background()
	d := openDB(t)
	outside, src := t.TempDir(), t.TempDir()
	target := filepath.Join(outside, "target.png")
	os.WriteFile(target, pngtest.PNG(6, 6, 1), 0o644)
	os.MkdirAll(filepath.Join(outside, "folder"), 0o755)
	inFolder := filepath.Join(outside, "folder", "inside.png")
	os.WriteFile(inFolder, pngtest.PNG(6, 6, 2), 0o644)
	rel, _ := filepath.Rel(src, target)
	if err := os.Symlink(rel, filepath.Join(src, "link.png")); err != nil {
		t.Skipf("no symlinks here: %v", err)
	}
	os.Symlink(filepath.Join(outside, "folder"), filepath.Join(src, "linked folder"))
	roots := testRoots(t)
	im := newImporter(d, roots, scan.ModeMove)
	sum, err := im.ScanPath(ctx, src, scan.RunOptions{Walk: scan.WalkOptions{FollowSymlinks: true}})
	if err != nil || sum.Imported != 2 || sum.Errors != 0 {
		t.Fatalf("%+v %v", sum, err)
	}
	if _, err := os.Lstat(filepath.Join(src, "link.png")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the source link is still there: %v", err)
	}
	if b, err := os.ReadFile(target); err != nil || !bytes.Equal(b, pngtest.PNG(6, 6, 1)) {
		t.Errorf("the link target changed or went: %v", err)
	}
	if _, err := os.Stat(inFolder); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a file inside a followed folder was not moved: %v", err)
	}
	rows, err := d.Query(`SELECT path FROM media`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var p string
		rows.Scan(&p)
		st, err := os.Lstat(p)
		if err != nil || !st.Mode().IsRegular() {
			t.Errorf("library file %s is not a regular file: %v %v", p, st, err)
		}
	}
}
