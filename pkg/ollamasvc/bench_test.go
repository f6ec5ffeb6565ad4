package ollamasvc

import (
	"context"
	"database/sql"
	"fmt"
	"github.com/localsupervisor/supervisor/pkg/db/dbtest"
	"path/filepath"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/ollama"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// BenchmarkEnqueueAll100k measures one `ollama-enqueue --mode=all --limit=-1`
// over 100,000 image media with tags and prompts (8 modes, ~800k candidate
// jobs minus the dependency filter), queue caps lifted so every job is inserted.
func BenchmarkEnqueueAll100k(b *testing.B) {
	const n = 100_000
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		d := seedMedia(b, n)
		cfg := jobs.DefaultConfig()
		cfg.QueueMaxTotal, cfg.QueueMaxPerTypeDefault = 0, 0
		q := jobs.NewQueue(jobs.QueueOptions{DB: d, Clock: svtime.SystemClock{}, Config: cfg})
		e := &Enqueuer{Queue: q, Clock: svtime.SystemClock{}}
		b.StartTimer()
		s, err := e.Enqueue(context.Background(), EnqueueOptions{Limit: -1, PromptEvalFallbackTags: true})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(s.Enqueued), "jobs")
	}
}

func seedMedia(b *testing.B, n int) *sql.DB {
	ctx := context.Background()
	d := dbtest.Open(b, filepath.Join(b.TempDir(), "b.sqlite"))
	err := db.InTx(ctx, d, func(tx *sql.Tx) error {
		if _, err := tx.Exec(`INSERT INTO tags (name) VALUES ('sky')`); err != nil {
			return err
		}
		_, err := tx.Exec(`WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < ?)
			INSERT INTO media (path, type, source, imported_at) SELECT '/lib/' || i || '.png', 'image', 'import', '2026-01-01T00:00:00Z' FROM c`, n)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(`INSERT INTO media_tags (media_id, tag_id) SELECT id, 1 FROM media`); err != nil {
			return err
		}
		_, err = tx.Exec(`INSERT INTO prompts (media_id, prompt) SELECT id, 'a prompt' FROM media`)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return d
}

// BenchmarkServiceOverheadPerJob measures claim → child process → result →
// finish per job against an instant fake (one tags_normalize job each).
func BenchmarkServiceOverheadPerJob(b *testing.B) {
	r := newRigTB(b, func(c *ollama.Config) { c.Worker.MaxConcurrency = 2 })
	for i := 0; i < b.N; i++ {
		r.addImageTB(b)
	}
	cfg := jobs.DefaultConfig()
	cfg.QueueMaxTotal, cfg.QueueMaxPerTypeDefault = 0, 0
	r.q = jobs.NewQueue(jobs.QueueOptions{DB: r.db, Clock: svtime.SystemClock{}, Config: cfg})
	e := &Enqueuer{Queue: r.q, Clock: svtime.SystemClock{}}
	if _, err := e.Enqueue(context.Background(), EnqueueOptions{Modes: []ollama.Mode{ollama.ModeTagsNormalize}, Limit: -1}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	svc := r.service(ServiceOptions{Batch: 10})
	r.runUntilTB(b, svc, func() bool { c, _ := Counts(context.Background(), r.db); return c.Queued == 0 && c.Running == 0 })
	b.StopTimer()
	if svc.Stats.Done != b.N {
		b.Fatalf("done %d of %d: %+v", svc.Stats.Done, b.N, svc.Stats)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
}

// BenchmarkClaim measures one Ollama claim (issue #17 item 10) with 1k, 10k
// and 100k queued jobs: all eight modes queued for every media, as a bulk
// `ollama-enqueue --mode=all` leaves them (the dependent modes are held
// back by their inputs), plus a running job. Each claimed job is put back
// untimed, so every iteration sees the same queue. claim= is the whole
// claim (its transaction's commit included), locked= only the statements
// inside BEGIN IMMEDIATE, i.e. how long the claim holds the write lock.
func BenchmarkClaim(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		d, q := claimBenchQueue(b, n)
		b.Run(fmt.Sprintf("claim/queued=%dk", n/1000), func(b *testing.B) {
			ctx := context.Background()
			for i := 0; i < b.N; i++ {
				j, err := claimJob(ctx, q, "bench", 0, 3)
				if err != nil || j == nil {
					b.Fatalf("claim: %v %v", j, err)
				}
				b.StopTimer()
				if _, err := d.Exec(`UPDATE jobs SET status = 'queued', attempts = 0, worker_owner = NULL, started_at = NULL WHERE id = ?`, j.ID); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
		b.Run(fmt.Sprintf("locked/queued=%dk", n/1000), func(b *testing.B) {
			ctx := context.Background()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				tx, err := d.BeginTx(ctx, nil)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				js, err := q.ClaimTx(ctx, tx, claimRequest("bench", 0, 3))
				b.StopTimer()
				_ = tx.Rollback()
				if err != nil || len(js) != 1 {
					b.Fatalf("claim: %v %v", js, err)
				}
				b.StartTimer()
			}
		})
	}
}

// claimBenchQueue is a queue of n Ollama jobs for BenchmarkClaim, the
// oldest of them claimed (running).
func claimBenchQueue(b *testing.B, n int) (*sql.DB, *jobs.Queue) {
	ctx := context.Background()
	types := JobTypes()
	d := seedMedia(b, n/len(types)+1)
	err := db.InTx(ctx, d, func(tx *sql.Tx) error {
		for _, t := range types {
			if _, err := tx.Exec(`INSERT INTO jobs (media_id, type, status, created_at, updated_at) SELECT id, ?, 'queued', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z' FROM media ORDER BY id`, t); err != nil {
				return err
			}
		}
		// Job ids follow the media, modes in order (as the enqueuer
		// inserts them), and the queue holds exactly n jobs.
		if _, err := tx.Exec(`CREATE TEMP TABLE o AS SELECT id FROM jobs ORDER BY media_id, id`); err != nil {
			return err
		}
		_, err := tx.Exec(`DELETE FROM jobs WHERE id NOT IN (SELECT id FROM o ORDER BY rowid LIMIT ?)`, n)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	q := jobs.NewQueue(jobs.QueueOptions{DB: d, Clock: svtime.SystemClock{}, Config: jobs.DefaultConfig()})
	if j, err := claimJob(ctx, q, "running", 0, 3); err != nil || j == nil {
		b.Fatalf("claim: %v %v", j, err)
	}
	return d, q
}
