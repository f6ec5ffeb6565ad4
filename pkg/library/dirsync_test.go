package library

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestDirSyncerSync: every remembered folder is synced exactly once before
// Sync returns, at most dirSyncParallel at a time (and more than one at a
// time when there are many), and Sync forgets them.
func TestDirSyncerSync(t *testing.T) {
	for _, n := range []int{0, 1, 2, 50} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			var mu sync.Mutex
			count := map[string]int{}
			active, peak := 0, 0
			s := &DirSyncer{syncFn: func(d string) {
				mu.Lock()
				count[d]++
				active++
				peak = max(peak, active)
				mu.Unlock()
				time.Sleep(2 * time.Millisecond) // let the others start
				mu.Lock()
				active--
				mu.Unlock()
			}}
			for i := range n {
				s.Add(fmt.Sprintf("/d/%02x", i))
				s.Add(fmt.Sprintf("/d/%02x", i)) // twice: still one sync
			}
			s.Sync()
			mu.Lock()
			defer mu.Unlock()
			if len(count) != n {
				t.Fatalf("synced %d folders, want %d", len(count), n)
			}
			for d, c := range count {
				if c != 1 {
					t.Fatalf("%s synced %d times", d, c)
				}
			}
			if peak > dirSyncParallel || (n >= dirSyncParallel && peak < 2) {
				t.Fatalf("peak concurrency %d (limit %d, %d folders)", peak, dirSyncParallel, n)
			}
			if active != 0 {
				t.Fatalf("Sync returned with %d syncs running", active)
			}
			clear(count)
			mu.Unlock()
			s.Sync() // forgotten: nothing again
			mu.Lock()
			if len(count) != 0 {
				t.Fatalf("second Sync synced %v", count)
			}
		})
	}
}
