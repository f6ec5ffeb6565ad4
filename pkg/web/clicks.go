package web

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"

	"github.com/localsupervisor/supervisor/pkg/db"
)

// Click recorder defaults.
const (
	// clickFlushEvery is how often the background writer folds the
	// buffered detail-view clicks into media_activity.
	clickFlushEvery = 2 * time.Second
	// clickMaxPending bounds the buffer (distinct media): while the
	// database stays locked, clicks on further media are dropped rather
	// than held without limit.
	clickMaxPending = 10000
)

// clickRecorder buffers the admin detail-view counter in memory so a page
// view never writes (and never waits for another process holding the
// write lock); Server.Run folds the buffer in one short transaction.
type clickRecorder struct {
	mu      sync.Mutex
	pending map[int64]clickCount
	dropped int64
}

type clickCount struct {
	n    int64
	last int64 // unix seconds of the newest click
}

func newClickRecorder() *clickRecorder {
	return &clickRecorder{pending: map[int64]clickCount{}}
}

// add counts one view of media id at unix time at.
func (c *clickRecorder) add(id, at int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.merge(id, clickCount{n: 1, last: at})
}

// merge adds cc to id's count; the caller holds mu.
func (c *clickRecorder) merge(id int64, cc clickCount) {
	p, ok := c.pending[id]
	if !ok && len(c.pending) >= clickMaxPending {
		c.dropped += cc.n
		return
	}
	c.pending[id] = clickCount{n: p.n + cc.n, last: max(p.last, cc.last)}
}

// flush writes the buffered clicks in one transaction. On failure (a busy
// database) they go back into the buffer for the next flush.
func (c *clickRecorder) flush(ctx context.Context, d *sql.DB) error {
	c.mu.Lock()
	batch, dropped := c.pending, c.dropped
	c.pending, c.dropped = map[int64]clickCount{}, 0
	c.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	err := db.InTx(ctx, d, func(tx *sql.Tx) error {
		// A media deleted since its view is skipped (the foreign key
		// would fail the whole batch).
		st, err := tx.PrepareContext(ctx, `INSERT INTO media_activity(media_id, clicks, last_click_at)
			SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM media WHERE id = ?1)
			ON CONFLICT(media_id) DO UPDATE SET clicks = clicks + excluded.clicks,
			last_click_at = max(coalesce(last_click_at, 0), excluded.last_click_at)`)
		if err != nil {
			return err
		}
		defer st.Close()
		for id, cc := range batch {
			if _, err := st.ExecContext(ctx, id, cc.n, cc.last); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		c.mu.Lock()
		for id, cc := range batch {
			c.merge(id, cc)
		}
		c.dropped += dropped
		c.mu.Unlock()
		return fmt.Errorf("record %d media's clicks: %w", len(batch), err)
	}
	if dropped > 0 {
		return fmt.Errorf("%d clicks dropped while the database was busy (buffer full)", dropped)
	}
	return nil
}

// Run is the server's background writer: it folds buffered clicks into the
// database every clickFlushEvery and deletes expired sessions every
// sessionCleanupEvery, so no request writes for them. It returns when ctx
// ends, after a last flush.
func (s *Server) Run(ctx context.Context) {
	flush := time.NewTicker(clickFlushEvery)
	defer flush.Stop()
	cleanup := time.NewTicker(sessionCleanupEvery)
	defer cleanup.Stop()
	s.cleanupSessions(ctx)
	for {
		select {
		case <-ctx.Done():
			// The last clicks still go in; a locked database is waited
			// for no longer than the shutdown allows.
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			s.flushClicks(fctx)
			cancel()
			return
		case <-flush.C:
			s.flushClicks(ctx)
		case <-cleanup.C:
			s.cleanupSessions(ctx)
		}
	}
}

func (s *Server) flushClicks(ctx context.Context) {
	if err := s.clicks.flush(ctx, s.db); err != nil {
		s.log.Warn().Err(err).Str("event", "clicks_not_recorded").Msg("detail-view clicks not recorded yet; retrying")
	}
}

func (s *Server) cleanupSessions(ctx context.Context) {
	if _, err := s.sessions.cleanup(ctx, s.clock.Now()); err != nil {
		s.log.Warn().Err(err).Str("event", "session_cleanup_failed").Msg("expired sessions not deleted; retrying later")
	}
}
