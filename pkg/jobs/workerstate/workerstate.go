// Package workerstate owns the files through which worker processes tell
// others that they are alive: the worker lock (an OS file lock plus a JSON
// description) and the heartbeat file, one schema for every service. The web
// health page, the launcher and jobs-admin read them; no process is ever
// judged "running" from a bare PID.
//
// It depends on nothing but the standard library, gofrs/flock and x/sys, so
// pkg/launch can use it on every platform.
package workerstate

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Reason codes.
const (
	CodeLogRootUnavailable = "log_root_unavailable"
	CodeLockBusy           = "lock_busy"
	CodeLockOpenFailed     = "lock_open_failed"
	CodeLockWriteFailed    = "lock_write_failed"
)

// tsLayout is the one timestamp layout (svtime.Layout), repeated here so the
// package stays dependency-free.
const tsLayout = "2006-01-02T15:04:05Z"

// fileTS is the compact form used in file names (.stale-<ts>, spawn logs).
const fileTS = "20060102T150405Z"

// Error is a reason-coded error of this package.
type Error struct {
	Code string
	Err  error
}

func (e *Error) Error() string { return e.Code + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// ReasonCode implements the interface pkg/reason-aware callers check.
func (e *Error) ReasonCode() string { return e.Code }

// Format renders t in the one timestamp layout.
func Format(t time.Time) string { return t.UTC().Format(tsLayout) }

// FileStamp renders t for use in file names.
func FileStamp(t time.Time) string { return t.UTC().Format(fileTS) }

// safeName keeps service names from escaping the logs folder.
func safeName(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-', r == '.', r == '@':
			return r
		}
		return '_'
	}, s)
	return strings.TrimLeft(s, ".")
}

// WriteFileAtomic writes data to path through a temp file in the same folder
// and a rename, so readers never see a half-written file.
func WriteFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	cerr := f.Close()
	if werr != nil || cerr != nil {
		os.Remove(tmp)
		return errors.Join(werr, cerr)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// WriteJSONAtomic marshals v (indented) and writes it atomically.
func WriteJSONAtomic(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("marshal %s: %w", filepath.Base(path), err)
	}
	return WriteFileAtomic(path, append(b, '\n'))
}

// EnsureDir creates the logs root.
func EnsureDir(dir string) error {
	if dir == "" {
		return &Error{Code: CodeLogRootUnavailable, Err: errors.New("logs folder not configured")}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return &Error{Code: CodeLogRootUnavailable, Err: err}
	}
	return nil
}
