package mediaops_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/mediaops"
)

// BenchmarkSHA256VsSha256sum hashes the same 1 GiB file with HashFile and
// with sha256sum and reports the throughput ratio (goal ≥ 0.8).
func BenchmarkSHA256VsSha256sum(b *testing.B) {
	p := filepath.Join(b.TempDir(), "1g.bin")
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for i := range chunk {
		chunk[i] = byte(i * 131)
	}
	for i := 0; i < 1024; i++ {
		chunk[0] = byte(i)
		f.Write(chunk)
	}
	f.Close()
	ctx := context.Background()
	var ours, theirs time.Duration
	b.SetBytes(1 << 30)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := mediaops.HashFile(ctx, p, false); err != nil {
			b.Fatal(err)
		}
		ours += time.Since(t0)
		t1 := time.Now()
		if err := exec.Command("sha256sum", p).Run(); err != nil {
			b.Skip("sha256sum unavailable")
		}
		theirs += time.Since(t1)
	}
	b.ReportMetric(float64(theirs)/float64(ours), "ratio_vs_sha256sum")
	b.ReportMetric(float64(b.N<<30)/ours.Seconds()/1e6, "MB/s_ours")
	b.ReportMetric(float64(b.N<<30)/theirs.Seconds()/1e6, "MB/s_sha256sum")
}

// BenchmarkHashFileWithMD5 measures hash_compute's two-digest pass.
func BenchmarkHashFileWithMD5(b *testing.B) {
	p := writeFile(b, filepath.Join(b.TempDir(), "x"), make([]byte, 64<<20))
	b.SetBytes(64 << 20)
	for i := 0; i < b.N; i++ {
		if _, err := mediaops.HashFile(context.Background(), p, true); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIntegritySmallImages reports integrity checks per second on a
// 256×256 PNG.
func BenchmarkIntegritySmallImages(b *testing.B) {
	p := writeFile(b, filepath.Join(b.TempDir(), "s.png"), pngBytes(b, 256, 256))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := mediaops.CheckIntegrity(context.Background(), p, "image", 0, nil)
		if err != nil || !res.OK {
			b.Fatal(err, res)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "checks/s")
}

// BenchmarkUpscale2048 upscales a 2048² PNG ×2 locally and reports the
// peak heap growth.
func BenchmarkUpscale2048(b *testing.B) {
	e := newEnv(b)
	id := e.addMedia(b, filepath.Join(e.svc.Roots.ImagesSFW, "big.png"), "image", pngBytes(b, 2048, 2048), false)
	var peak uint64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		done := make(chan struct{})
		var maxHeap uint64
		go func() {
			var ms runtime.MemStats
			for {
				select {
				case <-done:
					return
				case <-time.After(20 * time.Millisecond):
					runtime.ReadMemStats(&ms)
					maxHeap = max(maxHeap, ms.HeapAlloc)
				}
			}
		}()
		res, err := e.svc.Upscale(context.Background(), id, mediaops.UpscalePayload{Scale: 2}, nil)
		close(done)
		if err != nil {
			b.Fatal(err)
		}
		peak = max(peak, maxHeap-min(maxHeap, before.HeapAlloc))
		os.Remove(res.Path)
		e.db.Exec(`DELETE FROM media WHERE id=?`, res.ChildID)
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak_heap_MB")
}
