package sources

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// DefaultWatchInterval is import.watch_interval_minutes' default.
const DefaultWatchInterval = 10 * time.Minute

// Watcher queues a rescan of every watched source whose last scan is older
// than Interval. The scan worker runs it (scan-worker, under its lock);
// the scan itself is incremental (unchanged files are only stat'ed).
type Watcher struct {
	DB    *sql.DB
	Clock svtime.Clock
	// Interval is the minimum time between two scans of one watched
	// source (0: DefaultWatchInterval).
	Interval time.Duration
	// Enqueue queues a scan_path job for src in src.Mode, deduped on the
	// folder (the scan worker wires scan.EnqueueScanPath): a scan already
	// queued or running is not queued twice.
	Enqueue func(ctx context.Context, src Source) (jobs.EnqueueResult, error)
}

// WatchResult is one RunOnce pass.
type WatchResult struct {
	// Due is how many watched sources were due.
	Due int `json:"due"`
	// Queued counts new scan_path jobs, Deduped the due sources that
	// already had one queued or running.
	Queued  int `json:"queued"`
	Deduped int `json:"deduped"`
	// Failed are the sources whose scan could not be queued (e.g. the
	// folder is gone), with the error.
	Failed map[string]error `json:"-"`
}

// RunOnce queues the due scans. A source counts as due when watched and
// both its last scan and the watcher's last queueing of it are at least
// Interval ago; the queueing time is stored whatever the outcome, so a
// source is queued at most once per Interval even while its scan waits in
// the queue, fails before it starts, or its folder is gone.
func (w *Watcher) RunOnce(ctx context.Context) (WatchResult, error) {
	res := WatchResult{Failed: map[string]error{}}
	interval := w.Interval
	if interval <= 0 {
		interval = DefaultWatchInterval
	}
	now := w.Clock.Now()
	cutoff := svtime.Format(now.Add(-interval))
	due, err := query(ctx, w.DB, `WHERE watch = 1 AND (last_scan_at IS NULL OR last_scan_at <= ?)
		AND (watch_queued_at IS NULL OR watch_queued_at <= ?) ORDER BY path`, cutoff, cutoff)
	if err != nil {
		return res, err
	}
	res.Due = len(due)
	for _, src := range due {
		r, err := w.Enqueue(ctx, src)
		switch {
		case err != nil:
			res.Failed[src.Path] = err
		case r.Deduped:
			res.Deduped++
		default:
			res.Queued++
		}
		if _, err := w.DB.ExecContext(ctx, `UPDATE library_sources SET watch_queued_at = ? WHERE id = ?`, svtime.Format(now), src.ID); err != nil {
			return res, fmt.Errorf("watch source %s: %w", src.Path, db.Classify(err))
		}
	}
	return res, nil
}

// Run calls RunOnce now and then every tick until ctx ends, handing each
// outcome to report (errors are reported, never fatal: the next tick
// tries again).
func (w *Watcher) Run(ctx context.Context, tick time.Duration, report func(WatchResult, error)) {
	for {
		res, err := w.RunOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		report(res, err)
		t := time.NewTimer(tick)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// Tick is how often a watcher with interval checks: a tenth of it, at
// least 10 s and at most a minute, so a due source waits little.
func Tick(interval time.Duration) time.Duration {
	return min(max(interval/10, 10*time.Second), time.Minute)
}
