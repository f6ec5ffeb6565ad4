-- The original PHP system's final schema (DB/schema.sql after migrations 001-018),
-- written from spec section 1 for the upgrade test. Note jobs.media_id NOT NULL
-- and the legacy jobs.payload column.
CREATE TABLE media (
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
    deleted_at TEXT
    -- status_vote, is_active, is_deleted come from PHP migration 013, which a
    -- database created from schema.sql alone does not have.
);
-- Columns that only later PHP migrations added; older databases lack them.
CREATE UNIQUE INDEX idx_media_hash ON media(hash);
CREATE INDEX idx_media_source ON media(source);
CREATE INDEX idx_media_type ON media(type);
CREATE INDEX idx_media_rating ON media(rating);
CREATE INDEX idx_media_status ON media(status);
CREATE INDEX idx_media_lifecycle_status ON media(lifecycle_status);
CREATE INDEX idx_media_quality_status ON media(quality_status);
CREATE INDEX idx_media_imported_at ON media(imported_at);

CREATE TABLE tags (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    type TEXT NOT NULL DEFAULT 'content',
    locked INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX idx_tags_name_type ON tags(name, type);

CREATE TABLE media_tags (
    media_id INTEGER NOT NULL REFERENCES media(id) ON DELETE CASCADE,
    tag_id INTEGER NOT NULL REFERENCES tags(id) ON DELETE CASCADE,
    confidence REAL NOT NULL DEFAULT 1.0,
    locked INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (media_id, tag_id)
);
CREATE INDEX idx_media_tags_media ON media_tags(media_id);
CREATE INDEX idx_media_tags_media_locked ON media_tags(media_id, locked);
CREATE INDEX idx_media_tags_tag ON media_tags(tag_id);

CREATE TABLE scan_results (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    media_id INTEGER NOT NULL REFERENCES media(id) ON DELETE CASCADE,
    scanner TEXT NOT NULL,
    run_at TEXT NOT NULL,
    nsfw_score REAL,
    flags TEXT,
    raw_json TEXT
);
CREATE INDEX idx_scan_results_media ON scan_results(media_id);
CREATE INDEX idx_scan_results_scanner ON scan_results(scanner);

CREATE TABLE prompts (
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
CREATE INDEX idx_prompts_media ON prompts(media_id);

CREATE TABLE prompt_history (
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
CREATE INDEX idx_prompt_history_media ON prompt_history(media_id);
CREATE INDEX idx_prompt_history_prompt ON prompt_history(prompt_id);
CREATE INDEX idx_prompt_history_version ON prompt_history(media_id, version DESC);
CREATE UNIQUE INDEX idx_prompt_history_media_version ON prompt_history(media_id, version);

CREATE TABLE jobs (
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
    stage_changed_at TEXT,
    payload TEXT
);
-- PHP migration 018: a legacy "payload" column is copied into payload_json.
CREATE INDEX idx_jobs_status ON jobs(status);
CREATE INDEX idx_jobs_status_created ON jobs(status, created_at);
CREATE INDEX idx_jobs_media ON jobs(media_id);
CREATE INDEX idx_jobs_status_type_updated_at ON jobs(status, type, updated_at);
CREATE INDEX idx_jobs_type_status_created_at ON jobs(type, status, created_at);

CREATE TABLE ollama_results (
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
CREATE INDEX idx_ollama_results_media ON ollama_results(media_id);
CREATE INDEX idx_ollama_results_mode ON ollama_results(mode);
CREATE INDEX idx_ollama_results_media_mode ON ollama_results(media_id, mode);

CREATE TABLE ollama_vectors (
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
CREATE UNIQUE INDEX idx_ollama_vectors_unique ON ollama_vectors(media_id, kind, model, input_hash);
CREATE INDEX idx_ollama_vectors_media ON ollama_vectors(media_id);

CREATE TABLE media_lifecycle_events (
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
CREATE INDEX idx_media_lifecycle_events_media ON media_lifecycle_events(media_id);
CREATE INDEX idx_media_lifecycle_events_type ON media_lifecycle_events(event_type);

CREATE TABLE collections (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    description TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE collection_media (
    collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    media_id INTEGER NOT NULL REFERENCES media(id) ON DELETE CASCADE,
    PRIMARY KEY (collection_id, media_id)
);

CREATE TABLE import_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL,
    status TEXT NOT NULL,
    message TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX idx_import_log_status ON import_log(status);
CREATE INDEX idx_import_log_created_at ON import_log(created_at);

CREATE TABLE consistency_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    check_name TEXT NOT NULL,
    severity TEXT NOT NULL,
    message TEXT,
    created_at TEXT NOT NULL
);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    action TEXT NOT NULL,
    entity_type TEXT,
    entity_id INTEGER,
    details_json TEXT,
    actor_ip TEXT,
    actor_key TEXT,
    created_at TEXT NOT NULL
);

CREATE TABLE media_meta (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    media_id INTEGER NOT NULL REFERENCES media(id) ON DELETE CASCADE,
    source TEXT NOT NULL,
    meta_key TEXT NOT NULL,
    meta_value TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX idx_media_meta_media ON media_meta(media_id);
CREATE INDEX idx_media_meta_key_value ON media_meta(meta_key, meta_value);
CREATE INDEX idx_media_meta_media_key ON media_meta(media_id, meta_key);

CREATE TABLE schema_migrations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    version TEXT NOT NULL UNIQUE,
    applied_at TEXT,
    description TEXT
);
