package library

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

// asideTries bounds the " (n)" names PlaceAside tries before it gives up.
const asideTries = 100

// PlaceAside puts the bytes of src (SHA-256 sha256hex, as read with
// srcInfo) at dst or, when dst holds other bytes, at "name (n).ext" beside
// it: never replacing a file. A name that already holds the same content
// (an interrupted earlier run, or a concurrent importer) is taken as
// done. The copy is a hard link where the filesystem allows, else a
// hashed copy; either way the returned path is verified (Holds) to hold
// src's content before it is returned, so the caller may then remove src.
func PlaceAside(src, dst, sha256hex string, srcInfo fs.FileInfo) (string, error) {
	ext := filepath.Ext(dst)
	base := strings.TrimSuffix(dst, ext)
	for i := 0; i < asideTries; i++ {
		cand := dst
		if i > 0 {
			cand = fmt.Sprintf("%s (%d)%s", base, i, ext)
		}
		err := linkMkdir(src, cand, nil)
		switch {
		case err == nil:
			syncDir(filepath.Dir(cand))
		case errors.Is(err, fs.ErrExist):
		case errors.Is(err, fs.ErrNotExist):
			return "", err
		default:
			// Another filesystem: a hashed copy, linked at cand only if
			// the name is free.
			if err = CopyNew(src, cand, sha256hex); err != nil && !errors.Is(err, fs.ErrExist) {
				return "", err
			}
		}
		ok, herr := Holds(cand, src, srcInfo, sha256hex)
		if herr != nil {
			return "", herr
		}
		if ok {
			return cand, nil
		}
		if err == nil {
			// Placed, yet not the content (src changed meanwhile): the
			// file is ours and useless; src stays the file of record.
			return "", reason.Newf(CodeHashMismatch, "%s does not hold the content of %s", cand, src)
		}
	}
	return "", errPlace("place", dst, fmt.Errorf("%d names beside it are taken", asideTries))
}
