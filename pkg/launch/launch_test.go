//go:build !windows

package launch

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/jobs/workerstate"
)

func buildSpawner(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "spawner")
	if out, err := exec.Command("go", "build", "-o", bin, "./internal/spawner").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

func waitFile(t *testing.T, path string, d time.Duration) []byte {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			return b
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never appeared", path)
	return nil
}

// The child is started by a parent process that exits at once; the child
// must keep running in its own session and do its work afterwards.
func TestSpawnOutlivesParent(t *testing.T) {
	spawner := buildSpawner(t)
	dir := t.TempDir()
	logs := filepath.Join(dir, "LOGS dir with spaces")
	marker := filepath.Join(dir, "marker file")
	script := `sleep 0.5; echo "$$ $(ps -o sid= -p $$ 2>/dev/null || echo x)" > "$1"; echo to-stderr >&2`
	out, err := exec.Command(spawner, "--logs="+logs, "--worker=child", "--", "/bin/sh", "-c", script, "sh", marker).Output()
	if err != nil {
		t.Fatalf("spawner: %v %s", err, out)
	}
	var st SpawnStatus
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatal(err)
	}
	if st.Status != StatusStartedUnverified || st.PID <= 0 {
		t.Fatalf("status %+v", st)
	}
	got := strings.Fields(string(waitFile(t, marker, 10*time.Second)))
	if got[0] != strconv.Itoa(st.PID) {
		t.Fatalf("marker pid %v, spawned %d", got, st.PID)
	}
	if len(got) > 1 && got[1] != "x" && got[1] != strconv.Itoa(st.PID) {
		t.Fatalf("child is not a session leader: sid %s pid %d", got[1], st.PID)
	}
	last, err := ReadLast(logs, "child")
	if err != nil || last.PID != st.PID || last.RequestedBy != "cli" || last.OutLog == "" {
		t.Fatalf("spawn_last %+v %v", last, err)
	}
	if b := waitFile(t, last.ErrLog, 5*time.Second); strings.TrimSpace(string(b)) != "to-stderr" {
		t.Fatalf("err log %q", b)
	}
}

func TestSpawnGuards(t *testing.T) {
	logs := t.TempDir()
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	req := SpawnRequest{Worker: "w", Binary: "/bin/true", LogsDir: logs, RequestedBy: "web", Now: func() time.Time { return clock }}
	tests := []struct {
		name    string
		prep    func()
		mutate  func(*SpawnRequest)
		want    string
		wantRsn string
	}{
		{"first spawn", nil, nil, StatusStartedUnverified, CodeSpawnUnverified},
		{"cooldown", func() { clock = clock.Add(5 * time.Second) }, nil, StatusBusy, CodeSpawnCooldown},
		{"after cooldown", func() { clock = clock.Add(10 * time.Second) }, nil, StatusStartedUnverified, CodeSpawnUnverified},
		{"missing binary", func() { clock = clock.Add(time.Minute) }, func(r *SpawnRequest) { r.Binary = "sv-no-such-binary-xyz" }, StatusConfigFailed, CodeBinaryMissing},
		{"running worker", func() {
			l, err := workerstate.AcquireLock(logs, "w", clock, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Release() })
			workerstate.WriteHeartbeat(logs, workerstate.Heartbeat{Service: "w", PID: os.Getpid(), State: workerstate.StateIdle,
				LastHeartbeatUTC: workerstate.Format(clock)})
		}, func(r *SpawnRequest) { r.SkipIfRunning = true }, StatusRunning, CodeWorkerRunning},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.prep != nil {
				tc.prep()
			}
			r := req
			if tc.mutate != nil {
				tc.mutate(&r)
			}
			st := Spawn(context.Background(), r)
			if st.Status != tc.want || st.ReasonCode != tc.wantRsn {
				t.Fatalf("got %+v", st)
			}
		})
	}
}

func TestSpawnLockBusy(t *testing.T) {
	logs := t.TempDir()
	fl, err := os.Create(filepath.Join(logs, "w_spawn.lock"))
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	if err := syscall.Flock(int(fl.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	st := Spawn(context.Background(), SpawnRequest{Worker: "w", Binary: "/bin/true", LogsDir: logs})
	if st.Status != StatusLocked || st.ReasonCode != CodeSpawnLockBusy {
		t.Fatalf("got %+v", st)
	}
}

func TestStopGroupKillsTree(t *testing.T) {
	logs := t.TempDir()
	marker := filepath.Join(logs, "grandchild.pid")
	st := Spawn(context.Background(), SpawnRequest{Worker: "g", Binary: "/bin/sh", Args: []string{"-c", `trap "" TERM; sleep 30 & echo $! > "$1"; wait`, "sh", marker}, LogsDir: logs})
	if !st.OK() {
		t.Fatalf("%+v", st)
	}
	gc, _ := strconv.Atoi(strings.TrimSpace(string(waitFile(t, marker, 5*time.Second))))
	if err := StopGroup(context.Background(), st.PID, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for workerstate.ProcessAlive(gc) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if workerstate.ProcessAlive(gc) {
		t.Fatalf("grandchild %d survived", gc)
	}
}
