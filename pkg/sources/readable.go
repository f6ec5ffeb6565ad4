package sources

import (
	"context"
	"path/filepath"

	"github.com/localsupervisor/supervisor/pkg/db"
	"github.com/localsupervisor/supervisor/pkg/library"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

// Readable is the inside-the-roots rule for every reader of catalogued
// files: the web UI's thumbnails and streams, rescan, prompts rebuild and
// the media worker. A file is read only when its real location (symlinks
// resolved) lies inside a library root, the derivatives folder or a
// library source, so a symlink placed in the library that points
// elsewhere is never read through, by any of them.
type Readable struct {
	roots library.ResolvedRoots
}

// LoadReadable builds the rule from fixed (the library roots and the
// derivatives folder) and the library sources recorded in the catalogue.
func LoadReadable(ctx context.Context, q db.Execer, fixed []string) (Readable, error) {
	paths, err := Paths(ctx, q)
	if err != nil {
		return Readable{}, err
	}
	return Readable{roots: library.ResolveRoots(append(append([]string(nil), fixed...), paths...))}, nil
}

// Contains reports whether real (absolute, symlinks resolved) lies inside
// the roots; no system call.
func (r Readable) Contains(real string) bool {
	_, ok := r.roots.InsideResolved(real)
	return ok
}

// Check resolves path's symlinks and returns the real path to read, or
// the resolve error (a missing file stays fs.ErrNotExist for the caller)
// or a permanent path_outside_roots error.
func (r Readable) Check(path string) (string, error) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", err
	}
	if !r.Contains(real) {
		return "", reason.Newf(library.CodeOutsideRoots,
			"%s resolves to %s, outside the library roots and sources: not read (move the file into the library or import its folder)", path, real)
	}
	return real, nil
}

// CheckReadable is LoadReadable and Check for one file (a job reading one
// media).
func CheckReadable(ctx context.Context, q db.Execer, fixed []string, path string) (string, error) {
	r, err := LoadReadable(ctx, q, fixed)
	if err != nil {
		return "", err
	}
	return r.Check(path)
}
