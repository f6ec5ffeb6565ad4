package library

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Staged is a copy written into a library root before its destination is
// known: the destination is named after the content's hash, known only
// once every byte went through, so an importer that hashes and copies in
// one read writes here first. The file is a placement temp
// (<dir>/.import.<pid>.<tag>.svtmp): the walker never imports it and
// RemoveStaleTempsIn(dir) clears those of a killed run. Sync makes its
// data durable (callers run many at once: concurrent fsyncs share journal
// commits); Publish then gives it its destination name, never replacing a
// file. Discard removes it. A Staged is used by one goroutine at a time.
type Staged struct {
	f     *os.File
	path  string
	mtime time.Time
	// err is the first write, fsync or close failure: the copy is
	// unusable and Publish returns it.
	err error
}

// Stage creates an empty staged copy in dir (created when missing) of a
// source last modified at mtime.
func Stage(dir string, mtime time.Time) (*Staged, error) {
	for attempt := 0; ; attempt++ {
		name := tempName(filepath.Join(dir, ".import"))
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		switch {
		case err == nil:
			return &Staged{f: f, path: name, mtime: mtime}, nil
		case attempt < 3 && errors.Is(err, fs.ErrNotExist):
			if merr := os.MkdirAll(dir, 0o755); merr != nil {
				return nil, errPlace("mkdir", dir, merr)
			}
		case attempt < 3 && errors.Is(err, fs.ErrExist):
			// another goroutine's tag: draw again
		default:
			return nil, errPlace("create", name, err)
		}
	}
}

// Path is the staged file's temp name ("" once published or discarded).
func (s *Staged) Path() string { return s.path }

// Write appends p to the copy.
func (s *Staged) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.f == nil {
		return 0, errPlace("write", s.path, fs.ErrClosed)
	}
	n, err := s.f.Write(p)
	if err != nil {
		s.err = errPlace("write", s.path, err)
	}
	return n, s.err
}

// Sync gives the copy its source's modification time, fsyncs and closes
// it; later calls return the same result.
func (s *Staged) Sync() error {
	if s.f == nil {
		return s.err
	}
	if s.err == nil {
		_ = os.Chtimes(s.path, s.mtime, s.mtime)
		if err := s.f.Sync(); err != nil {
			s.err = errPlace("fsync", s.path, err)
		}
	}
	if err := s.f.Close(); err != nil && s.err == nil {
		s.err = errPlace("close", s.path, err)
	}
	s.f = nil
	return s.err
}

// Publish syncs the copy (unless Sync did) and gives it the name dst if
// that name is free: the same placement as CopyNew (the error wraps
// fs.ErrExist when dst exists, which is left untouched). Where the
// filesystem can, that is one rename that refuses to replace; elsewhere a
// link and the temp's removal. dst's folder fsync is left to ds (nil: done
// at once); the caller calls ds.Sync before it commits rows that point at
// dst. The copy is gone afterwards whatever the outcome.
func (s *Staged) Publish(dst string, ds *DirSyncer) error {
	defer s.Discard()
	if err := s.Sync(); err != nil {
		return err
	}
	err := mkdirRetry(s.path, dst, ds, renameNoReplace)
	switch {
	case err == nil:
		s.path = "" // renamed: nothing left to remove
		syncLater(filepath.Dir(dst), ds)
		return nil
	case errors.Is(err, fs.ErrExist):
		return errPlace("rename", dst, err)
	case errors.Is(err, errors.ErrUnsupported):
		return linkNew(s.path, dst, ds)
	}
	return errPlace("rename", s.path, err)
}

// Discard closes and removes the copy (after Publish: its temp name, if
// it still has one). It may be called more than once.
func (s *Staged) Discard() {
	if s.f != nil {
		s.f.Close()
		s.f = nil
		if s.err == nil {
			s.err = errPlace("write", s.path, fs.ErrClosed)
		}
	}
	if s.path != "" {
		os.Remove(s.path)
		s.path = ""
	}
}

// linkNew gives the complete, fsynced file tmp the name dst if that name
// is free: link(2) never replaces, so two importers of one content cannot
// replace each other's file (the error wraps fs.ErrExist). dst's folder is
// created when the link reports it missing. Its new entries are made
// durable by ds (nil: at once). On a filesystem without hard links tmp is
// renamed into place instead; tmp's name stays for the caller to remove.
func linkNew(tmp, dst string, ds *DirSyncer) error {
	err := linkMkdir(tmp, dst, ds)
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrExist):
		return errPlace("link", dst, err)
	case errors.Is(err, fs.ErrNotExist):
		return err // the temp is what is missing
	default:
		// No hard links here (FAT, exFAT, some shares).
		if rerr := os.Rename(tmp, dst); rerr != nil {
			return errPlace("rename", tmp, rerr)
		}
	}
	syncLater(filepath.Dir(dst), ds)
	return nil
}

// linkMkdir makes dst a hard link of src (mkdirRetry).
func linkMkdir(src, dst string, ds *DirSyncer) error { return mkdirRetry(src, dst, ds, os.Link) }

// mkdirRetry runs op(src, dst), a link or rename that creates the name dst
// atomically (the name appears with the complete file behind it), and
// creates dst's folder only when op reports it missing (the new folder's
// entry made durable through ds, nil: at once), then runs op again. A
// missing src (or a folder removed as it was made) is a place error
// wrapping fs.ErrNotExist; other errors are op's.
func mkdirRetry(src, dst string, ds *DirSyncer, op func(src, dst string) error) error {
	err := op(src, dst)
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if _, serr := os.Lstat(src); serr != nil {
		return errPlace("link", src, serr)
	}
	dir := filepath.Dir(dst)
	if merr := os.MkdirAll(dir, 0o755); merr != nil {
		return errPlace("mkdir", dir, merr)
	}
	syncLater(filepath.Dir(dir), ds)
	err = op(src, dst)
	if errors.Is(err, fs.ErrNotExist) {
		return errPlace("link", dst, err) // the folder went again
	}
	return err
}

// syncLater fsyncs dir through ds, or at once when ds is nil.
func syncLater(dir string, ds *DirSyncer) {
	if ds != nil {
		ds.Add(dir)
	} else {
		syncDir(dir)
	}
}
