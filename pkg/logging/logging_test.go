package logging_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/localsupervisor/supervisor/pkg/logging"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

func readLines(t *testing.T, p string) []map[string]any {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := map[string]any{}
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not JSON: %s", sc.Text())
		}
		out = append(out, m)
	}
	return out
}

func TestEnvelopeKeepsExtraFields(t *testing.T) {
	dir := t.TempDir()
	clock := &svtime.FixedClock{T: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	s, err := logging.NewSet(logging.Options{Dir: dir, Version: "1.2.3", Console: io.Discard, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	l := s.File("scanner_ingest", "scan")
	logging.Event(&l, zerolog.InfoLevel, "scanner_call").Str("reason_code", "scanner_auth_failed").
		Strs("missing_keys", []string{"scanner.token"}).Str("request_id", "r1").Msg("auth failed")
	s.Close()
	lines := readLines(t, filepath.Join(dir, "scanner_ingest.jsonl"))
	if len(lines) != 1 {
		t.Fatalf("%d lines", len(lines))
	}
	want := map[string]any{"ts": "2026-01-02T03:04:05Z", "service": "scan", "level": "info", "event": "scanner_call",
		"message": "auth failed", "version": "1.2.3", "reason_code": "scanner_auth_failed", "request_id": "r1"}
	for k, v := range want {
		if lines[0][k] != v {
			t.Errorf("%s = %v, want %v", k, lines[0][k], v)
		}
	}
	if mk, _ := lines[0]["missing_keys"].([]any); len(mk) != 1 {
		t.Errorf("missing_keys dropped: %v", lines[0])
	}
}

func TestSystemErrorRateLimit(t *testing.T) {
	dir := t.TempDir()
	clock := &svtime.FixedClock{T: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	s, _ := logging.NewSet(logging.Options{Dir: dir, Console: io.Discard, Clock: clock})
	defer s.Close()
	steps := []struct {
		worker, code string
		advance      time.Duration
		want         bool
	}{
		{"scan", "lock_failed", 0, true},
		{"scan", "lock_failed", 10 * time.Second, false},
		{"scan", "lock_failed", 5 * time.Second, false},
		{"media", "lock_failed", 0, true},
		{"scan", "other", 0, true},
		{"scan", "lock_failed", 20 * time.Second, true},
	}
	for i, st := range steps {
		clock.Advance(st.advance)
		if got := s.SystemError(st.worker, st.code, map[string]any{"i": i}); got != st.want {
			t.Fatalf("step %d: written=%v want %v", i, got, st.want)
		}
	}
	s.Close()
	lines := readLines(t, filepath.Join(dir, "system_errors.jsonl"))
	if len(lines) != 4 {
		t.Fatalf("%d lines, want 4", len(lines))
	}
	if lines[3]["suppressed_since_last"] != float64(2) {
		t.Fatalf("suppressed count not carried: %v", lines[3])
	}
	// The dashboard panel shows service, reason_code and message.
	if l := lines[1]; l["service"] != "media" || l["reason_code"] != "lock_failed" || l["message"] != "lock_failed" {
		t.Fatalf("line names writer/code/message wrongly: %v", l)
	}
	s.SystemError("web", "http_500", map[string]any{"message": "boom"})
	s.Close()
	raw, _ := os.ReadFile(filepath.Join(dir, "system_errors.jsonl"))
	last := raw[bytes.LastIndexByte(raw[:len(raw)-1], '\n')+1:]
	if bytes.Count(last, []byte(`"message"`)) != 1 || !bytes.Contains(last, []byte(`"message":"boom"`)) {
		t.Fatalf("message given in fields must be the line's only message: %s", last)
	}
}

func TestRotationAtSize(t *testing.T) {
	dir := t.TempDir()
	s, _ := logging.NewSet(logging.Options{Dir: dir, Console: io.Discard, MaxSizeMB: 1, MaxBackups: 2})
	l := s.File("big", "t")
	pad := string(make([]byte, 1000))
	for i := 0; i < 3500; i++ {
		l.Info().Str("pad", pad).Msg("x")
	}
	s.Close()
	// lumberjack prunes old backups in its own goroutine after a
	// rotation: wait for it (bounded), never for a fixed time.
	var m []string
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		m, _ = filepath.Glob(filepath.Join(dir, "big-*.jsonl"))
		if len(m) <= 2 || time.Now().After(deadline) {
			break
		}
	}
	if len(m) == 0 {
		t.Fatal("no rotation at 1 MB")
	}
	if len(m) > 2 {
		t.Fatalf("%d backups kept, want at most MaxBackups=2: %v", len(m), m)
	}
	st, err := os.Stat(filepath.Join(dir, "big.jsonl"))
	if err != nil || st.Size() > 1<<20 {
		t.Fatalf("live file too big or missing: %v", err)
	}
}

// BenchmarkLogLine: the cost of one line (lock, open, append, close).
func BenchmarkLogLine(b *testing.B) {
	s, _ := logging.NewSet(logging.Options{Dir: b.TempDir(), Console: io.Discard})
	l := s.File("bench", "t")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		l.Info().Int("i", i).Str("event", "job finished").Msg("x")
	}
}
