-- description: jobs: progress_json, the live progress a running job reports for the job center
-- A running scan_path job writes {done, total, imported, …, rate, eta_s}
-- here at most once a second (Job.ReportProgress), so the job center shows
-- files done/total, rate and ETA while it runs. progress_bits stays the
-- durable committed-work counter of resumable jobs. Not filtered on: no
-- index.
ALTER TABLE jobs ADD COLUMN progress_json TEXT;
