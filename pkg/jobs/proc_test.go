package jobs

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/jobs/workerstate"
)

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// testWorkerBin builds internal/testworker once per test binary run.
func testWorkerBin(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sv-testworker-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "testworker")
		out, err := exec.Command("go", "build", "-o", buildPath, "./internal/testworker").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("build testworker: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildPath != "" {
		os.RemoveAll(filepath.Dir(buildPath))
	}
	os.Exit(code)
}

type procEnv struct {
	db     *sql.DB
	q      *Queue
	dbPath string
	logs   string
	bin    string
}

func newProcEnv(t testing.TB) *procEnv {
	t.Helper()
	d, path := openDB(t)
	for _, tbl := range []string{"test_executions", "test_starts"} {
		if _, err := d.Exec(`CREATE TABLE ` + tbl + ` (id INTEGER PRIMARY KEY, job_id INTEGER NOT NULL, attempt INTEGER, pid INTEGER)`); err != nil {
			t.Fatal(err)
		}
	}
	cfg := DefaultConfig()
	cfg.QueueMaxTotal, cfg.QueueMaxPerTypeDefault = 0, 0
	q := NewQueue(QueueOptions{DB: d, Config: cfg, Registry: NewRegistry(TypeSpec{Name: "test_exec", Group: "test", MaxAttempts: 3})})
	return &procEnv{db: d, q: q, dbPath: path, logs: filepath.Join(t.TempDir(), "LOGS"), bin: testWorkerBin(t)}
}

func (e *procEnv) enqueue(t testing.TB, n int, payload func(i int) any) {
	t.Helper()
	reqs := make([]EnqueueRequest, n)
	for i := range reqs {
		reqs[i] = EnqueueRequest{Type: "test_exec", Payload: payload(i)}
	}
	if _, err := e.q.EnqueueMany(context.Background(), reqs); err != nil {
		t.Fatal(err)
	}
}

func (e *procEnv) cmd(args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	c := exec.Command(e.bin, append([]string{"--db=" + e.dbPath, "--logs=" + e.logs}, args...)...)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	return c, &out, &errb
}

// loadStarts copies the workers' LOGS/starts-<pid>.txt lines (job id,
// attempt) into test_starts for the attempts ≤ starts check.
func (e *procEnv) loadStarts(t testing.TB) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(e.logs, "starts-*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var id, attempt int64
			if _, err := fmt.Sscan(line, &id, &attempt); err != nil {
				continue // a line cut short by kill -9 mid-write
			}
			if _, err := e.db.Exec(`INSERT INTO test_starts (job_id, attempt) VALUES (?, ?)`, id, attempt); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
	if n == 0 {
		t.Fatal("no handler starts recorded")
	}
}

func (e *procEnv) counts(t testing.TB) map[string]int {
	t.Helper()
	rows, err := e.db.Query(`SELECT status, count(*) FROM jobs GROUP BY status`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	m := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		rows.Scan(&s, &n)
		m[s] = n
	}
	return m
}

// waitDrained waits until no job is queued or running (polling our own DB).
func (e *procEnv) waitDrained(t *testing.T, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		c := e.counts(t)
		if c[StatusQueued] == 0 && c[StatusRunning] == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("queue not drained: %v", e.counts(t))
}

func TestExactlyOnceFourProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process")
	}
	e := newProcEnv(t)
	const n = 5000
	e.enqueue(t, n, func(int) any { return map[string]int{} })
	var wg sync.WaitGroup
	errs := make([]string, 4)
	for i := 0; i < 4; i++ {
		c, out, errb := e.cmd("--limit=0", fmt.Sprintf("--instance=%d", i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Run(); err != nil {
				errs[i] = fmt.Sprintf("worker %d: %v\n%s\n%s", i, err, out, errb)
			}
			if strings.Contains(errb.String(), "locked") || strings.Contains(errb.String(), "busy") {
				errs[i] += "\nstderr mentions locking: " + errb.String()
			}
		}()
	}
	wg.Wait()
	for _, s := range errs {
		if s != "" {
			t.Error(s)
		}
	}
	if c := e.counts(t); c[StatusDone] != n {
		t.Fatalf("statuses %v", c)
	}
	var execs, distinct, multi int
	e.db.QueryRow(`SELECT count(*), count(DISTINCT job_id) FROM test_executions`).Scan(&execs, &distinct)
	e.db.QueryRow(`SELECT count(*) FROM jobs WHERE attempts <> 1`).Scan(&multi)
	if execs != n || distinct != n || multi != 0 {
		t.Fatalf("executions=%d distinct=%d jobs with attempts≠1: %d", execs, distinct, multi)
	}
	var pids int
	e.db.QueryRow(`SELECT count(DISTINCT pid) FROM test_executions`).Scan(&pids)
	t.Logf("%d jobs by %d processes", n, pids)
}

func TestCrashKill9Recovery(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process")
	}
	e := newProcEnv(t)
	const n = 600
	e.enqueue(t, n, func(i int) any { return map[string]int{"sleep_ms": i % 15} })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Two steady service workers.
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		c, out, errb := e.cmd("--loop", "--sleep-ms=100", "--limit=20", fmt.Sprintf("--instance=steady%d", i), "--grace-ms=200", "--record-starts")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-ctx.Done()
			c.Process.Signal(syscall.SIGTERM)
			if err := c.Wait(); err != nil {
				t.Errorf("steady worker: %v\n%s\n%s", err, out, errb)
			}
		}()
	}
	// A crash-looping third worker, SIGKILLed at random points.
	rng := rand.New(rand.NewPCG(1, 2))
	kills := 0
	for kills < 32 {
		c, _, _ := e.cmd("--loop", "--sleep-ms=100", "--limit=20", "--instance=crashy", "--record-starts")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(20+rng.IntN(150)) * time.Millisecond)
		c.Process.Kill()
		c.Wait()
		kills++
	}
	e.waitDrained(t, 60*time.Second)
	cancel()
	wg.Wait()

	c := e.counts(t)
	if c[StatusDone]+c[StatusError] != n {
		t.Fatalf("lost jobs: %v", c)
	}
	// Every done job committed exactly one execution (side effect and
	// completion share a transaction); errors are exhausted crash victims.
	var bad int
	e.db.QueryRow(`SELECT count(*) FROM jobs j WHERE status='done' AND (SELECT count(*) FROM test_executions x WHERE x.job_id=j.id) <> 1`).Scan(&bad)
	if bad != 0 {
		t.Fatalf("%d done jobs without exactly one execution", bad)
	}
	var badErr int
	e.db.QueryRow(`SELECT count(*) FROM jobs WHERE status='error' AND (attempts < max_attempts OR last_error_code NOT LIKE 'stuck_%')`).Scan(&badErr)
	if badErr != 0 {
		t.Fatalf("%d error jobs that are not exhausted stuck recoveries", badErr)
	}
	// An attempt is spent only by a handler that started (the handler
	// commits a test_starts row first): prefetched jobs a killed worker
	// held but never started go back without spending one.
	e.loadStarts(t)
	rows, err := e.db.Query(`SELECT j.id, j.status, j.attempts, (SELECT count(*) FROM test_starts s WHERE s.job_id = j.id) AS starts
		FROM jobs j WHERE j.attempts > (SELECT count(*) FROM test_starts s WHERE s.job_id = j.id)`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		var st string
		var att, starts int
		rows.Scan(&id, &st, &att, &starts)
		t.Errorf("job %d %s: attempts %d > handler starts %d", id, st, att, starts)
	}
	rows.Close()
	var recovered, unstarted, retried int
	e.db.QueryRow(`SELECT count(*) FROM audit_log WHERE action='job_stuck_recovered'`).Scan(&recovered)
	e.db.QueryRow(`SELECT count(*) FROM audit_log WHERE action='job_stuck_recovered' AND json_extract(details_json, '$.started') = 0`).Scan(&unstarted)
	e.db.QueryRow(`SELECT count(*) FROM jobs WHERE attempts > 1`).Scan(&retried)
	t.Logf("kills=%d statuses=%v recoveries=%d (never started: %d) jobs with >1 attempt=%d", kills, c, recovered, unstarted, retried)
	if recovered == 0 {
		t.Fatal("no recovery happened; the kills did not hit running jobs")
	}
}

