-- description: job queue: nullable media_id for path jobs, one payload column, attempts/priority/lease/result columns, UTC timestamps
-- The original declared jobs.media_id NOT NULL and wrote 0 for path jobs, which
-- only worked because foreign keys were off. SQLite cannot relax NOT NULL in
-- place, so the table is rebuilt (the migration runner switches foreign keys
-- off for the rebuild and checks them afterwards).
CREATE TABLE jobs_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    media_id INTEGER REFERENCES media(id) ON DELETE CASCADE,
    prompt_id INTEGER REFERENCES prompts(id) ON DELETE SET NULL,
    type TEXT NOT NULL,
    status TEXT NOT NULL,
    priority INTEGER NOT NULL DEFAULT 100,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL DEFAULT 3,
    dedupe_key TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    cancelled_at TEXT,
    progress_bits INTEGER NOT NULL DEFAULT 0,
    progress_bits_total INTEGER NOT NULL DEFAULT 0,
    heartbeat_at TEXT,
    not_before TEXT,
    last_error_code TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT,
    started_at TEXT,
    finished_at TEXT,
    forge_request_json TEXT,
    forge_response_json TEXT,
    payload_json TEXT,
    result_json TEXT,
    error_message TEXT,
    worker_pid INTEGER,
    worker_owner TEXT,
    stage TEXT,
    stage_changed_at TEXT
);

INSERT INTO jobs_new (
    id, media_id, prompt_id, type, status, priority, attempts, max_attempts, dedupe_key,
    cancel_requested, cancelled_at, progress_bits, progress_bits_total, heartbeat_at, not_before,
    last_error_code, created_at, updated_at, started_at, finished_at,
    forge_request_json, forge_response_json, payload_json, result_json, error_message,
    worker_pid, worker_owner, stage, stage_changed_at)
SELECT
    id,
    NULLIF(media_id, 0),
    prompt_id,
    type,
    CASE status WHEN 'pending' THEN 'queued' WHEN 'created' THEN 'queued' ELSE status END,
    100,
    CASE WHEN status IN ('running', 'done', 'error') THEN 1 ELSE 0 END,
    3,
    NULL,
    cancel_requested,
    sv_ts(cancelled_at),
    progress_bits,
    progress_bits_total,
    sv_ts(heartbeat_at),
    sv_ts(not_before),
    last_error_code,
    COALESCE(sv_ts(created_at), created_at),
    sv_ts(updated_at),
    sv_ts(started_at),
    CASE WHEN status IN ('done', 'error', 'cancelled') THEN sv_ts(COALESCE(cancelled_at, updated_at, created_at)) END,
    -- Forge jobs keep their request/response columns; every other type had its
    -- payload in forge_request_json and its result in forge_response_json.
    CASE WHEN type LIKE 'forge%' THEN forge_request_json END,
    CASE WHEN type LIKE 'forge%' THEN forge_response_json END,
    CASE WHEN payload_json IS NOT NULL AND payload_json <> '' THEN payload_json ELSE forge_request_json END,
    CASE WHEN type LIKE 'forge%' THEN NULL ELSE forge_response_json END,
    error_message,
    worker_pid,
    worker_owner,
    stage,
    sv_ts(stage_changed_at)
FROM jobs;

DROP TABLE jobs;
ALTER TABLE jobs_new RENAME TO jobs;

CREATE INDEX idx_jobs_status ON jobs(status);
CREATE INDEX idx_jobs_status_created ON jobs(status, created_at);
CREATE INDEX idx_jobs_media ON jobs(media_id);
CREATE INDEX idx_jobs_status_type_updated_at ON jobs(status, type, updated_at);
CREATE INDEX idx_jobs_type_status_created_at ON jobs(type, status, created_at);
-- Claim order: status, type filter, then priority and id (ORDER BY priority, id).
CREATE INDEX idx_jobs_claim ON jobs(status, type, priority, id);
-- Dedupe is race-free: at most one live (queued/running) job per dedupe key.
CREATE UNIQUE INDEX idx_jobs_dedupe_live ON jobs(dedupe_key) WHERE dedupe_key IS NOT NULL AND status IN ('queued', 'running');
