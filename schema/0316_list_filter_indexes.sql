-- description: web list: covering index for the tag filter, tag → media ids without a table lookup per entry
-- The tag filter reads the tag's media as an id set (catalog.Filter.where):
-- idx_media_tags_tag (tag_id) needs a table lookup per entry for media_id,
-- this one carries it.
CREATE INDEX IF NOT EXISTS idx_media_tags_tag_media ON media_tags(tag_id, media_id);
