package scan_test

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/mediaops"
	"github.com/localsupervisor/supervisor/pkg/probe"
	"github.com/localsupervisor/supervisor/pkg/scan"
	"github.com/localsupervisor/supervisor/pkg/svtest"
)

// verdict is what the import and the integrity_check job say about one
// file. stage: "rejected" (no media row, import_log error with code),
// "not_media", "import" (catalogued with integrity.ok=0 from the import's
// structural check), "integrity" (catalogued unflagged, flagged by the
// job) or "ok". job is the integrity job's code for a catalogued file.
type verdict struct{ stage, code, job string }

// TestCorruptFixturesFlagged: every shared corrupt fixture is either
// refused by the import or catalogued and flagged broken with its reason,
// and a file cut short is flagged by the import itself (the structural
// check on the hashed bytes), not only later by the integrity_check job;
// the job then reports the same code, so it never clears the flag.
func TestCorruptFixturesFlagged(t *testing.T) {
	root := svtest.SharedFixtures(t)
	want := map[string]verdict{
		"derived_mkvparse_example-cover_half.mkv":    {"rejected", probe.CodeTruncatedFile, ""},
		"derived_mp4ff_bbb_prog_10s_half.mp4":        {"rejected", probe.CodeTruncatedFile, ""},
		"derived_mp4ff_prog_8s_half.mp4":             {"import", probe.CodeTruncatedFile, probe.CodeTruncatedFile},
		"derived_text_named.jpg":                     {"rejected", probe.CodeUnsupportedType, ""},
		"gomp4_sample_qt_moov_only.mp4":              {"import", probe.CodeMediaDataMissing, probe.CodeMediaDataMissing},
		"gostd_invalid-crc32.png":                    {"rejected", probe.CodeInvalidHeader, ""},
		"gostd_invalid-noend.png":                    {"import", probe.CodeTruncatedFile, probe.CodeTruncatedFile},
		"gostd_invalid-trunc.png":                    {"import", probe.CodeTruncatedFile, probe.CodeTruncatedFile},
		"gostd_invalid-zlib.png":                     {"integrity", "", probe.CodeDecodeFailed},
		"gostd_video-001.progressive.truncated.jpeg": {"import", probe.CodeTruncatedFile, probe.CodeTruncatedFile},
		"mp4ff_init_truncated.mp4":                   {"rejected", probe.CodeTruncatedFile, ""},
		"pillow_broken.png":                          {"rejected", probe.CodeInvalidHeader, ""},
		"pillow_broken_data_stream.png":              {"import", probe.CodeCRCMismatch, probe.CodeCRCMismatch},
		"pillow_hopper_bad_exif.jpg":                 {"integrity", "", probe.CodeDecodeFailed},
		// Only its EXIF block is garbled; the image is whole.
		"pillow_invalid-exif.jpg":        {"ok", "", ""},
		"pillow_pngtest_bad.png.bin":     {"not_media", "", ""},
		"pillow_truncated_end_chunk.png": {"import", probe.CodeTruncatedFile, probe.CodeTruncatedFile},
		"pillow_truncated_image.png":     {"import", probe.CodeTruncatedFile, probe.CodeTruncatedFile},
		"pillow_truncated_jpeg.jpg":      {"import", probe.CodeTruncatedFile, probe.CodeTruncatedFile},
		"sdparsers_empty_file.png":       {"rejected", probe.CodeEmptyFile, ""},
	}
	ents, err := os.ReadDir(filepath.Join(root, "corrupt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Run(e.Name(), func(t *testing.T) {
			w, ok := want[e.Name()]
			if !ok {
				t.Fatalf("new corrupt fixture %s: add its expected verdict", e.Name())
			}
			if got := importAndCheck(t, filepath.Join(root, "corrupt", e.Name()), scan.ModeCopy); got != w {
				t.Errorf("got %+v, want %+v", got, w)
			}
		})
	}
}

