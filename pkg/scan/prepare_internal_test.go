package scan

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
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
