// Package library owns where catalogued files live: the four library roots
// (images/videos × sfw/nsfw), the ONE canonical naming function used by
// import, rescan, NSFW toggle and rename, the "is this path inside the
// roots" check, and crash-safe file placement.
//
// The original used <root>/<hh>/<hash>.<ext> on import but <root>/<basename>
// on rescan and NSFW toggle (spec §10 item 18); everything here goes through
// CanonicalPath so the two can never disagree again.
package library

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/config"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

// Reason codes returned by this package.
const (
	CodeInvalidHash   = "library_invalid_hash"
	CodeInvalidExt    = "library_invalid_ext"
	CodeRootMissing   = "library_root_missing"
	CodeOutsideRoots  = "path_outside_roots"
	CodeHashCollision = "hash_collision"
	CodePlaceFailed   = "place_failed"
	// CodeHashMismatch: bytes written or found are not the content the
	// caller hashed (the source changed meanwhile, or a damaged copy).
	CodeHashMismatch = "hash_mismatch"
)

// Media types as stored in media.type.
const (
	TypeImage = "image"
	TypeVideo = "video"
)

// Roots are the four library roots. Empty fields mean "not configured".
type Roots struct {
	ImagesSFW  string
	ImagesNSFW string
	VideosSFW  string
	VideosNSFW string
}

// RootsFromPaths builds Roots from config paths, falling back to the
// original's legacy keys (images, images_18, videos, videos_18) when the new
// key is empty.
func RootsFromPaths(p config.Paths) Roots {
	pick := func(a, b string) string {
		if a != "" {
			return a
		}
		return b
	}
	return Roots{
		ImagesSFW:  pick(p.ImagesSFW, p.Images),
		ImagesNSFW: pick(p.ImagesNSFW, p.Images18),
		VideosSFW:  pick(p.VideosSFW, p.Videos),
		VideosNSFW: pick(p.VideosNSFW, p.Videos18),
	}
}