// TestTruncatedMoveKeepsFile: in move mode a file flagged broken at import
// is catalogued like any other (its library copy verified before the
// source goes), so nothing is lost; the flag only marks it.
func TestTruncatedMoveKeepsFile(t *testing.T) {
	src := filepath.Join(svtest.SharedFixtures(t), "corrupt", "pillow_truncated_jpeg.jpg")
	// importAndCheck compares the library copy with the source's bytes.
	if got := importAndCheck(t, src, scan.ModeMove); got.stage != "import" || got.code != probe.CodeTruncatedFile {
		t.Fatalf("verdict %+v", got)
	}
}

// TestHealthyFixturesNotFlagged: no real-world fixture outside corrupt/
// is flagged by the import's structural check (no false positives).
func TestHealthyFixturesNotFlagged(t *testing.T) {
	root := svtest.SharedFixtures(t)
	in := t.TempDir()
	n := 0
	for _, rel := range svtest.SharedFixtureFiles(t) {
		if strings.HasPrefix(rel, "corrupt/") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		writeFileT(t, filepath.Join(in, filepath.FromSlash(rel)), data)
		n++
	}
	d := openDB(t)
	im := newImporter(d, testRoots(t), scan.ModeCopy)
	im.VerifyDecode = false
	sum, err := im.ScanPath(context.Background(), in, scan.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Imported+sum.Duplicates != n {
		t.Errorf("summary %+v for %d files", sum, n)
	}
	rows, err := d.Query(`SELECT mm.meta_value, m.path FROM media_meta mm JOIN media m ON m.id = mm.media_id WHERE mm.meta_key = 'integrity.error_code'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var code, path string
		rows.Scan(&code, &path)
		t.Errorf("healthy %s flagged %s at import", filepath.Base(path), code)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

// importAndCheck imports a copy of src in mode (as FromConfig: no full
// decode on import) and runs the integrity check on a catalogued file. The
// library copy must hold src's bytes.
func importAndCheck(t *testing.T, src, mode string) verdict {
	t.Helper()
	ctx := context.Background()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(t.TempDir(), "in", filepath.Base(src))
	writeFileT(t, in, data)
	d := openDB(t)
	im := newImporter(d, testRoots(t), mode)
	im.VerifyDecode = false
	var outs []scan.Outcome
	sum, err := im.ScanPath(ctx, filepath.Dir(in), scan.RunOptions{Progress: func(_ scan.Summary, o scan.Outcome) { outs = append(outs, o) }})
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case sum.NotMedia == 1:
		return verdict{stage: "not_media"}
	case len(outs) != 1:
		t.Fatalf("outcomes %+v", outs)
	case outs[0].Status != scan.StatusImported:
		return verdict{stage: "rejected", code: outs[0].Code}
	}
	id := outs[0].MediaID
	var path, typ string
	if err := d.QueryRow(`SELECT path, type FROM media WHERE id=?`, id).Scan(&path, &typ); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("the library file %s does not hold the imported bytes (%v)", path, err)
	}
	res, err := mediaops.CheckIntegrity(ctx, path, typ, 50_000_000, mediaops.FFmpegChecker{FF: &probe.FFmpeg{Probe: &probe.FFprobe{}}})
	if err != nil {
		t.Fatal(err)
	}
	v := verdict{stage: "ok", job: res.Code}
	code, ok := newestMeta(t, d, id, "integrity.error_code"), newestMeta(t, d, id, "integrity.ok")
	switch {
	case ok == "0":
		v.stage, v.code = "import", code
		var msg string
		if err := d.QueryRow(`SELECT message FROM import_log WHERE status='imported'`).Scan(&msg); err != nil || !strings.Contains(msg, code) {
			t.Errorf("import_log message %q (%v) does not name %s", msg, err, code)
		}
	case !res.OK:
		v.stage = "integrity"
	}
	return v
}

func newestMeta(t *testing.T, d *sql.DB, id int64, key string) string {
	t.Helper()
	var v sql.NullString
	err := d.QueryRow(`SELECT meta_value FROM media_meta WHERE media_id=? AND meta_key=? ORDER BY id DESC LIMIT 1`, id, key).Scan(&v)
	if err != nil && err != sql.ErrNoRows {
		t.Fatal(err)
	}
	return v.String
}
