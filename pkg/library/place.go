package library

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

// TempSuffix marks in-flight copies. A temp file is always next to its
// destination (same directory, same filesystem) so the final rename is
// atomic; leftovers from a crash are recognisable and safe to delete because
// the source still exists until the DB row is committed.
const TempSuffix = ".svtmp"

// IsTemp reports whether name is an in-flight placement temp file.
func IsTemp(name string) bool { return filepath.Ext(name) == TempSuffix }

// CopyAtomic copies src to dst so that dst either does not exist or is a
// complete, fsynced copy: write <dst>.<pid>.<n>.svtmp, fsync, rename, fsync
// the directory. An existing dst is replaced.
func CopyAtomic(src, dst string) error { return copyAtomic(src, dst, "") }

// copyAtomic is CopyAtomic; with sha256hex set, the bytes written are
// hashed on the way and a copy of other content (the source changed since
// the caller hashed it) is discarded with CodeHashMismatch instead of
// renamed into place.
func copyAtomic(src, dst, sha256hex string) error {
	tmp, err := copyToTemp(src, dst, sha256hex)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return errPlace("rename", tmp, err)
	}
	syncDir(filepath.Dir(dst))
	return nil
}

// tempName is a fresh placement temp beside dst (<dst>.<pid>.<tag>.svtmp):
// the pid lets RemoveStaleTemps tell a crashed writer's leftovers; the tag
// is random, so goroutines of one process naming temps in one folder at
// once do not meet (a clock reading could be the same for two).
func tempName(dst string) string {
	return dst + "." + strconv.Itoa(os.Getpid()) + "." + strconv.FormatUint(rand.Uint64(), 36) + TempSuffix
}

// copyToTemp writes a complete, fsynced copy of src beside dst and returns
// its name (see copyAtomic for sha256hex).
func copyToTemp(src, dst, sha256hex string) (string, error) {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", errPlace("mkdir", filepath.Dir(dst), err)
	}
	in, err := os.Open(src)
	if err != nil {
		return "", errPlace("open", src, err)
	}
	defer in.Close()
	tmp := tempName(dst)
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", errPlace("create", tmp, err)
	}
	ok := false
	defer func() {
		if !ok {
			out.Close()
			os.Remove(tmp)
		}
	}()
	var w io.Writer = out
	h := sha256.New()
	if sha256hex != "" {
		w = io.MultiWriter(out, h)
	}
	if _, err := io.Copy(w, in); err != nil {
		return "", errPlace("copy", src, err)
	}
	if sha256hex != "" && hex.EncodeToString(h.Sum(nil)) != sha256hex {
		return "", reason.Newf(CodeHashMismatch, "%s changed while it was being placed", src)
	}
	if err := out.Sync(); err != nil {
		return "", errPlace("fsync", tmp, err)
	}
	if err := out.Close(); err != nil {
		return "", errPlace("close", tmp, err)
	}
	if st, err := os.Stat(src); err == nil {
		_ = os.Chtimes(tmp, st.ModTime(), st.ModTime())
	}
	ok = true
	return tmp, nil
}

// Holds reports whether the file at dst holds the content whose SHA-256 is
// sha256hex: the check every importer makes before it unlinks a source,
// and before it trusts a catalogued copy. When dst is the very file src (a
// hard link: same device and inode) and src still has the size and
// modification time of srcInfo, the bytes at dst are the ones the caller
// hashed when it read src, so that is proof without a second read (move
// mode's links cost no I/O here). Any other dst is read and hashed in
// full: a size is no proof (a damaged copy keeps its size). A missing dst
// is (false, nil).
func Holds(dst, src string, srcInfo fs.FileInfo, sha256hex string) (bool, error) {
	dstInfo, err := os.Stat(dst)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if src != "" && srcInfo != nil {
		if st, err := os.Stat(src); err == nil && os.SameFile(st, dstInfo) &&
			st.Size() == srcInfo.Size() && st.ModTime().Equal(srcInfo.ModTime()) {
			return true, nil
		}
	}
	f, err := os.Open(dst)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return false, err
	}
	return hex.EncodeToString(h.Sum(nil)) == sha256hex, nil
}

