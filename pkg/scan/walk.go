// Package scan turns folders into catalogue rows: a deterministic walker,
// the importer of one file (content type, one-read MD5+SHA-256, header
// dimensions, duplicate check before any tagger call, crash-safe placement,
// DB rows), folder re-scans that recognise unchanged files by (path, size,
// mtime) without re-hashing, rescan of one media, tag backfill, and the job
// handlers the scan worker runs.
package scan

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/library"
)

// DefaultSkipDirs are system folders never descended into (compared
// case-insensitively), from the original plus common NAS/OS siblings.
var defaultSkipDirs = []string{"$RECYCLE.BIN", "System Volume Information", ".Trash", ".Trashes", ".fseventsd",
	".Spotlight-V100", "@eaDir", "#recycle", ".DocumentRevisions-V100", ".TemporaryItems"}

// DefaultSkipDirs returns the built-in skip list.
func DefaultSkipDirs() []string { return append([]string(nil), defaultSkipDirs...) }

// WalkOptions configure Walk.
type WalkOptions struct {
	// SkipDirs are extra folder names to skip (case-insensitive).
	SkipDirs []string
	// SkipPaths are folders skipped by location (the library's derivative
	// and cache folders); compared after resolving symlinks.
	SkipPaths []string
	// FollowSymlinks follows symlinked folders and files; loops are
	// detected by the resolved real path.
	FollowSymlinks bool
	// OnError is told about unreadable entries; the walk goes on.
	OnError func(path string, err error)
}

func skipName(name string, extra []string) bool {
	if strings.HasPrefix(strings.ToLower(name), ".trash-") {
		return true
	}
	for _, s := range defaultSkipDirs {
		if strings.EqualFold(s, name) {
			return true
		}
	}
	for _, s := range extra {
		if strings.EqualFold(s, name) {
			return true
		}
	}
	return false
}

// linkedInfo is the FileInfo (of the target) Walk passes for a file
// reached through a symlink when FollowSymlinks is set.
type linkedInfo struct{ fs.FileInfo }

// ViaSymlink reports whether Walk reached the file through a symlink of
// its own (not merely through a linked folder).
func ViaSymlink(info fs.FileInfo) bool {
	_, ok := info.(linkedInfo)
	return ok
}

// errStop ends a walk early without an error.
var errStop = errors.New("stop walk")

// StopWalk can be returned by a Walk callback to end the walk cleanly.
var StopWalk = errStop

// Walk calls fn for every regular file under root in a deterministic
// (lexical, depth-first) order. root may be a single file. Cancellation of
// ctx ends the walk with ctx.Err(). An unreadable folder or vanished file is
// reported to OnError and skipped.
func Walk(ctx context.Context, root string, opts WalkOptions, fn func(path string, info fs.FileInfo) error) error {
	skipPaths := map[string]bool{}
	for _, p := range opts.SkipPaths {
		if p == "" {
			continue
		}
		if r, err := filepath.EvalSymlinks(p); err == nil {
			skipPaths[r] = true
		}
		skipPaths[filepath.Clean(p)] = true
	}
	onErr := opts.OnError
	if onErr == nil {
		onErr = func(string, error) {}
	}
	visited := map[string]bool{}
	var walkDir func(dir string) error
	walkDir = func(dir string) error {
		real, err := filepath.EvalSymlinks(dir)
		if err != nil {
			onErr(dir, err)
			return nil
		}
		if visited[real] {
			return nil // symlink loop or second path to the same folder
		}
		visited[real] = true
		if skipPaths[real] || skipPaths[filepath.Clean(dir)] {
			return nil
		}
		ents, err := os.ReadDir(dir) // sorted by name
		if err != nil {
			onErr(dir, err)
			return nil
		}
		for _, e := range ents {
			if err := ctx.Err(); err != nil {
				return err
			}
			p := filepath.Join(dir, e.Name())
			mode := e.Type()
			// linked is the target's FileInfo of a followed symlink.
			var linked fs.FileInfo
			if mode&fs.ModeSymlink != 0 {
				if !opts.FollowSymlinks {
					continue
				}
				st, err := os.Stat(p)
				if err != nil {
					onErr(p, err) // dangling link
					continue
				}
				mode, linked = st.Mode().Type(), linkedInfo{st}
			}
			switch {
			case mode.IsDir():
				if skipName(e.Name(), opts.SkipDirs) {
					continue
				}
				if err := walkDir(p); err != nil {
					return err
				}
			case mode.IsRegular():
				if library.IsTemp(e.Name()) {
					continue
				}
				info := linked
				if info == nil {
					st, err := os.Stat(p)
					if err != nil {
						onErr(p, err) // vanished between ReadDir and Stat
						continue
					}
					info = st
				}
				if err := fn(p, info); err != nil {
					return err
				}
			default:
				// sockets, devices, FIFOs: never opened
			}
		}
		return nil
	}
	st, err := os.Stat(root)
	if err != nil {
		return err
	}
	var werr error
	if st.IsDir() {
		werr = walkDir(root)
	} else if st.Mode().IsRegular() {
		var info fs.FileInfo = st
		if lst, err := os.Lstat(root); err == nil && lst.Mode()&fs.ModeSymlink != 0 {
			info = linkedInfo{st}
		}
		werr = fn(root, info)
	}
	if errors.Is(werr, errStop) {
		return nil
	}
	return werr
}
