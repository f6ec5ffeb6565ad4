-- description: scan: source-file index for unchanged-rescan detection (path,size,mtime), media path index
-- One row per source file the walker has seen, in every import mode: in move
-- mode the source disappears after import, so media.path cannot answer "have I
-- seen this exact file before"; this table can, without re-hashing.
CREATE TABLE IF NOT EXISTS scan_files (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    media_id INTEGER REFERENCES media(id) ON DELETE SET NULL,
    hash TEXT,
    status TEXT NOT NULL,
    seen_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idx_scan_files_media ON scan_files(media_id);
-- Rescans look media up by path (in_place imports, missing-file marking).
CREATE INDEX IF NOT EXISTS idx_media_path ON media(path);
