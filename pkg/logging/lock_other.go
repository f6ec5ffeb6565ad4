//go:build !unix

package logging

import "github.com/gofrs/flock"

// keepOpen: on Windows an open file cannot be renamed, so no process may
// hold a log file between lines or rotation would fail; the writer opens
// the file per line.
const keepOpen = false

// procLock is an exclusive lock between processes (LockFileEx through
// gofrs/flock).
type procLock struct{ fl *flock.Flock }

func newProcLock(path string) *procLock { return &procLock{fl: flock.New(path)} }

func (l *procLock) lock() error   { return l.fl.Lock() }
func (l *procLock) unlock() error { return l.fl.Unlock() }
func (l *procLock) close()        { _ = l.fl.Close() }
