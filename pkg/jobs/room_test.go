package jobs

import (
	"context"
	"testing"
)

// TestRoom: the free room is the smaller of the total and the type cap's,
// counted over queued jobs only, -1 with both caps off, and never negative;
// filling exactly the room is accepted and one more is refused.
func TestRoom(t *testing.T) {
	for _, c := range []struct {
		name          string
		total, perTyp int
		queuedA       int
		queuedB       int
		want          int
	}{
		// One t_b (when there is one) is set running before Room is asked.
		{"caps off", 0, 0, 3, 3, -1},
		{"type cap binds", 10, 4, 1, 2, 3},
		{"total binds, running job not counted", 5, 4, 1, 3, 2},
		{"full", 2, 10, 2, 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			q := newTestQueue(t, newClock(), func(cfg *Config) {
				cfg.QueueMaxTotal, cfg.QueueMaxPerTypeDefault, cfg.QueueMaxPerType = c.total, c.perTyp, nil
			})
			for typ, n := range map[string]int{"t_a": c.queuedA, "t_b": c.queuedB} {
				for range n {
					if _, err := q.Enqueue(ctx, EnqueueRequest{Type: typ}); err != nil {
						t.Fatal(err)
					}
				}
			}
			// A running job does not take room.
			if _, err := q.db.Exec(`UPDATE jobs SET status = 'running' WHERE id = (SELECT min(id) FROM jobs WHERE type = 't_b')`); err != nil {
				t.Fatal(err)
			}
			got, err := q.Room(ctx, "t_a")
			if err != nil || got != c.want {
				t.Fatalf("Room = %d, %v; want %d", got, err, c.want)
			}
			if got < 0 {
				return
			}
			for range got {
				if _, err := q.Enqueue(ctx, EnqueueRequest{Type: "t_a"}); err != nil {
					t.Fatalf("within the room: %v", err)
				}
			}
			if _, err := q.Enqueue(ctx, EnqueueRequest{Type: "t_a"}); !IsQueueFull(err) {
				t.Fatalf("beyond the room: %v", err)
			}
		})
	}
}
