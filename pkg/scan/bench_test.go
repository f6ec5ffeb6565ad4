package scan_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/cliapp"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/probe"
	"github.com/localsupervisor/supervisor/pkg/scan"
	"github.com/localsupervisor/supervisor/pkg/sdmeta"
	"github.com/localsupervisor/supervisor/pkg/svtest"
	"github.com/localsupervisor/supervisor/pkg/svtest/pngtest"
)

// benchFiles writes n distinct small PNGs. With a1111 each carries A1111
// generation parameters like the images of a real AI library (the import
// extracts and stores a prompt and its history per file); without, a
// short text chunk only (a plain picture: one stored chunk).
func benchFiles(b *testing.B, n int, a1111 bool) string {
	dir := filepath.Join(b.TempDir(), "src")
	base := pngtest.PNG(16, 16, 0)
	for i := 0; i < n; i++ {
		sub := filepath.Join(dir, strconv.Itoa(i%100))
		os.MkdirAll(sub, 0o755)
		// distinct content, same pixels
		data := pngtest.WithText(base, "n", strconv.Itoa(i))
		if a1111 {
			data = pngtest.WithText(base, "parameters", fmt.Sprintf("a castle on a hill at dusk, masterpiece, %d\nNegative prompt: blurry, lowres\n"+
				"Steps: 30, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: %d, Size: 16x16, Model hash: 31e35c80fc, Model: sdxl_base", i, 1000+i))
		}
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("%05d.png", i)), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return dir
}

// BenchmarkImport10k imports 10,000 small images (tagger disabled,
// metadata extraction on as in scan-worker) per mode, plain and with A1111
// parameters, reporting files/s beside sha256sum over the same files, CPU
// per file and the unchanged re-scan rate. Copy mode is also reported
// beside `cp -a SRC DST && sync` of the same files onto the library's
// filesystem (x_cp_sync), the disk-speed bound of a durable copy. SV_BENCH_FILES overrides the
// count, SV_BENCH_BATCH the batch size, SV_BENCH_STEALTH
// import.stealth_pnginfo (default: off).
func BenchmarkImport10k(b *testing.B) {
	n := 10000
	if v, err := strconv.Atoi(os.Getenv("SV_BENCH_FILES")); err == nil && v > 0 {
		n = v
	}
	// As scan-worker and scan-path run the importer (cliapp ThroughputGC).
	defer cliapp.TuneThroughputGC()()
	for _, c := range []struct {
		mode  string
		a1111 bool
	}{{scan.ModeInPlace, false}, {scan.ModeInPlace, true}, {scan.ModeMove, false}, {scan.ModeMove, true},
		{scan.ModeCopy, false}, {scan.ModeCopy, true}} {
		mode, name := c.mode, c.mode
		if c.a1111 {
			name += "_a1111"
		}
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				dir := benchFiles(b, n, c.a1111)
				d := openDB(b)
				im := newImporter(d, testRoots(b), mode)
				if v, err := strconv.Atoi(os.Getenv("SV_BENCH_BATCH")); err == nil {
					im.BatchSize = v
				}
				if v := os.Getenv("SV_BENCH_STEALTH"); v != "" {
					// import.stealth_pnginfo as FromConfig maps it.
					opts := scan.StealthOptions(v, false, im.MaxPixels)
					im.Extract = func(ctx context.Context, r io.ReadSeeker, name string, _ *probe.VideoInfo) (sdmeta.Result, error) {
						return sdmeta.ExtractReader(ctx, r, name, opts)
					}
				}
				// As FromConfig: the full decode is left to integrity_check jobs.
				im.VerifyDecode = false
				// As scan-worker: the follow-up jobs are queued in the batch
				// transaction, so their cost is part of the import.
				// Total and per-type caps are off (0, a documented setting) so
				// every job is queued: the default caps would refuse most of
				// them and measure consistency_log warnings instead; caps set
				// just high enough would count the whole growing queue on every
				// batch, a scan that real caps bound (the per-media cap stays).
				qcfg := jobs.DefaultConfig()
				qcfg.QueueMaxTotal, qcfg.QueueMaxPerTypeDefault = 0, 0
				im.Enqueue = scan.QueueEnqueuer(jobs.NewQueue(jobs.QueueOptions{DB: d, Config: qcfg}))
				// sha256sum baseline over the same files
				t0 := time.Now()
				cmd := exec.Command("sh", "-c", "find . -type f -print0 | xargs -0 sha256sum > /dev/null")
				cmd.Dir = dir
				if err := cmd.Run(); err != nil {
					b.Fatal(err)
				}
				shaSec := time.Since(t0).Seconds()
				var cpSec float64
				if mode == scan.ModeCopy {
					cpSec = cpSync(b, dir, filepath.Join(filepath.Dir(im.Roots.ImagesSFW), "cp"))
				}
				b.StartTimer()
				t1, cpu1 := time.Now(), svtest.ProcessCPU()
				s, err := im.ScanPath(context.Background(), dir, scan.RunOptions{})
				cpu := svtest.ProcessCPU() - cpu1
				if err != nil || s.Imported != n {
					b.Fatalf("%+v %v", s, err)
				}
				sec := time.Since(t1).Seconds()
				b.StopTimer()
				var nJobs int
				if err := d.QueryRow(`SELECT COUNT(*) FROM jobs WHERE type IN ('hash_compute','integrity_check')`).Scan(&nJobs); err != nil || nJobs != 2*n {
					b.Fatalf("follow-up jobs: %d of %d (%v)", nJobs, 2*n, err)
				}
				b.StartTimer()
				b.ReportMetric(float64(n)/sec, "files/s")
				b.ReportMetric(float64(n)/shaSec, "sha256sum_files/s")
				b.ReportMetric(sec/shaSec, "x_sha256sum")
				if cpSec > 0 {
					b.ReportMetric(float64(n)/cpSec, "cp_sync_files/s")
					b.ReportMetric(sec/cpSec, "x_cp_sync")
				}
				// CPU per file (all threads) barely moves with the machine's
				// load, unlike the wall-clock rate: compare variants by it.
				b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu_us/file")
				if mode == scan.ModeInPlace {
					t2 := time.Now()
					s2, err := im.ScanPath(context.Background(), dir, scan.RunOptions{})
					if err != nil || s2.Unchanged != n {
						b.Fatalf("%+v %v", s2, err)
					}
					b.ReportMetric(float64(n)/time.Since(t2).Seconds(), "rescan_files/s")
				}
			}
		})
	}
}

// cpSync times `cp -a src dst && sync`, then removes dst (and syncs that
// away too, untimed, so the import does not pay for it).
func cpSync(b *testing.B, src, dst string) float64 {
	t0 := time.Now()
	if out, err := exec.Command("sh", "-c", `cp -a "$0" "$1" && sync`, src, dst).CombinedOutput(); err != nil {
		b.Fatalf("cp: %v %s", err, out)
	}
	sec := time.Since(t0).Seconds()
	if err := os.RemoveAll(dst); err != nil {
		b.Fatal(err)
	}
	if err := exec.Command("sync").Run(); err != nil {
		b.Fatal(err)
	}
	return sec
}
