// Package logging writes Supervisor's JSON-lines logs into the logs folder
// (LOGS/<name>.jsonl), rotated by size under a lock that all processes
// share (fileWriter), so processes writing one file lose no line.
//
// Every line carries the original envelope {ts, service, level, event,
// message, version} plus every field the caller adds (the original dropped
// them). Console output is human-readable when stderr is a terminal.
package logging

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gofrs/flock"
	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// Defaults for Options.
const (
	DefaultMaxSizeMB  = 10
	DefaultMaxBackups = 5
	// SystemErrorWindow is the rate-limit window per (worker, error_code).
	SystemErrorWindow = 30 * time.Second
)

// Options configures a Set.
type Options struct {
	// Dir is the logs folder (paths.logs). Required.
	Dir string
	// Version is written into every line.
	Version string
	// MaxSizeMB rotates a file when it grows past this size (default 10).
	MaxSizeMB int
	// MaxBackups bounds the rotated archives kept per file (default 5).
	MaxBackups int
	// Console receives human-readable lines; nil means stderr when it is a
	// terminal, else nothing. Use io.Discard to silence.
	Console io.Writer
	// Clock stamps ts (default system clock).
	Clock svtime.Clock
}

// Set owns the log files of one process, one writer per file.
type Set struct {
	opts    Options
	mu      sync.Mutex
	writers map[string]*fileWriter
	console io.Writer
}

// NewSet creates the logs folder and returns a Set.
func NewSet(opts Options) (*Set, error) {
	if opts.Dir == "" {
		return nil, fmt.Errorf("logging: Dir is empty")
	}
	if opts.MaxSizeMB <= 0 {
		opts.MaxSizeMB = DefaultMaxSizeMB
	}
	if opts.MaxBackups <= 0 {
		opts.MaxBackups = DefaultMaxBackups
	}
	if opts.Clock == nil {
		opts.Clock = svtime.SystemClock{}
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("logging: create %s: %w", opts.Dir, err)
	}
	s := &Set{opts: opts, writers: map[string]*fileWriter{}}
	switch {
	case opts.Console != nil:
		s.console = opts.Console
	case isatty.IsTerminal(os.Stderr.Fd()) || isatty.IsCygwinTerminal(os.Stderr.Fd()):
		s.console = zerolog.ConsoleWriter{Out: os.Stderr, PartsOrder: []string{"ts", zerolog.LevelFieldName, "service", "event", zerolog.MessageFieldName}, FieldsExclude: []string{"ts", "service", "event", "version"}}
	}
	return s, nil
}

// Dir returns the logs folder.
func (s *Set) Dir() string { return s.opts.Dir }

func (s *Set) writer(name string) *fileWriter {
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.writers[name]
	if !ok {
		w = newFileWriter(filepath.Join(s.opts.Dir, name+".jsonl"), int64(s.opts.MaxSizeMB)<<20, s.opts.MaxBackups)
		s.writers[name] = w
	}
	return w
}

// Logger returns the logger of a service: LOGS/<service>.jsonl plus console.
func (s *Set) Logger(service string) zerolog.Logger {
	var w io.Writer = s.writer(service)
	if s.console != nil {
		w = zerolog.MultiLevelWriter(w, s.console)
	}
	return s.base(w, service)
}

// File returns a logger that writes only to LOGS/<name>.jsonl, for channel
// logs such as scanner_ingest or ollama_jobs.
func (s *Set) File(name, service string) zerolog.Logger {
	return s.base(s.writer(name), service)
}

func (s *Set) base(w io.Writer, service string) zerolog.Logger {
	clock := s.opts.Clock
	return zerolog.New(w).Hook(zerolog.HookFunc(func(e *zerolog.Event, _ zerolog.Level, _ string) {
		e.Str("ts", svtime.Format(clock.Now()))
	})).With().Str("service", service).Str("version", s.opts.Version).Logger()
}

// Close closes all files (a logger used after Close reopens its file).
func (s *Set) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range s.writers {
		w.Close()
	}
	return nil
}

// Event starts a log event with the envelope's event name; the message
// defaults to the event name, as in the original.
func Event(l *zerolog.Logger, level zerolog.Level, event string) *zerolog.Event {
	return l.WithLevel(level).Str("event", event)
}

// SystemError appends an event to LOGS/system_errors.jsonl, at most one per
// SystemErrorWindow per (workerType, code) across processes; suppressed
// repeats are counted in the next line that gets through. It reports whether
// the line was written.
//
// The line names its writer in service (the worker type, as the dashboard
// panel shows it) and the code in error_code (the original's field) and
// reason_code (this project's); fields["message"], when given, is the
// line's message (default: the code), never a second "message" key.
func (s *Set) SystemError(workerType, code string, fields map[string]any) bool {
	allowed, suppressed := s.rateLimit(workerType + "|" + code)
	if !allowed {
		return false
	}
	msg := code
	rest := make(map[string]any, len(fields))
	for k, v := range fields {
		if k == zerolog.MessageFieldName {
			msg = fmt.Sprint(v)
			continue
		}
		rest[k] = v
	}
	l := s.File("system_errors", workerType)
	e := Event(&l, zerolog.ErrorLevel, "system_error").Str("worker_type", workerType).Str("error_code", code).Str("reason_code", code)
	if suppressed > 0 {
		e = e.Int("suppressed_since_last", suppressed)
	}
	if len(rest) > 0 {
		e = e.Fields(rest)
	}
	e.Msg(msg)
	return true
}

type bucket struct {
	WindowStart string `json:"window_start"`
	Count       int    `json:"count"`
}

func (s *Set) rateLimit(key string) (allowed bool, suppressed int) {
	path := filepath.Join(s.opts.Dir, "system_errors.rate_limit.json")
	lk := flock.New(path + ".lock")
	if err := lk.Lock(); err != nil {
		return true, 0 // never lose an error because the limiter failed
	}
	defer lk.Unlock()
	state := map[string]bucket{}
	if b, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(b, &state)
	}
	now := s.opts.Clock.Now()
	for k, b := range state {
		if t, ok := svtime.Parse(b.WindowStart); !ok || now.Sub(t) > 4*SystemErrorWindow {
			delete(state, k)
		}
	}
	b, ok := state[key]
	t, _ := svtime.Parse(b.WindowStart)
	if ok && now.Sub(t) < SystemErrorWindow {
		b.Count++
		state[key] = b
		allowed = false
	} else {
		if ok {
			suppressed = b.Count
		}
		state[key] = bucket{WindowStart: svtime.Format(now)}
		allowed = true
	}
	if out, err := json.Marshal(state); err == nil {
		tmp := path + ".tmp"
		if os.WriteFile(tmp, out, 0o644) == nil {
			_ = os.Rename(tmp, path)
		}
	}
	return allowed, suppressed
}
