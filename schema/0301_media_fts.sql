-- description: web text search: FTS4 index (unicode61, prefix) over path, newest title/override/caption and newest prompt, kept in sync by triggers
-- One row per media, docid = media.id. The columns mirror what the list's
-- q/q_scope filter searches: media.path, the newest ollama.title,
-- title.override and ollama.caption meta values (media_meta is an append-only
-- log, newest row wins) and the newest prompt. FTS4 rather than FTS5 because
-- mattn/go-sqlite3 compiles FTS3/4 without build tags. The table keeps its own
-- copy of the text (FTS4 contentless tables cannot delete rows); prefix="2,3"
-- makes the short prefix queries of type-ahead cheap.
CREATE VIRTUAL TABLE IF NOT EXISTS media_fts USING fts4(path, title, override, caption, prompt,
    tokenize=unicode61, prefix="2,3");

-- Backfill for existing (possibly large, legacy) libraries. Runs once in the
-- migration's transaction; the correlated lookups use idx_prompts_media and
-- idx_media_meta_media_key.
DELETE FROM media_fts;
INSERT INTO media_fts(docid, path, title, override, caption, prompt)
SELECT m.id, m.path,
    (SELECT mm.meta_value FROM media_meta mm WHERE mm.media_id = m.id AND mm.meta_key = 'ollama.title' ORDER BY mm.id DESC LIMIT 1),
    (SELECT mm.meta_value FROM media_meta mm WHERE mm.media_id = m.id AND mm.meta_key = 'title.override' ORDER BY mm.id DESC LIMIT 1),
    (SELECT mm.meta_value FROM media_meta mm WHERE mm.media_id = m.id AND mm.meta_key = 'ollama.caption' ORDER BY mm.id DESC LIMIT 1),
    (SELECT p.prompt FROM prompts p WHERE p.media_id = m.id ORDER BY p.id DESC LIMIT 1)
FROM media m;

-- media: the row appears with the media (the delete first makes a
-- re-used id — INSERT OR REPLACE — safe), follows path changes, and goes
-- with the media.
CREATE TRIGGER IF NOT EXISTS media_fts_media_ai AFTER INSERT ON media BEGIN
    DELETE FROM media_fts WHERE docid = new.id;
    INSERT INTO media_fts(docid, path, title, override, caption, prompt) VALUES (new.id, new.path,
        (SELECT mm.meta_value FROM media_meta mm WHERE mm.media_id = new.id AND mm.meta_key = 'ollama.title' ORDER BY mm.id DESC LIMIT 1),
        (SELECT mm.meta_value FROM media_meta mm WHERE mm.media_id = new.id AND mm.meta_key = 'title.override' ORDER BY mm.id DESC LIMIT 1),
        (SELECT mm.meta_value FROM media_meta mm WHERE mm.media_id = new.id AND mm.meta_key = 'ollama.caption' ORDER BY mm.id DESC LIMIT 1),
        (SELECT p.prompt FROM prompts p WHERE p.media_id = new.id ORDER BY p.id DESC LIMIT 1));
END;
CREATE TRIGGER IF NOT EXISTS media_fts_media_au AFTER UPDATE OF path ON media WHEN new.path IS NOT old.path BEGIN
    UPDATE media_fts SET path = new.path WHERE docid = new.id;
END;
CREATE TRIGGER IF NOT EXISTS media_fts_media_ad AFTER DELETE ON media BEGIN
    DELETE FROM media_fts WHERE docid = old.id;
END;

-- prompts: the prompt column always holds the newest prompt of the media, so
-- every change recomputes it (also for the old media_id when a row moves).
CREATE TRIGGER IF NOT EXISTS media_fts_prompts_ai AFTER INSERT ON prompts BEGIN
    UPDATE media_fts SET prompt = (SELECT p.prompt FROM prompts p WHERE p.media_id = new.media_id ORDER BY p.id DESC LIMIT 1)
    WHERE docid = new.media_id;
END;
CREATE TRIGGER IF NOT EXISTS media_fts_prompts_au AFTER UPDATE OF prompt, media_id ON prompts BEGIN
    UPDATE media_fts SET prompt = (SELECT p.prompt FROM prompts p WHERE p.media_id = new.media_id ORDER BY p.id DESC LIMIT 1)
    WHERE docid = new.media_id;
    UPDATE media_fts SET prompt = (SELECT p.prompt FROM prompts p WHERE p.media_id = old.media_id ORDER BY p.id DESC LIMIT 1)
    WHERE docid = old.media_id AND old.media_id IS NOT new.media_id;
