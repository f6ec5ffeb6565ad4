package scan_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"image"
	"image/png"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/library"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/scan"
	"github.com/localsupervisor/supervisor/pkg/svtest"
)

// noisePNG is an incompressible 128×128 PNG (about 65 KB), distinct per seed.
func noisePNG(seed uint64) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, 128, 128))
	r := rand.New(rand.NewPCG(seed, 7))
	for i := range img.Pix {
		img.Pix[i] = uint8(r.Uint32())
	}
	var b bytes.Buffer
	_ = png.Encode(&b, img)
	return b.Bytes()
}

// TestScanPathOnFullLibraryDisk imports into a library on a 1 MiB tmpfs.
// When only some files fit the job ends done with warnings counting the
// others as disk_full; when none fits it ends error with reason disk_full
// and what to do. In both import modes every source is intact: still at
// its path, or (move mode) removed only after its library copy was
// committed.
func TestScanPathOnFullLibraryDisk(t *testing.T) {
	const nFiles = 24 // ~1.5 MiB of PNGs
	cases := []struct {
		mode     string
		fillDisk bool // nothing fits: the library disk is full from the start
	}{
		{scan.ModeCopy, false},
		{scan.ModeMove, false},
		{scan.ModeCopy, true},
		{scan.ModeMove, true},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/full_from_start=%v", c.mode, c.fillDisk), func(t *testing.T) {
			ctx := context.Background()
			lib := svtest.MountTmpfs(t, 1<<20)
			roots := library.Roots{ImagesSFW: filepath.Join(lib, "images"), ImagesNSFW: filepath.Join(lib, "images18"),
				VideosSFW: filepath.Join(lib, "videos"), VideosNSFW: filepath.Join(lib, "videos18")}
			if c.fillDisk {
				svtest.FillDisk(t, lib, 0)
			}
			src := t.TempDir()
			want := map[string]string{} // source path → md5
			for i := range nFiles {
				b := noisePNG(uint64(i))
				p := filepath.Join(src, fmt.Sprintf("f%02d.png", i))
				if err := os.WriteFile(p, b, 0o644); err != nil {
					t.Fatal(err)
				}
				want[p] = md5hex(b)
			}
			d := openDB(t)
			im := newImporter(d, roots, c.mode)
			q := jobs.NewQueue(jobs.QueueOptions{DB: d, Config: jobs.DefaultConfig()})
			h := (&scan.Setup{Importer: im}).Handlers(scan.HandlerOptions{Queue: q})
			p, _ := scan.NewScanPathPayload(src, 0, "", "test", t0)
			res, err := scan.EnqueueScanPath(ctx, q, p)
			if err != nil {
				t.Fatal(err)
			}
			r := newRunner(t, q, []string{jobs.TypeScanPath}, h)
			if _, err := r.RunBatch(ctx, 1); err != nil {
				t.Fatal(err)
			}
			row, err := q.Get(ctx, res.JobID)
			if err != nil {
				t.Fatal(err)
			}
			var imported, logged int
			d.QueryRow(`SELECT COUNT(*) FROM media`).Scan(&imported)
			d.QueryRow(`SELECT COUNT(*) FROM import_log WHERE status='error' AND message LIKE 'disk_full:%'`).Scan(&logged)
			t.Logf("status=%s code=%s imported=%d disk_full=%d msg=%q", row.Status, row.LastErrorCode, imported, logged, row.ErrorMessage)
			if logged == 0 {
				t.Fatal("no import_log row names disk_full")
			}
			if c.fillDisk {
				if row.Status != jobs.StatusError || row.LastErrorCode != reason.CodeDiskFull || imported != 0 {
					t.Fatalf("nothing placed: want error disk_full, got %s %s (%d imported)", row.Status, row.LastErrorCode, imported)
				}
				if !strings.Contains(row.ErrorMessage, "free space") {
					t.Fatalf("error message does not say what to do: %q", row.ErrorMessage)
				}
			} else {
				w := jobs.ResultWarnings(row.Result)
				if row.Status != jobs.StatusDone || w == nil || imported == 0 {
					t.Fatalf("partly placed: want done with warnings, got %s (%d imported) %s", row.Status, imported, row.Result)
				}
				if w.ByReason[reason.CodeDiskFull] != logged || w.Total != nFiles-imported {
					t.Fatalf("warnings %+v, want %d disk_full of %d failed", w, logged, nFiles-imported)
				}
				if txt := w.Text(); !strings.Contains(txt, "disk_full") || !strings.Contains(txt, "free space") {
					t.Fatalf("warning text %q", txt)
				}
			}
			checkSourcesIntact(t, c.mode, want, d)
			filepath.WalkDir(lib, func(p string, e fs.DirEntry, err error) error {
				if err == nil && library.IsTemp(p) {
					t.Errorf("temp left in the library: %s", p)
				}
				return nil
			})
		})
	}
}

// checkSourcesIntact: every source is at its path with its content, or, in
// move mode, a committed media row has its content in the library.
func checkSourcesIntact(t *testing.T, mode string, want map[string]string, d interface {
	QueryRow(string, ...any) *sql.Row
}) {
	t.Helper()
	for p, h := range want {
		if b, err := os.ReadFile(p); err == nil {
			if md5hex(b) != h {
				t.Errorf("source %s changed", p)
			}
			continue
		}
		if mode != scan.ModeMove {
			t.Errorf("source %s gone in %s mode", p, mode)
			continue
		}
		var dest string
		if err := d.QueryRow(`SELECT path FROM media WHERE hash=?`, h).Scan(&dest); err != nil {
			t.Errorf("source %s removed without a media row: %v", p, err)
			continue
		}
		if b, err := os.ReadFile(dest); err != nil || md5hex(b) != h {
			t.Errorf("source %s removed, library copy %s incomplete: %v", p, dest, err)
		}
	}
}
