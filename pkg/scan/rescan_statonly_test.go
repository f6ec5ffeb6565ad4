package scan_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/scan"
	"github.com/localsupervisor/supervisor/pkg/svtest/pngtest"
)

// TestUnchangedRescanIsStatOnly: a re-scan of an unchanged folder decides
// from (path, size, mtime) alone — it neither reads the files (content
// swapped behind the same size and mtime stays "unchanged") nor writes to
// the catalogue (no row of a catalogue table changes). The only writes are
// the library source's scan bookkeeping, two per scan (start and end),
// never one per file.
func TestUnchangedRescanIsStatOnly(t *testing.T) {
	for _, mode := range []string{scan.ModeInPlace, scan.ModeCopy} {
		t.Run(mode, func(t *testing.T) {
			ctx := context.Background()
			d := openDB(t)
			im := newImporter(d, testRoots(t), mode)
			src := filepath.Join(t.TempDir(), "src")
			var files []string
			for i := range 12 {
				dir := filepath.Join(src, fmt.Sprintf("d%d", i%3))
				os.MkdirAll(dir, 0o755)
				p := filepath.Join(dir, fmt.Sprintf("f%02d.png", i))
				if err := os.WriteFile(p, pngtest.WithText(pngtest.PNG(8, 8, 1), "n", fmt.Sprintf("%03d", i)), 0o644); err != nil {
					t.Fatal(err)
				}
				files = append(files, p)
			}
			s, err := im.ScanPath(ctx, src, scan.RunOptions{})
			if err != nil || s.Imported != len(files) {
				t.Fatalf("import %+v %v", s, err)
			}
			// Same size, same mtime, other content: only a reader notices.
			for i, p := range files {
				st, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				data := pngtest.WithText(pngtest.PNG(8, 8, 1), "m", fmt.Sprintf("%03d", i))
				if int64(len(data)) != st.Size() {
					t.Fatalf("test data size %d != %d", len(data), st.Size())
				}
				if err := os.WriteFile(p, data, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Chtimes(p, time.Time{}, st.ModTime()); err != nil {
					t.Fatal(err)
				}
			}
			// Every catalogue table the importer writes, row by row.
			snapshot := func() string {
				var b strings.Builder
				for _, tbl := range []string{"media", "scan_files", "media_meta", "media_tags", "tags", "prompts", "prompt_history",
					"scan_results", "import_log", "jobs", "audit_log", "media_fts_pending"} {
					rows, err := d.QueryContext(ctx, `SELECT * FROM `+tbl+` ORDER BY 1`)
					if err != nil {
						t.Fatal(err)
					}
					cols, _ := rows.Columns()
					for rows.Next() {
						vals := make([]any, len(cols))
						ptrs := make([]any, len(cols))
						for i := range vals {
							ptrs[i] = &vals[i]
						}
						if err := rows.Scan(ptrs...); err != nil {
							t.Fatal(err)
						}
						fmt.Fprintf(&b, "%s%v\n", tbl, vals)
					}
					rows.Close()
				}
				return b.String()
			}
			before := snapshot()
			s2, err := im.ScanPath(ctx, src, scan.RunOptions{})
			if err != nil || s2.Unchanged != len(files) || s2.Imported != 0 || s2.Errors != 0 || s2.Missing != 0 {
				t.Fatalf("rescan %+v %v", s2, err)
			}
			if after := snapshot(); after != before {
				t.Fatalf("unchanged rescan wrote to the catalogue:\nbefore %s\nafter %s", before, after)
			}
			var status string
			if err := d.QueryRowContext(ctx, `SELECT last_scan_status FROM library_sources WHERE path = ?`, src).Scan(&status); err != nil || status != "done" {
				t.Fatalf("source bookkeeping: %q %v", status, err)
			}
		})
	}
}
