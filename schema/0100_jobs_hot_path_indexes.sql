-- description: jobs: drop three indexes the claim/complete path paid for on every status change but no query needs
-- Every status change (queued → running → done) rewrites each index that
-- contains status. These three are covered by the remaining ones:
--   idx_jobs_status                 is a prefix of idx_jobs_claim (status, type, priority, id);
--   idx_jobs_type_status_created_at served GROUP BY type, status (jobs-admin stats), which
--                                   idx_jobs_claim covers as well (status, type);
--   idx_jobs_status_created         served "oldest queued" and --older-than listings, which read
--                                   the queued rows through idx_jobs_claim (bounded by the caps).
-- Kept: idx_jobs_claim (claim, status filters and counts of UI and admin), idx_jobs_status_type_updated_at
-- (prune by status/type/age), idx_jobs_media (per-media lookups), idx_jobs_dedupe_live (dedupe).
DROP INDEX IF EXISTS idx_jobs_status;
DROP INDEX IF EXISTS idx_jobs_type_status_created_at;
DROP INDEX IF EXISTS idx_jobs_status_created;
