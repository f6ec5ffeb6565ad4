package mediaops

import (
	"context"
	"fmt"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/jobs"
)

// DefaultTopUpWindow is how many media ids TopUp examines per type and run.
const DefaultTopUpWindow = 20000

// TopUp refills the queue with the import follow-up jobs (integrity_check,
// hash_compute) the caps refused at import time: media that lack the job's
// result and have no queued or running job of that type get one, at most
// the room left under the caps, so it never gets refused and never pushes
// the queue over a cap.
//
// Each run examines one window of at most Window media ids per type, so an
// idle run on a 1M library costs a bounded index walk, not a table scan.
// Windows go from the newest id down (refused follow-ups belong to recent
// imports) and wrap around at id 0; the cursor lives in the TopUp value, so
// a --loop worker sweeps the whole library over successive runs while a
// one-shot run looks at the newest Window ids.
type TopUp struct {
	Queue *jobs.Queue
	// Types are topped up in order (default integrity_check, hash_compute,
	// phash_compute).
	Types []string
	// Window bounds the ids examined per type and run (default
	// DefaultTopUpWindow).
	Window int64

	// next is the upper id bound of the next window per type (0: the
	// newest media id).
	next map[string]int64
}

// TopUpResult reports one type of a TopUp run.
type TopUpResult struct {
	Type string `json:"type"`
	// Room was free under the caps before the run (-1: uncapped).
	Room int `json:"room"`
	// AfterID and UpToID are the examined window (AfterID, UpToID].
	AfterID  int64 `json:"after_id"`
	UpToID   int64 `json:"up_to_id"`
	Enqueued int   `json:"enqueued"`
	// QueueFull is set when the queue refused a job anyway (another
	// enqueuer took the room meanwhile); the run stopped there.
	QueueFull bool `json:"queue_full,omitempty"`
}

// Run tops the queue up once per type.
func (t *TopUp) Run(ctx context.Context) ([]TopUpResult, error) {
	types := t.Types
	if len(types) == 0 {
		types = []string{jobs.TypeIntegrityCheck, jobs.TypeHashCompute, jobs.TypePHashCompute}
	}
	if t.next == nil {
		t.next = map[string]int64{}
	}
	var out []TopUpResult
	for _, typ := range types {
		r, err := t.runType(ctx, typ)
		if err != nil {
			return out, fmt.Errorf("top up %s: %w", typ, err)
		}
		if r != nil {
			out = append(out, *r)
		}
	}
	return out, nil
}

func (t *TopUp) runType(ctx context.Context, typ string) (*TopUpResult, error) {
	room, err := t.Queue.Room(ctx, typ)
	if err != nil || room == 0 {
		return nil, err
	}
	hi := t.next[typ]
	if hi <= 0 {
		if err := t.Queue.DB().QueryRowContext(ctx, `SELECT COALESCE(MAX(id),0) FROM media`).Scan(&hi); err != nil {
			return nil, db.Classify(err)
		}
		if hi == 0 {
			return nil, nil
		}
	}
	window := t.Window
	if window <= 0 {
		window = DefaultTopUpWindow
	}
	lo := max(hi-window, 0)
	limit := room
	if room < 0 {
		// No cap: the window bounds the run.
		limit = 0
	}
	sum, err := EnqueueMedia(ctx, t.Queue, EnqueueOptions{Type: typ, AllMissing: true, SkipLive: true,
		AfterID: lo, UpToID: hi, Limit: limit})
	res := &TopUpResult{Type: typ, Room: room, AfterID: lo, UpToID: hi, Enqueued: sum.Enqueued, QueueFull: sum.QueueFull}
	if err != nil {
		return res, err
	}
	// A window that ran out of candidates is done; one cut short by the
	// room is looked at again next run (its new jobs are skipped as live).
	if !sum.QueueFull && (room < 0 || sum.Candidates < room) {
		t.next[typ] = lo
	}
	return res, nil
}
