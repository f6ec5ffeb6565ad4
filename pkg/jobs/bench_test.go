package jobs

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/db"
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
// handler, complete) over pre-enqueued jobs in one process, with the default
// prefetch and without prefetching.
func BenchmarkClaimComplete(b *testing.B) {
	for _, pf := range []int{16, 1} {
		b.Run(fmt.Sprintf("prefetch=%d", pf), func(b *testing.B) { benchClaimComplete(b, pf) })
	}
}

func benchClaimComplete(b *testing.B, prefetch int) {
	q := benchQueue(b)
	reqs := make([]EnqueueRequest, b.N)
	for i := range reqs {
		reqs[i] = EnqueueRequest{Type: "t_a"}
	}
	if _, err := q.EnqueueMany(context.Background(), reqs); err != nil {
		b.Fatal(err)
	}
	r, err := NewRunner(RunnerOptions{Queue: q, Worker: "bench", Types: []string{"t_a"}, LogsDir: filepath.Join(b.TempDir(), "LOGS"), Prefetch: prefetch,
		Handlers: map[string]Handler{"t_a": func(context.Context, *Job) (any, error) { return nil, nil }}})
	if err != nil {
		b.Fatal(err)
	}
	if err := r.Start(); err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	if v := os.Getenv("SV_BENCH_DROP_INDEXES"); v != "" {
		for _, ix := range strings.Split(v, ",") {
			if _, err := q.db.Exec(`DROP INDEX ` + ix); err != nil {
				b.Fatal(err)
			}
		}
	}
	cpu0 := cpuTime()
	b.ResetTimer()
	s, err := r.RunBatch(context.Background(), 0)
	if err != nil || s.Done != b.N {
		b.Fatal(fmt.Sprint(s, err))
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/job")
}

// cpuTime is the process's user+system CPU time. The benchmark machine is
// shared, so CPU per job is the stable figure next to wall-clock jobs/s.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkClaimCompleteProcs drains b.N pre-enqueued jobs with 1 and with 4
// worker processes of the real testworker binary (workercmd + Runner).
// handler=noop returns at once (the Runner writes the completion);
// handler=record inserts a row and completes the job in its own transaction
// (Job.CompleteTx), a second write transaction per job. jobs/s is wall time
// from start to the last exit (process start included, so use a large N:
// go test -run='^$' -bench=Procs -benchtime=20000x ./pkg/jobs/);
// cpu-µs/job sums the children's CPU time.
func BenchmarkClaimCompleteProcs(b *testing.B) {
	for _, handler := range []string{"noop", "record"} {
		for _, procs := range []int{1, 4} {
			b.Run(fmt.Sprintf("handler=%s/procs=%d", handler, procs), func(b *testing.B) {
				e := newProcEnv(b)
				e.enqueue(b, b.N, func(int) any { return nil })
				cmds := make([]*exec.Cmd, procs)
				errbs := make([]*bytes.Buffer, procs)
				for i := range cmds {
					args := []string{"--limit=0", fmt.Sprintf("--instance=%d", i)}
					if handler == "noop" {
						args = append(args, "--noop")
					}
					cmds[i], _, errbs[i] = e.cmd(args...)
				}
				b.ResetTimer()
				for _, c := range cmds {
					if err := c.Start(); err != nil {
						b.Fatal(err)
					}
				}
				var cpu time.Duration
				for i, c := range cmds {
					if err := c.Wait(); err != nil {
						b.Fatalf("worker %d: %v\n%s", i, err, errbs[i])
					}
					cpu += c.ProcessState.UserTime() + c.ProcessState.SystemTime()
				}
				b.StopTimer()
				if c := e.counts(b); c[StatusDone] != b.N {
					b.Fatalf("statuses %v", c)
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
				b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/job")
			})
		}
	}
}

// BenchmarkEnqueueTxFollowUps is the importer's follow-up enqueue
// (scan.QueueEnqueuer): hash_compute + integrity_check (UniquePerMedia, so
// every request has a dedupe key) for 10,000 new media per op, 512
// requests per caller transaction, into a queue that already holds 20,000
// queued jobs. caps=high: all caps on but never reached, so the total and
// per-type counts walk the whole queue on every call; caps=media: only the
// per-media cap (default 2), the per-request part of the work.
func BenchmarkEnqueueTxFollowUps(b *testing.B) {
	for _, caps := range []string{"high", "media"} {
		b.Run("caps="+caps, func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.QueueMaxTotal, cfg.QueueMaxPerTypeDefault = 1<<30, 1<<30
			if caps == "media" {
				cfg.QueueMaxTotal, cfg.QueueMaxPerTypeDefault = 0, 0
			}
			benchEnqueueTxFollowUps(b, cfg)
		})
	}
}

func benchEnqueueTxFollowUps(b *testing.B, cfg Config) {
	const perOp, prefill, chunk = 10000, 10000, 512
	ctx := context.Background()
	d, _ := openDB(b)
	q := NewQueue(QueueOptions{DB: d, Config: cfg, Registry: DefaultRegistry(), Clock: svtime.SystemClock{}})
	nMedia := prefill + b.N*perOp
	if _, err := d.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < ?)
		INSERT INTO media (id, path, type, source, imported_at) SELECT i, '/lib/' || i, 'image', 'test', '2026-01-01T00:00:00Z' FROM n`, nMedia); err != nil {
		b.Fatal(err)
	}
	if _, err := d.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < ?), t(type) AS (VALUES (?), (?))
		INSERT INTO jobs (media_id, type, status, dedupe_key, created_at, payload_json)
		SELECT i, type, 'queued', type || ':media:' || i, '2026-01-01T00:00:00Z', '{"media_id":' || i || '}' FROM n, t`,
		prefill, TypeHashCompute, TypeIntegrityCheck); err != nil {
		b.Fatal(err)
	}
	cpu0 := cpuTime()
	b.ResetTimer()
	for op := 0; op < b.N; op++ {
		reqs := make([]EnqueueRequest, 0, 2*perOp)
		for m := prefill + op*perOp + 1; m <= prefill+(op+1)*perOp; m++ {
			id := int64(m)
			for _, typ := range []string{TypeHashCompute, TypeIntegrityCheck} {
				reqs = append(reqs, EnqueueRequest{Type: typ, MediaID: &id, Payload: map[string]any{"media_id": id}})
			}
		}
		for len(reqs) > 0 {
			part := reqs[:min(chunk, len(reqs))]
			reqs = reqs[len(part):]
			err := db.InTx(ctx, d, func(tx *sql.Tx) error {
				res, err := q.EnqueueTx(ctx, tx, part)
				if err == nil && (res[0].JobID == 0 || res[0].Deduped || res[len(res)-1].Err != nil) {
					err = fmt.Errorf("unexpected result %+v", res[0])
				}
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*2*perOp)/b.Elapsed().Seconds(), "jobs/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N*2*perOp), "cpu-µs/job")
}
