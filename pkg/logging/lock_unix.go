//go:build unix

package logging

import (
	"os"

	"golang.org/x/sys/unix"
)

// keepOpen: on Unix a file another process renamed stays writable, so the
// writer keeps its file open between lines and reopens it only when the
// path names another file (someone rotated it).
const keepOpen = true

// procLock is an exclusive lock between processes on a lock file that
// stays open (flock(2); the lock belongs to this open file, so two Sets in
// one process exclude each other too).
type procLock struct {
	path string
	f    *os.File
}

func newProcLock(path string) *procLock { return &procLock{path: path} }

func (l *procLock) lock() error {
	if l.f == nil {
		f, err := os.OpenFile(l.path, os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			return err
		}
		l.f = f
	}
	for {
		if err := unix.Flock(int(l.f.Fd()), unix.LOCK_EX); err != unix.EINTR {
			return err
		}
	}
}

func (l *procLock) unlock() error { return unix.Flock(int(l.f.Fd()), unix.LOCK_UN) }

func (l *procLock) close() {
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
}
