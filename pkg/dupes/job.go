package dupes

import (
	"context"
	"database/sql"

	"github.com/localsupervisor/supervisor/pkg/config"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// OptionsFrom is the grouping options of the config's dupes section (the
// CLI's rebuild and the media worker's dupes_rebuild job read the same).
func OptionsFrom(c config.Dupes) Options {
	return Options{PhashThreshold: c.PhashThreshold, EmbeddingThreshold: c.EmbeddingThreshold, MaxGroupSize: c.MaxGroupSize}
}

// RebuildDedupeKey keeps one dupes_rebuild job queued at a time: a second
// click while one waits or runs gets that job.
const RebuildDedupeKey = "dupes_rebuild"

// RebuildHandler runs a dupes_rebuild job (the review page's "Look for
// duplicates now", queued for media-worker): Rebuild with o; its result
// is the build's counts.
func RebuildHandler(d *sql.DB, o Options, clock svtime.Clock) jobs.Handler {
	return func(ctx context.Context, _ *jobs.Job) (any, error) {
		return Rebuild(ctx, d, o, clock.Now())
	}
}
