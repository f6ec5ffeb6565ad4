package library

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// TestHolds: a hard link of an unchanged source is proof without a read;
// anything else is proven only by its full SHA-256, whatever its size.
func TestHolds(t *testing.T) {
	dir := t.TempDir()
	data := []byte("the intact content of an image")
	src := filepath.Join(dir, "src.png")
	os.WriteFile(src, data, 0o644)
	info, _ := os.Stat(src)
	link := filepath.Join(dir, "link.png")
	if err := os.Link(src, link); err != nil {
		t.Skip("no hard links here:", err)
	}
	copyOK := filepath.Join(dir, "copy.png")
	os.WriteFile(copyOK, data, 0o644)
	damaged := filepath.Join(dir, "damaged.png")
	bad := append([]byte(nil), data...)
	bad[3] ^= 1
	os.WriteFile(damaged, bad, 0o644)
	cases := []struct {
		name, dst, src string
		info           fs.FileInfo
		sha            string
		want           bool
	}{
		{"hard link, unchanged source", link, src, info, "not-even-a-hash", true},
		{"intact copy", copyOK, src, info, sha(data), true},
		{"damaged copy of the same size", damaged, src, info, sha(data), false},
		{"missing", filepath.Join(dir, "nope.png"), src, info, sha(data), false},
		{"link but no source info: hashed", link, "", nil, sha(data), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Holds(c.dst, c.src, c.info, c.sha)
			if err != nil || got != c.want {
				t.Fatalf("Holds = %v, %v; want %v", got, err, c.want)
			}
		})
	}
	// A source written after it was hashed: its link is no longer proof.
	later := info.ModTime().Add(time.Second)
	os.Chtimes(src, later, later)
	if ok, _ := Holds(link, src, info, "not-even-a-hash"); ok {
		t.Fatal("a changed source still counted as proof")
	}
}

// TestCopyNewNeverReplaces: CopyNew leaves an existing file alone (even
// one of other content) and reports fs.ErrExist; a source that does not
// match the expected hash is not placed at all; no temp is left.
func TestCopyNewNeverReplaces(t *testing.T) {
	dir := t.TempDir()
	data := []byte("content")
	src := filepath.Join(dir, "src")
	os.WriteFile(src, data, 0o644)
	dst := filepath.Join(dir, "lib", "ab", "dst")
	if err := CopyNew(src, dst, sha(data)); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other")
	os.WriteFile(other, []byte("other content"), 0o644)
	if err := CopyNew(other, dst, sha([]byte("other content"))); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("CopyNew over an existing file: %v", err)
	}
	if got, _ := os.ReadFile(dst); string(got) != "content" {
		t.Fatalf("existing file replaced: %q", got)
	}
	dst2 := filepath.Join(dir, "lib", "ab", "dst2")
	if err := CopyNew(src, dst2, sha([]byte("what the caller hashed earlier"))); reason.Code(err) != CodeHashMismatch {
		t.Fatalf("changed source: %v", err)
	}
	if _, err := os.Stat(dst2); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("a copy of changed content was placed")
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "lib", "ab", "*"+TempSuffix)); len(m) != 0 {
		t.Fatalf("temps left: %v", m)
	}
}

// TestReplaceVerified replaces a damaged file atomically, by link or by a
// hash-checked copy, and refuses a copy whose bytes are not the expected
// content (the damaged file then stays as it was).
func TestReplaceVerified(t *testing.T) {
	for _, link := range []bool{true, false} {
		dir := t.TempDir()
		data := []byte("intact")
		src := filepath.Join(dir, "src")
		os.WriteFile(src, data, 0o644)
		dst := filepath.Join(dir, "dst")
		os.WriteFile(dst, []byte("damagd"), 0o644)
		if err := ReplaceVerified(src, dst, sha(data), link); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(dst); string(got) != "intact" {
			t.Fatalf("link=%v: dst %q", link, got)
		}
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	os.WriteFile(src, []byte("changed since hashed"), 0o644)
	dst := filepath.Join(dir, "dst")
	os.WriteFile(dst, []byte("old"), 0o644)
	if err := ReplaceVerified(src, dst, sha([]byte("intact")), false); reason.Code(err) != CodeHashMismatch {
		t.Fatalf("mismatch: %v", err)
	}
	if got, _ := os.ReadFile(dst); string(got) != "old" {
		t.Fatalf("dst replaced by unverified content: %q", got)
	}
}
