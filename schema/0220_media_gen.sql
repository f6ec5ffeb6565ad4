-- description: generation parameters stored queryably (issue #18): media_gen (one row per media with a prompt: software, model, model hash, sampler, scheduler, steps, cfg, seed, size, denoise) and media_gen_loras (LoRA name and weight), each query term and facet backed by an index
-- The prompts table keeps the extractor's full record (JSON columns, history);
-- media_gen is its query form, derived from the media's current prompt by
-- media.SyncGen in the same transaction as every prompt write, so the two
-- never disagree. Text columns are NOCASE: "euler a" finds "Euler a" through
-- the index. seed is decimal TEXT: seeds reach 2^64-1, past SQLite's signed
-- 64-bit INTEGER, and must match exactly. Media imported before this
-- migration get their rows from prompts-rebuild (it fills media_gen for
-- every media that has a prompt and no media_gen row, without reading files).
CREATE TABLE IF NOT EXISTS media_gen (
    media_id   INTEGER PRIMARY KEY REFERENCES media(id) ON DELETE CASCADE,
    software   TEXT COLLATE NOCASE,
    model      TEXT COLLATE NOCASE,
    model_hash TEXT COLLATE NOCASE,
    sampler    TEXT COLLATE NOCASE,
    scheduler  TEXT COLLATE NOCASE,
    steps      INTEGER,
    cfg        REAL,
    seed       TEXT,
    width      INTEGER,
    height     INTEGER,
    denoise    REAL
);
-- (value, media_id) so a term's matches come back in id order and a facet
-- counts from the index alone.
CREATE INDEX IF NOT EXISTS idx_media_gen_software ON media_gen(software, media_id);
CREATE INDEX IF NOT EXISTS idx_media_gen_model ON media_gen(model, media_id);
CREATE INDEX IF NOT EXISTS idx_media_gen_model_hash ON media_gen(model_hash, media_id) WHERE model_hash IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_media_gen_sampler ON media_gen(sampler, media_id);
CREATE INDEX IF NOT EXISTS idx_media_gen_scheduler ON media_gen(scheduler, media_id) WHERE scheduler IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_media_gen_steps ON media_gen(steps, media_id);
CREATE INDEX IF NOT EXISTS idx_media_gen_cfg ON media_gen(cfg, media_id);
CREATE INDEX IF NOT EXISTS idx_media_gen_seed ON media_gen(seed) WHERE seed IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_media_gen_denoise ON media_gen(denoise, media_id) WHERE denoise IS NOT NULL;

CREATE TABLE IF NOT EXISTS media_gen_loras (
    media_id INTEGER NOT NULL REFERENCES media(id) ON DELETE CASCADE,
    name     TEXT NOT NULL COLLATE NOCASE,
    weight   REAL,
    PRIMARY KEY (media_id, name)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idx_media_gen_loras_name ON media_gen_loras(name, media_id);
