-- description: culling passes (issue #23): one row per pass over a list (its query, size and the newest media id when it started) and one row per decision with the state it replaced, so a pass survives a reload and undo restores exactly what was there
-- A pass is identified by the list's canonical query string; "new since
-- last session" is id > max_media_id of the newest finished pass (ids
-- only grow, so this is an index range on media's primary key).
CREATE TABLE IF NOT EXISTS cull_passes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    query TEXT NOT NULL,
    total INTEGER NOT NULL DEFAULT 0,
    max_media_id INTEGER NOT NULL DEFAULT 0,
    collection_id INTEGER,
    started_at TEXT NOT NULL,
    finished_at TEXT
);
-- The unfinished pass of a query (resume) and the newest finished pass.
CREATE INDEX IF NOT EXISTS idx_cull_passes_query ON cull_passes(query, finished_at);
CREATE INDEX IF NOT EXISTS idx_cull_passes_finished ON cull_passes(finished_at) WHERE finished_at IS NOT NULL;
-- prev_json is the state the decision replaced (rating, checked, deleted,
-- 18+, collection membership), what undo writes back; advanced is 1 when
-- the decision moved the pass on to the next media (keep, reject, rate).
CREATE TABLE IF NOT EXISTS cull_decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    pass_id INTEGER NOT NULL REFERENCES cull_passes(id) ON DELETE CASCADE,
    media_id INTEGER NOT NULL,
    action TEXT NOT NULL,
    value TEXT,
    prev_json TEXT NOT NULL,
    advanced INTEGER NOT NULL DEFAULT 0,
    undone INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_cull_decisions_pass ON cull_decisions(pass_id, undone, id);
