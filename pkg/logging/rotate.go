package logging

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// backupStamp names rotated files <name>-<UTC stamp>.jsonl (the layout
// lumberjack used, so existing archives keep sorting with new ones).
const backupStamp = "2006-01-02T15-04-05.000"

// fileWriter appends to one log file that several processes share (every
// process writes system_errors.jsonl; ollama-service and its ollama-worker
// children write ollama_jobs.jsonl; scan-worker, scan-path, rescan and
// webui write scanner_ingest.jsonl; two --instance workers share their
// log) and rotates it by size. lumberjack assumes a single writing
// process: each process rotated on its own size count, renamed a file
// another one was writing, and created the new file without O_APPEND, so
// lines of one process overwrote another's.
//
// Here rotation happens under an exclusive lock on <file>.lock shared by
// all processes, which re-checks the size under the lock so one rotation
// happens where two processes see a full file. Every line is one O_APPEND
// write (whole, never interleaved with another process's line), to the file
// the path names at that moment: a writer checks before each line whether
// another process rotated its open file and reopens it. A line racing a
// rotation lands in the backup just made, which is kept until MaxBackups
// later rotations, so no line is lost. Where files stay closed between
// lines (keepOpen false: Windows) every line takes the lock.
type fileWriter struct {
	path       string
	maxSize    int64
	maxBackups int
	clock      svtime.Clock
	backup     *regexp.Regexp

	// mu serialises this process's goroutines; lock the processes.
	mu   sync.Mutex
	lock *procLock
	f    *os.File // the open file (nil: closed)
}

func newFileWriter(path string, maxSize int64, maxBackups int, clock svtime.Clock) *fileWriter {
	base := strings.TrimSuffix(filepath.Base(path), ".jsonl")
	return &fileWriter{path: path, maxSize: maxSize, maxBackups: maxBackups, clock: clock, lock: newProcLock(path + ".lock"),
		backup: regexp.MustCompile(`^` + regexp.QuoteMeta(base) + `-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}(-\d+)?\.jsonl$`)}
}

// Write appends p (one log line) to the file.
func (w *fileWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if keepOpen {
		// Fast path, no lock: the open file is still the current one
		// and the line fits.
		if size, err := w.current(); err == nil && (size == 0 || size+int64(len(p)) <= w.maxSize) {
			return w.f.Write(p)
		}
	}
	if err := w.lock.lock(); err != nil {
		return 0, fmt.Errorf("logging: lock %s: %w", w.path, err)
	}
	defer func() { _ = w.lock.unlock() }()
	size, err := w.current()
	if err != nil {
		return 0, err
	}
	if size > 0 && size+int64(len(p)) > w.maxSize {
		w.closeFile()
		// A failed rotation must not cost the line: it goes into the
		// file as it is, and the next write tries again.
		_ = w.rotate()
		if _, err := w.current(); err != nil {
			return 0, err
		}
	}
	n, err := w.f.Write(p)
	if !keepOpen {
		w.closeFile()
	}
	return n, err
}

// current opens the file the path names now, unless the open one is it,
// and returns its size. The caller holds the lock.
func (w *fileWriter) current() (int64, error) {
	if w.f != nil {
		held, err1 := w.f.Stat()
		now, err2 := os.Stat(w.path)
		if err1 == nil && err2 == nil && os.SameFile(held, now) {
			return held.Size(), nil
		}
		w.closeFile() // rotated (or removed) by someone else
	}
	f, err := os.OpenFile(w.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, fmt.Errorf("logging: open %s: %w", w.path, err)
	}
	w.f = f
	st, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("logging: stat %s: %w", w.path, err)
	}
	return st.Size(), nil
}

func (w *fileWriter) closeFile() {
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
}

// Close closes the file and the lock file (a later Write reopens them).
func (w *fileWriter) Close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closeFile()
	w.lock.close()
}

// rotate renames the file to a new backup and removes the oldest backups
// beyond maxBackups. The caller holds the lock.
func (w *fileWriter) rotate() error {
	dir := filepath.Dir(w.path)
	base := strings.TrimSuffix(filepath.Base(w.path), ".jsonl")
	stamp := w.clock.Now().UTC().Format(backupStamp)
	name := filepath.Join(dir, base+"-"+stamp+".jsonl")
	// Two rotations within one millisecond (or under a fixed test clock)
	// must not overwrite each other's backup.
	for i := 1; ; i++ {
		if _, err := os.Lstat(name); os.IsNotExist(err) {
			break
		}
		name = filepath.Join(dir, fmt.Sprintf("%s-%s-%d.jsonl", base, stamp, i))
	}
	if err := os.Rename(w.path, name); err != nil {
		return err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var backups []string
	for _, e := range ents {
		if w.backup.MatchString(e.Name()) {
			backups = append(backups, e.Name())
		}
	}
	if len(backups) <= w.maxBackups {
		return nil
	}
	slices.SortFunc(backups, compareBackups)
	for _, b := range backups[:len(backups)-w.maxBackups] {
		_ = os.Remove(filepath.Join(dir, b))
	}
	return nil
}

// compareBackups orders backup names oldest first: by stamp, then by the
// collision counter (none before -1 before -2).
func compareBackups(a, b string) int {
	sa, ca := splitBackup(a)
	sb, cb := splitBackup(b)
	if c := strings.Compare(sa, sb); c != 0 {
		return c
	}
	return ca - cb
}

func splitBackup(n string) (stamp string, counter int) {
	n = strings.TrimSuffix(n, ".jsonl")
	i := strings.LastIndex(n, ".")
	rest := n[i+4:] // after ".000"
	stamp = n[:i+4]
	if rest != "" {
		fmt.Sscanf(rest, "-%d", &counter)
	}
	return stamp, counter
}
