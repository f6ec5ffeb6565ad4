-- description: web list: covering indexes for the tag filter (tag → media ids without a table lookup) and for the default visibility filter (not deleted, SFW) so numbered pages and counts walk an index only
-- The tag filter reads the tag's media as an id set (catalog.Filter.where):
-- idx_media_tags_tag (tag_id) needs a table lookup per entry for media_id,
-- this one carries it.
CREATE INDEX IF NOT EXISTS idx_media_tags_tag_media ON media_tags(tag_id, media_id);
-- Every default list query has is_deleted = 0 AND has_nsfw = 0; with both
-- in one index its entries are in id order, so the walk to a legacy
-- numbered page (?p=N) and the capped count read index entries only
-- instead of every media row.
CREATE INDEX IF NOT EXISTS idx_media_visible ON media(is_deleted, has_nsfw);
