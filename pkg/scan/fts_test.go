package scan_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/catalog/ftsindex"
	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/scan"
	"github.com/localsupervisor/supervisor/pkg/scan/internal/pngtest"
)

// TestImportIndexesLikeFold: the text-index rows the importer writes from
// the values it just stored equal what ftsindex.FoldIDs computes from the
// catalogue (the reference), for plain images, A1111 prompts, an empty
// prompt block and a chunk named like a searched title key; and no mark
// is left.
func TestImportIndexesLikeFold(t *testing.T) {
	ctx := context.Background()
	d := openDB(t)
	src := t.TempDir()
	base := pngtest.PNG(5, 5, 1)
	files := map[string][]byte{
		"plain.png":       base,
		"a1111.png":       pngtest.WithText(pngtest.PNG(5, 5, 2), "parameters", "a red fox in snow\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 5x5, Model: m"),
		"neg only.png":    pngtest.WithText(pngtest.PNG(5, 5, 3), "parameters", "\nNegative prompt: only this\nSteps: 20, Seed: 2"),
		"title chunk.png": pngtest.WithText(pngtest.PNG(5, 5, 4), ftsindex.KeyTitle, "Sunset über dem Meer"),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(src, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	im := newImporter(d, testRoots(t), scan.ModeCopy)
	sum, err := im.ScanPath(ctx, src, scan.RunOptions{})
	if err != nil || sum.Imported != len(files) {
		t.Fatalf("%+v %v", sum, err)
	}
	dump := func() string {
		rows, err := d.Query(`SELECT docid, path, COALESCE(title,'~'), COALESCE(override,'~'), COALESCE(caption,'~'), COALESCE(prompt,'~') FROM media_fts ORDER BY docid`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var id int64
			var p, ti, ov, ca, pr string
			rows.Scan(&id, &p, &ti, &ov, &ca, &pr)
			out = append(out, fmt.Sprintf("%d %s|%s|%s|%s|%s", id, filepath.Base(p), ti, ov, ca, pr))
		}
		return strings.Join(out, "\n")
	}
	got := dump()
	var marks int
	d.QueryRow(`SELECT COUNT(*) FROM media_fts_pending`).Scan(&marks)
	if marks != 0 {
		t.Errorf("%d marks left after the import", marks)
	}
	if !strings.Contains(got, "a red fox in snow") || !strings.Contains(got, "Sunset über dem Meer") {
		t.Fatalf("index rows lack the prompt or title:\n%s", got)
	}
	var ids []int64
	rows, _ := d.Query(`SELECT id FROM media`)
	for rows.Next() {
		var id int64
		rows.Scan(&id)
		ids = append(ids, id)
	}
	rows.Close()
	if err := db.InTx(ctx, d, func(tx *sql.Tx) error { return ftsindex.FoldIDs(ctx, tx, ids) }); err != nil {
		t.Fatal(err)
	}
	if want := dump(); got != want {
		t.Errorf("import wrote\n%s\nfold computes\n%s", got, want)
	}
}
