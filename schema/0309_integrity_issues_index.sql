-- description: media_meta: partial index of failed integrity checks, for the Issues filter and the import report
-- media_meta is an append-only log; a media is broken when its newest
-- integrity.ok row is '0'. This index holds only the '0' rows (few), so the
-- Issues filter finds them without walking media_meta, and checks each
-- one's newest row through idx_media_meta_media_key.
CREATE INDEX IF NOT EXISTS idx_media_meta_integrity_failed ON media_meta(media_id) WHERE meta_key = 'integrity.ok' AND meta_value = '0';
