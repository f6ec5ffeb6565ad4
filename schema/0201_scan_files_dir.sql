-- description: scan: index scan_files by folder so a rescan loads one folder's fingerprints with one query
-- The folder of a path (with its trailing separator) is the path minus its
-- last component: rtrim strips every trailing character that is not a
-- separator. Queries must use this exact expression to hit the index
-- (pkg/scan dirExpr). Both separators are stripped so Windows paths work.
CREATE INDEX IF NOT EXISTS idx_scan_files_dir ON scan_files(rtrim(path, replace(replace(path, '/', ''), '\', '')));
