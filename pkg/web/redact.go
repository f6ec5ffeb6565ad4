package web

import (
	"path/filepath"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/catalog"
)

// hideServerPaths removes from a detail view what tells a non-admin where
// files live on the server: meta rows that hold a path by name
// (original_path, the absolute folder a file was imported from;
// forge.backup_path; …) and rows whose value mentions a server folder (an
// integrity error naming the file). Admins see every row.
func (s *Server) hideServerPaths(d *catalog.Detail) {
	dirs := append([]string{filepath.Dir(d.Media.Path), s.cfg.BaseDir}, s.roots...)
	if op := d.MetaMap["original_path"]; op != "" {
		dirs = append(dirs, filepath.Dir(op))
	}
	keep := d.Meta[:0]
	for _, e := range d.Meta {
		if strings.Contains(strings.ToLower(e.Key), "path") || mentionsDir(e.Value, dirs) {
			delete(d.MetaMap, e.Key)
			continue
		}
		keep = append(keep, e)
	}
	d.Meta = keep
}

// mentionsDir reports whether v contains one of the absolute folders dirs
// (relative or root-only entries match too much and are skipped).
func mentionsDir(v string, dirs []string) bool {
	for _, d := range dirs {
		if filepath.IsAbs(d) && len(d) > 1 && strings.Contains(v, d) {
			return true
		}
	}
	return false
}
