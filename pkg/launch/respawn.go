package launch

import (
	"cmp"
	"context"
	"sync"
	"time"

	"github.com/localsupervisor/supervisor/pkg/jobs/workerstate"
)

// Respawner spawns like Spawn and, when the spawn met a worker that is
// still there, spawns once more as soon as that worker's lock
// (LOGS/<service>.lock) is free. A one-shot worker that is exiting has
// looked at the queue for the last time: a job queued meanwhile got the
// answer "busy" (the cooldown after the worker's own spawn) or "locked",
// or a new process that found the lock held and left, and stayed queued
// until some later spawn. Only one follow-up per worker waits at a time.
type Respawner struct {
	ctx context.Context
	// Poll is how often the lock is checked (default 250 ms).
	Poll time.Duration
	// Wait bounds the wait for the lock (default 10 min): a --loop worker
	// holds it for good and claims the job itself.
	Wait time.Duration

	mu      sync.Mutex
	waiting map[string]bool
	wg      sync.WaitGroup
}

// NewRespawner returns a Respawner whose follow-ups live as long as ctx
// (the spawning process's lifetime, not a request's).
func NewRespawner(ctx context.Context) *Respawner {
	return &Respawner{ctx: ctx, waiting: map[string]bool{}}
}

// Spawn spawns req (see Spawn) and returns its status at once. service
// names the worker's lock; a spawn refused as busy or locked, or made
// while the lock was held, gets one follow-up spawn once the lock is free.
func (r *Respawner) Spawn(ctx context.Context, req SpawnRequest, service string) SpawnStatus {
	held, _ := workerstate.LockHeld(req.LogsDir, service)
	st := Spawn(ctx, req)
	if st.Status == StatusBusy || st.Status == StatusLocked || (held && st.OK()) {
		r.follow(req, service)
	}
	return st
}

// follow waits (in the background) for service's lock to be free, then
// spawns req once, past the cooldown: this spawn is the one the cooldown
// refused.
func (r *Respawner) follow(req SpawnRequest, service string) {
	r.mu.Lock()
	if r.waiting[service] {
		r.mu.Unlock()
		return
	}
	r.waiting[service] = true
	r.mu.Unlock()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer func() {
			r.mu.Lock()
			delete(r.waiting, service)
			r.mu.Unlock()
		}()
		poll := cmp.Or(r.Poll, 250*time.Millisecond)
		t := time.NewTicker(poll)
		defer t.Stop()
		deadline := time.Now().Add(cmp.Or(r.Wait, 10*time.Minute))
		for time.Now().Before(deadline) {
			select {
			case <-r.ctx.Done():
				return
			case <-t.C:
			}
			if held, err := workerstate.LockHeld(req.LogsDir, service); err != nil || held {
				continue
			}
			again := req
			again.Cooldown = -1
			again.RequestedBy = cmp.Or(req.RequestedBy, "cli") + "_respawn"
			_ = Spawn(r.ctx, again)
			return
		}
	}()
}

// Close waits for the follow-ups; they end when the Respawner's context
// ends, at the latest after Wait.
func (r *Respawner) Close() { r.wg.Wait() }
