package scan_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/catalog"
	"github.com/localsupervisor/supervisor/pkg/catalog/ftsindex"
	"github.com/localsupervisor/supervisor/pkg/scan"
	"github.com/localsupervisor/supervisor/pkg/svtest/pngtest"
)

// TestImportMarksTextIndex: an import marks its media for the text index
// (webui's background fold owns it); searches find them before the fold
// (the LIKE reference for marked media) and after it, and the fold writes
// path, the extracted prompt and a chunk named like the searched title key
// for plain images, A1111 prompts and a negative-only block.
func TestImportMarksTextIndex(t *testing.T) {
	ctx := context.Background()
	d := openDB(t)
	src := t.TempDir()
	base := pngtest.PNG(5, 5, 1)
	files := map[string][]byte{
		"plain.png":       base,
		"a1111.png":       pngtest.WithText(pngtest.PNG(5, 5, 2), "parameters", "a red fox in snow\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 5x5, Model: m"),
		"neg only.png":    pngtest.WithText(pngtest.PNG(5, 5, 3), "parameters", "\nNegative prompt: only this\nSteps: 20, Seed: 2"),
		"title chunk.png": pngtest.WithText(pngtest.PNG(5, 5, 4), "ollama.title", "Sunset über dem Meer"),
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
	marks := func() int {
		var n int
		d.QueryRow(`SELECT COUNT(*) FROM media_fts_pending`).Scan(&n)
		return n
	}
	search := func(q string) int {
		res, err := catalog.List(ctx, d, catalog.ParseFilter(url.Values{"q": {q}}, false), catalog.Page{Limit: 10}, 0)
		if err != nil {
			t.Fatal(err)
		}
		return len(res.Cards)
	}
	if n := marks(); n != len(files) {
		t.Fatalf("%d marks after importing %d files", n, len(files))
	}
	for round, when := range []string{"before the fold", "after the fold"} {
		if round == 1 {
			if _, err := ftsindex.FoldAll(ctx, d, 0); err != nil {
				t.Fatal(err)
			}
			if n := marks(); n != 0 {
				t.Fatalf("%d marks after the fold", n)
			}
		}
		for q, want := range map[string]int{"fox": 1, "Sunset": 1, "snow fox": 1, "zebra": 0} {
			if got := search(q); got != want {
				t.Errorf("%s: search %q found %d, want %d", when, q, got, want)
			}
		}
	}
	got := dump()
	for _, want := range []string{"|~|~|~|a red fox in snow", "|Sunset über dem Meer|~|~|~"} {
		if !strings.Contains(got, want) {
			t.Errorf("index rows lack %q:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "\n") + 1; n != len(files) {
		t.Errorf("%d index rows for %d media:\n%s", n, len(files), got)
	}
}