END;
CREATE TRIGGER IF NOT EXISTS media_fts_prompts_ad AFTER DELETE ON prompts BEGIN
    UPDATE media_fts SET prompt = (SELECT p.prompt FROM prompts p WHERE p.media_id = old.media_id ORDER BY p.id DESC LIMIT 1)
    WHERE docid = old.media_id;
END;

-- media_meta: only the three searched keys touch the index (the scan and
-- Ollama workers append many other keys).
CREATE TRIGGER IF NOT EXISTS media_fts_meta_ai AFTER INSERT ON media_meta
WHEN new.meta_key IN ('ollama.title', 'title.override', 'ollama.caption') BEGIN
    UPDATE media_fts SET
        title = (SELECT mm.meta_value FROM media_meta mm WHERE mm.media_id = new.media_id AND mm.meta_key = 'ollama.title' ORDER BY mm.id DESC LIMIT 1),
        override = (SELECT mm.meta_value FROM media_meta mm WHERE mm.media_id = new.media_id AND mm.meta_key = 'title.override' ORDER BY mm.id DESC LIMIT 1),
        caption = (SELECT mm.meta_value FROM media_meta mm WHERE mm.media_id = new.media_id AND mm.meta_key = 'ollama.caption' ORDER BY mm.id DESC LIMIT 1)
    WHERE docid = new.media_id;
END;
CREATE TRIGGER IF NOT EXISTS media_fts_meta_au AFTER UPDATE ON media_meta
WHEN new.meta_key IN ('ollama.title', 'title.override', 'ollama.caption')
  OR old.meta_key IN ('ollama.title', 'title.override', 'ollama.caption') BEGIN
    UPDATE media_fts SET
        title = (SELECT mm.meta_value FROM media_meta mm WHERE mm.media_id = new.media_id AND mm.meta_key = 'ollama.title' ORDER BY mm.id DESC LIMIT 1),
        override = (SELECT mm.meta_value FROM media_meta mm WHERE mm.media_id = new.media_id AND mm.meta_key = 'title.override' ORDER BY mm.id DESC LIMIT 1),
        caption = (SELECT mm.meta_value FROM media_meta mm WHERE mm.media_id = new.media_id AND mm.meta_key = 'ollama.caption' ORDER BY mm.id DESC LIMIT 1)
    WHERE docid = new.media_id;
    UPDATE media_fts SET
        title = (SELECT mm.meta_value FROM media_meta mm WHERE mm.media_id = old.media_id AND mm.meta_key = 'ollama.title' ORDER BY mm.id DESC LIMIT 1),
        override = (SELECT mm.meta_value FROM media_meta mm WHERE mm.media_id = old.media_id AND mm.meta_key = 'title.override' ORDER BY mm.id DESC LIMIT 1),
        caption = (SELECT mm.meta_value FROM media_meta mm WHERE mm.media_id = old.media_id AND mm.meta_key = 'ollama.caption' ORDER BY mm.id DESC LIMIT 1)
    WHERE docid = old.media_id AND old.media_id IS NOT new.media_id;
END;
CREATE TRIGGER IF NOT EXISTS media_fts_meta_ad AFTER DELETE ON media_meta
WHEN old.meta_key IN ('ollama.title', 'title.override', 'ollama.caption') BEGIN
    UPDATE media_fts SET
        title = (SELECT mm.meta_value FROM media_meta mm WHERE mm.media_id = old.media_id AND mm.meta_key = 'ollama.title' ORDER BY mm.id DESC LIMIT 1),
        override = (SELECT mm.meta_value FROM media_meta mm WHERE mm.media_id = old.media_id AND mm.meta_key = 'title.override' ORDER BY mm.id DESC LIMIT 1),
        caption = (SELECT mm.meta_value FROM media_meta mm WHERE mm.media_id = old.media_id AND mm.meta_key = 'ollama.caption' ORDER BY mm.id DESC LIMIT 1)
    WHERE docid = old.media_id;
END;
