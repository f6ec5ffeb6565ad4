package vidax

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

// maxUnpackedBytes bounds what one archive may unpack to (a zip bomb stops
// here instead of filling the disk).
const maxUnpackedBytes = 256 << 30

// unpackZip extracts archive into dest via a temporary folder beside it,
// renamed into place only when every entry was written. Entries that are
// absolute, contain "..", or are symbolic links are refused (zip slip).
// stripRoot drops the archive's single top folder.
func unpackZip(archive, dest string, stripRoot bool) error {
	zr, err := zip.OpenReader(archive)
	if err != nil {
		return reason.Newf(CodeUnsupportedFormat, "the download for %s is not a zip archive (%v): check the url or drop unpack", dest, err)
	}
	defer zr.Close()
	names := make([]string, len(zr.File))
	dirs := make([]bool, len(zr.File))
	for i, f := range zr.File {
		n, err := safeEntry(f)
		if err != nil {
			return err
		}
		names[i], dirs[i] = n, f.FileInfo().IsDir()
	}
	if stripRoot {
		names = stripCommonRoot(names, dirs)
	}
	tmp := dest + ".unpack"
	_ = os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return writeErr(tmp, err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = os.RemoveAll(tmp)
		}
	}()
	var total int64
	for i, f := range zr.File {
		if names[i] == "" {
			continue
		}
		target := filepath.Join(tmp, filepath.FromSlash(names[i]))
		if !within(tmp, target) {
			return slip(f.Name)
		}
		if f.FileInfo().IsDir() {
			if err := os.MkdirAll(target, 0o755); err != nil {
				return writeErr(target, err)
			}
			continue
		}
		n, err := extract(f, target, maxUnpackedBytes-total)
		total += n
		if err != nil {
			return err
		}
	}
	if err := os.RemoveAll(dest); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return writeErr(dest, err)
	}
	if err := os.Rename(tmp, dest); err != nil {
		return writeErr(dest, err)
	}
	ok = true
	return nil
}

func slip(name string) error {
	return reason.Newf(CodeDestInvalid, "the archive entry %q would be written outside its folder: the archive is refused", name).With("entry", name)
}

// safeEntry returns the entry's slash path or refuses it.
func safeEntry(f *zip.File) (string, error) {
	n := strings.ReplaceAll(f.Name, `\`, "/")
	if strings.HasPrefix(n, "/") || (len(n) > 1 && n[1] == ':') {
		return "", slip(f.Name)
	}
	for _, p := range strings.Split(n, "/") {
		if p == ".." {
			return "", slip(f.Name)
		}
	}
	if f.Mode()&fs.ModeSymlink != 0 {
		return "", reason.Newf(CodeUnsupportedFormat, "the archive entry %q is a symbolic link: links are not unpacked", f.Name).With("entry", f.Name)
	}
	return strings.TrimSuffix(strings.TrimPrefix(n, "./"), "/"), nil
}

// stripCommonRoot drops the first component when every entry lies in one
// top folder; the folder's own entry becomes "" (skipped). An archive with
// a file at its top level is left as it is.
func stripCommonRoot(names []string, dirs []bool) []string {
	root := ""
	for i, n := range names {
		first, _, nested := strings.Cut(n, "/")
		if root == "" {
			root = first
		}
		if first != root || (!nested && !dirs[i]) {
			return names
		}
	}
	out := make([]string, len(names))
	for i, n := range names {
		_, rest, _ := strings.Cut(n, "/")
		out[i] = rest
	}
	return out
}

func extract(f *zip.File, target string, budget int64) (int64, error) {
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return 0, writeErr(target, err)
	}
	rc, err := f.Open()
	if err != nil {
		return 0, reason.Newf(CodeUnsupportedFormat, "the archive entry %q cannot be read: %v", f.Name, err)
	}
	defer rc.Close()
	out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return 0, reason.Newf(CodeUnsupportedFormat, "the archive holds %q twice: the archive is refused", f.Name).With("entry", f.Name)
	}
	if err != nil {
		return 0, writeErr(target, err)
	}
	n, cerr := io.Copy(out, io.LimitReader(rc, budget+1))
	if err := out.Close(); err != nil && cerr == nil {
		cerr = err
	}
	if n > budget {
		return n, reason.Newf(CodeUnsupportedFormat, "the archive unpacks to more than %d bytes: refused", int64(maxUnpackedBytes))
	}
	if cerr != nil {
		var pe *os.PathError
		if errors.As(cerr, &pe) {
			return n, writeErr(target, cerr)
		}
		return n, reason.Newf(CodeUnsupportedFormat, "the archive entry %q is damaged: %v", f.Name, fmt.Errorf("%w", cerr))
	}
	return n, nil
}
