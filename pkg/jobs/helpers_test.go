package jobs

import (
	"context"
	"database/sql"
	"github.com/localsupervisor/supervisor/pkg/db/dbtest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"os"
)

// testClock is a concurrency-safe settable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *testClock { return &testClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// openDB returns a migrated database in a temp dir and its path.
func openDB(tb testing.TB) (*sql.DB, string) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "DB", "local.sqlite")
	d := dbtest.Open(tb, path)
	return d, path
}

func testRegistry() *Registry {
	return NewRegistry(
		TypeSpec{Name: "t_a", Group: "g", MaxAttempts: 3, Weight: 4},
		TypeSpec{Name: "t_b", Group: "g", MaxAttempts: 3, Weight: 2},
		TypeSpec{Name: "t_c", Group: "g", MaxAttempts: 3, Weight: 1},
		TypeSpec{Name: "t_media", Group: "m", MaxAttempts: 2, UniquePerMedia: true},
	)
}

func newTestQueue(tb testing.TB, clock *testClock, mut func(*Config)) *Queue {
	tb.Helper()
	d, _ := openDB(tb)
	cfg := DefaultConfig()
	if mut != nil {
		mut(&cfg)
	}
	return NewQueue(QueueOptions{DB: d, Clock: clock, Config: cfg, Registry: testRegistry(), Jitter: func() float64 { return 0.5 }})
}

func i64(v int64) *int64 { return &v }

func mustEnqueue(tb testing.TB, q *Queue, req EnqueueRequest) int64 {
	tb.Helper()
	r, err := q.Enqueue(context.Background(), req)
	if err != nil {
		tb.Fatal(err)
	}
	return r.JobID
}

func status(tb testing.TB, q *Queue, id int64) Row {
	tb.Helper()
	r, err := q.Get(context.Background(), id)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// insertMedia creates a media row so media_id foreign keys hold.
func insertMedia(tb testing.TB, d *sql.DB, n int) {
	tb.Helper()
	for i := 1; i <= n; i++ {
		if _, err := d.Exec(`INSERT INTO media (id, path, type, source, imported_at) VALUES (?, ?, 'image', 'test', '2026-01-01T00:00:00Z')`, i, "/lib/"+time.Duration(i).String()); err != nil {
			tb.Fatal(err)
		}
	}
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}

// queryPlan returns the EXPLAIN QUERY PLAN details of query, one per line.
func queryPlan(tb testing.TB, d *sql.DB, query string, args ...any) string {
	tb.Helper()
	rows, err := d.Query("EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			tb.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return strings.Join(plan, "\n")
}
