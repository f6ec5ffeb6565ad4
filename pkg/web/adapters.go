package web

import (
	"context"
	"os"
	"time"

	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/thumb"
)

// ThumbAdapter makes a *thumb.Generator a Thumbnailer.
type ThumbAdapter struct{ G *thumb.Generator }

// Thumb stats the source (mtime and size are part of the cache key) and asks
// the generator for the cached file.
func (a ThumbAdapter) Thumb(ctx context.Context, src ThumbSource) (Thumb, error) {
	st, err := os.Stat(src.Path)
	if err != nil {
		return Thumb{}, err
	}
	ts := thumb.Source{MediaID: src.ID, Path: src.Path, Type: src.Type, Size: src.Size, ModTime: st.ModTime(), FileSize: st.Size()}
	p, ct, err := a.G.Get(ctx, ts)
	if err != nil {
		return Thumb{}, err
	}
	// Last-Modified is the source's mtime, not the cache file's: the
	// cache's LRU cap uses the cache file's mtime as its access time.
	return Thumb{Path: p, ContentType: ct, ETag: thumb.ETag(ts), ModTime: st.ModTime().UTC().Truncate(time.Second)}, nil
}

// Purge removes the cached thumbnails of a media item.
func (a ThumbAdapter) Purge(id int64) error { return a.G.Purge(id) }

// JobAdminAdapter makes a *jobs.Queue a JobAdmin.
type JobAdminAdapter struct{ Q *jobs.Queue }

// Cancel requests cancellation of a queued or running job.
func (a JobAdminAdapter) Cancel(ctx context.Context, id int64) error {
	_, err := a.Q.Cancel(ctx, id)
	return err
}

// Requeue puts a finished job back into the queue.
func (a JobAdminAdapter) Requeue(ctx context.Context, id int64) error { return a.Q.Requeue(ctx, id) }

// Delete removes a finished job.
func (a JobAdminAdapter) Delete(ctx context.Context, id int64) error { return a.Q.Delete(ctx, id) }

// Prune deletes finished jobs of the given types.
func (a JobAdminAdapter) Prune(ctx context.Context, req PruneRequest) (PruneResult, error) {
	res, err := a.Q.Prune(ctx, jobs.PruneOptions{Types: req.Types, Statuses: req.Status, DryRun: req.DryRun, Force: req.Force})
	if err != nil {
		return PruneResult{}, err
	}
	return PruneResult{MatchedCount: res.Matched, DeletedCount: res.Deleted, UpdatedCount: res.CancelRequested,
		BlockedRunningCount: res.BlockedRunning, DryRun: res.DryRun}, nil
}
