-- description: upgraded original data: NULL (not '') job timestamps, every timestamp in UTC, click history into media_activity, Ollama payload attempts into jobs.attempts
-- Runs after every table exists, on a freshly upgraded original database and
-- on one upgraded before this migration existed (repair); on a database
-- Supervisor wrote itself it finds nothing to change.
--
-- Until this migration sv_ts(NULL) returned '' (the driver hands NULL to a
-- Go function as a nil []byte), so 0002 wrote '' into every NULL timestamp of
-- jobs. '' breaks the queue: an attempt is counted only while started_at IS
-- NULL. sv_ts now keeps NULL; NULLIF repairs the rows written before.
UPDATE jobs SET
    cancelled_at = sv_ts(NULLIF(cancelled_at, '')),
    heartbeat_at = sv_ts(NULLIF(heartbeat_at, '')),
    not_before = sv_ts(NULLIF(not_before, '')),
    updated_at = sv_ts(NULLIF(updated_at, '')),
    started_at = sv_ts(NULLIF(started_at, '')),
    finished_at = sv_ts(NULLIF(finished_at, '')),
    stage_changed_at = sv_ts(NULLIF(stage_changed_at, '')),
    created_at = sv_ts(created_at)
WHERE cancelled_at NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z'
   OR heartbeat_at NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z'
   OR not_before NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z'
   OR updated_at NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z'
   OR started_at NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z'
   OR finished_at NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z'
   OR stage_changed_at NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z'
   OR created_at NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z';

-- 0002 normalised only jobs; the original wrote local offsets (date('c'))
-- everywhere, and string comparison (ollama-enqueue --since, age filters)
-- is chronological only in the one UTC form. NULL NOT GLOB is NULL, so NULL
-- stays; text sv_ts cannot parse stays as it is.
UPDATE media SET created_at = sv_ts(created_at), imported_at = sv_ts(imported_at), deleted_at = sv_ts(deleted_at)
WHERE created_at NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z' OR imported_at NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z' OR deleted_at NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z';
UPDATE scan_results SET run_at = sv_ts(run_at) WHERE run_at NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z';
UPDATE prompt_history SET created_at = sv_ts(created_at) WHERE created_at NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z';
UPDATE ollama_results SET created_at = sv_ts(created_at) WHERE created_at NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z';
UPDATE ollama_vectors SET created_at = sv_ts(created_at), updated_at = sv_ts(updated_at)
WHERE created_at NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z' OR updated_at NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z';
UPDATE media_lifecycle_events SET created_at = sv_ts(created_at) WHERE created_at NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z';
UPDATE collections SET created_at = sv_ts(created_at) WHERE created_at NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z';
UPDATE import_log SET created_at = sv_ts(created_at) WHERE created_at NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z';
UPDATE consistency_log SET created_at = sv_ts(created_at) WHERE created_at NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z';
UPDATE audit_log SET created_at = sv_ts(created_at) WHERE created_at NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z';
-- A changed media_meta row marks its media for the text index fold
-- (0305's triggers); a new timestamp changes no searched text, so only the
-- marks that were there before stay.
CREATE TEMP TABLE sv_fts_pending_before AS SELECT media_id FROM media_fts_pending;
UPDATE media_meta SET created_at = sv_ts(created_at) WHERE created_at NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z';
DELETE FROM media_fts_pending WHERE media_id NOT IN (SELECT media_id FROM temp.sv_fts_pending_before);
DROP TABLE temp.sv_fts_pending_before;
UPDATE schema_migrations SET applied_at = sv_ts(applied_at) WHERE applied_at NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z';

-- The original kept clicks as appended media_meta rows: the newest
-- activity.clicks row is the running total, the newest
-- activity.last_click_at row the last click in unix seconds. They become
-- the media's counter row, added to clicks this version counted since an
-- earlier upgrade. The meta rows stay as history.
INSERT INTO media_activity (media_id, clicks, last_click_at)
SELECT media_id, COALESCE(clicks, 0), last_click_at FROM (
    SELECT k.media_id,
        (SELECT CAST(c.meta_value AS INTEGER) FROM media_meta c
          WHERE c.media_id = k.media_id AND c.meta_key = 'activity.clicks'
            AND c.meta_value <> '' AND c.meta_value NOT GLOB '*[^0-9]*'
          ORDER BY c.id DESC LIMIT 1) AS clicks,
        (SELECT CAST(c.meta_value AS INTEGER) FROM media_meta c
          WHERE c.media_id = k.media_id AND c.meta_key = 'activity.last_click_at'
            AND c.meta_value <> '' AND c.meta_value NOT GLOB '*[^0-9]*'
          ORDER BY c.id DESC LIMIT 1) AS last_click_at
    FROM (SELECT DISTINCT media_id FROM media_meta WHERE meta_key IN ('activity.clicks', 'activity.last_click_at')) k
    WHERE EXISTS (SELECT 1 FROM media m WHERE m.id = k.media_id)
)
WHERE clicks > 0 OR last_click_at IS NOT NULL
ON CONFLICT (media_id) DO UPDATE SET
    clicks = clicks + excluded.clicks,
    last_click_at = CASE
        WHEN excluded.last_click_at IS NULL THEN last_click_at
        WHEN last_click_at IS NULL THEN excluded.last_click_at
        ELSE max(last_click_at, excluded.last_click_at) END;

-- The original counted an Ollama job's failed attempts in
-- payload_json.attempts; 0002 left jobs.attempts at 0 for queued jobs, so a
-- job that had used up its retries got three more. A job still running was
-- in one more attempt. max() keeps attempts this version counted since.
UPDATE jobs SET attempts = max(attempts,
        CAST(json_extract(payload_json, '$.attempts') AS INTEGER) + (status = 'running'))
WHERE type LIKE 'ollama%'
  AND json_valid(payload_json)
  AND json_type(payload_json, '$.attempts') IN ('integer', 'real')
  AND CAST(json_extract(payload_json, '$.attempts') AS INTEGER) + (status = 'running') > attempts;
