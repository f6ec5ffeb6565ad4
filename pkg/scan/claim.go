package scan

import (
	"path/filepath"

	"github.com/localsupervisor/supervisor/pkg/jobs"
)

// overlapWhere keeps a scan_path job queued while a scan_path job whose
// folder overlaps its own is running (held or started): the same folder, or
// one below the other at a separator boundary (/lib/in overlaps
// /lib/in/sub, not /lib/inbox). Two imports of one tree would race for the
// same sources (move mode) and duplicate the walk. The running set is read
// through idx_jobs_claim (status, type) and holds a handful of rows. The
// ? parameters are the path separator: rtrim(p, sep) || sep is the folder
// with one trailing separator, also for a root ("/" → "/", "C:\" → "C:\").
// A candidate without a path is not held back (its handler fails it).
const overlapWhere = `COALESCE(json_extract(j.payload_json, '$.path'), '') = ''
	OR NOT EXISTS (SELECT 1 FROM jobs r WHERE r.status = 'running' AND r.type = 'scan_path'
		AND COALESCE(json_extract(r.payload_json, '$.path'), '') <> ''
		AND (substr(rtrim(json_extract(r.payload_json, '$.path'), ?) || ?, 1, length(rtrim(json_extract(j.payload_json, '$.path'), ?) || ?))
				= rtrim(json_extract(j.payload_json, '$.path'), ?) || ?
			OR substr(rtrim(json_extract(j.payload_json, '$.path'), ?) || ?, 1, length(rtrim(json_extract(r.payload_json, '$.path'), ?) || ?))
				= rtrim(json_extract(r.payload_json, '$.path'), ?) || ?))`

// ScanPathClaimFilter is the scan worker's claim filter
// (RunnerOptions.ClaimFilter): a scan_path job is never claimed while an
// overlapping scan_path job runs, so imports of overlapping folders run one
// after the other while disjoint ones run in parallel; with a non-empty
// prefix (scan-worker --path) only jobs at or below it are claimed
// (PathClaimFilter). A job the filter holds back stays queued with its
// attempts untouched and is claimed once the overlapping job ends. Other
// job types are not restricted.
func ScanPathClaimFilter(prefix string) jobs.ClaimFilterFunc {
	sep := string(filepath.Separator)
	f := jobs.ClaimFilter{Where: overlapWhere}
	for range 6 {
		f.Args = append(f.Args, sep, sep)
	}
	if pf := PathClaimFilter(prefix); pf != nil {
		f = f.And(pf(jobs.TypeScanPath))
	}
	return func(typ string) jobs.ClaimFilter {
		if typ != jobs.TypeScanPath {
			return jobs.ClaimFilter{}
		}
		return f
	}
}
