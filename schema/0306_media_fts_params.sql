-- description: web text search: media_fts gains negative prompt, tag names and generation parameters (model, sampler, scheduler, software, LoRA names); every media is marked for the background fold
-- Issue #18: a model or sampler shown on a card (juggernautXL, UniPC), a
-- LoRA, a tag or a word of the negative prompt must be found by a free
-- word. FTS4 cannot add columns in place, so the table is recreated empty
-- with three more columns (catalog/ftsindex rowSelect fills them):
--   negative — the newest prompt's negative prompt,
--   tags     — the media's tag names,
--   params   — media_gen model, sampler, scheduler, software and the
--              media_gen_loras names.
-- Rather than rebuilding a million rows inside the migration (minutes with
-- the write lock held at startup), every media is marked: webui folds them
-- in the background (ftsindex.Run) and searches treat marked media with the
-- LIKE reference meanwhile (catalog/search.go), so results are complete at
-- once and get fast as the fold proceeds.
DROP TABLE IF EXISTS media_fts;
CREATE VIRTUAL TABLE media_fts USING fts4(path, title, override, caption, prompt, negative, tags, params,
    tokenize=unicode61, prefix="2,3");
INSERT OR IGNORE INTO media_fts_pending(media_id) SELECT id FROM media;

-- The negative prompt is indexed now: its edits mark the media too.
DROP TRIGGER IF EXISTS media_fts_mark_prompts_au;
CREATE TRIGGER IF NOT EXISTS media_fts_mark_prompts_au AFTER UPDATE OF prompt, negative_prompt, media_id ON prompts BEGIN
    INSERT OR IGNORE INTO media_fts_pending(media_id) VALUES (new.media_id);
    INSERT OR IGNORE INTO media_fts_pending(media_id) SELECT old.media_id WHERE old.media_id IS NOT new.media_id;
END;

-- Tags: a tag added to or removed from a media (also by the cascade of a
-- deleted tag), and a renamed tag (every media carrying it).
CREATE TRIGGER IF NOT EXISTS media_fts_mark_media_tags_ai AFTER INSERT ON media_tags BEGIN
    INSERT OR IGNORE INTO media_fts_pending(media_id) VALUES (new.media_id);
END;
CREATE TRIGGER IF NOT EXISTS media_fts_mark_media_tags_au AFTER UPDATE OF media_id, tag_id ON media_tags BEGIN
    INSERT OR IGNORE INTO media_fts_pending(media_id) VALUES (new.media_id);
    INSERT OR IGNORE INTO media_fts_pending(media_id) SELECT old.media_id WHERE old.media_id IS NOT new.media_id;
END;
CREATE TRIGGER IF NOT EXISTS media_fts_mark_media_tags_ad AFTER DELETE ON media_tags BEGIN
    INSERT OR IGNORE INTO media_fts_pending(media_id) VALUES (old.media_id);
END;
CREATE TRIGGER IF NOT EXISTS media_fts_mark_tags_au AFTER UPDATE OF name ON tags WHEN new.name IS NOT old.name BEGIN
    INSERT OR IGNORE INTO media_fts_pending(media_id) SELECT media_id FROM media_tags WHERE tag_id = new.id;
END;

-- Generation parameters (schema 0220): media.SyncGen rewrites them with
-- every prompt write and prompts-rebuild backfills them without touching
-- prompts, so both tables mark on their own.
CREATE TRIGGER IF NOT EXISTS media_fts_mark_gen_ai AFTER INSERT ON media_gen BEGIN
    INSERT OR IGNORE INTO media_fts_pending(media_id) VALUES (new.media_id);
END;
CREATE TRIGGER IF NOT EXISTS media_fts_mark_gen_au AFTER UPDATE ON media_gen BEGIN
    INSERT OR IGNORE INTO media_fts_pending(media_id) VALUES (new.media_id);
    INSERT OR IGNORE INTO media_fts_pending(media_id) SELECT old.media_id WHERE old.media_id IS NOT new.media_id;
END;
CREATE TRIGGER IF NOT EXISTS media_fts_mark_gen_ad AFTER DELETE ON media_gen BEGIN
    INSERT OR IGNORE INTO media_fts_pending(media_id) VALUES (old.media_id);
END;
CREATE TRIGGER IF NOT EXISTS media_fts_mark_gen_loras_ai AFTER INSERT ON media_gen_loras BEGIN
    INSERT OR IGNORE INTO media_fts_pending(media_id) VALUES (new.media_id);
END;
CREATE TRIGGER IF NOT EXISTS media_fts_mark_gen_loras_au AFTER UPDATE ON media_gen_loras BEGIN
    INSERT OR IGNORE INTO media_fts_pending(media_id) VALUES (new.media_id);
    INSERT OR IGNORE INTO media_fts_pending(media_id) SELECT old.media_id WHERE old.media_id IS NOT new.media_id;
END;
CREATE TRIGGER IF NOT EXISTS media_fts_mark_gen_loras_ad AFTER DELETE ON media_gen_loras BEGIN
    INSERT OR IGNORE INTO media_fts_pending(media_id) VALUES (old.media_id);
END;
