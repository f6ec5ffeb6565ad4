package scan

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/cliapp"
	"github.com/localsupervisor/supervisor/pkg/db/dbtest"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/probe"
	"github.com/localsupervisor/supervisor/pkg/scanner"
	"github.com/localsupervisor/supervisor/pkg/sdmeta"
	"github.com/localsupervisor/supervisor/pkg/svtest/pngtest"
)

// fakeInfo is the fs.FileInfo of a file that exists only in the benchmark.
type fakeInfo struct {
	name string
	size int64
	mod  time.Time
}

func (f fakeInfo) Name() string       { return f.name }
func (f fakeInfo) Size() int64        { return f.size }
func (f fakeInfo) Mode() fs.FileMode  { return 0o644 }
func (f fakeInfo) ModTime() time.Time { return f.mod }
func (f fakeInfo) IsDir() bool        { return false }
func (f fakeInfo) Sys() any           { return nil }

// BenchmarkWriter measures the single catalogue writer alone (in_place,
// every follow-up job queued): prepared files built in memory go
// through addWindow and the batch commits, so no file I/O or walk hides
// the SQL cost. Reported per file; plain files carry one text chunk,
// a1111 files a full A1111 parameters block (prompt + history rows).
func BenchmarkWriter(b *testing.B) {
	defer cliapp.TuneThroughputGC()()
	for _, a1111 := range []bool{false, true} {
		name := "plain"
		if a1111 {
			name = "a1111"
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			d := dbtest.Open(b, filepath.Join(b.TempDir(), "w.sqlite"))
			qcfg := jobs.DefaultConfig()
			qcfg.QueueMaxTotal, qcfg.QueueMaxPerTypeDefault = 0, 0 // as BenchmarkImport10k
			png1x1 := pngtest.PNG(1, 1, 0)
			extract := func(i int) *sdmeta.Result {
				var text []byte
				key := "n"
				if a1111 {
					key = "parameters"
					text = fmt.Appendf(nil, "a castle on a hill at dusk, masterpiece, %d\nNegative prompt: blurry, lowres\n"+
						"Steps: 30, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: %d, Size: 16x16, Model hash: 31e35c80fc, Model: sdxl_base", i, 1000+i)
				} else {
					text = strconv.AppendInt(nil, int64(i), 10)
				}
				r, err := sdmeta.ExtractBytes(ctx, pngtest.WithText(png1x1, key, string(text)), "x.png", sdmeta.Options{})
				if err != nil {
					b.Fatal(err)
				}
				return &r
			}
			ps := make([]*prepared, b.N)
			mod := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			for i := range ps {
				m, s := md5.Sum([]byte(strconv.Itoa(i))), sha256.Sum256([]byte(strconv.Itoa(i)))
				path := fmt.Sprintf("/src/%03d/%06d.png", i/100, i) // walk order: ascending
				ps[i] = &prepared{path: path, info: fakeInfo{name: filepath.Base(path), size: 400, mod: mod}, k: fileKey{size: 400, mtimeNS: mod.UnixNano()},
					ext: "png", kind: probe.KindImage, cext: "png", width: 16, height: 16,
					md5: hex.EncodeToString(m[:]), sha: hex.EncodeToString(s[:]), meta: extract(i)}
			}
			im := &Importer{DB: d, Mode: ModeInPlace, Enqueue: QueueEnqueuer(jobs.NewQueue(jobs.QueueOptions{DB: d, Config: qcfg}))}
			w := im.newWriter(func(Outcome) {})
			defer w.close()
			b.ReportAllocs()
			b.ResetTimer()
			for len(ps) > 0 {
				n := min(len(ps), windowSize)
				if err := w.addWindow(ctx, ps[:n]); err != nil {
					b.Fatal(err)
				}
				ps = ps[n:]
			}
			if err := w.flush(ctx); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// TestWindowSeesPendingBatchFlushedLater: a file whose copy is still in
// the pending batch when the next window's lookup runs, and is committed
// by a flush inside that window, is a duplicate found before the tagger:
// window 1 = [a], window 2 = [b, a'] with two media per batch (b's add
// flushes a and b).
func TestWindowSeesPendingBatchFlushedLater(t *testing.T) {
	ctx := context.Background()
	d := dbtest.Open(t, filepath.Join(t.TempDir(), "w.sqlite"))
	mod := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	file := func(name, content string) *prepared {
		m, s := md5.Sum([]byte(content)), sha256.Sum256([]byte(content))
		path := "/src/" + name
		return &prepared{path: path, info: fakeInfo{name: name, size: 4, mod: mod}, k: fileKey{size: 4, mtimeNS: mod.UnixNano()},
			ext: "png", kind: probe.KindImage, cext: "png", width: 1, height: 1, md5: hex.EncodeToString(m[:]), sha: hex.EncodeToString(s[:])}
	}
	tagged := map[string]int{}
	im := &Importer{DB: d, Mode: ModeInPlace, BatchSize: 2, Tagger: tagCounter(tagged)}
	var outs []string
	w := im.newWriter(func(o Outcome) { outs = append(outs, filepath.Base(o.Path)+":"+o.Status) })
	defer w.close()
	for _, win := range [][]*prepared{{file("a.png", "X")}, {file("b.png", "Y"), file("c.png", "X")}} {
		if err := w.addWindow(ctx, win); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.flush(ctx); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(tagged) != "map[a.png:1 b.png:1]" {
		t.Errorf("tagger calls %v, want the first copies only", tagged)
	}
	if fmt.Sprint(outs) != "[a.png:imported b.png:imported c.png:skipped_duplicate]" {
		t.Errorf("outcomes %v", outs)
	}
}

// tagCounter is a Tagger that counts calls per file name.
type tagCounter map[string]int

func (c tagCounter) ScanImage(_ context.Context, path string) (*scanner.Result, error) {
	c[filepath.Base(path)]++
	return &scanner.Result{Rating: 1}, nil
}

func (c tagCounter) ScanVideo(ctx context.Context, path string, _ scanner.FrameSource) (*scanner.Result, error) {
	return c.ScanImage(ctx, path)
}

// A job that crashed workers commits in batches of 64, halved per further
// crash down to 8; a job that never crashed keeps the configured size, and
// a configured size below the crash size wins.
func TestRecoveredBatchSize(t *testing.T) {
	for _, c := range []struct{ configured, recoveries, want int }{
		{1024, 0, 1024},
		{1024, 1, 64},
		{1024, 2, 32},
		{1024, 3, 16},
		{1024, 4, 8},
		{1024, 40, 8},
		{16, 1, 16},
		{1, 5, 1},
	} {
		if got := recoveredBatchSize(c.configured, c.recoveries); got != c.want {
			t.Errorf("recoveredBatchSize(%d, %d) = %d, want %d", c.configured, c.recoveries, got, c.want)
		}
	}
}

// TestAwaitCommitsAgedBatchWhileNextFileIsExamined: while the next file is
// not ready, the pending window goes to the writer and a batch older than
// its maximum age is committed, without waiting for the slow file.
func TestAwaitCommitsAgedBatchWhileNextFileIsExamined(t *testing.T) {
	ctx := context.Background()
	d := dbtest.Open(t, filepath.Join(t.TempDir(), "w.sqlite"))
	mod := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	file := func(name string) *prepared {
		m, s := md5.Sum([]byte(name)), sha256.Sum256([]byte(name))
		return &prepared{path: "/src/" + name, info: fakeInfo{name: name, size: 4, mod: mod}, k: fileKey{size: 4, mtimeNS: mod.UnixNano()},
			ext: "png", kind: probe.KindImage, cext: "png", width: 1, height: 1, md5: hex.EncodeToString(m[:]), sha: hex.EncodeToString(s[:])}
	}
	im := &Importer{DB: d, Mode: ModeInPlace, BatchSize: 1000, BatchMaxAge: 20 * time.Millisecond}
	w := im.newWriter(func(Outcome) {})
	defer w.close()
	window := []*prepared{file("a.png"), file("b.png")}
	res := make(chan *prepared, 1)
	committed := make(chan int, 1)
	go func() {
		// The slow file is ready only once the first two are committed.
		for {
			var n int
			d.QueryRow(`SELECT COUNT(*) FROM media`).Scan(&n)
			if n == 2 {
				committed <- n
				res <- file("slow.png")
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	p, err := w.await(ctx, res, func() error {
		err := w.addWindow(ctx, window)
		window = nil
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if p.path != "/src/slow.png" || <-committed != 2 || len(w.batch) != 0 {
		t.Fatalf("got %s, batch %d", p.path, len(w.batch))
	}
}
