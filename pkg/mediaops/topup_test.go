package mediaops_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/mediaops"
	"github.com/localsupervisor/supervisor/pkg/scan"
)

// TestTopUpAfterRefusedImportFollowUps: an import whose follow-ups a small
// cap refuses logs one summary warning; media-worker runs afterwards top the
// queue up to the cap (never over it, never refused), process the jobs, and
// repeated runs cover every media; with nothing missing nothing is queued.
// A small window makes the sweep wrap around the id range.
func TestTopUpAfterRefusedImportFollowUps(t *testing.T) {
	const files, typeCap = 12, 3
	for _, window := range []int64{0, 5} {
		t.Run(fmt.Sprintf("window=%d", window), func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t)
			cfg := jobs.DefaultConfig()
			cfg.QueueMaxTotal, cfg.QueueMaxPerTypeDefault = 5, typeCap
			q := jobs.NewQueue(jobs.QueueOptions{DB: e.db, Config: cfg, Clock: e.svc.Clock})
			src := t.TempDir()
			for i := range files {
				if err := os.WriteFile(filepath.Join(src, fmt.Sprintf("f%02d.png", i)), pngBytes(t, 8+i, 8), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			im := &scan.Importer{DB: e.db, Roots: e.svc.Roots, Mode: scan.ModeCopy, Clock: e.svc.Clock, Enqueue: scan.QueueEnqueuer(q)}
			if sum, err := im.ScanPath(ctx, src, scan.RunOptions{}); err != nil || sum.Imported != files {
				t.Fatalf("import: %+v %v", sum, err)
			}
			// The importer writes hash.sha256 itself; without it (media of
			// an older import) hash_compute has work to top up as well.
			if _, err := e.db.Exec(`DELETE FROM media_meta WHERE meta_key='hash.sha256'`); err != nil {
				t.Fatal(err)
			}
			warnings := func() int {
				var n int
				e.db.QueryRow(`SELECT COUNT(*) FROM consistency_log WHERE check_name='import_enqueue'`).Scan(&n)
				return n
			}
			if n := warnings(); n != 1 {
				t.Fatalf("%d import_enqueue warnings, want one summary", n)
			}
			queued := func() (total int, perType map[string]int) {
				perType = map[string]int{}
				rows, err := e.db.Query(`SELECT type, COUNT(*) FROM jobs WHERE status='queued' GROUP BY type`)
				if err != nil {
					t.Fatal(err)
				}
				defer rows.Close()
				for rows.Next() {
					var typ string
					var n int
					rows.Scan(&typ, &n)
					perType[typ], total = n, total+n
				}
				return total, perType
			}
			checkCaps := func(when string) {
				total, per := queued()
				if total > cfg.QueueMaxTotal || per[jobs.TypeIntegrityCheck] > typeCap || per[jobs.TypeHashCompute] > typeCap || per[jobs.TypePHashCompute] > typeCap {
					t.Fatalf("%s: over the caps: total %d, %v", when, total, per)
				}
			}
			checkCaps("after import")
			followUps := []string{jobs.TypeIntegrityCheck, jobs.TypeHashCompute, jobs.TypePHashCompute}

			top := &mediaops.TopUp{Queue: q, Window: window}
			// Full queue: no room, nothing enqueued, nothing refused.
			res, err := top.Run(ctx)
			if err != nil || enqueued(res) != 0 {
				t.Fatalf("top-up on a full queue: %+v %v", res, err)
			}

			r, err := jobs.NewRunner(jobs.RunnerOptions{Queue: q, Worker: "media_worker", Types: followUps,
				Handlers: e.svc.MediaHandlers(), LogsDir: t.TempDir(), HeartbeatInterval: 20 * time.Millisecond, Grace: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Start(); err != nil {
				t.Fatal(err)
			}
			defer r.Close()

			// What each follow-up leaves behind when done.
			lacks := map[string]string{
				jobs.TypeIntegrityCheck: `NOT EXISTS (SELECT 1 FROM media_meta mm WHERE mm.media_id=m.id AND mm.meta_key='integrity.checked_at')`,
				jobs.TypeHashCompute:    `NOT EXISTS (SELECT 1 FROM media_meta mm WHERE mm.media_id=m.id AND mm.meta_key='hash.sha256')`,
				jobs.TypePHashCompute:   `NOT EXISTS (SELECT 1 FROM media_phash p WHERE p.media_id=m.id)`,
			}
			missingOf := func(typ string) int {
				var n int
				e.db.QueryRow(`SELECT COUNT(*) FROM media m WHERE ` + lacks[typ]).Scan(&n)
				return n
			}
			missing := func() int {
				n := 0
				for _, typ := range followUps {
					n += missingOf(typ)
				}
				return n
			}
			// A media-worker run: top up, then claim and process.
			runs := 0
			for ; missing() > 0; runs++ {
				if runs > 40 {
					t.Fatalf("%d media still missing results after %d runs", missing(), runs)
				}
				before, _ := queued()
				notLive := map[string]int{}
				want := 0
				for _, typ := range followUps {
					var n int
					e.db.QueryRow(`SELECT COUNT(*) FROM media m WHERE `+lacks[typ]+`
						AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.media_id=m.id AND j.type=? AND j.status IN ('queued','running'))`, typ).Scan(&n)
					notLive[typ] = n
					want += min(typeCap, missingOf(typ))
				}
				want = min(cfg.QueueMaxTotal, want)
				res, err := top.Run(ctx)
				if err != nil {
					t.Fatal(err)
				}
				checkCaps(fmt.Sprintf("run %d", runs))
				for _, tr := range res {
					if tr.QueueFull {
						t.Errorf("run %d: top-up ran into a cap: %+v", runs, tr)
					}
					// The whole window fits, so the room (or what is
					// missing and not queued yet) is filled exactly.
					if window == 0 && tr.Enqueued != min(tr.Room, notLive[tr.Type]) {
						t.Errorf("run %d: %s enqueued %d, room %d, %d missing without a live job", runs, tr.Type, tr.Enqueued, tr.Room, notLive[tr.Type])
					}
				}
				after, _ := queued()
				if after-before != enqueued(res) {
					t.Fatalf("run %d: queued %d→%d, top-up reports %+v", runs, before, after, res)
				}
				if window == 0 && before == 0 && enqueued(res) != want {
					t.Errorf("run %d: empty queue topped up with %d jobs, want %d (up to the caps) %+v", runs, enqueued(res), want, res)
				}
				// Two jobs per run: the next top-up finds live jobs left.
				s, err := r.RunBatch(ctx, 2)
				if err != nil || s.Errors > 0 {
					t.Fatalf("run %d: batch %+v %v", runs, s, err)
				}
			}
			if runs < 2 {
				t.Errorf("covered in %d runs: the caps did not bound the top-up", runs)
			}
			if n := warnings(); n != 1 {
				t.Errorf("top-up logged refusals: %d import_enqueue warnings", n)
			}
			var failed int
			e.db.QueryRow(`SELECT COUNT(*) FROM jobs WHERE status<>'done'`).Scan(&failed)
			if failed != 0 {
				t.Errorf("%d jobs not done", failed)
			}
			// Nothing missing: a full sweep enqueues nothing.
			for i := range 4 {
				res, err := top.Run(ctx)
				if err != nil || enqueued(res) != 0 {
					t.Fatalf("sweep %d with nothing missing: %+v %v", i, res, err)
				}
			}
		})
	}
}

func enqueued(res []mediaops.TopUpResult) int {
	n := 0
	for _, r := range res {
		n += r.Enqueued
	}
	return n
}
