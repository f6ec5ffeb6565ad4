package scan

import (
	"path/filepath"

	"github.com/localsupervisor/supervisor/pkg/jobs"
)

// ScanPathClaimFilter is the scan worker's claim filter
// (RunnerOptions.ClaimFilter): a scan_path job is never claimed while an
// overlapping scan_path job runs (held or started: the same folder, or one
// below the other at a separator boundary, so /lib/in overlaps /lib/in/sub,
// not /lib/inbox), so imports of overlapping folders run one after the
// other while disjoint ones run in parallel (two imports of one tree would
// race for the same sources in move mode and duplicate the walk); with a
// non-empty prefix (scan-worker --path) only jobs at or below it are
// claimed (PathClaimFilter). A job the filter holds back stays queued with
// its attempts untouched and is claimed once the overlapping job ends. A
// candidate without a path is not held back (its handler fails it). Other
// job types are not restricted.
func ScanPathClaimFilter(prefix string) jobs.ClaimFilterFunc {
	f := jobs.ClaimFilter{Folder: jobs.FolderFilter{Field: "path", Sep: string(filepath.Separator), Exclusive: true}}
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
