package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/svtime"
)

// Session store defaults.
const (
	sessionTTL = 12 * time.Hour
	// maxSessions caps the table; the oldest rows go first beyond it.
	maxSessions = 10000
	// sessionCleanupEvery: expired rows are deleted this often by the
	// server's background writer (Server.Run), never by a request.
	sessionCleanupEvery = 10 * time.Minute
	// anonPrefix marks a signed anonymous session id (see anonymous).
	anonPrefix = "a."
)

// session is one browser session. Admin is granted only by the login form
// (internal key) or config loopback_is_admin — never by loopback alone.
type session struct {
	ID    string
	CSRF  string
	Admin bool
	Adult bool
	// View is how an opted-in session sees 18+ media: nsfwBlur or
	// nsfwShow ("" = a session stored before the setting: show).
	View    string
	Lang    string
	Expires time.Time
}

// sessionStore keeps sessions in web_sessions (schema 0302), so a webui
// restart keeps everyone logged in with their adult opt-in and language.
// The cookie carries a random id; only its SHA-256 is stored.
//
// A visitor without a cookie gets a signed anonymous id instead of a row
// (anonymous): page views never write, so a GET never waits for another
// process holding the write lock. The row is created when the session
// first changes (login, settings), keeping the anonymous CSRF token.
// Reads use the read handle (one primary-key lookup per request), writes
// the writer in short transactions.
type sessionStore struct {
	w, r *sql.DB
	// secret signs anonymous ids and derives their CSRF tokens.
	secret []byte
}

func newSessionStore(w, r *sql.DB, secret []byte) *sessionStore {
	return &sessionStore{w: w, r: r, secret: secret}
}

// sessionSecret derives the signing key from the internal key, so
// anonymous sessions (and the CSRF tokens of their open forms) survive a
// restart; without a configured key it is random per process.
func sessionSecret(internalKey string) []byte {
	if strings.TrimSpace(internalKey) == "" {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		return b
	}
	return macBytes([]byte(internalKey), "sv anonymous sessions v1")
}

