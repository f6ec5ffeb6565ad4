package library

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestLinkOrCopyDeferred: the link lands at dst (its folder created on
// demand) sharing the source's data, the folder is left to the syncer, an
// existing dst is never replaced (fs.ErrExist), and a missing source is
// reported as such without creating the folder.
func TestLinkOrCopyDeferred(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "src.png")
	if err := os.WriteFile(src, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		src     string
		dst     string
		before  func(dst string)
		wantErr error // nil: placed
		want    string
	}{
		{name: "new folder", src: src, dst: filepath.Join(base, "lib", "ab", "x.png"), want: "new"},
		{name: "existing dst kept", src: src, dst: filepath.Join(base, "lib", "cd", "y.png"),
			before: func(dst string) {
				os.MkdirAll(filepath.Dir(dst), 0o755)
				os.WriteFile(dst, []byte("old"), 0o644)
			}, wantErr: fs.ErrExist, want: "old"},
		{name: "missing source", src: filepath.Join(base, "gone.png"), dst: filepath.Join(base, "lib", "ef", "z.png"), wantErr: fs.ErrNotExist},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.before != nil {
				c.before(c.dst)
			}
			var ds DirSyncer
			err := LinkOrCopyDeferred(c.src, c.dst, &ds)
			if c.wantErr == nil && err != nil || c.wantErr != nil && !errors.Is(err, c.wantErr) {
				t.Fatalf("err %v, want %v", err, c.wantErr)
			}
			if c.wantErr == fs.ErrNotExist {
				if _, err := os.Stat(filepath.Dir(c.dst)); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("folder created for a missing source: %v", err)
				}
				return
			}
			if b, _ := os.ReadFile(c.dst); string(b) != c.want {
				t.Errorf("dst holds %q, want %q", b, c.want)
			}
			if c.wantErr == nil {
				if _, ok := ds.dirs[filepath.Dir(c.dst)]; !ok {
					t.Errorf("folder not left to the syncer: %v", ds.dirs)
				}
				if b, _ := os.ReadFile(src); string(b) != "new" {
					t.Errorf("source changed: %q", b)
				}
			}
		})
	}
}
