-- description: web text search: the original file name (import meta original_name) is searched with the path; renamed media are marked for the fold
-- A move-mode import renames the file to its content hash, so the name a
-- person knows survives only in the import's original_name meta row. The
-- index's path column now holds the path followed by that name when the
-- path does not already end with it (catalog/ftsindex rowSelect), so scope
-- "path" and "any" find it. FTS4 cannot add a column in place; extending
-- the text of an existing column needs no table rebuild.

-- Name changes mark the media like the other searched keys (schema 0304).
CREATE TRIGGER IF NOT EXISTS media_fts_mark_name_ai AFTER INSERT ON media_meta
WHEN new.meta_key = 'original_name' BEGIN
    INSERT OR IGNORE INTO media_fts_pending(media_id) VALUES (new.media_id);
END;
CREATE TRIGGER IF NOT EXISTS media_fts_mark_name_au AFTER UPDATE ON media_meta
WHEN new.meta_key = 'original_name' OR old.meta_key = 'original_name' BEGIN
    INSERT OR IGNORE INTO media_fts_pending(media_id) VALUES (new.media_id);
    INSERT OR IGNORE INTO media_fts_pending(media_id) SELECT old.media_id WHERE old.media_id IS NOT new.media_id;
END;
CREATE TRIGGER IF NOT EXISTS media_fts_mark_name_ad AFTER DELETE ON media_meta
WHEN old.meta_key = 'original_name' BEGIN
    INSERT OR IGNORE INTO media_fts_pending(media_id) VALUES (old.media_id);
END;

-- Backfill: only media whose index row changes (a name that is not the end
-- of the path) are marked; webui folds them in the background and searches
-- treat marked media with the LIKE reference meanwhile, so the migration
-- itself stays a single index walk (idx_media_meta_key_media) even on a
-- large legacy library.
INSERT OR IGNORE INTO media_fts_pending(media_id)
SELECT mm.media_id FROM media_meta mm JOIN media m ON m.id = mm.media_id
WHERE mm.meta_key = 'original_name' AND COALESCE(mm.meta_value, '') <> ''
  AND substr(m.path, -length(mm.meta_value)) <> mm.meta_value;
