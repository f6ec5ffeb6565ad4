package scan

import (
	"context"
	"io/fs"
	"sync/atomic"
	"time"

	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// ScanProgress is the live progress of a running import (a scan_path job's
// jobs.progress_json): what the job center shows while it runs.
type ScanProgress struct {
	// Done counts the files handled so far (media and not-media).
	Done int `json:"done"`
	// Total is the number of files below the path, once Counted.
	Total   int  `json:"total"`
	Counted bool `json:"counted"`
	// The outcomes so far.
	Imported   int `json:"imported"`
	Duplicates int `json:"duplicates"`
	Unchanged  int `json:"unchanged"`
	Errors     int `json:"errors"`
	// Rate is files per second since the start; ETA the seconds left at
	// that rate (0 until the count is known).
	Rate      float64 `json:"rate"`
	ETA       int     `json:"eta_s"`
	StartedAt string  `json:"started_at"`
	UpdatedAt string  `json:"updated_at"`
}

// progressEvery bounds how often a running import writes its progress:
// each report is a short write transaction.
const progressEvery = time.Second

// progressReporter turns the importer's per-file callback into at most one
// progress report per progressEvery, with the file total from a counting
// walk that runs beside the import (stat-only: it only reads folders).
type progressReporter struct {
	report  func(context.Context, ScanProgress) error
	clock   svtime.Clock
	start   time.Time
	last    time.Time
	total   atomic.Int64
	counted atomic.Bool
}

func newProgressReporter(clock svtime.Clock, report func(context.Context, ScanProgress) error) *progressReporter {
	if clock == nil {
		clock = svtime.SystemClock{}
	}
	now := clock.Now()
	return &progressReporter{report: report, clock: clock, start: now}
}

// count walks root as the import does and records how many files it holds.
// It returns when the walk ends or ctx is cancelled (the import finished).
func (r *progressReporter) count(ctx context.Context, root string, wo WalkOptions) {
	wo.OnError = nil
	var n int64
	err := Walk(ctx, root, wo, func(string, fs.FileInfo) error {
		n++
		if n%1024 == 0 {
			r.total.Store(n)
		}
		return ctx.Err()
	})
	if err == nil {
		r.total.Store(n)
		r.counted.Store(true)
	}
}

// snapshot computes the progress from s at now.
func (r *progressReporter) snapshot(s Summary, now time.Time) ScanProgress {
	p := ScanProgress{Done: s.Processed + s.NotMedia, Total: int(r.total.Load()), Counted: r.counted.Load(),
		Imported: s.Imported, Duplicates: s.Duplicates, Unchanged: s.Unchanged, Errors: s.Errors,
		StartedAt: svtime.Format(r.start), UpdatedAt: svtime.Format(now)}
	if el := now.Sub(r.start).Seconds(); el > 0 {
		p.Rate = float64(p.Done) / el
	}
	if p.Total < p.Done {
		p.Total = p.Done
	}
	if p.Counted && p.Rate > 0 {
		p.ETA = int(float64(p.Total-p.Done)/p.Rate + 0.5)
	}
	return p
}

// onFile is RunOptions.Progress: it reports when progressEvery has passed.
func (r *progressReporter) onFile(ctx context.Context, s Summary) {
	now := r.clock.Now()
	if now.Sub(r.last) < progressEvery {
		return
	}
	r.last = now
	_ = r.report(ctx, r.snapshot(s, now))
}

// final reports the end state (whatever the throttle says). After a
// complete walk every file was handled, so the total is what was done,
// whether or not the counting walk finished first.
func (r *progressReporter) final(ctx context.Context, s Summary, complete bool) {
	p := r.snapshot(s, r.clock.Now())
	if complete {
		p.Total, p.Counted, p.ETA = p.Done, true, 0
	}
	_ = r.report(context.WithoutCancel(ctx), p)
}
