package jobs

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/svtime"
)

func benchQueue(b *testing.B) *Queue {
	d, _ := openDB(b)
	cfg := DefaultConfig()
	cfg.QueueMaxTotal, cfg.QueueMaxPerTypeDefault = 0, 0
	return NewQueue(QueueOptions{DB: d, Config: cfg, Registry: testRegistry(), Clock: svtime.SystemClock{}})
}

// BenchmarkEnqueueManyTx enqueues 10,000 jobs in one transaction per op.
func BenchmarkEnqueueManyTx(b *testing.B) {
	q := benchQueue(b)
	reqs := make([]EnqueueRequest, 10000)
	for i := range reqs {
		reqs[i] = EnqueueRequest{Type: "t_a", Payload: map[string]int{"i": i}}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := q.EnqueueMany(context.Background(), reqs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(reqs))/b.Elapsed().Seconds(), "jobs/s")
}

// BenchmarkEnqueueOne enqueues one job per transaction.
func BenchmarkEnqueueOne(b *testing.B) {
	q := benchQueue(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := q.Enqueue(context.Background(), EnqueueRequest{Type: "t_a", Payload: map[string]int{"i": i}}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
}

// BenchmarkClaimComplete runs the real Runner (claim, heartbeat watcher,
// handler, complete) over pre-enqueued jobs in one process.
func BenchmarkClaimComplete(b *testing.B) {
	q := benchQueue(b)
	reqs := make([]EnqueueRequest, b.N)
	for i := range reqs {
		reqs[i] = EnqueueRequest{Type: "t_a"}
	}
	if _, err := q.EnqueueMany(context.Background(), reqs); err != nil {
		b.Fatal(err)
	}
	r, err := NewRunner(RunnerOptions{Queue: q, Worker: "bench", Types: []string{"t_a"}, LogsDir: filepath.Join(b.TempDir(), "LOGS"),
		Handlers: map[string]Handler{"t_a": func(context.Context, *Job) (any, error) { return nil, nil }}})
	if err != nil {
		b.Fatal(err)
	}
	if err := r.Start(); err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	b.ResetTimer()
	s, err := r.RunBatch(context.Background(), 0)
	if err != nil || s.Done != b.N {
		b.Fatal(fmt.Sprint(s, err))
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
}
