package scan_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/scan"
	"github.com/localsupervisor/supervisor/pkg/svtest/pngtest"
)

// TestDamagedLibraryCopyIsRepaired: the catalogued file of a media was
// damaged but kept its size (bit rot, a bad sector copied over). Importing
// an intact copy of the same content must repair the catalogued file from
// it (audit row library_repair) instead of treating it as a duplicate and,
// in move mode, deleting the only intact copy as the size-only check did.
// A missing catalogued file is restored the same way. Each case ends with
// an intact copy of the content in the library (or, in place, the row on
// an intact file) and, outside move mode, the incoming file untouched.
func TestDamagedLibraryCopyIsRepaired(t *testing.T) {
	content := pngtest.WithText(pngtest.PNG(16, 16, 3), "prompt", "a red fox")
	cases := []struct {
		mode   string // the second import's mode
		damage string // "flip" (same size, other bytes) or "delete"
	}{
		{scan.ModeMove, "flip"}, {scan.ModeCopy, "flip"}, {scan.ModeInPlace, "flip"},
		{scan.ModeMove, "delete"}, {scan.ModeCopy, "delete"},
	}
	for _, tc := range cases {
		t.Run(tc.mode+"_"+tc.damage, func(t *testing.T) {
			ctx := context.Background()
			d := openDB(t)
			roots := testRoots(t)
			first := filepath.Join(t.TempDir(), "first", "fox.png")
			writeFileT(t, first, content)
			// The original import copies into the library.
			if _, err := newImporter(d, roots, scan.ModeCopy).ScanPath(ctx, filepath.Dir(first), scan.RunOptions{}); err != nil {
				t.Fatal(err)
			}
			var id int64
			var libPath string
			if err := d.QueryRow(`SELECT id, path FROM media`).Scan(&id, &libPath); err != nil {
				t.Fatal(err)
			}
			switch tc.damage {
			case "flip":
				bad := bytes.Clone(content)
				bad[len(bad)/2] ^= 0xff
				if err := os.WriteFile(libPath, bad, 0o644); err != nil {
					t.Fatal(err)
				}
			case "delete":
				if err := os.Remove(libPath); err != nil {
					t.Fatal(err)
				}
			}

			second := filepath.Join(t.TempDir(), "second", "fox-again.png")
			writeFileT(t, second, content)
			sum, err := newImporter(d, roots, tc.mode).ScanPath(ctx, filepath.Dir(second), scan.RunOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if sum.Duplicates != 1 || sum.Errors != 0 {
				t.Fatalf("summary %+v", sum)
			}
			var rowPath, status string
			if err := d.QueryRow(`SELECT path, status FROM media WHERE id=?`, id).Scan(&rowPath, &status); err != nil {
				t.Fatal(err)
			}
			if got, err := os.ReadFile(rowPath); err != nil || !bytes.Equal(got, content) {
				t.Fatalf("the media's file %s does not hold the intact content (err %v)", rowPath, err)
			}
			if status != "active" {
				t.Errorf("status %s after the repair", status)
			}
			if tc.mode == scan.ModeInPlace {
				// The library file is ours: repaired in place, from a copy.
				if rowPath != libPath {
					t.Errorf("in place: row moved to %s", rowPath)
				}
			}
			srcData, srcErr := os.ReadFile(second)
			switch {
			case tc.mode == scan.ModeMove && srcErr == nil:
				t.Errorf("move: the source stayed although the library holds it now")
			case tc.mode != scan.ModeMove && (srcErr != nil || !bytes.Equal(srcData, content)):
				t.Errorf("%s: the incoming file was changed or removed", tc.mode)
			}
			var details string
			if err := d.QueryRow(`SELECT details_json FROM audit_log WHERE action='library_repair' AND entity_id=?`, id).Scan(&details); err != nil {
				t.Fatalf("no library_repair audit row: %v", err)
			}
			var a map[string]any
			json.Unmarshal([]byte(details), &a)
			want := map[string]string{"flip": "damaged", "delete": "missing"}[tc.damage]
			if a["found"] != want || a["repaired"] != true {
				t.Errorf("audit details %s, want found=%s repaired=true", details, want)
			}
		})
	}
}

// TestDamagedLibraryCopyUnreadableKeepsSource: a catalogued file that
// cannot be verified (here: a folder where the file should be) is never
// trusted, so a move import keeps its source.
func TestDamagedLibraryCopyUnverifiableKeepsSource(t *testing.T) {
	ctx := context.Background()
	d := openDB(t)
	roots := testRoots(t)
	content := pngtest.PNG(16, 16, 9)
	first := filepath.Join(t.TempDir(), "a.png")
	writeFileT(t, first, content)
	if _, err := newImporter(d, roots, scan.ModeCopy).ScanPath(ctx, first, scan.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	var libPath string
	d.QueryRow(`SELECT path FROM media`).Scan(&libPath)
	os.Remove(libPath)
	os.MkdirAll(filepath.Join(libPath, "x"), 0o755) // neither file nor removable by a rename
	second := filepath.Join(t.TempDir(), "b.png")
	writeFileT(t, second, content)
	if _, err := newImporter(d, roots, scan.ModeMove).ScanPath(ctx, second, scan.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(second); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("the only intact copy was removed or changed: %v", err)
	}
}

func writeFileT(t *testing.T, p string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
