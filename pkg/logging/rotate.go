package logging

import (
	"fmt"
	"os"
	"sync"

	"github.com/gofrs/flock"
	"gopkg.in/natefinch/lumberjack.v2"
)

// fileWriter appends to one log file that several processes share (every
// process writes system_errors.jsonl; ollama-service and its ollama-worker
// children write ollama_jobs.jsonl; scan-worker, scan-path, rescan and
// webui write scanner_ingest.jsonl; two --instance workers share their
// log) and rotates it by size with lumberjack. lumberjack alone assumes a
// single writing process: each process rotated on its own size count,
// renamed a file another one was writing, and created the new file without
// O_APPEND, so lines of one process overwrote another's.
//
// Here lumberjack only rotates (rename to <name>-<UTC stamp>.jsonl, new
// empty file, old backups pruned beyond MaxBackups), and only under an
// exclusive lock on <file>.lock shared by all processes, which re-checks
// the size under the lock so one rotation happens where two processes see
// a full file. Every line is one O_APPEND write (whole, never interleaved
// with another process's line). Without the lock a writer only appends to
// the file it holds open while the path still names it; opening or
// creating the file takes the lock, so no line lands in a file that
// lumberjack's rotation is about to truncate. A line racing a rotation
// lands in the backup just made, which is kept until MaxBackups later
// rotations, so no line is lost. Where files stay closed between lines
// (keepOpen false: Windows) every line takes the lock.
type fileWriter struct {
	path    string
	maxSize int64

	// mu serialises this process's goroutines; lock the processes
	// (flock(2) / LockFileEx on <file>.lock, the same library the worker
	// locks use).
	mu   sync.Mutex
	lock *flock.Flock
	f    *os.File // the open file (nil: closed)
	// rot rotates; it never writes a line (its own size count would be
	// this process's only).
	rot *lumberjack.Logger
}

func newFileWriter(path string, maxSize int64, maxBackups int) *fileWriter {
	return &fileWriter{path: path, maxSize: maxSize, lock: flock.New(path + ".lock"),
		rot: &lumberjack.Logger{Filename: path, MaxBackups: maxBackups}}
}

// Write appends p (one log line) to the file.
func (w *fileWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if keepOpen && w.f != nil {
		// Fast path, no lock: the open file is still the current one
		// and the line fits.
		if size, ok := w.held(); ok && (size == 0 || size+int64(len(p)) <= w.maxSize) {
			return w.f.Write(p)
		}
	}
	if err := w.lock.Lock(); err != nil {
		return 0, fmt.Errorf("logging: lock %s: %w", w.path, err)
	}
	defer func() { _ = w.lock.Unlock() }()
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

// held reports whether the open file is still the one the path names, and
// its size.
func (w *fileWriter) held() (int64, bool) {
	if w.f == nil {
		return 0, false
	}
	held, err1 := w.f.Stat()
	now, err2 := os.Stat(w.path)
	if err1 == nil && err2 == nil && os.SameFile(held, now) {
		return held.Size(), true
	}
	return 0, false
}

// current opens the file the path names now, unless the open one is it,
// and returns its size. The caller holds the lock.
func (w *fileWriter) current() (int64, error) {
	if size, ok := w.held(); ok {
		return size, nil
	}
	w.closeFile() // rotated (or removed) by someone else
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
	_ = w.lock.Close()
}

// rotate moves the file to a new backup and starts an empty one; lumberjack
// prunes backups beyond MaxBackups in the background. The caller holds the
// lock.
func (w *fileWriter) rotate() error {
	err := w.rot.Rotate()
	// Close lumberjack's handle on the new file: lines are appended
	// through w.f, and on Windows an open file could not be renamed by
	// the next rotation.
	if cerr := w.rot.Close(); err == nil {
		err = cerr
	}
	return err
}