// All returns the configured (non-empty) roots.
func (r Roots) All() []string {
	var out []string
	for _, s := range []string{r.ImagesSFW, r.ImagesNSFW, r.VideosSFW, r.VideosNSFW} {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Root returns the root for a media type and NSFW flag ("" when not
// configured or the type is unknown).
func (r Roots) Root(mediaType string, hasNSFW bool) string {
	switch {
	case mediaType == TypeImage && !hasNSFW:
		return r.ImagesSFW
	case mediaType == TypeImage && hasNSFW:
		return r.ImagesNSFW
	case mediaType == TypeVideo && !hasNSFW:
		return r.VideosSFW
	case mediaType == TypeVideo && hasNSFW:
		return r.VideosNSFW
	}
	return ""
}

// ValidHash reports whether h is a lowercase-able hex digest of at least two
// characters (MD5 in practice).
func ValidHash(h string) bool {
	if len(h) < 2 {
		return false
	}
	for _, c := range h {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// NormalizeExt lowercases ext, drops a leading dot and every character
// outside [a-z0-9], like the original sv_resolve_library_path.
func NormalizeExt(ext string) string {
	ext = strings.ToLower(strings.TrimPrefix(ext, "."))
	var b strings.Builder
	for _, c := range ext {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			b.WriteRune(c)
		}
	}
	return b.String()
}

// CanonicalPath is THE library path of a media file:
// <root by type and has_nsfw>/<hash[0:2]>/<hash>.<ext>. It returns "" when
// the root is not configured, the hash is not hex or the extension is empty;
// use Destination for an error that says which.
func CanonicalPath(roots Roots, mediaType string, hasNSFW bool, hash, ext string) string {
	p, err := Destination(roots, mediaType, hasNSFW, hash, ext)
	if err != nil {
		return ""
	}
	return p
}

// Destination is CanonicalPath with a reason-coded error.
func Destination(roots Roots, mediaType string, hasNSFW bool, hash, ext string) (string, error) {
	root := roots.Root(mediaType, hasNSFW)
	if root == "" {
		return "", reason.Newf(CodeRootMissing, "no library root configured for %s (nsfw=%v)", mediaType, hasNSFW)
	}
	if !ValidHash(hash) {
		return "", reason.Newf(CodeInvalidHash, "invalid hash %q", hash)
	}
	e := NormalizeExt(ext)
	if e == "" {
		return "", reason.Newf(CodeInvalidExt, "invalid extension %q", ext)
	}
	h := strings.ToLower(hash)
	return filepath.Join(root, h[:2], h+"."+e), nil
}

// resolve returns the symlink-free absolute form of p. When p does not exist
// its nearest existing ancestor is resolved and the rest appended, so a
// destination that is about to be created can be checked too.
func resolve(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	rest := ""
	cur := abs
	for {
		r, err := filepath.EvalSymlinks(cur)
		if err == nil {
			return filepath.Join(r, rest), nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return abs, nil
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
}

// Inside reports whether path lies inside one of roots after resolving
// symlinks on both sides (a symlink inside a root pointing elsewhere is NOT
// inside). It returns the matching root as configured.
func Inside(roots []string, path string) (string, bool) {
	rp, err := resolve(path)
	if err != nil {
		return "", false
	}
	return ResolveRoots(roots).InsideResolved(rp)
}

// ResolvedRoots are roots resolved once (absolute, symlink-free) for many
// Inside checks: a hot path (every thumbnail the web UI serves) resolves
// its roots when they change, not per request.
type ResolvedRoots struct {
	configured []string
	real       []string
}

// ResolveRoots resolves roots; a root that cannot be resolved is left out
// (nothing is inside it), empty roots are skipped.
func ResolveRoots(roots []string) ResolvedRoots {
	var r ResolvedRoots
	for _, root := range roots {
		if root == "" {
			continue
		}
		rr, err := resolve(root)
		if err != nil {
			continue
		}
		r.configured = append(r.configured, root)
		r.real = append(r.real, rr)
	}
	return r
}

// Len is the number of resolved roots.
func (r ResolvedRoots) Len() int { return len(r.real) }

// Inside is library.Inside against the resolved roots: path's symlinks are
// resolved, the roots' were resolved by ResolveRoots.
func (r ResolvedRoots) Inside(path string) (string, bool) {
	rp, err := resolve(path)
	if err != nil {
		return "", false
	}
	return r.InsideResolved(rp)
}

// InsideResolved is Inside for a path that is already absolute and
// symlink-free (filepath.EvalSymlinks of an existing file): no system call.
func (r ResolvedRoots) InsideResolved(real string) (string, bool) {
	for i, rr := range r.real {
		// A path below rr starts with rr (up to case on Windows, where Rel
		// compares case-insensitively): skip the allocating Rel for the
		// roots it cannot be in.
		if len(real) <= len(rr) || !strings.EqualFold(real[:len(rr)], rr) {
			continue
		}
		rel, err := filepath.Rel(rr, real)
		if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			continue
		}
		return r.configured[i], true
	}
	return "", false
}

// PrefixRange returns the half-open byte range [lo, hi) of every path
// strictly below dir, for an indexed range query on a path column
// ("path >= lo AND path < hi" uses the index, LIKE 'dir/%' does not):
// lo is dir plus a separator, hi the same with the separator's successor.
func PrefixRange(dir string) (lo, hi string) {
	lo = strings.TrimSuffix(dir, string(filepath.Separator)) + string(filepath.Separator)
	return lo, lo[:len(lo)-1] + string(rune(filepath.Separator+1))
}

// RequireInside is Inside returning a path_outside_roots error.
func RequireInside(roots []string, path string) error {
	if _, ok := Inside(roots, path); !ok {
		return reason.Newf(CodeOutsideRoots, "path %s is outside the library roots", path)
	}
	return nil
}

// Classify returns the media type and NSFW flag whose root contains path.
func (r Roots) Classify(path string) (mediaType string, hasNSFW bool, ok bool) {
	for _, c := range []struct {
		root string
		t    string
		n    bool
	}{{r.ImagesSFW, TypeImage, false}, {r.ImagesNSFW, TypeImage, true}, {r.VideosSFW, TypeVideo, false}, {r.VideosNSFW, TypeVideo, true}} {
		if c.root == "" {
			continue
		}
		if _, in := Inside([]string{c.root}, path); in {
			return c.t, c.n, true
		}
	}
	return "", false, false
}

// errPlace wraps a filesystem failure during placement as transient; a full
// disk is named as such (disk_full), so a job summary says why files were
// not placed instead of counting anonymous place_failed errors.
func errPlace(op, p string, err error) error {
	werr := fmt.Errorf("%s %s: %w", op, p, err)
	if reason.IsDiskFull(err) {
		return &reason.Error{Code: reason.CodeDiskFull, Kind: reason.KindTransient,
			Msg: "the library disk is full: " + reason.Hint(reason.CodeDiskFull), Err: werr}
	}
	return reason.Transient(CodePlaceFailed, werr)
}
