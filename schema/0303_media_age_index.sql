-- description: index for the Featureview: media by age (created, else imported) so the lowest-activity cards come from an index walk
-- Never-clicked media score lower the older they are, so their Featureview
-- candidates are the first rows of this index (catalog.Featured); the
-- expression must match the query's text exactly for SQLite to use it.
CREATE INDEX IF NOT EXISTS idx_media_age ON media(COALESCE(created_at, imported_at), id);
