-- description: scan: library sources (folders imported in place or copied from) that the web UI serves from and the scan worker can watch
-- One row per folder a scan_path job or scan-path --now imported in mode
-- in_place or copy (pkg/sources.RecordScan); move imports leave nothing
-- behind and record none. path is cleaned and absolute as media.path stores
-- it (not symlink-resolved), so "media below the source" is an indexed range
-- on idx_media_path. last_scan_job_id has no foreign key: finished jobs are
-- pruned, the source stays.
CREATE TABLE IF NOT EXISTS library_sources (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL UNIQUE,
    mode TEXT NOT NULL,
    watch INTEGER NOT NULL DEFAULT 0,
    added_at TEXT NOT NULL,
    last_scan_at TEXT,
    last_scan_job_id INTEGER,
    last_scan_status TEXT,
    watch_queued_at TEXT
);
-- The watch scheduler's filter (watch = 1, then the due times).
CREATE INDEX IF NOT EXISTS idx_library_sources_watch ON library_sources(watch, last_scan_at);
