-- description: collections (albums) and saved searches (issue #18): manual order and add time of each member, a change time and the saved query of each collection, indexes for the collection page and for the collections of one media
-- The original created collections/collection_media but never wrote them.
-- A collection with query NULL is a manual album whose members are the
-- collection_media rows; a non-NULL query makes it a saved search, whose
-- members are whatever the query finds when it is opened (it has no rows
-- here). Members are shown by (position, media_id): rows the original may
-- have left get position 0 and keep their id order.
-- sv:ensure-column collections updated_at TEXT
-- sv:ensure-column collections query TEXT
-- sv:ensure-column collection_media position INTEGER NOT NULL DEFAULT 0
-- sv:ensure-column collection_media added_at TEXT

-- The collection page walks one collection in order, keyset by
-- (position, media_id); the count of a collection is the same range.
CREATE INDEX IF NOT EXISTS idx_collection_media_order ON collection_media(collection_id, position, media_id);
-- "Collections of media X" (detail page) and the ON DELETE CASCADE of a
-- media row, which would otherwise scan every membership.
CREATE INDEX IF NOT EXISTS idx_collection_media_media ON collection_media(media_id, collection_id);
