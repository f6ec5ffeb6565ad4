package ollamasvc

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"github.com/localsupervisor/supervisor/pkg/db/dbtest"
	"image"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/logging"
	"github.com/localsupervisor/supervisor/pkg/ollama"
	"github.com/localsupervisor/supervisor/pkg/ollama/ollamatest"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// workerBin and serviceBin are built once per test binary in TestMain
// (building per test dominated the run time).
var workerBin, serviceBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ollamasvc-bin")
	if err != nil {
		panic(err)
	}
	workerBin = filepath.Join(dir, "ollama-worker")
	serviceBin = filepath.Join(dir, "ollama-service")
	cmd := exec.Command("go", "build", "-o", dir, "./cmd/ollama-worker", "./cmd/ollama-service")
	cmd.Dir = "../.."
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build ollama-worker, ollama-service: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type rig struct {
	dir     string
	db      *sql.DB
	q       *jobs.Queue
	fake    *ollamatest.Server
	cfg     ollama.Config
	cfgPath string
	logs    *logging.Set
}

func newRig(t *testing.T, mut func(*ollama.Config)) *rig { return newRigTB(t, mut) }

func newRigTB(t testing.TB, mut func(*ollama.Config)) *rig {
	t.Helper()
	dir := t.TempDir()
	d := dbtest.Open(t, filepath.Join(dir, "db.sqlite"))
	fake := ollamatest.New()
	t.Cleanup(fake.Close)
	cfg := ollama.DefaultConfig()
	cfg.Enabled = true
	cfg.BaseURL = fake.URL
	cfg.Worker.MaxRetries = 0
	cfg.Worker.MaxSecondsVision = 3
	cfg.Worker.MaxSecondsText = 3
	cfg.Worker.KillGraceMS = 200
	cfg.Retry.MaxAttempts = 1
	if mut != nil {
		mut(&cfg)
	}
	logsDir := filepath.Join(dir, "LOGS")
	conf := map[string]any{"db": map[string]any{"path": filepath.Join(dir, "db.sqlite")}, "paths": map[string]any{"logs": logsDir}, "ollama": cfg}
	b, _ := json.Marshal(conf)
	cfgPath := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfgPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	logs, err := logging.NewSet(logging.Options{Dir: logsDir, Console: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logs.Close() })
	q := jobs.NewQueue(jobs.QueueOptions{DB: d, Clock: svtime.SystemClock{}, Config: jobs.DefaultConfig()})
	return &rig{dir: dir, db: d, q: q, fake: fake, cfg: cfg, cfgPath: cfgPath, logs: logs}
}

func (r *rig) addImage(t *testing.T) int64 { return r.addImageTB(t) }

func (r *rig) addImageTB(t testing.TB) int64 {
	t.Helper()
	var buf bytes.Buffer
	_ = png.Encode(&buf, image.NewRGBA(image.Rect(0, 0, 32, 32)))
	p := filepath.Join(r.dir, fmt.Sprintf("img%d.png", time.Now().UnixNano()))
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := r.db.Exec(`INSERT INTO media (path, type, source, imported_at) VALUES (?, 'image', 'import', '2026-01-01T00:00:00Z')`, p)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := res.LastInsertId()
	for _, tag := range []string{"1girl", "outdoors", "sky"} {
		r.db.Exec(`INSERT OR IGNORE INTO tags (name) VALUES (?)`, tag)
		r.db.Exec(`INSERT INTO media_tags (media_id, tag_id) SELECT ?, id FROM tags WHERE name = ?`, id, tag)
	}
	r.db.Exec(`INSERT INTO prompts (media_id, prompt) VALUES (?, 'a girl under a blue sky')`, id)
	return id
}

