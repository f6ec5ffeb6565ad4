-- description: jobs: progress_mark (progress_bits at claim) and recoveries (how often stuck recovery took the job back) for crash-tolerant resumable jobs
-- A resumable job type (TypeSpec.Resumable, scan_path) counts its durable
-- progress in progress_bits inside the transactions that commit the work
-- (Job.AdvanceTx). The claim copies progress_bits to progress_mark, so stuck
-- recovery can tell a crashed run that advanced (progress_bits > progress_mark:
-- attempt given back, not a crash loop) from one that did not (attempt spent).
-- recoveries lets a handler adapt after crashes (the importer commits in
-- smaller batches). Neither column is filtered on: no index.
ALTER TABLE jobs ADD COLUMN progress_mark INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN recoveries INTEGER NOT NULL DEFAULT 0;
