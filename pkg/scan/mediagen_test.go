package scan_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/scan"
	"github.com/localsupervisor/supervisor/pkg/svtest/pngtest"
)

// genRows is every media_gen row with its LoRAs, one line per media in
// path order: what the query language will search.
func genRows(t *testing.T, d *sql.DB) string {
	t.Helper()
	rows, err := d.Query(`SELECT m.path, COALESCE(g.software,'') || '|' || COALESCE(g.model,'') || '|' || COALESCE(g.model_hash,'') || '|' ||
		COALESCE(g.sampler,'') || '|' || COALESCE(g.scheduler,'') || '|' || COALESCE(g.steps,'') || '|' || COALESCE(g.cfg,'') || '|' ||
		COALESCE(g.seed,'') || '|' || COALESCE(g.width,'') || 'x' || COALESCE(g.height,'') || '|' || COALESCE(g.denoise,'') || '|' ||
		COALESCE((SELECT group_concat(l.name || ':' || l.weight, ',') FROM (SELECT * FROM media_gen_loras l WHERE l.media_id = g.media_id ORDER BY l.name) l), '')
		FROM media_gen g JOIN media m ON m.id = g.media_id ORDER BY m.path`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var p, g string
		if err := rows.Scan(&p, &g); err != nil {
			t.Fatal(err)
		}
		out = append(out, filepath.Base(p)+" "+g)
	}
	return strings.Join(out, "\n")
}

func a1111Params(prompt string, seed string, lora string) string {
	return prompt + ", <lora:" + lora + ":0.7>\nNegative prompt: blurry\nSteps: 30, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: " +
		seed + ", Size: 832x1216, Model hash: 31e35c80fc, Model: sdxl_base, Denoising strength: 0.45, Version: v1.10.1"
}

// TestImportWritesMediaGen (#18 item 5): the importer stores each
// imported image's generation parameters in media_gen; an in-place file
// edited and scanned again gets its row updated; prompts-rebuild fills
// the rows of a catalogue from before media_gen from the stored prompts
// alone (the files are gone by then), and a second run does nothing;
// --force re-extraction repairs a row that disagrees with its file.
func TestImportWritesMediaGen(t *testing.T) {
	ctx := context.Background()
	d := openDB(t)
	im := newImporter(d, testRoots(t), scan.ModeInPlace)
	dir := t.TempDir()
	write := func(name string, data []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.png", pngtest.WithText(pngtest.PNG(8, 8, 1), "parameters", a1111Params("a castle", "18446744073709551615", "detail")))
	write("b.png", pngtest.WithText(pngtest.PNG(8, 8, 2), "parameters", "just a prompt"))
	write("c.png", pngtest.PNG(8, 8, 3)) // no metadata: no prompt, no row
	if s, err := im.ScanPath(ctx, dir, scan.RunOptions{}); err != nil || s.Imported != 3 {
		t.Fatalf("%+v %v", s, err)
	}
	want := "a.png a1111|sdxl_base|31e35c80fc|DPM++ 2M|Karras|30|7.0|18446744073709551615|832x1216|0.45|detail:0.7\n" +
		"b.png a1111||||||||8x8||"
	if got := genRows(t, d); got != want {
		t.Fatalf("after import:\n%s\nwant\n%s", got, want)
	}

	// In-place edit: new content, new parameters, same media.
	write("a.png", pngtest.WithText(pngtest.PNG(16, 12, 4), "parameters", a1111Params("a tower", "-1", "film grain")))
	later := time.Now().Add(time.Minute)
	os.Chtimes(filepath.Join(dir, "a.png"), later, later)
	if s, err := im.ScanPath(ctx, dir, scan.RunOptions{}); err != nil || s.Imported != 1 {
		t.Fatalf("rescan: %+v %v", s, err)
	}
	want = "a.png a1111|sdxl_base|31e35c80fc|DPM++ 2M|Karras|30|7.0||832x1216|0.45|film grain:0.7\n" + "b.png a1111||||||||8x8||"
	if got := genRows(t, d); got != want {
		t.Fatalf("after the edit:\n%s\nwant\n%s", got, want)
	}

	// --force re-extracts and rewrites a row that went wrong.
	if _, err := d.Exec(`UPDATE media_gen SET model='wrong'; DELETE FROM media_gen_loras`); err != nil {
		t.Fatal(err)
	}
	if s, err := im.PromptsRebuild(ctx, scan.RebuildOptions{Force: true}); err != nil || s.Processed != 3 || s.GenFilled != 0 {
		t.Fatalf("force: %+v %v", s, err)
	}
	if got := genRows(t, d); got != want {
		t.Fatalf("after --force:\n%s\nwant\n%s", got, want)
	}

	// A catalogue from before media_gen, its files no longer readable:
	// the rows come from the stored prompts.
	if _, err := d.Exec(`DELETE FROM media_gen; DELETE FROM media_gen_loras`); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	s, err := im.PromptsRebuild(ctx, scan.RebuildOptions{})
	if err != nil || s.GenFilled != 2 || s.Processed != 0 {
		t.Fatalf("backfill: %+v %v", s, err)
	}
	if got := genRows(t, d); got != want {
		t.Fatalf("after the backfill:\n%s\nwant\n%s", got, want)
	}
	if s, err := im.PromptsRebuild(ctx, scan.RebuildOptions{}); err != nil || s.GenFilled != 0 {
		t.Fatalf("second run: %+v %v", s, err)
	}

	// Forgetting the media leaves no rows behind.
	mediaIDs, err := db.QueryIDs(ctx, d, `SELECT id FROM media`)
	if err != nil {
		t.Fatal(err)
	}
	var ids []any
	for _, id := range mediaIDs {
		ids = append(ids, id)
	}
	if _, err := d.Exec(`DELETE FROM media WHERE id IN (?`+strings.Repeat(",?", len(ids)-1)+`)`, ids...); err != nil {
		t.Fatal(err)
	}
	var left int
	d.QueryRow(`SELECT (SELECT COUNT(*) FROM media_gen) + (SELECT COUNT(*) FROM media_gen_loras)`).Scan(&left)
	if left != 0 {
		t.Fatal(fmt.Sprint(left, " media_gen rows left"))
	}
}