// CopyNew copies src to dst unless dst exists, in which case the error
// wraps fs.ErrExist and dst is untouched: the copy is written and fsynced
// under a temp name (its bytes hashed on the way and checked against
// sha256hex when set), then linked at dst, which link(2) does only if the
// name is free. Two importers of one content can therefore never replace
// each other's file. On a filesystem without hard links the temp is
// renamed into place instead.
func CopyNew(src, dst, sha256hex string) error {
	tmp, err := copyToTemp(src, dst, sha256hex)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	return linkNew(tmp, dst, nil)
}

// ReplaceVerified puts the content of src (whose SHA-256 the caller knows)
// at dst, replacing whatever dst holds, atomically: at every instant dst is
// either the old file or the complete new one. With link set (move mode:
// src goes away after the caller commits) the new dst is a hard link of
// src where the filesystem allows, else a copy whose bytes are hashed on
// the way and must match sha256hex. It repairs a damaged catalogued copy
// from an intact one.
func ReplaceVerified(src, dst, sha256hex string, link bool) error {
	if link {
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return errPlace("mkdir", filepath.Dir(dst), err)
		}
		tmp := tempName(dst)
		if err := os.Link(src, tmp); err == nil {
			if err := os.Rename(tmp, dst); err != nil {
				os.Remove(tmp)
				return errPlace("rename", tmp, err)
			}
			syncDir(filepath.Dir(dst))
			return nil
		}
	}
	return copyAtomic(src, dst, sha256hex)
}

// syncDir makes a rename durable. Errors are ignored: some filesystems
// (and Windows) cannot fsync a directory.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// MoveFile moves src to dst crash-safely: a rename when both are on one
// filesystem (atomic), otherwise CopyAtomic followed by removing src. At
// every instant the content exists completely at src or dst.
func MoveFile(src, dst string) error {
	if src == dst {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return errPlace("mkdir", filepath.Dir(dst), err)
	}
	if err := os.Rename(src, dst); err == nil {
		syncDir(filepath.Dir(dst))
		return nil
	}
	if err := CopyAtomic(src, dst); err != nil {
		return err
	}
	if err := os.Remove(src); err != nil && !errors.Is(err, os.ErrNotExist) {
		return errPlace("remove", src, err)
	}
	return nil
}

// SameContent reports whether the file at p has the given MD5 (hex).
func SameContent(p, md5hex string) (bool, error) {
	f, err := os.Open(p)
	if err != nil {
		return false, err
	}
	defer f.Close()
	h := md5.New()
	if _, err := io.Copy(h, f); err != nil {
		return false, err
	}
	want, err := hex.DecodeString(md5hex)
	if err != nil {
		return false, err
	}
	return bytes.Equal(h.Sum(nil), want), nil
}

// LinkOrCopyAtomic places src at dst while keeping src: a hard link
// (instant, no data copied) when both are on one filesystem, else
// CopyAtomic. Use it for move mode, where src is removed after the DB
// commit; copy mode wants an independent file and calls CopyAtomic. An
// existing dst is never replaced: the error wraps fs.ErrExist.
func LinkOrCopyAtomic(src, dst string) error { return LinkOrCopyDeferred(src, dst, nil) }

// DirSyncer collects folders whose new entries must be made durable, so a
// batch of placements fsyncs each folder once (before the batch's DB
// commit) instead of once per file. The zero value is ready to use.
type DirSyncer struct {
	dirs map[string]bool
	// syncFn replaces the folder fsync in tests (nil: syncDir).
	syncFn func(dir string)
}

// Add remembers dir for the next Sync.
func (s *DirSyncer) Add(dir string) {
	if s.dirs == nil {
		s.dirs = map[string]bool{}
	}
	s.dirs[dir] = true
}

// dirSyncParallel bounds the concurrent folder fsyncs of one Sync. A
// batch spreads over up to 256 hash-prefix folders; fsynced one after the
// other each waits for its own journal commit, while concurrent fsyncs on a
// journalling filesystem share commits.
const dirSyncParallel = 8

