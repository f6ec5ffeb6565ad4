package comfyjob_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/comfy/comfytest"
	"github.com/localsupervisor/supervisor/pkg/comfyjob"
)

// BenchmarkRegenToPreview measures Supervisor's own overhead from
// "regenerate" (Enqueue with a new seed: graph from media_meta, edits,
// server check) to the preview stored (claim, validate against
// /object_info, submit, poll /history, fetch /view, write the preview,
// complete the job) against the fake ComfyUI, which generates instantly.
// It reports p50/p95 per regeneration (go test -bench RegenToPreview
// -benchtime 20x).
func BenchmarkRegenToPreview(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	id := e.addComfyMedia(comfytest.Graph)
	r := e.runner()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		res, err := e.svc.Enqueue(ctx, comfyjob.EnqueueRequest{MediaID: id, NewSeed: true, ProbeTimeout: time.Second})
		if err != nil {
			b.Fatal(err)
		}
		if s, err := r.RunBatch(ctx, 1); err != nil || s.Done != 1 {
			b.Fatalf("job %d: %+v %v", res.JobID, s, err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.50), "p50_ms")
	b.ReportMetric(pct(0.95), "p95_ms")
}
