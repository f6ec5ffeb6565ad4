package workerstate

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gofrs/flock"
)

// LockInfo is the content of LOGS/<service>.lock.json.
type LockInfo struct {
	PID              int    `json:"pid"`
	StartedAtUTC     string `json:"started_at_utc"`
	LastHeartbeatUTC string `json:"last_heartbeat_utc"`
	Service          string `json:"service"`
	CommandHash      string `json:"command_hash"`
}

// Lock is a held worker lock.
//
// The OS lock (flock/LockFileEx) is taken on LOGS/<service>.lock, and the
// JSON description lives beside it in LOGS/<service>.lock.json. They are
// separate files because Windows byte-range locks make a locked file
// unreadable to other processes (health pages must read the JSON), and
// because moving a stale JSON aside must not move the file that carries the
// OS lock (a renamed locked inode lets a second process lock a fresh one).
type Lock struct {
	fl          *flock.Flock
	jsonPath    string
	mu          sync.Mutex
	info        LockInfo
	quarantined string
}

// LockPath is LOGS/<service>.lock.json.
func LockPath(logsDir, service string) string {
	return filepath.Join(logsDir, safeName(service)+".lock.json")
}

func osLockPath(logsDir, service string) string {
	return filepath.Join(logsDir, safeName(service)+".lock")
}

// CommandHash is sha256 of argv joined with NUL (as the original).
func CommandHash(argv []string) string {
	h := sha256.Sum256([]byte(strings.Join(argv, "\x00")))
	return hex.EncodeToString(h[:])
}

// AcquireLock takes the worker lock without blocking. When another live
// process holds it, the error has code lock_busy. A lock.json left behind by
// a dead process, or one that cannot be parsed, is moved aside to
// "<name>.lock.json.stale-<ts>" (see Quarantined) and never trusted.
func AcquireLock(logsDir, service string, now time.Time, argv []string) (*Lock, error) {
	if err := EnsureDir(logsDir); err != nil {
		return nil, err
	}
	fl := flock.New(osLockPath(logsDir, service), flock.SetFlag(os.O_CREATE|os.O_RDWR))
	ok, err := fl.TryLock()
	if err != nil {
		return nil, &Error{Code: CodeLockOpenFailed, Err: fmt.Errorf("lock %s: %w", service, err)}
	}
	if !ok {
		msg := "held by another process"
		if old, rerr := ReadLock(logsDir, service); rerr == nil {
			msg = fmt.Sprintf("held by pid %d since %s", old.PID, old.StartedAtUTC)
		}
		return nil, &Error{Code: CodeLockBusy, Err: fmt.Errorf("worker lock %s %s", service, msg)}
	}
	l := &Lock{fl: fl, jsonPath: LockPath(logsDir, service)}
	// We hold the OS lock, so whoever wrote an existing JSON is gone (a clean
	// Release removes it): quarantine it for the post-mortem. Except when
	// the JSON itself is locked: the original PHP workers flock
	// LOGS/<worker>.lock.json directly, so a live PHP worker of the same
	// name holds it, and moving its file aside would let both run.
	if _, err := os.Stat(l.jsonPath); err == nil {
		if held, _ := FileLockHeld(l.jsonPath); held {
			fl.Unlock()
			return nil, &Error{Code: CodeLockBusy, Err: fmt.Errorf("worker lock %s: %s is locked by a running original (PHP) worker; stop it first",
				service, filepath.Base(l.jsonPath))}
		}
		dest := l.jsonPath + ".stale-" + FileStamp(now)
		for i := 1; ; i++ {
			if _, err := os.Stat(dest); errors.Is(err, os.ErrNotExist) {
				break
			}
			dest = fmt.Sprintf("%s.stale-%s-%d", l.jsonPath, FileStamp(now), i)
		}
		if err := os.Rename(l.jsonPath, dest); err != nil {
			fl.Unlock()
			return nil, &Error{Code: CodeLockWriteFailed, Err: fmt.Errorf("quarantine stale lock: %w", err)}
		}
		l.quarantined = dest
	}
	ts := Format(now)
	l.info = LockInfo{PID: os.Getpid(), StartedAtUTC: ts, LastHeartbeatUTC: ts, Service: service, CommandHash: CommandHash(argv)}
	if err := WriteJSONAtomic(l.jsonPath, l.info); err != nil {
		fl.Unlock()
		return nil, &Error{Code: CodeLockWriteFailed, Err: err}
	}
	return l, nil
}

// Quarantined returns the path a stale lock.json was moved to, or "".
func (l *Lock) Quarantined() string { return l.quarantined }

// Info returns the lock description as written.
func (l *Lock) Info() LockInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.info
}

// Touch rewrites last_heartbeat_utc.
func (l *Lock) Touch(now time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.info.LastHeartbeatUTC = Format(now)
	if err := WriteJSONAtomic(l.jsonPath, l.info); err != nil {
		return &Error{Code: CodeLockWriteFailed, Err: err}
	}
	return nil
}

// Release removes the JSON and drops the OS lock. Safe to call twice.
func (l *Lock) Release() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fl == nil {
		return nil
	}
	rmErr := os.Remove(l.jsonPath)
	if errors.Is(rmErr, os.ErrNotExist) {
		rmErr = nil
	}
	err := l.fl.Unlock()
	l.fl = nil
	return errors.Join(rmErr, err)
}

// ReadLock reads LOGS/<service>.lock.json.
func ReadLock(logsDir, service string) (LockInfo, error) {
	var li LockInfo
	b, err := os.ReadFile(LockPath(logsDir, service))
	if err != nil {
		return li, err
	}
	if err := json.Unmarshal(b, &li); err != nil {
		return li, fmt.Errorf("lock %s: %w", service, err)
	}
	return li, nil
}

// LockHeld reports whether some process holds the service's OS lock.
func LockHeld(logsDir, service string) (bool, error) {
	return FileLockHeld(osLockPath(logsDir, service))
}

// FileLockHeld reports whether some process holds an OS lock (flock,
// LockFileEx) on path. It probes with a non-blocking try-lock that is
// released at once; a missing file is not held.
func FileLockHeld(p string) (bool, error) {
	if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	fl := flock.New(p, flock.SetFlag(os.O_RDWR))
	ok, err := fl.TryLock()
	if err != nil {
		return false, err
	}
	if ok {
		fl.Unlock()
		return false, nil
	}
	return true, nil
}

// OriginalLockFiles are the files in LOGS that the original PHP workers
// hold flocked while they run (spec 3.1: the one-shot core workers; the
// Ollama runner lock and the legacy analyze runner). A running PHP worker
// is visible to Supervisor only through them. The spawn locks are left
// out: Supervisor's launcher uses the same names for its own.
func OriginalLockFiles() []string {
	return []string{"scan_worker.lock.json", "media_worker.lock.json", "forge_worker.lock.json",
		"library_rename_worker.lock.json", "ollama_worker.lock", "ollama_analyze_runner.lock"}
}