// Sync fsyncs every remembered folder and forgets them. It returns when
// all are synced.
func (s *DirSyncer) Sync() {
	syncFn := s.syncFn
	if syncFn == nil {
		syncFn = syncDir
	}
	n := min(dirSyncParallel, len(s.dirs))
	if n <= 1 {
		for d := range s.dirs {
			syncFn(d)
		}
		clear(s.dirs)
		return
	}
	ch := make(chan string)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for d := range ch {
				syncFn(d)
			}
		})
	}
	for d := range s.dirs {
		ch <- d
	}
	close(ch)
	wg.Wait()
	clear(s.dirs)
}

// LinkOrCopyDeferred is LinkOrCopyAtomic whose folder fsync after a hard
// link is left to ds (nil: done at once). The caller must call ds.Sync
// before it commits rows that point at dst. A link shares the source's
// already written data, so only the new folder entry needs the fsync; the
// copy fallback is CopyAtomic, fully synced.
//
// The link is made at dst itself: link(2) is atomic (the name appears
// with the complete file behind it), so a temp name and rename add nothing
// but system calls, and the folder is created only when the link reports
// it missing. That is one system call per file where there were six.
func LinkOrCopyDeferred(src, dst string, ds *DirSyncer) error {
	err := linkMkdir(src, dst, ds)
	switch {
	case err == nil:
		syncLater(filepath.Dir(dst), ds)
		return nil
	case errors.Is(err, fs.ErrExist):
		return errPlace("link", dst, err)
	case errors.Is(err, fs.ErrNotExist):
		return err // the source is what is missing
	}
	// Another filesystem, or one without hard links (FAT, exFAT, some
	// shares): copy.
	return CopyAtomic(src, dst)
}

// RemoveStaleTemps deletes placement temp files of dst (<dst>.<pid>.….svtmp)
// left by a crashed run: those whose writer process is gone, or older than
// maxAge whatever their pid (a pid can be reused). A live writer's fresh
// temp is kept. It returns how many were removed; errors are ignored
// because a leftover temp is harmless (the walker skips it).
func RemoveStaleTemps(dst string, maxAge time.Duration, now time.Time, alive func(pid int) bool) int {
	matches, _ := filepath.Glob(globEscape(dst) + ".*" + TempSuffix)
	return removeStale(matches, maxAge, now, alive)
}

// RemoveStaleTempsIn is RemoveStaleTemps for every placement temp in dir:
// one folder read instead of one per destination, for importers that place
// many files into the same folders.
func RemoveStaleTempsIn(dir string, maxAge time.Duration, now time.Time, alive func(pid int) bool) int {
	matches, _ := filepath.Glob(filepath.Join(globEscape(dir), "*"+TempSuffix))
	return removeStale(matches, maxAge, now, alive)
}

// removeStale removes those temps (<dst>.<pid>.….svtmp) whose writer is
// gone or that are older than maxAge.
func removeStale(matches []string, maxAge time.Duration, now time.Time, alive func(pid int) bool) int {
	n := 0
	for _, m := range matches {
		pid, err := tempPID(m)
		st, serr := os.Lstat(m)
		if serr != nil {
			continue
		}
		// Aged by the inode change time: a staged copy carries its
		// source's (old) modification time before it is published.
		stale := now.Sub(changeTime(st)) > maxAge || err != nil
		if !stale && pid != os.Getpid() && (alive == nil || !alive(pid)) {
			stale = true
		}
		if stale && os.Remove(m) == nil {
			n++
		}
	}
	return n
}

// tempPID reads the writer pid of a temp name <dst>.<pid>.<tag>.svtmp: the
// second-to-last dot-separated field before the suffix.
func tempPID(name string) (int, error) {
	parts := strings.Split(strings.TrimSuffix(filepath.Base(name), TempSuffix), ".")
	if len(parts) < 3 {
		return 0, strconv.ErrSyntax
	}
	return strconv.Atoi(parts[len(parts)-2])
}

// globEscape quotes glob metacharacters in a literal path.
func globEscape(p string) string {
	var b strings.Builder
	for _, r := range p {
		switch r {
		case '*', '?', '[', '\\':
			if filepath.Separator != '\\' || r != '\\' {
				b.WriteRune('\\')
			}
		}
		b.WriteRune(r)
	}
	return b.String()
}
