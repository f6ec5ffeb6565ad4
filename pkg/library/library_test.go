package library

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/config"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

func testRoots(base string) Roots {
	return Roots{
		ImagesSFW:  filepath.Join(base, "img"),
		ImagesNSFW: filepath.Join(base, "img18"),
		VideosSFW:  filepath.Join(base, "vid"),
		VideosNSFW: filepath.Join(base, "vid18"),
	}
}

func TestCanonicalPath(t *testing.T) {
	r := testRoots("/lib")
	cases := []struct {
		name, typ string
		nsfw      bool
		hash, ext string
		want      string
		code      string
	}{
		{"image sfw", TypeImage, false, "ABcdef01", ".PNG", "/lib/img/ab/abcdef01.png", ""},
		{"image nsfw", TypeImage, true, "abcdef01", "jpg", "/lib/img18/ab/abcdef01.jpg", ""},
		{"video sfw", TypeVideo, false, "0123", "mp4", "/lib/vid/01/0123.mp4", ""},
		{"video nsfw", TypeVideo, true, "0123", "we/bm", "/lib/vid18/01/0123.webm", ""},
		{"bad hash", TypeImage, false, "../etc", "png", "", CodeInvalidHash},
		{"short hash", TypeImage, false, "a", "png", "", CodeInvalidHash},
		{"bad ext", TypeImage, false, "abcd", "..", "", CodeInvalidExt},
		{"bad type", "audio", false, "abcd", "mp3", "", CodeRootMissing},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Destination(r, c.typ, c.nsfw, c.hash, c.ext)
			if reason.Code(err) != c.code {
				t.Fatalf("code %q, want %q (%v)", reason.Code(err), c.code, err)
			}
			if got != filepath.FromSlash(c.want) {
				t.Fatalf("got %q want %q", got, c.want)
			}
			if CanonicalPath(r, c.typ, c.nsfw, c.hash, c.ext) != got {
				t.Fatal("CanonicalPath disagrees with Destination")
			}
		})
	}
	if (Roots{}).Root(TypeImage, false) != "" {
		t.Fatal("empty roots must give empty root")
	}
}

func TestRootsFromPathsLegacy(t *testing.T) {
	r := RootsFromPaths(config.Paths{Images: "/a", ImagesNSFW: "/b", Videos18: "/c"})
	if r.ImagesSFW != "/a" || r.ImagesNSFW != "/b" || r.VideosNSFW != "/c" || r.VideosSFW != "" {
		t.Fatalf("%+v", r)
	}
}

func TestInsideResolvesSymlinks(t *testing.T) {
	base := t.TempDir()
	r := testRoots(base)
	for _, d := range r.All() {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	outside := filepath.Join(base, "outside")
	os.MkdirAll(outside, 0o755)
	os.WriteFile(filepath.Join(outside, "x.png"), []byte("x"), 0o644)
	// A symlink inside a root that points outside must not count as inside.
	if err := os.Symlink(outside, filepath.Join(r.ImagesSFW, "escape")); err != nil {
		t.Skip("symlinks unsupported")
	}
	// A root reached through a symlink must still count.
	os.Symlink(r.ImagesSFW, filepath.Join(base, "alias"))
	cases := []struct {
		p    string
		want bool
	}{
		{filepath.Join(r.ImagesSFW, "ab", "abcd.png"), true}, // not yet existing
		{filepath.Join(r.ImagesSFW, "escape", "x.png"), false},
		{filepath.Join(r.ImagesSFW, "..", "outside", "x.png"), false},
		{r.ImagesSFW, false}, // the root itself is not a file inside it
		{filepath.Join(base, "alias", "q.png"), true},
		{filepath.Join(outside, "x.png"), false},
	}
	for _, c := range cases {
		if _, got := Inside(r.All(), c.p); got != c.want {
			t.Errorf("Inside(%s)=%v want %v", c.p, got, c.want)
		}
	}
	if typ, nsfw, ok := r.Classify(filepath.Join(r.VideosNSFW, "a.mp4")); !ok || typ != TypeVideo || !nsfw {
		t.Errorf("classify: %v %v %v", typ, nsfw, ok)
	}
	if reason.Code(RequireInside(r.All(), filepath.Join(outside, "x.png"))) != CodeOutsideRoots {
		t.Error("RequireInside must fail with path_outside_roots")
	}
}

func TestCopyAndMove(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.bin")
	os.WriteFile(src, []byte("hello"), 0o644)
	dst := filepath.Join(dir, "a", "b", "dst.bin")
	if err := CopyAtomic(src, dst); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dst); string(b) != "hello" {
		t.Fatalf("dst=%q", b)
	}
	if _, err := os.Stat(src); err != nil {
		t.Fatal("copy must keep source")
	}
	ents, _ := os.ReadDir(filepath.Dir(dst))
	for _, e := range ents {
		if IsTemp(e.Name()) {
			t.Fatalf("temp left behind: %s", e.Name())
		}
	}
	// md5("hello")
	if ok, err := SameContent(dst, "5d41402abc4b2a76b9719d911017c592"); !ok || err != nil {
		t.Fatalf("SameContent=%v %v", ok, err)
	}
	dst2 := filepath.Join(dir, "c", "moved.bin")
	if err := MoveFile(src, dst2); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(src); !os.IsNotExist(err) {
		t.Fatal("move must remove source")
	}
	if err := CopyAtomic(filepath.Join(dir, "missing"), dst); reason.Code(err) != CodePlaceFailed {
		t.Fatalf("missing source: %v", err)
	}
}