func (r *rig) enqueue(t *testing.T, o EnqueueOptions) EnqueueSummary {
	t.Helper()
	e := &Enqueuer{Queue: r.q, Clock: svtime.SystemClock{}}
	s, err := e.Enqueue(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (r *rig) service(o ServiceOptions) *Service {
	o.DB, o.Queue, o.Config, o.LogsDir, o.WorkerBin = r.db, r.q, r.cfg, filepath.Join(r.dir, "LOGS"), workerBin
	o.WorkerArgs = []string{"--config=" + r.cfgPath}
	if o.Sleep == 0 {
		o.Sleep = 20 * time.Millisecond
	}
	o.HeartbeatEvery = 50 * time.Millisecond
	o.JobsLog = r.logs.File("ollama_jobs", "test")
	o.ErrorsLog = r.logs.File("ollama_errors", "test")
	return NewService(o)
}

// runUntil runs the service until cond holds (checked on the DB) or 60 s.
func (r *rig) runUntil(t *testing.T, s *Service, cond func() bool) { r.runUntilTB(t, s, cond) }

func (r *rig) runUntilTB(t testing.TB, s *Service, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := s.Run(ctx); done <- err }()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatal("condition not reached")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func (r *rig) job(t *testing.T, id int64) jobs.Row {
	t.Helper()
	row, err := r.q.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return row
}

func TestServiceAllModesEndToEnd(t *testing.T) {
	r := newRig(t, nil)
	id := r.addImage(t)
	sum := r.enqueue(t, EnqueueOptions{MediaID: id})
	if sum.Enqueued != len(JobModes()) {
		t.Fatalf("enqueued %d of %d modes: %+v", sum.Enqueued, len(JobModes()), sum)
	}
	// Second run dedupes everything.
	if s2 := r.enqueue(t, EnqueueOptions{MediaID: id}); s2.Enqueued != 0 || s2.Deduped != len(JobModes()) {
		t.Fatalf("second enqueue: %+v", s2)
	}
	svc := r.service(ServiceOptions{})
	r.runUntil(t, svc, func() bool { c, _ := Counts(context.Background(), r.db); return c.Queued == 0 && c.Running == 0 })
	for _, jid := range sum.JobIDs {
		if row := r.job(t, jid); row.Status != "done" {
			t.Errorf("job %d %s: %s %s %s", jid, row.Type, row.Status, row.LastErrorCode, row.ErrorMessage)
		}
	}
	meta, _ := ollama.NewStore(r.db, svtime.SystemClock{}, ollama.StoreOptions{}).LatestMeta(context.Background(), id, "ollama.prompt_recon.prompt", "ollama.embed.text.vector_id")
	if meta["ollama.prompt_recon.prompt"] == "" || meta["ollama.embed.text.vector_id"] == "" {
		t.Fatalf("dependent modes lack results: %v", meta)
	}
	// A later enqueue finds nothing missing.
	if s3 := r.enqueue(t, EnqueueOptions{}); s3.Candidates != 0 {
		t.Fatalf("re-enqueue found candidates: %+v", s3)
	}
	gs, err := ReadGlobalStatus(filepath.Join(r.dir, "LOGS"))
	if err != nil || gs.WorkerRunning || gs.QueueQueued != 0 {
		t.Fatalf("global status after stop: %+v %v", gs, err)
	}
}

func TestOllamaDownBlocksWithoutAttempt(t *testing.T) {
	r := newRig(t, nil)
	id := r.addImage(t)
	sum := r.enqueue(t, EnqueueOptions{Modes: []ollama.Mode{ollama.ModeCaption}, MediaID: id})
	r.fake.Stop()
	svc := r.service(ServiceOptions{MaxBatches: 3, Sleep: time.Millisecond})
	if _, err := svc.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	row := r.job(t, sum.JobIDs[0])
	if row.Status != "queued" || row.Attempts != 0 || row.LastErrorCode != CodeBlockedByOllama {
		t.Fatalf("job: %+v", row)
	}
	b, _ := os.ReadFile(filepath.Join(r.dir, "LOGS", "ollama_jobs.jsonl"))
	if !strings.Contains(string(b), `"ollama_down"`) {
		t.Fatalf("no ollama_down in log: %s", b)
	}
	gs, _ := ReadGlobalStatus(filepath.Join(r.dir, "LOGS"))
	if gs.QueueQueued != 1 || gs.LastError == nil {
		t.Fatalf("global status must reflect the queue: %+v", gs)
	}
	// Ollama comes back: the service runs the job and clears the marker.
	if err := r.fake.Start(); err != nil {
		t.Fatal(err)
	}
	r.runUntil(t, r.service(ServiceOptions{}), func() bool { return r.job(t, sum.JobIDs[0]).Status == "done" })
}

func TestHangingVisionRequestKilledAtDeadline(t *testing.T) {
	r, _, jobID := hangingCaption(t, 1)
	svc := r.service(ServiceOptions{SystemError: func(code string, f map[string]any) { r.logs.SystemError("ollama_service", code, f) }})
	r.runUntil(t, svc, func() bool { s := r.job(t, jobID).Status; return s != "queued" && s != "running" })
	row := r.job(t, jobID)
	if row.Status != "error" || row.LastErrorCode != CodeChildTimeout {
		t.Fatalf("job: %+v", row)
	}
	// The killed job is a system error the dashboard lists.
	if b, err := os.ReadFile(filepath.Join(r.dir, "LOGS", "system_errors.jsonl")); err != nil ||
		!strings.Contains(string(b), `"reason_code":"`+CodeChildTimeout+`"`) || !strings.Contains(string(b), `"service":"ollama_service"`) {
		t.Fatalf("system_errors.jsonl lacks the killed job: %s %v", b, err)
	}
	if svc.Stats.Killed != 1 {
		t.Fatalf("stats: %+v", svc.Stats)
	}
	tr := readTrace(t, r, row)
	if tr["killed"] != true || tr["error_code"] != CodeChildTimeout || tr["stage_at_fail"] == nil {
		t.Fatalf("trace not finalised: %v", tr)
	}
	if err := r.q.Delete(context.Background(), row.ID); err != nil {
		t.Fatalf("delete: %v", err)
	}
}

// hangingCaption is a rig with one queued caption job whose request hangs
// and a mode budget of budgetSec.
func hangingCaption(t *testing.T, budgetSec int) (*rig, int64, int64) {
	t.Helper()
	r := newRig(t, func(c *ollama.Config) { c.Worker.MaxSecondsVision = budgetSec })
	id := r.addImage(t)
	sum := r.enqueue(t, EnqueueOptions{Modes: []ollama.Mode{ollama.ModeCaption}, MediaID: id})
	r.fake.SetFault(ollamatest.FaultHang, -1, "/api/generate")
	return r, id, sum.JobIDs[0]
}

func TestCancelRunningChild(t *testing.T) {
	r, _, jobID := hangingCaption(t, 30)
	svc := r.service(ServiceOptions{})
	asked := false
	r.runUntil(t, svc, func() bool {
		row := r.job(t, jobID)
		if row.Status == "running" && row.Stage == "request" && !asked {
			if _, err := r.q.Cancel(context.Background(), row.ID); err != nil {
				t.Error(err)
			}
			asked = true
		}
		return row.Status == "cancelled"
	})
	if svc.Stats.Killed != 1 || svc.Stats.Cancelled != 1 {
		t.Fatalf("stats: %+v", svc.Stats)
	}
}

func TestChildConnectionRefusedFinalisesTrace(t *testing.T) {
	r := newRig(t, func(c *ollama.Config) { c.Worker.MaxRetries = 1 })
	id := r.addImage(t)
	sum := r.enqueue(t, EnqueueOptions{Modes: []ollama.Mode{ollama.ModeTagsNormalize}, MediaID: id})
	ctx := context.Background()
	j, err := claimJob(ctx, r.q, "test-owner", 0, 2)
	if err != nil || j == nil || j.ID != sum.JobIDs[0] {
		t.Fatalf("claim: %+v %v", j, err)
	}
	r.fake.Stop()
	tp := filepath.Join(r.dir, "trace.json")
	res := RunChild(ctx, ChildOptions{DB: r.db, Clock: svtime.SystemClock{}, Config: r.cfg, JobID: j.ID, Owner: j.Owner, TraceFile: tp,
		JobsLog: r.logs.File("ollama_jobs", "t"), ErrorsLog: r.logs.File("ollama_errors", "t")})
	if res.Status != "retry" || res.Code != ollama.CodeOllamaDown || !res.Written {
		t.Fatalf("child result: %+v", res)
	}
	row := r.job(t, j.ID)
	if row.Status != "queued" || row.NotBefore == "" || row.LastErrorCode != ollama.CodeOllamaDown {
		t.Fatalf("row: %+v", row)
	}
	var tr map[string]any
	b, _ := os.ReadFile(tp)
	_ = json.Unmarshal(b, &tr)
	if tr["error_code"] != ollama.CodeOllamaDown || tr["stage_at_fail"] != "request" || !strings.HasPrefix(fmt.Sprint(tr["stage_current"]), "final_") {
		t.Fatalf("trace: %s", b)
	}
}

func readTrace(t *testing.T, r *rig, row jobs.Row) map[string]any {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(r.dir, "LOGS", "ollama_raw", "*", fmt.Sprintf("job_%d_*_a%d.json", row.ID, row.Attempts)))
	if len(m) != 1 {
		t.Fatalf("trace files: %v", m)
	}
	var tr map[string]any
	b, _ := os.ReadFile(m[0])
	if err := json.Unmarshal(b, &tr); err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestServiceSurvivesOllamaRestart: one service instance runs a job, then
// Ollama goes away (a new job is only marked blocked_by_ollama, no attempt
// consumed, nothing running, the status file reports it), then Ollama
// comes back and the same instance runs the blocked job and clears the
// marker.
func TestServiceSurvivesOllamaRestart(t *testing.T) {
	r := newRig(t, nil)
	first := r.enqueue(t, EnqueueOptions{Modes: []ollama.Mode{ollama.ModeTagsNormalize}, MediaID: r.addImage(t)})
	svc := r.service(ServiceOptions{})
	logs := filepath.Join(r.dir, "LOGS")
	var second int64
	phase := "first"
	r.runUntil(t, svc, func() bool {
		switch phase {
		case "first":
			if r.job(t, first.JobIDs[0]).Status == "done" {
				r.fake.Stop()
				second = r.enqueue(t, EnqueueOptions{Modes: []ollama.Mode{ollama.ModeTagsNormalize}, MediaID: r.addImage(t)}).JobIDs[0]
				phase = "down"
			}
		case "down":
			row := r.job(t, second)
			if row.Status != "queued" || row.Attempts != 0 {
				t.Fatalf("job ran while Ollama was down: %+v", row)
			}
			gs, _ := ReadGlobalStatus(logs)
			if row.LastErrorCode == CodeBlockedByOllama && gs.LastError != nil && gs.Blockers[ollama.CodeOllamaDown] == true {
				if err := r.fake.Start(); err != nil {
					t.Fatal(err)
				}
				phase = "up"
			}
		case "up":
			return r.job(t, second).Status == "done"
		}
		return false
	})
	row := r.job(t, second)
	if row.Attempts != 1 || row.LastErrorCode != "" {
		t.Fatalf("blocked job after restart: %+v", row)
	}
	if svc.Stats.Done != 2 {
		t.Fatalf("stats: %+v", svc.Stats)
	}
	jl, _ := os.ReadFile(filepath.Join(logs, "ollama_jobs.jsonl"))
	if !strings.Contains(string(jl), `"ollama_down"`) {
		t.Fatalf("no ollama_down in ollama_jobs log")
	}
}

// TestForceDeleteKillsRunningChild: the web's force delete cancels and
// deletes the row of a running job; the service sees the lost row at the
// next heartbeat, kills the child at once (not at the deadline) and leaves
// no job row and no result behind.
func TestForceDeleteKillsRunningChild(t *testing.T) {
	r, id, jobID := hangingCaption(t, 60)
	svc := r.service(ServiceOptions{})
	deleted := false
	r.runUntil(t, svc, func() bool {
		if !deleted {
			row := r.job(t, jobID)
			if row.Status != "running" || row.Stage != "request" {
				return false
			}
			// What /internal_ollama.php action=delete force=1 does.
			if _, err := r.db.Exec(`UPDATE jobs SET status = 'cancelled', cancel_requested = 1, last_error_code = 'forced_delete' WHERE id = ?`, row.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := r.db.Exec(`DELETE FROM jobs WHERE id = ?`, row.ID); err != nil {
				t.Fatal(err)
			}
			deleted = true
		}
		return svc.active() == 0
	})
	if svc.Stats.Killed != 1 {
		t.Fatalf("stats: %+v", svc.Stats)
	}
	var jobsLeft, results int
	r.db.QueryRow(`SELECT COUNT(*) FROM jobs`).Scan(&jobsLeft)
	r.db.QueryRow(`SELECT COUNT(*) FROM ollama_results WHERE media_id = ?`, id).Scan(&results)
	if jobsLeft != 0 || results != 0 {
		t.Fatalf("left behind: %d jobs, %d results", jobsLeft, results)
	}
	m, _ := filepath.Glob(filepath.Join(r.dir, "LOGS", "ollama_raw", "*", fmt.Sprintf("job_%d_*.json", jobID)))
	if len(m) != 1 {
		t.Fatalf("trace files: %v", m)
	}
	b, _ := os.ReadFile(m[0])
	if !strings.Contains(string(b), `"child_lost_killed"`) {
		t.Fatalf("trace does not record the kill of the lost child: %s", b)
	}
}

// TestChildStoresNothingAfterForceDelete: the job is force-deleted while
// the child waits for Ollama; the answer that arrives afterwards is not
// stored (the store's transaction checks the lease) and the child ends
// lease_lost without writing the row.
func TestChildStoresNothingAfterForceDelete(t *testing.T) {
	r := newRig(t, func(c *ollama.Config) { c.Worker.MaxSecondsVision = 60 })
	id := r.addImage(t)
	sum := r.enqueue(t, EnqueueOptions{Modes: []ollama.Mode{ollama.ModeCaption}, MediaID: id})
	r.fake.SetSlowDelay(2 * time.Second)
	r.fake.SetFault(ollamatest.FaultSlow, -1, "/api/generate")
	ctx := context.Background()
	j, err := claimJob(ctx, r.q, "service-owner", 0, 1)
	if err != nil || j == nil || j.ID != sum.JobIDs[0] {
		t.Fatalf("claim: %+v %v", j, err)
	}
	done := make(chan ChildResult, 1)
	go func() {
		done <- RunChild(ctx, ChildOptions{DB: r.db, Queue: r.q, Clock: svtime.SystemClock{}, Config: r.cfg, JobID: j.ID, Owner: j.Owner,
			JobsLog: r.logs.File("ollama_jobs", "t"), ErrorsLog: r.logs.File("ollama_errors", "t")})
	}()
	for len(r.fake.RequestsTo("/api/generate")) == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := r.db.Exec(`DELETE FROM jobs WHERE id = ?`, j.ID); err != nil {
		t.Fatal(err)
	}
	res := <-done
	if res.Code != CodeLeaseLost || res.Written || res.OK {
		t.Fatalf("child: %+v", res)
	}
	var results, meta int
	r.db.QueryRow(`SELECT COUNT(*) FROM ollama_results WHERE media_id = ?`, id).Scan(&results)
	r.db.QueryRow(`SELECT COUNT(*) FROM media_meta WHERE media_id = ? AND meta_key LIKE 'ollama.%'`, id).Scan(&meta)
	if results != 0 || meta != 0 {
		t.Fatalf("stored after the delete: %d results, %d meta rows", results, meta)
	}
}
