-- description: web read model: indexes backing every media-list filter, media_activity counter table
-- SQLite index entries carry the rowid, so a single-column index on X serves
-- "X = ? ORDER BY id" without a sort; these cover the remaining list filters.
CREATE INDEX IF NOT EXISTS idx_media_has_nsfw ON media(has_nsfw);
CREATE INDEX IF NOT EXISTS idx_media_is_deleted ON media(is_deleted);
CREATE INDEX IF NOT EXISTS idx_media_is_active ON media(is_active);
CREATE INDEX IF NOT EXISTS idx_media_status_vote ON media(status_vote);
CREATE INDEX IF NOT EXISTS idx_media_filesize ON media(filesize);
CREATE INDEX IF NOT EXISTS idx_media_parent ON media(parent_media_id);
CREATE INDEX IF NOT EXISTS idx_tags_type ON tags(type);
CREATE INDEX IF NOT EXISTS idx_media_meta_key_media ON media_meta(meta_key, media_id);
CREATE INDEX IF NOT EXISTS idx_audit_log_entity ON audit_log(entity_type, entity_id);

-- The original appended an activity.clicks meta row on every detail view
-- (unbounded media_meta growth). One counter row per media replaces it.
CREATE TABLE IF NOT EXISTS media_activity (
    media_id INTEGER PRIMARY KEY REFERENCES media(id) ON DELETE CASCADE,
    clicks INTEGER NOT NULL DEFAULT 0,
    last_click_at INTEGER
);
