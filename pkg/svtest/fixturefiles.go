package svtest

import (
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// SharedFixtureFiles returns the slash-separated paths, relative to
// SharedFixtures, of every fixture file (the manifest and READMEs left
// out), in walk order. It skips or fails like SharedFixtures when the
// folder is absent.
func SharedFixtureFiles(tb testing.TB) []string {
	tb.Helper()
	root := SharedFixtures(tb)
	var out []string
	err := filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		if ext := strings.ToLower(filepath.Ext(p)); ext == ".json" || ext == ".md" {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		out = append(out, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}
