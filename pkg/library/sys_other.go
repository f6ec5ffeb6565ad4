//go:build !linux

package library

import (
	"errors"
	"io/fs"
	"time"
)

// renameNoReplace: no portable rename that refuses to replace.
func renameNoReplace(src, dst string) error { return errors.ErrUnsupported }

// changeTime falls back to the modification time: a staged copy whose
// source is old may then be taken for a crashed run's and removed, which
// makes the importer copy that file again (never lose it).
func changeTime(fi fs.FileInfo) time.Time { return fi.ModTime() }
