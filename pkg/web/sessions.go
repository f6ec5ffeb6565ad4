package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// Session store defaults.
const (
	sessionTTL = 12 * time.Hour
	// maxSessions caps the table: a flood of cookie-less page requests
	// creates sessions, and the oldest ones go first beyond the cap.
	maxSessions = 10000
	// Expired rows are deleted at most this often, or after this many new
	// sessions, whichever comes first (from create, never per read).
	sessionCleanupEvery   = 10 * time.Minute
	sessionCleanupCreates = 1000
)

// session is one browser session. Admin is granted only by the login form
// (internal key) or config loopback_is_admin — never by loopback alone.
type session struct {
	ID      string
	CSRF    string
	Admin   bool
	Adult   bool
	Lang    string
	Expires time.Time
}

// sessionStore keeps sessions in web_sessions (schema 0302), so a webui
// restart keeps everyone logged in with their adult opt-in and language.
// The cookie carries a random 256-bit id; only its SHA-256 is stored.
// Reads use the read handle (one primary-key lookup per request), writes
// the writer in short transactions.
type sessionStore struct {
	w, r *sql.DB

	mu          sync.Mutex // guards the cleanup schedule below
	lastCleanup time.Time
	created     int
}

func newSessionStore(w, r *sql.DB) *sessionStore { return &sessionStore{w: w, r: r} }

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error()) // the OS RNG never fails on supported platforms
	}
	return hex.EncodeToString(b)
}

// hashID is the stored form of a session id.
func hashID(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:])
}

const sessionCols = `csrf, admin, adult, lang, expires_at`

func scanSession(row *sql.Row, id string) (session, error) {
	ss := session{ID: id}
	var exp string
	if err := row.Scan(&ss.CSRF, &ss.Admin, &ss.Adult, &ss.Lang, &exp); err != nil {
		return session{}, err
	}
	t, ok := svtime.Parse(exp)
	if !ok {
		return session{}, fmt.Errorf("session expiry %q: not a timestamp", exp)
	}
	ss.Expires = t
	return ss, nil
}

// get returns the live session with this cookie value; ok is false for an
// unknown or expired id (expired rows are left to cleanup: reads never write).
func (s *sessionStore) get(ctx context.Context, id string, now time.Time) (ss session, ok bool, err error) {
	if id == "" || len(id) > 128 {
		return session{}, false, nil
	}
	ss, err = scanSession(s.r.QueryRowContext(ctx, `SELECT `+sessionCols+` FROM web_sessions
		WHERE id_hash = ? AND expires_at > ?`, hashID(id), svtime.Format(now)), id)
	if errors.Is(err, sql.ErrNoRows) {
		return session{}, false, nil
	}
	if err != nil {
		return session{}, false, fmt.Errorf("load session: %w", db.Classify(err))
	}
	return ss, true, nil
}

func insertSession(ctx context.Context, x db.Execer, ss session, now time.Time) error {
	_, err := x.ExecContext(ctx, `INSERT INTO web_sessions(id_hash, csrf, admin, adult, lang, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, hashID(ss.ID), ss.CSRF, ss.Admin, ss.Adult, ss.Lang, svtime.Format(now), svtime.Format(ss.Expires))
	return err
}

// create stores a new anonymous session.
func (s *sessionStore) create(ctx context.Context, now time.Time) (session, error) {
	s.maybeCleanup(ctx, now)
	ss := session{ID: randomHex(32), CSRF: randomHex(32), Expires: now.Add(sessionTTL)}
	if err := insertSession(ctx, s.w, ss, now); err != nil {
		return session{}, fmt.Errorf("create session: %w", db.Classify(err))
	}
	return ss, nil
}

// update applies fn to the stored session (id and expiry are kept).
func (s *sessionStore) update(ctx context.Context, id string, now time.Time, fn func(*session)) error {
	return db.InTx(ctx, s.w, func(tx *sql.Tx) error {
		ss, err := scanSession(tx.QueryRowContext(ctx, `SELECT `+sessionCols+` FROM web_sessions
			WHERE id_hash = ? AND expires_at > ?`, hashID(id), svtime.Format(now)), id)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // expired meanwhile: nothing to change
		}
		if err != nil {
			return fmt.Errorf("load session: %w", err)
		}
		fn(&ss)
		_, err = tx.ExecContext(ctx, `UPDATE web_sessions SET csrf = ?, admin = ?, adult = ?, lang = ? WHERE id_hash = ?`,
			ss.CSRF, ss.Admin, ss.Adult, ss.Lang, hashID(id))
		return err
	})
}

// rotate replaces the session id (after login) to prevent fixation; the
// CSRF token and preferences carry over, the expiry starts anew. fn (may be
// nil) changes the new session in the same transaction.
func (s *sessionStore) rotate(ctx context.Context, old string, now time.Time, fn func(*session)) (session, error) {
	var ns session
	err := db.InTx(ctx, s.w, func(tx *sql.Tx) error {
		ss, err := scanSession(tx.QueryRowContext(ctx, `SELECT `+sessionCols+` FROM web_sessions
			WHERE id_hash = ? AND expires_at > ?`, hashID(old), svtime.Format(now)), old)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			ss = session{CSRF: randomHex(32)}
		case err != nil:
			return fmt.Errorf("load session: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM web_sessions WHERE id_hash = ?`, hashID(old)); err != nil {
			return err
		}
		ns = ss
		ns.ID, ns.Expires = randomHex(32), now.Add(sessionTTL)
		if fn != nil {
			fn(&ns)
		}
		return insertSession(ctx, tx, ns, now)
	})
	if err != nil {
		return session{}, fmt.Errorf("rotate session: %w", db.Classify(err))
	}
	return ns, nil
}

// maybeCleanup runs cleanup on its schedule; a failure only delays it.
func (s *sessionStore) maybeCleanup(ctx context.Context, now time.Time) {
	s.mu.Lock()
	s.created++
	due := s.created >= sessionCleanupCreates || now.Sub(s.lastCleanup) >= sessionCleanupEvery
	if due {
		s.created, s.lastCleanup = 0, now
	}
	s.mu.Unlock()
	if due {
		_, _ = s.cleanup(ctx, now)
	}
}

// cleanup deletes expired sessions, then the oldest beyond maxSessions
// (the earliest expiry is the oldest: every session gets the same TTL).
func (s *sessionStore) cleanup(ctx context.Context, now time.Time) (deleted int64, err error) {
	err = db.InTx(ctx, s.w, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM web_sessions WHERE expires_at <= ?`, svtime.Format(now))
		if err != nil {
			return err
		}
		deleted, _ = res.RowsAffected()
		res, err = tx.ExecContext(ctx, `DELETE FROM web_sessions WHERE id_hash IN (SELECT id_hash FROM web_sessions
			ORDER BY expires_at LIMIT max(0, (SELECT count(*) FROM web_sessions) - ?))`, maxSessions)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		deleted += n
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("clean up sessions: %w", db.Classify(err))
	}
	return deleted, nil
}
