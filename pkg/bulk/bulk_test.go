package bulk

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/db/dbtest"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/library"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

var at = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

type env struct {
	base  string
	d     *sql.DB
	q     *jobs.Queue
	clock *svtime.FixedClock
	s     *Service
	ids   []int64
	roots library.Roots
}

// newEnv makes n media (every other one a video); with files, each media
// has a real file under the library root.
func newEnv(t testing.TB, n int, files bool) *env {
	t.Helper()
	base := t.TempDir()
	d := dbtest.Open(t, filepath.Join(base, "sv.sqlite"))
	e := &env{base: base, d: d, clock: &svtime.FixedClock{T: at}}
	e.roots = library.Roots{ImagesSFW: filepath.Join(base, "lib", "img"), ImagesNSFW: filepath.Join(base, "lib", "img18"),
		VideosSFW: filepath.Join(base, "lib", "vid"), VideosNSFW: filepath.Join(base, "lib", "vid18")}
	for _, r := range e.roots.All() {
		if err := os.MkdirAll(r, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ms := make([]media.NewMedia, n)
	for i := range ms {
		typ, root := "image", e.roots.ImagesSFW
		if i%2 == 1 {
			typ, root = "video", e.roots.VideosSFW
		}
		p := filepath.Join(root, fmt.Sprintf("m%04d.bin", i))
		if files {
			if err := os.WriteFile(p, []byte(p), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		ms[i] = media.NewMedia{Path: p, Type: typ, Hash: fmt.Sprintf("%064x", i+1)}
	}
	ids, err := media.InsertMany(context.Background(), d, ms, at)
	if err != nil {
		t.Fatal(err)
	}
	e.ids = ids
	e.q = jobs.NewQueue(jobs.QueueOptions{DB: d, Clock: e.clock, Config: jobs.DefaultConfig()})
	e.s = &Service{DB: d, Queue: e.q, Roots: e.roots, Clock: e.clock, Chunk: 100,
		Services: map[string]bool{ServiceTagger: true}}
	return e
}

func (e *env) enqueue(t *testing.T, r Request) int64 {
	t.Helper()
	if r.At == 0 {
		r.At = at.Unix()
	}
	if r.All && r.UpTo == 0 {
		r.UpTo = e.ids[len(e.ids)-1]
	}
	res, err := e.q.Enqueue(context.Background(), jobs.EnqueueRequest{Type: jobs.TypeMediaBulk, Payload: Payload{Request: r}})
	if err != nil {
		t.Fatal(err)
	}
	return res.JobID
}

// runJobs runs the queued bulk jobs with the one job Runner, as
// media-worker does.
func (e *env) runJobs(t *testing.T) jobs.Summary {
	t.Helper()
	r, err := jobs.NewRunner(jobs.RunnerOptions{Queue: e.q, Worker: "media_worker", Types: []string{jobs.TypeMediaBulk},
		Handlers: map[string]jobs.Handler{jobs.TypeMediaBulk: e.s.Handler()}, LogsDir: t.TempDir(), Argv: []string{"test"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	sum, err := r.RunBatch(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

type jobRow struct {
	Status, Code, Result, Payload string
	Bits, Total                   int
}

func (e *env) job(t *testing.T, id int64) jobRow {
	t.Helper()
	var r jobRow
	var code, res, pay sql.NullString
	var bits, total sql.NullInt64
	err := e.d.QueryRow(`SELECT status, last_error_code, result_json, payload_json, progress_bits, progress_bits_total FROM jobs WHERE id = ?`, id).
		Scan(&r.Status, &code, &res, &pay, &bits, &total)
	if err != nil {
		t.Fatal(err)
	}
	r.Code, r.Result, r.Payload, r.Bits, r.Total = code.String, res.String, pay.String, int(bits.Int64), int(total.Int64)
	return r
}

func (e *env) count(t *testing.T, q string, args ...any) int {
	t.Helper()
	var n int
	if err := e.d.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (e *env) tagged(t *testing.T, tag string) int {
	return e.count(t, `SELECT count(*) FROM media_tags mt JOIN tags g ON g.id = mt.tag_id WHERE g.name = ?`, tag)
}

func (e *env) audits(t *testing.T, action string) int {
	return e.count(t, `SELECT count(*) FROM audit_log WHERE action = ? AND entity_type = 'media'`, action)
}

// TestBulkJobChunks: a select-all by query runs in chunks of Chunk media;
// the job's progress ends at total/total, every matching media (and only
// those) is changed once, and every change has its audit row.
func TestBulkJobChunks(t *testing.T) {
	e := newEnv(t, 1000, false)
	id := e.enqueue(t, Request{Action: Action{Name: ActTagAdd, Tag: "bulkdone"}, All: true, Query: "type=image", Adult: true, ActorIP: "127.0.0.1", ActorKey: "session"})
	if sum := e.runJobs(t); sum.Done != 1 {
		t.Fatalf("summary %+v", sum)
	}
	row := e.job(t, id)
	if row.Status != jobs.StatusDone || row.Bits != 500 || row.Total != 500 {
		t.Fatalf("job %+v", row)
	}
	var res Result
	if err := json.Unmarshal([]byte(row.Result), &res); err != nil || res.Done != 500 || res.Skipped != 0 {
		t.Fatalf("result %s (%v)", row.Result, err)
	}
	if n := e.tagged(t, "bulkdone"); n != 500 {
		t.Fatalf("%d tagged, want 500", n)
	}
	if n := e.count(t, `SELECT count(*) FROM media_tags mt JOIN media m ON m.id = mt.media_id WHERE m.type = 'video'`); n != 0 {
		t.Fatalf("%d videos tagged outside the selection", n)
	}
	if n := e.audits(t, ActTagAdd); n != 500 {
		t.Fatalf("%d audit rows, want 500", n)
	}
	var ip, key string
	e.d.QueryRow(`SELECT actor_ip, actor_key FROM audit_log WHERE action = ? LIMIT 1`, ActTagAdd).Scan(&ip, &key)
	if ip != "127.0.0.1" || key == "" {
		t.Fatalf("audit actor %q %q", ip, key)
	}
}

var errCrash = errors.New("simulated crash before the chunk's commit")

// crashAt claims the queued bulk job for a dead worker and runs it with
// the job's checkpoint until chunk k, whose transaction fails (rolls back)
// as kill -9 before its commit would leave it.
func (e *env) crashAt(t *testing.T, k int) {
	t.Helper()
	dead := "media_worker:" + hostnameOf() + ":999999999:dead"
	js, err := e.q.Claim(context.Background(), jobs.ClaimRequest{Owner: dead, Types: []string{jobs.TypeMediaBulk}})
	if err != nil || len(js) != 1 {
		t.Fatalf("claim %v %v", js, err)
	}
	j := js[0]
	var p Payload
	if err := j.Decode(&p); err != nil {
		t.Fatal(err)
	}
	chunks, cp := 0, JobCheckpoint(j)
	_, err = e.s.Run(context.Background(), &p, func(ctx context.Context, tx *sql.Tx, q Payload, n int) error {
		if chunks++; chunks == k {
			return errCrash
		}
		return cp(ctx, tx, q, n)
	})
	if !errors.Is(err, errCrash) {
		t.Fatalf("run: %v", err)
	}
}

// TestBulkJobResumesAfterCrash: a run that dies before a chunk commits
// (the checkpoint transaction rolls back, as kill -9 would leave it) keeps
// the chunks before it; stuck recovery gives the job back and the next run
// resumes after the last committed chunk: every media is changed exactly
// once and has exactly one audit row.
func TestBulkJobResumesAfterCrash(t *testing.T) {
	for _, c := range []struct {
		name string
		req  Request
		want int
	}{
		{"select all", Request{Action: Action{Name: ActTagAdd, Tag: "resumed"}, All: true, Adult: true}, 1000},
		{"id list", Request{Action: Action{Name: ActTagAdd, Tag: "resumed"}}, 700},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, 1000, false)
			if !c.req.All {
				c.req.IDs = e.ids[100:800]
			}
			id := e.enqueue(t, c.req)
			e.crashAt(t, 4)
			if n := e.tagged(t, "resumed"); n != 300 {
				t.Fatalf("after the crash %d tagged, want the 3 committed chunks (300)", n)
			}
			if row := e.job(t, id); row.Bits != 300 {
				t.Fatalf("progress after the crash %d, want 300", row.Bits)
			}
			e.clock.Advance(24 * time.Hour) // the dead claim's lease is long gone
			if sum := e.runJobs(t); sum.Recovered != 1 || sum.Done != 1 {
				t.Fatalf("summary %+v", sum)
			}
			row := e.job(t, id)
			if row.Status != jobs.StatusDone || row.Bits != c.want || row.Total != c.want {
				t.Fatalf("job %+v", row)
			}
			if n := e.tagged(t, "resumed"); n != c.want {
				t.Fatalf("%d tagged, want %d", n, c.want)
			}
			if n := e.audits(t, ActTagAdd); n != c.want {
				t.Fatalf("%d audit rows, want exactly %d (one per media)", n, c.want)
			}
		})
	}
}

func hostnameOf() string {
	h, _ := os.Hostname()
	return h
}

// TestBulkHardDeleteResumes: hard delete goes through media.HardDelete
// (row and its audit row first, then the file, only inside the roots),
// one media per checkpoint. A crash after a media's delete committed but
// before its checkpoint repeats that media on resume, where it is gone:
// skipped, nothing removed twice, and no other file touched.
func TestBulkHardDeleteResumes(t *testing.T) {
	e := newEnv(t, 40, true)
	outside := filepath.Join(t.TempDir(), "keep.bin")
	if err := os.WriteFile(outside, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	extra, err := media.Insert(context.Background(), e.d, media.NewMedia{Path: outside, Type: "image", Hash: "ff"}, at)
	if err != nil {
		t.Fatal(err)
	}
	sel := append(append([]int64(nil), e.ids[:20]...), extra)
	id := e.enqueue(t, Request{Action: Action{Name: ActHardDelete, Confirmed: true}, IDs: sel})
	e.crashAt(t, 6) // media 6 is deleted, its checkpoint is not
	if got := e.count(t, `SELECT count(*) FROM media WHERE id <= ?`, e.ids[19]); got != 14 {
		t.Fatalf("%d of the first 20 rows left after the crash, want 14", got)
	}
	e.clock.Advance(24 * time.Hour)
	e.runJobs(t)
	row := e.job(t, id)
	if row.Status != jobs.StatusDone || row.Bits != 21 {
		t.Fatalf("job %+v", row)
	}
	var res Result
	json.Unmarshal([]byte(row.Result), &res)
	if res.Done != 20 || res.Skips[SkipGone] != 1 {
		t.Fatalf("result %s", row.Result)
	}
	for i, mid := range e.ids {
		_, statErr := os.Stat(filepath.Join(e.roots.ImagesSFW, fmt.Sprintf("m%04d.bin", i)))
		if i%2 == 1 {
			_, statErr = os.Stat(filepath.Join(e.roots.VideosSFW, fmt.Sprintf("m%04d.bin", i)))
		}
		if gone := errors.Is(statErr, os.ErrNotExist); gone != (i < 20) {
			t.Fatalf("media %d (#%d): file gone %v", mid, i, gone)
		}
	}
	if _, err := os.Stat(outside); err != nil {
		t.Fatalf("a file outside the library roots was removed: %v", err)
	}
	if n := e.count(t, `SELECT count(*) FROM media`); n != 20 {
		t.Fatalf("%d media rows left, want 20", n)
	}
	if n := e.audits(t, "media_hard_delete"); n != 21 {
		t.Fatalf("%d hard-delete audit rows, want 21 (one per media)", n)
	}
}

// TestBulkRefusesBadInput: a request that cannot work is refused with a
// reason code before anything changes, and a job carrying one ends as a
// permanent error with that code (not retried).
func TestBulkRefusesBadInput(t *testing.T) {
	e := newEnv(t, 5, false)
	for _, c := range []struct {
		name string
		req  Request
		code string
	}{
		{"unknown action", Request{Action: Action{Name: "paint_it_black"}, IDs: e.ids}, CodeUnknownAction},
		{"empty selection", Request{Action: Action{Name: ActRate, Rating: 2}}, CodeEmptySelection},
		{"bad query", Request{Action: Action{Name: ActRate, Rating: 2}, All: true, Query: "q=steps%3Aabc"}, CodeBadQuery},
		{"unparsable query", Request{Action: Action{Name: ActRate, Rating: 2}, All: true, Query: "q=%zz"}, CodeBadQuery},
		{"rating out of range", Request{Action: Action{Name: ActRate, Rating: 7}, IDs: e.ids}, CodeBadValue},
		{"tag missing", Request{Action: Action{Name: ActTagAdd}, IDs: e.ids}, CodeBadValue},
		{"hard delete unconfirmed", Request{Action: Action{Name: ActHardDelete}, IDs: e.ids}, CodeConfirm},
		{"service off", Request{Action: Action{Name: ActOllamaAnalyze}, IDs: e.ids}, CodeServiceOff},
		{"unknown tag to remove", Request{Action: Action{Name: ActTagRemove, Tag: "never"}, IDs: e.ids}, CodeBadValue},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := Payload{Request: c.req}
			p.At = at.Unix()
			if _, err := e.s.Run(context.Background(), &p, nil); reason.Code(err) != c.code {
				t.Fatalf("Run: %v, want %s", err, c.code)
			}
			id := e.enqueue(t, c.req)
			e.runJobs(t)
			row := e.job(t, id)
			if row.Status != jobs.StatusError || row.Code != c.code {
				t.Fatalf("job %+v, want error %s", row, c.code)
			}
		})
	}
	if n := e.count(t, `SELECT count(*) FROM audit_log`); n != 0 {
		t.Fatalf("%d audit rows written by refused requests", n)
	}
}

// TestBulkSkipsWhatDoesNotApply: media gone meanwhile and tags that are
// absent or locked are counted as skipped by reason, not failures.
func TestBulkSkipsWhatDoesNotApply(t *testing.T) {
	e := newEnv(t, 6, false)
	ctx := context.Background()
	for i, id := range e.ids[:4] {
		if _, err := media.AddTag(ctx, e.d, id, "old", "", 1, i == 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := media.Forget(ctx, e.d, []int64{e.ids[5]}); err != nil {
		t.Fatal(err)
	}
	p := Payload{Request: Request{Action: Action{Name: ActTagRemove, Tag: "old"}, IDs: e.ids, At: at.Unix()}}
	st, err := e.s.Run(ctx, &p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Done != 3 || st.Skips[media.CodeTagLocked] != 1 || st.Skips[media.CodeTagNotFound] != 1 || st.Skips[SkipGone] != 1 {
		t.Fatalf("state %+v", st)
	}
}

// TestBulkSelectionRules: a select-all is the list's query at the moment
// of the choice: media the action takes out of the match (soft delete
// under the list's default "hide deleted") are still all changed, 18+
// media stay out unless the session showed them, and media imported after
// the choice are not swept in.
func TestBulkSelectionRules(t *testing.T) {
	e := newEnv(t, 600, false)
	ctx := context.Background()
	if _, err := e.d.Exec(`UPDATE media SET has_nsfw = 1 WHERE id <= ?`, e.ids[9]); err != nil {
		t.Fatal(err)
	}
	upto := e.ids[len(e.ids)-1]
	if _, err := media.Insert(ctx, e.d, media.NewMedia{Path: "/late.png", Type: "image", Hash: "late"}, at); err != nil {
		t.Fatal(err)
	}
	p := Payload{Request: Request{Action: Action{Name: ActSoftDelete}, All: true, At: at.Unix(), UpTo: upto}}
	st, err := e.s.Run(ctx, &p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Total != 590 || st.Done != 590 {
		t.Fatalf("state %+v, want 590 of 590", st)
	}
	if n := e.count(t, `SELECT count(*) FROM media WHERE is_deleted = 1`); n != 590 {
		t.Fatalf("%d soft-deleted, want 590", n)
	}
	if n := e.count(t, `SELECT count(*) FROM media WHERE is_deleted = 1 AND (has_nsfw = 1 OR path = '/late.png')`); n != 0 {
		t.Fatalf("%d 18+ or later media deleted", n)
	}
	// Restore them through the "deleted only" view, 18+ included.
	p = Payload{Request: Request{Action: Action{Name: ActRestore}, All: true, Query: "deleted=only_deleted", Adult: true, At: at.Unix(), UpTo: upto}}
	if st, err = e.s.Run(ctx, &p, nil); err != nil || st.Done != 590 {
		t.Fatalf("restore %+v %v", st, err)
	}
	if n := e.count(t, `SELECT count(*) FROM media WHERE is_deleted = 1`); n != 0 {
		t.Fatalf("%d still deleted", n)
	}
}

// TestBulkLostLeaseRollsBack: a worker whose claim was taken over (stuck
// recovery gave the job to another) commits nothing more: its chunk's
// checkpoint fails the fence and the chunk's changes roll back with it.
func TestBulkLostLeaseRollsBack(t *testing.T) {
	e := newEnv(t, 50, false)
	e.enqueue(t, Request{Action: Action{Name: ActRate, Rating: 3}, IDs: e.ids})
	js, err := e.q.Claim(context.Background(), jobs.ClaimRequest{Owner: jobs.NewOwner("media_worker", os.Getpid()), Types: []string{jobs.TypeMediaBulk}})
	if err != nil || len(js) != 1 {
		t.Fatalf("claim %v %v", js, err)
	}
	j := js[0]
	var p Payload
	if err := j.Decode(&p); err != nil {
		t.Fatal(err)
	}
	if _, err := e.d.Exec(`UPDATE jobs SET worker_owner = 'someone-else' WHERE id = ?`, j.ID); err != nil {
		t.Fatal(err)
	}
	_, err = e.s.Run(context.Background(), &p, JobCheckpoint(j))
	if !errors.Is(err, jobs.ErrLeaseLost) {
		t.Fatalf("run: %v, want lease lost", err)
	}
	// The handler stops at its first fenced write as well.
	if _, err := e.s.Handler()(context.Background(), j); !errors.Is(err, jobs.ErrLeaseLost) {
		t.Fatalf("handler: %v, want lease lost", err)
	}
	if n := e.count(t, `SELECT count(*) FROM media WHERE rating = 3`); n != 0 {
		t.Fatalf("%d media rated by a worker that lost the job", n)
	}
	if n := e.audits(t, ActRate); n != 0 {
		t.Fatalf("%d audit rows from a lost claim", n)
	}
}

// BenchmarkBulkTagAddJob: a select-all tag add over 10,000 media run as
// the media_bulk job (chunks of DefaultChunk, each with its audit rows and
// checkpoint in one transaction); ns/op is one whole job.
func BenchmarkBulkTagAddJob(b *testing.B) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e := newEnv(b, 10000, false)
		e.s.Chunk = 0 // DefaultChunk
		b.StartTimer()
		p := Payload{Request: Request{Action: Action{Name: ActTagAdd, Tag: "bench"}, All: true, Adult: true, At: at.Unix(), UpTo: e.ids[len(e.ids)-1]}}
		st, err := e.s.Run(context.Background(), &p, nil)
		if err != nil || st.Done != 10000 {
			b.Fatalf("%+v %v", st, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*10000), "µs/media")
}

// TestBulkQueuesServiceJobs: rescan, Ollama analyze and Forge regen queue
// through the existing enqueue paths (the queue's per-media dedupe for
// rescans, the injected Ollama and Forge enqueuers) and start the worker
// of the queued jobs once; a repeat (a second run, or a media repeated
// after a crash) queues no second job for a media.
func TestBulkQueuesServiceJobs(t *testing.T) {
	e := newEnv(t, 250, false)
	var spawned []string
	e.s.Spawn = func(_ context.Context, w string) { spawned = append(spawned, w) }
	run := func(a Action) State {
		t.Helper()
		id := e.enqueue(t, Request{Action: a, All: true, Adult: true})
		e.runJobs(t)
		row := e.job(t, id)
		var res Result
		if err := json.Unmarshal([]byte(row.Result), &res); row.Status != jobs.StatusDone || err != nil {
			t.Fatalf("%s: job %+v", a.Name, row)
		}
		return res.State
	}
	if st := run(Action{Name: ActRescan}); st.Done != 250 || st.Jobs != 250 {
		t.Fatalf("rescan %+v", st)
	}
	if st := run(Action{Name: ActRescan}); st.Done != 250 || st.Jobs != 0 {
		t.Fatalf("rescan again %+v, want every media deduped", st)
	}
	if n := e.count(t, `SELECT count(*) FROM jobs WHERE type = ?`, jobs.TypeRescanMedia); n != 250 {
		t.Fatalf("%d rescan jobs, want 250", n)
	}
	if len(spawned) != 1 || spawned[0] != "scan-worker" {
		t.Fatalf("spawned %v, want scan-worker once", spawned)
	}

	var ollama []int64
	e.s.Services[ServiceOllama] = true
	e.s.Ollama = func(_ context.Context, id int64, mode string) (int, error) {
		if mode != "caption" {
			t.Errorf("mode %q", mode)
		}
		ollama = append(ollama, id)
		return 1, nil
	}
	if st := run(Action{Name: ActOllamaAnalyze}); st.Done != 250 || len(ollama) != 250 || spawned[len(spawned)-1] != "ollama-service" {
		t.Fatalf("ollama %+v, %d calls, spawned %v", st, len(ollama), spawned)
	}

	// Forge: the fake queues a real forge_regen row, as forgejob does; a
	// media repeated after a crash finds it and queues none.
	e.s.Services[ServiceForge] = true
	calls := 0
	e.s.Forge = func(ctx context.Context, id int64, recipe string) (int64, error) {
		calls++
		if recipe != "fix.light" {
			t.Errorf("recipe %q", recipe)
		}
		mid := id
		r, err := e.q.Enqueue(ctx, jobs.EnqueueRequest{Type: jobs.TypeForgeRegen, MediaID: &mid})
		return r.JobID, err
	}
	e.enqueue(t, Request{Action: Action{Name: ActForgeRegen, Recipe: "fix.light"}, IDs: e.ids[:20]})
	e.crashAt(t, 5) // media 5's regen is queued, its checkpoint is not
	e.clock.Advance(24 * time.Hour)
	e.runJobs(t)
	if calls != 20 {
		t.Fatalf("%d Forge enqueues for 20 media, want 20 (none repeated)", calls)
	}
	if n := e.count(t, `SELECT count(*) FROM jobs WHERE type = ?`, jobs.TypeForgeRegen); n != 20 {
		t.Fatalf("%d forge jobs, want 20", n)
	}
}

// TestBulkNSFWMovesFiles: 18+ through the bulk job is the person's manual
// decision of media.SetNSFW: the flag, the lock against automatic
// verdicts, and the file moved to the 18+ root; running it again changes
// nothing more.
func TestBulkNSFWMovesFiles(t *testing.T) {
	e := newEnv(t, 10, true)
	for range 2 {
		e.enqueue(t, Request{Action: Action{Name: ActNSFW, On: true}, IDs: e.ids})
		e.runJobs(t)
		if n := e.count(t, `SELECT count(*) FROM media WHERE has_nsfw = 1 AND (path LIKE ? OR path LIKE ?)`,
			e.roots.ImagesNSFW+"%", e.roots.VideosNSFW+"%"); n != 10 {
			t.Fatalf("%d media flagged 18+ in an 18+ root, want 10", n)
		}
		if n := e.count(t, `SELECT count(DISTINCT media_id) FROM media_meta WHERE meta_key = ?`, media.MetaNSFWManual); n != 10 {
			t.Fatalf("%d manual decisions, want 10", n)
		}
		rows, err := e.d.Query(`SELECT path FROM media`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var p string
			rows.Scan(&p)
			if _, err := os.Stat(p); err != nil {
				t.Fatalf("file of %s: %v", p, err)
			}
		}
		rows.Close()
	}
	for i := range 10 {
		root := e.roots.ImagesSFW
		if i%2 == 1 {
			root = e.roots.VideosSFW
		}
		if _, err := os.Stat(filepath.Join(root, fmt.Sprintf("m%04d.bin", i))); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("the old file of #%d is still in the safe root", i)
		}
	}
}
