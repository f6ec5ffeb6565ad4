-- description: one active media per path: older duplicates (in_place imports of an edited file inserted a second row) are set missing, then a partial unique index guards it
-- The newest row of a path describes the file's current content (it was
-- imported last); older active rows for the same path are set missing, so
-- nothing is deleted and consistency-check / cleanup-missing list them
-- (they are not made active again while the path is held: media.Reactivate).
-- The index is also the importer's guard against two concurrent in-place
-- scans inserting rows for one path; a rejected row is an import error the
-- next scan resolves by updating the active media (scan.replaceContent).
UPDATE media SET status = 'missing'
WHERE status = 'active'
  AND EXISTS (SELECT 1 FROM media n WHERE n.path = media.path AND n.status = 'active' AND n.id > media.id);
CREATE UNIQUE INDEX IF NOT EXISTS idx_media_active_path ON media(path) WHERE status = 'active';
