package ollamasvc

import (
	"context"
	"database/sql"
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