func TestLiveLongJobIsNotRecovered(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process")
	}
	e := newProcEnv(t)
	e.enqueue(t, 1, func(int) any { return map[string]int{"sleep_ms": 4000} })
	long, out, errb := e.cmd("--limit=1", "--instance=long", "--lease-ms=1500", "--heartbeat-ms=300")
	if err := long.Start(); err != nil {
		t.Fatal(err)
	}
	// Another worker runs batches (with stuck recovery) the whole time.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		c, o2, e2 := e.cmd("--limit=1", "--instance=other", "--lease-ms=1500")
		if err := c.Run(); err != nil {
			t.Fatalf("other: %v %s %s", err, o2, e2)
		}
		if e.counts(t)[StatusDone] == 1 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := long.Wait(); err != nil {
		t.Fatalf("long worker: %v\n%s\n%s", err, out, errb)
	}
	r := status(t, e.q, 1)
	var recovered int
	e.db.QueryRow(`SELECT count(*) FROM audit_log WHERE action='job_stuck_recovered'`).Scan(&recovered)
	if r.Status != StatusDone || r.Attempts != 1 || recovered != 0 {
		t.Fatalf("live job disturbed: %+v recoveries=%d", r, recovered)
	}
}

func TestSIGTERMGrace(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process")
	}
	tests := []struct {
		name       string
		sleepMS    int
		graceMS    int
		wantStatus string
		wantAtt    int
	}{
		{"finishes within grace", 800, 5000, StatusDone, 1},
		{"released after grace", 20000, 300, StatusQueued, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newProcEnv(t)
			e.enqueue(t, 1, func(int) any { return map[string]int{"sleep_ms": tc.sleepMS} })
			c, out, errb := e.cmd("--loop", "--sleep-ms=100", fmt.Sprintf("--grace-ms=%d", tc.graceMS))
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for e.counts(t)[StatusRunning] == 0 {
				if time.Now().After(deadline) {
					t.Fatal("job never started")
				}
				time.Sleep(20 * time.Millisecond)
			}
			c.Process.Signal(syscall.SIGTERM)
			if err := c.Wait(); err != nil {
				t.Fatalf("exit: %v\n%s\n%s", err, out, errb)
			}
			r := status(t, e.q, 1)
			if r.Status != tc.wantStatus || r.Attempts != tc.wantAtt {
				t.Fatalf("job %+v", r)
			}
			hb, err := workerstate.ReadHeartbeat(e.logs, "test_worker")
			if err != nil || hb.State != workerstate.StateStopped || hb.Schema != workerstate.HeartbeatSchema {
				t.Fatalf("heartbeat %+v %v", hb, err)
			}
			if _, err := os.Stat(workerstate.LockPath(e.logs, "test_worker")); !os.IsNotExist(err) {
				t.Fatalf("lock json left behind: %v", err)
			}
		})
	}
}

func TestSecondWorkerIsAlreadyRunning(t *testing.T) {
	e := newProcEnv(t)
	l, err := workerstate.AcquireLock(e.logs, "test_worker", time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	c, out, errb := e.cmd("--limit=1")
	if err := c.Run(); err != nil {
		t.Fatalf("want exit 0: %v %s", err, errb)
	}
	if !strings.Contains(out.String(), "already_running") {
		t.Fatalf("stdout %q", out)
	}
}
