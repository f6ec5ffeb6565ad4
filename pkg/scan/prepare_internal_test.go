package scan

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/svtest/pngtest"
)

// TestHeadReaderAt: reads inside the head come from memory; past the head
// of a whole small file they end in io.EOF without touching the file (it
// is closed here, so any pread would fail); past the head of a bigger file
// they read the file.
func TestHeadReaderAt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	open := func() *os.File {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	closed := open()
	closed.Close()
	cases := []struct {
		name  string
		h     headReaderAt
		off   int64
		size  int
		want  string
		isEOF bool
	}{
		{"inside head", headReaderAt{head: []byte("0123"), f: closed}, 1, 2, "12", false},
		{"whole: straddles end", headReaderAt{head: []byte("0123456789"), f: closed, whole: true}, 8, 4, "89", true},
		{"whole: past end", headReaderAt{head: []byte("0123456789"), f: closed, whole: true}, 12, 4, "", true},
		{"partial head: from file", headReaderAt{head: []byte("0123"), f: open()}, 3, 4, "3456", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			buf := make([]byte, c.size)
			n, err := c.h.ReadAt(buf, c.off)
			if string(buf[:n]) != c.want || errors.Is(err, io.EOF) != c.isEOF || (err != nil && !errors.Is(err, io.EOF)) {
				t.Fatalf("got %q, %v; want %q, EOF=%v", buf[:n], err, c.want, c.isEOF)
			}
		})
	}
}

// TestPrepareHashesWholeFile: the one-read path (a file that fits the head
// buffer), the exact-boundary case and files streamed past the head all
// hash every byte, and the header dimensions come from the head.
func TestPrepareHashesWholeFile(t *testing.T) {
	base := pngtest.PNG(3, 2, 7)
	im := &Importer{}
	sc := newScratch()
	for _, size := range []int{len(base), headSize - 1, headSize, headSize + 1, 3*headSize + 7} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			data := base
			if pad := size - len(base) - 12 - 2; pad >= 0 {
				data = pngtest.WithText(base, "p", strings.Repeat("x", pad))
			}
			if len(data) != size {
				t.Fatalf("built %d bytes, want %d", len(data), size)
			}
			path := filepath.Join(t.TempDir(), "f.png")
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			info, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			p := im.prepare(context.Background(), path, info, sc, nil)
			if p.ferr != nil || p.done != nil || p.fatal != nil {
				t.Fatalf("prepare: %+v", p)
			}
			m, s := md5.Sum(data), sha256.Sum256(data)
			if p.md5 != hex.EncodeToString(m[:]) || p.sha != hex.EncodeToString(s[:]) {
				t.Errorf("hashes %s %s do not cover the file", p.md5, p.sha)
			}
			if p.width != 3 || p.height != 2 {
				t.Errorf("size %dx%d", p.width, p.height)
			}
		})
	}
}
