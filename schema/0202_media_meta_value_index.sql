-- description: scan: media_meta keeps only the value index a query reads (hash.sha256); the original's (meta_key, meta_value) index copied every stored generation block into an index
-- media_meta holds whole generation blocks: A1111 "parameters" text, prompt_raw,
-- ComfyUI prompt/workflow JSON of tens of kilobytes. idx_media_meta_key_value
-- (meta_key, meta_value) stored a second copy of each of them, in value order, so
-- every import wrote its largest rows twice and dirtied random index pages: it was
-- the costliest write of an import. The only lookup by value is the duplicate
-- search by SHA-256 (catalog filters dupe_sha/has_dupes), which the partial index
-- below serves with one short entry per media.
-- idx_media_meta_media (media_id) is a prefix of idx_media_meta_media_key
-- (media_id, meta_key), which serves every per-media lookup it did.
-- The old PHP recreates idx_media_meta_key_value on connect when it runs against
-- this database; that costs write speed only.
-- Building the partial index reads media_meta once (about 10 s per million media).
DROP INDEX IF EXISTS idx_media_meta_key_value;
DROP INDEX IF EXISTS idx_media_meta_media;
CREATE INDEX IF NOT EXISTS idx_media_meta_sha256 ON media_meta(meta_value) WHERE meta_key = 'hash.sha256';
