-- description: web sessions persisted across webui restarts (hashed ids, expiry, per-session adult opt-in)
-- id_hash is the SHA-256 (hex) of the cookie value: the database (and its
-- backups) never holds a usable session id. expires_at uses the one
-- timestamp layout (fixed width UTC), so string order is time order and the
-- cleanup "expires_at <= now" is an index range.
CREATE TABLE IF NOT EXISTS web_sessions (
    id_hash TEXT PRIMARY KEY,
    csrf TEXT NOT NULL,
    admin INTEGER NOT NULL DEFAULT 0,
    adult INTEGER NOT NULL DEFAULT 0,
    lang TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idx_web_sessions_expires ON web_sessions(expires_at);
