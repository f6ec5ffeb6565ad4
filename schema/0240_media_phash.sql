-- description: perceptual hashes (issue #20): media_phash holds one 64-bit DCT pHash per media (images; videos hash a sprite of frames), or the reason it has none, with the hash split into four 16-bit bands, each indexed, for the similar-images lookup (multi-index hashing: two hashes within distance d share a band within d/4 bits)
-- phash is the hash's 64 bits as a signed INTEGER. source_sha256 is the
-- content the hash was computed from: a replaced file is hashed again.
-- reason_code (phash_too_small, phash_low_detail, phash_decode_failed, …)
-- says why a media has no hash; such rows keep it out of the follow-up
-- queue until its content changes.
CREATE TABLE IF NOT EXISTS media_phash (
    media_id      INTEGER PRIMARY KEY REFERENCES media(id) ON DELETE CASCADE,
    phash         INTEGER,
    b0            INTEGER,
    b1            INTEGER,
    b2            INTEGER,
    b3            INTEGER,
    reason_code   TEXT,
    source_sha256 TEXT,
    computed_at   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_media_phash_b0 ON media_phash(b0, phash) WHERE b0 IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_media_phash_b1 ON media_phash(b1, phash) WHERE b1 IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_media_phash_b2 ON media_phash(b2, phash) WHERE b2 IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_media_phash_b3 ON media_phash(b3, phash) WHERE b3 IS NOT NULL;