// TestRemoveStaleTemps: a temp goes when its writer is gone, its name has
// no writer, or it is older than maxAge by its inode change time (whatever
// its pid: pids are reused); a staged copy already carrying its source's
// old modification time is not old; temps of other destinations stay.
func TestRemoveStaleTemps(t *testing.T) {
	dir := t.TempDir()
	dst := filepath.Join(dir, "ab", "abc[1].png")
	os.MkdirAll(filepath.Dir(dst), 0o755)
	now := time.Now()
	files := map[string]struct {
		mtimeAge time.Duration
		keepNow  bool // RemoveStaleTemps at now
		keepLate bool // then at now + 2h
	}{
		dst + ".111.l" + TempSuffix:                            {0, false, false},            // dead writer
		dst + ".222.xyz" + TempSuffix:                          {0, true, false},             // live writer: fresh, then too old
		dst + ".333.l" + TempSuffix:                            {2 * time.Hour, true, false}, // source's old mtime, fresh temp
		dst + ".nopid" + TempSuffix:                            {0, false, false},            // not ours to parse
		filepath.Join(dir, "ab", "other.png.111.l"+TempSuffix): {2 * time.Hour, true, true},  // other destination
	}
	for p, f := range files {
		os.WriteFile(p, []byte("x"), 0o644)
		os.Chtimes(p, now.Add(-f.mtimeAge), now.Add(-f.mtimeAge))
	}
	alive := func(pid int) bool { return pid == 222 || pid == 333 }
	for _, step := range []struct {
		now  time.Time
		want int
		keep func(keepNow, keepLate bool) bool
	}{
		{now, 2, func(k, _ bool) bool { return k }},
		{now.Add(2 * time.Hour), 2, func(_, k bool) bool { return k }},
	} {
		if n := RemoveStaleTemps(dst, time.Hour, step.now, alive); n != step.want {
			t.Errorf("at %s: removed %d, want %d", step.now.Sub(now), n, step.want)
		}
		for p, f := range files {
			_, err := os.Stat(p)
			if want := step.keep(f.keepNow, f.keepLate); (err == nil) != want {
				t.Errorf("at %s: %s kept=%v, want %v", step.now.Sub(now), filepath.Base(p), err == nil, want)
			}
		}
	}
}

// TestResolvedRootsAndPrefixRange: roots resolved once answer like Inside
// (symlinked root, link escaping a root), and PrefixRange bounds exactly the
// paths below a folder (not a sibling sharing its name prefix).
func TestResolvedRootsAndPrefixRange(t *testing.T) {
	base := t.TempDir()
	real := filepath.Join(base, "real")
	outside := filepath.Join(base, "outside")
	os.MkdirAll(real, 0o755)
	os.MkdirAll(outside, 0o755)
	os.WriteFile(filepath.Join(real, "a.png"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(outside, "b.png"), []byte("x"), 0o644)
	link := filepath.Join(base, "link")
	if err := os.Symlink(real, link); err != nil {
		t.Skip("symlinks unsupported:", err)
	}
	os.Symlink(filepath.Join(outside, "b.png"), filepath.Join(real, "escape.png"))
	rr := ResolveRoots([]string{"", link, filepath.Join(base, "absent")})
	if rr.Len() != 2 {
		t.Fatalf("resolved %d roots, want 2 (empty skipped, absent kept)", rr.Len())
	}
	for _, tc := range []struct {
		path string
		want bool
	}{
		{filepath.Join(real, "a.png"), true},
		{filepath.Join(link, "a.png"), true},
		{filepath.Join(real, "escape.png"), false},
		{filepath.Join(outside, "b.png"), false},
		{real, false},
		{filepath.Join(base, "absent", "x.png"), true},
	} {
		root, got := rr.Inside(tc.path)
		if got != tc.want {
			t.Errorf("Inside(%s) = %v, want %v", tc.path, got, tc.want)
		}
		if lib, in := Inside([]string{link, filepath.Join(base, "absent")}, tc.path); in != got || lib != root {
			t.Errorf("library.Inside(%s) = %s %v, ResolvedRoots %s %v", tc.path, lib, in, root, got)
		}
	}
	lo, hi := PrefixRange("/lib/in")
	for _, tc := range []struct {
		p    string
		want bool
	}{{"/lib/in/a.png", true}, {"/lib/in/x/y.png", true}, {"/lib/in", false}, {"/lib/inbox/a.png", false}, {"/lib/in0", false}} {
		if got := tc.p >= lo && tc.p < hi; got != tc.want {
			t.Errorf("PrefixRange: %s in [%s, %s) = %v, want %v", tc.p, lo, hi, got, tc.want)
		}
	}
	if lo2, hi2 := PrefixRange("/lib/in/"); lo2 != lo || hi2 != hi {
		t.Errorf("trailing separator changes the range: %s %s", lo2, hi2)
	}
}