func macBytes(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func (s *sessionStore) mac(purpose, payload string) string {
	return hex.EncodeToString(macBytes(s.secret, purpose+"|"+payload))
}

// anonymous issues a session that exists only in its cookie:
// "a.<random>.<expiry unix>.<signature>", CSRF token derived from it.
func (s *sessionStore) anonymous(now time.Time) session {
	exp := now.Add(sessionTTL).Truncate(time.Second)
	payload := anonPrefix + randomHex(16) + "." + strconv.FormatInt(exp.Unix(), 10)
	id := payload + "." + s.mac("id", payload)
	return session{ID: id, CSRF: s.mac("csrf", payload), Expires: exp}
}

// parseAnonymous checks an anonymous id's signature and expiry.
func (s *sessionStore) parseAnonymous(id string, now time.Time) (session, bool) {
	if !strings.HasPrefix(id, anonPrefix) {
		return session{}, false
	}
	i := strings.LastIndexByte(id, '.')
	payload, sig := id[:i], id[i+1:]
	if subtle.ConstantTimeCompare([]byte(sig), []byte(s.mac("id", payload))) != 1 {
		return session{}, false
	}
	_, expText, _ := strings.Cut(payload[len(anonPrefix):], ".")
	exp, err := strconv.ParseInt(expText, 10, 64)
	if err != nil || !now.Before(time.Unix(exp, 0)) {
		return session{}, false
	}
	return session{ID: id, CSRF: s.mac("csrf", payload), Expires: time.Unix(exp, 0).UTC()}, true
}

// The three ways a session sees 18+ media (body data-nsfw): hide serves
// none of them (the adult gate stays closed), blur serves them blurred
// until a click or key reveals one, show serves them as they are.
const (
	nsfwHide = "hide"
	nsfwBlur = "blur"
	nsfwShow = "show"
)

// nsfwMode is the session's 18+ display mode.
func (ss session) nsfwMode() string {
	switch {
	case !ss.Adult:
		return nsfwHide
	case ss.View == nsfwBlur:
		return nsfwBlur
	}
	return nsfwShow
}

// setNSFWMode sets the mode; an unknown value changes nothing.
func (ss *session) setNSFWMode(mode string) {
	switch mode {
	case nsfwHide:
		ss.Adult = false
	case nsfwBlur, nsfwShow:
		ss.Adult, ss.View = true, mode
	}
}

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

const sessionCols = `csrf, admin, adult, nsfw_view, lang, expires_at`

func scanSession(row *sql.Row, id string) (session, error) {
	ss := session{ID: id}
	var exp string
	if err := row.Scan(&ss.CSRF, &ss.Admin, &ss.Adult, &ss.View, &ss.Lang, &exp); err != nil {
		return session{}, err
	}
	t, ok := svtime.Parse(exp)
	if !ok {
		return session{}, fmt.Errorf("session expiry %q: not a timestamp", exp)
	}
	ss.Expires = t
	return ss, nil
}

// get returns the live session with this cookie value: its row, else a
// valid anonymous id's session; ok is false for an unknown, forged or
// expired id (expired rows are left to cleanup: reads never write).
func (s *sessionStore) get(ctx context.Context, id string, now time.Time) (ss session, ok bool, err error) {
	if id == "" || len(id) > 128 {
		return session{}, false, nil
	}
	ss, err = scanSession(s.r.QueryRowContext(ctx, `SELECT `+sessionCols+` FROM web_sessions
		WHERE id_hash = ? AND expires_at > ?`, hashID(id), svtime.Format(now)), id)
	if errors.Is(err, sql.ErrNoRows) {
		ss, ok = s.parseAnonymous(id, now)
		return ss, ok, nil
	}
	if err != nil {
		return session{}, false, fmt.Errorf("load session: %w", db.Classify(err))
	}
	return ss, true, nil
}

func insertSession(ctx context.Context, x db.Execer, ss session, now time.Time) error {
	_, err := x.ExecContext(ctx, `INSERT INTO web_sessions(id_hash, csrf, admin, adult, nsfw_view, lang, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, hashID(ss.ID), ss.CSRF, ss.Admin, ss.Adult, ss.View, ss.Lang, svtime.Format(now), svtime.Format(ss.Expires))
	return err
}

// update applies fn to the stored session (id and expiry are kept). An
// anonymous session is stored here the first time fn changes it.
func (s *sessionStore) update(ctx context.Context, id string, now time.Time, fn func(*session)) error {
	return db.InTx(ctx, s.w, func(tx *sql.Tx) error {
		ss, err := scanSession(tx.QueryRowContext(ctx, `SELECT `+sessionCols+` FROM web_sessions
			WHERE id_hash = ? AND expires_at > ?`, hashID(id), svtime.Format(now)), id)
		if errors.Is(err, sql.ErrNoRows) {
			anon, ok := s.parseAnonymous(id, now)
			if !ok {
				return nil // expired meanwhile: nothing to change
			}
			changed := anon
			fn(&changed)
			if changed == anon {
				return nil
			}
			return insertSession(ctx, tx, changed, now)
		}
		if err != nil {
			return fmt.Errorf("load session: %w", err)
		}
		fn(&ss)
		_, err = tx.ExecContext(ctx, `UPDATE web_sessions SET csrf = ?, admin = ?, adult = ?, nsfw_view = ?, lang = ? WHERE id_hash = ?`,
			ss.CSRF, ss.Admin, ss.Adult, ss.View, ss.Lang, hashID(id))
		return err
	})
}

// rotate replaces the session id (after login) to prevent fixation; the
// CSRF token (an anonymous session's too) and preferences carry over, the
// expiry starts anew. fn (may be nil) changes the new session in the same
// transaction.
func (s *sessionStore) rotate(ctx context.Context, old string, now time.Time, fn func(*session)) (session, error) {
	var ns session
	err := db.InTx(ctx, s.w, func(tx *sql.Tx) error {
		ss, err := scanSession(tx.QueryRowContext(ctx, `SELECT `+sessionCols+` FROM web_sessions
			WHERE id_hash = ? AND expires_at > ?`, hashID(old), svtime.Format(now)), old)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			ss, _ = s.parseAnonymous(old, now)
			if ss.CSRF == "" {
				ss.CSRF = randomHex(32)
			}
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
