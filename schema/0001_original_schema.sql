-- description: original PHP schema (DB/schema.sql + migrations 001-018), idempotent for existing databases
CREATE TABLE IF NOT EXISTS media (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL,
    type TEXT NOT NULL,
    source TEXT NOT NULL,
    width INTEGER,
    height INTEGER,
    duration REAL,
    fps REAL,
    filesize INTEGER,
    hash TEXT,
    created_at TEXT,
    imported_at TEXT NOT NULL,
    rating INTEGER NOT NULL DEFAULT 0,
    has_nsfw INTEGER NOT NULL DEFAULT 0,
    parent_media_id INTEGER REFERENCES media(id) ON DELETE SET NULL,
    status TEXT NOT NULL DEFAULT 'active',
    lifecycle_status TEXT NOT NULL DEFAULT 'active',
    lifecycle_reason TEXT,
    quality_status TEXT NOT NULL DEFAULT 'unknown',
    quality_score REAL,
    quality_notes TEXT,
    deleted_at TEXT,
    status_vote TEXT NOT NULL DEFAULT 'neutral',
    is_active INTEGER NOT NULL DEFAULT 1,
    is_deleted INTEGER NOT NULL DEFAULT 0
);
-- Columns that only later PHP migrations added; older databases lack them.
-- sv:ensure-column media lifecycle_status TEXT NOT NULL DEFAULT 'active'
-- sv:ensure-column media lifecycle_reason TEXT
-- sv:ensure-column media quality_status TEXT NOT NULL DEFAULT 'unknown'
-- sv:ensure-column media quality_score REAL
-- sv:ensure-column media quality_notes TEXT
-- sv:ensure-column media deleted_at TEXT
-- sv:ensure-column media status_vote TEXT NOT NULL DEFAULT 'neutral'
-- sv:ensure-column media is_active INTEGER NOT NULL DEFAULT 1
-- sv:ensure-column media is_deleted INTEGER NOT NULL DEFAULT 0
CREATE UNIQUE INDEX IF NOT EXISTS idx_media_hash ON media(hash);
CREATE INDEX IF NOT EXISTS idx_media_source ON media(source);
CREATE INDEX IF NOT EXISTS idx_media_type ON media(type);
CREATE INDEX IF NOT EXISTS idx_media_rating ON media(rating);
CREATE INDEX IF NOT EXISTS idx_media_status ON media(status);
CREATE INDEX IF NOT EXISTS idx_media_lifecycle_status ON media(lifecycle_status);
CREATE INDEX IF NOT EXISTS idx_media_quality_status ON media(quality_status);
CREATE INDEX IF NOT EXISTS idx_media_imported_at ON media(imported_at);

CREATE TABLE IF NOT EXISTS tags (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    type TEXT NOT NULL DEFAULT 'content',
    locked INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_tags_name_type ON tags(name, type);

CREATE TABLE IF NOT EXISTS media_tags (
    media_id INTEGER NOT NULL REFERENCES media(id) ON DELETE CASCADE,
    tag_id INTEGER NOT NULL REFERENCES tags(id) ON DELETE CASCADE,
    confidence REAL NOT NULL DEFAULT 1.0,
    locked INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (media_id, tag_id)
);
CREATE INDEX IF NOT EXISTS idx_media_tags_media ON media_tags(media_id);
CREATE INDEX IF NOT EXISTS idx_media_tags_media_locked ON media_tags(media_id, locked);
CREATE INDEX IF NOT EXISTS idx_media_tags_tag ON media_tags(tag_id);

CREATE TABLE IF NOT EXISTS scan_results (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    media_id INTEGER NOT NULL REFERENCES media(id) ON DELETE CASCADE,
    scanner TEXT NOT NULL,
    run_at TEXT NOT NULL,
    nsfw_score REAL,
    flags TEXT,
    raw_json TEXT
);
CREATE INDEX IF NOT EXISTS idx_scan_results_media ON scan_results(media_id);
CREATE INDEX IF NOT EXISTS idx_scan_results_scanner ON scan_results(scanner);

CREATE TABLE IF NOT EXISTS prompts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    media_id INTEGER NOT NULL REFERENCES media(id) ON DELETE CASCADE,
    prompt TEXT,
    negative_prompt TEXT,
    model TEXT,
    sampler TEXT,
    cfg_scale REAL,
    steps INTEGER,
    seed TEXT,
    width INTEGER,
    height INTEGER,
    scheduler TEXT,
    sampler_settings TEXT,
    loras TEXT,
    controlnet TEXT,
    source_metadata TEXT
);
CREATE INDEX IF NOT EXISTS idx_prompts_media ON prompts(media_id);

CREATE TABLE IF NOT EXISTS prompt_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    media_id INTEGER NOT NULL REFERENCES media(id) ON DELETE CASCADE,
    prompt_id INTEGER REFERENCES prompts(id) ON DELETE SET NULL,
    version INTEGER NOT NULL,
    source TEXT NOT NULL,
    created_at TEXT NOT NULL,
    prompt TEXT,
    negative_prompt TEXT,
    model TEXT,
    sampler TEXT,
    cfg_scale REAL,
    steps INTEGER,
    seed TEXT,
    width INTEGER,
    height INTEGER,
    scheduler TEXT,
    sampler_settings TEXT,
    loras TEXT,
    controlnet TEXT,
    source_metadata TEXT,
    raw_text TEXT
);
CREATE INDEX IF NOT EXISTS idx_prompt_history_media ON prompt_history(media_id);
CREATE INDEX IF NOT EXISTS idx_prompt_history_prompt ON prompt_history(prompt_id);
CREATE INDEX IF NOT EXISTS idx_prompt_history_version ON prompt_history(media_id, version DESC);
CREATE UNIQUE INDEX IF NOT EXISTS idx_prompt_history_media_version ON prompt_history(media_id, version);

CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    media_id INTEGER NOT NULL REFERENCES media(id) ON DELETE CASCADE,
    prompt_id INTEGER REFERENCES prompts(id) ON DELETE SET NULL,
    type TEXT NOT NULL,
    status TEXT NOT NULL,
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
    forge_request_json TEXT,
    forge_response_json TEXT,
    payload_json TEXT,
    error_message TEXT,
    worker_pid INTEGER,
    worker_owner TEXT,
    stage TEXT,
    stage_changed_at TEXT
);
-- sv:ensure-column jobs prompt_id INTEGER REFERENCES prompts(id) ON DELETE SET NULL
-- sv:ensure-column jobs cancel_requested INTEGER NOT NULL DEFAULT 0
-- sv:ensure-column jobs cancelled_at TEXT
-- sv:ensure-column jobs progress_bits INTEGER NOT NULL DEFAULT 0
-- sv:ensure-column jobs progress_bits_total INTEGER NOT NULL DEFAULT 0
-- sv:ensure-column jobs heartbeat_at TEXT
-- sv:ensure-column jobs not_before TEXT
-- sv:ensure-column jobs last_error_code TEXT
-- sv:ensure-column jobs updated_at TEXT
-- sv:ensure-column jobs started_at TEXT
-- sv:ensure-column jobs forge_request_json TEXT
-- sv:ensure-column jobs forge_response_json TEXT
-- sv:ensure-column jobs payload_json TEXT
-- sv:ensure-column jobs error_message TEXT
-- sv:ensure-column jobs worker_pid INTEGER
-- sv:ensure-column jobs worker_owner TEXT
-- sv:ensure-column jobs stage TEXT
-- sv:ensure-column jobs stage_changed_at TEXT
-- PHP migration 018: a legacy "payload" column is copied into payload_json.
-- sv:copy-column-if-exists jobs payload payload_json
CREATE INDEX IF NOT EXISTS idx_jobs_status ON jobs(status);
CREATE INDEX IF NOT EXISTS idx_jobs_status_created ON jobs(status, created_at);
CREATE INDEX IF NOT EXISTS idx_jobs_media ON jobs(media_id);
CREATE INDEX IF NOT EXISTS idx_jobs_status_type_updated_at ON jobs(status, type, updated_at);
CREATE INDEX IF NOT EXISTS idx_jobs_type_status_created_at ON jobs(type, status, created_at);

CREATE TABLE IF NOT EXISTS ollama_results (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    media_id INTEGER NOT NULL REFERENCES media(id) ON DELETE CASCADE,
    mode TEXT NOT NULL,
    model TEXT NOT NULL,
    title TEXT,
    caption TEXT,
    score INTEGER,
    contradictions TEXT,
    missing TEXT,
    rationale TEXT,
    raw_json TEXT,
    raw_text TEXT,
    parse_error INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    meta TEXT
);
-- sv:ensure-column ollama_results meta TEXT
CREATE INDEX IF NOT EXISTS idx_ollama_results_media ON ollama_results(media_id);
CREATE INDEX IF NOT EXISTS idx_ollama_results_mode ON ollama_results(mode);
CREATE INDEX IF NOT EXISTS idx_ollama_results_media_mode ON ollama_results(media_id, mode);

CREATE TABLE IF NOT EXISTS ollama_vectors (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    media_id INTEGER NOT NULL REFERENCES media(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    model TEXT NOT NULL,
    dims INTEGER,
    vector_json TEXT,
    input_hash TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_ollama_vectors_unique ON ollama_vectors(media_id, kind, model, input_hash);
CREATE INDEX IF NOT EXISTS idx_ollama_vectors_media ON ollama_vectors(media_id);

CREATE TABLE IF NOT EXISTS media_lifecycle_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    media_id INTEGER NOT NULL REFERENCES media(id) ON DELETE CASCADE,
    event_type TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT,
    quality_status TEXT,
    quality_score REAL,
    rule TEXT,
    reason TEXT,
    actor TEXT DEFAULT 'internal',
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_media_lifecycle_events_media ON media_lifecycle_events(media_id);
CREATE INDEX IF NOT EXISTS idx_media_lifecycle_events_type ON media_lifecycle_events(event_type);

CREATE TABLE IF NOT EXISTS collections (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    description TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS collection_media (
    collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    media_id INTEGER NOT NULL REFERENCES media(id) ON DELETE CASCADE,
    PRIMARY KEY (collection_id, media_id)
);

CREATE TABLE IF NOT EXISTS import_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL,
    status TEXT NOT NULL,
    message TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_import_log_status ON import_log(status);
CREATE INDEX IF NOT EXISTS idx_import_log_created_at ON import_log(created_at);

CREATE TABLE IF NOT EXISTS consistency_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    check_name TEXT NOT NULL,
    severity TEXT NOT NULL,
    message TEXT,
    created_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    action TEXT NOT NULL,
    entity_type TEXT,
    entity_id INTEGER,
    details_json TEXT,
    actor_ip TEXT,
    actor_key TEXT,
    created_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS media_meta (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    media_id INTEGER NOT NULL REFERENCES media(id) ON DELETE CASCADE,
    source TEXT NOT NULL,
    meta_key TEXT NOT NULL,
    meta_value TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_media_meta_media ON media_meta(media_id);
CREATE INDEX IF NOT EXISTS idx_media_meta_key_value ON media_meta(meta_key, meta_value);
CREATE INDEX IF NOT EXISTS idx_media_meta_media_key ON media_meta(media_id, meta_key);
