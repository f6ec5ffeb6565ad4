-- description: indexes for the query language's file terms (issue #18): width, height, duration and aspect ratio, so w:/h:/dur:/ratio: with few matches read an index range instead of every media row
-- Terms with many matches walk the list's order anyway; these serve the
-- rare values (w:1920 in a library of 832x1216 renders). The ratio
-- expression must equal the catalog's text (querysql.go ratio) for SQLite
-- to use the index.
CREATE INDEX IF NOT EXISTS idx_media_width ON media(width);
CREATE INDEX IF NOT EXISTS idx_media_height ON media(height);
CREATE INDEX IF NOT EXISTS idx_media_duration ON media(duration) WHERE duration IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_media_ratio ON media((width * 1.0 / NULLIF(height, 0)));
