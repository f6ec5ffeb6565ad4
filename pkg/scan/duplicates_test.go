package scan_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/scan"
	"github.com/localsupervisor/supervisor/pkg/svtest/pngtest"
)

// TestMoveDuplicatePolicies (issue #17 item 5): what move mode does with
// a duplicate's source: "move" (default) puts it under the duplicates
// folder at its relative path, never over another file (a name holding
// other bytes gets " (1)"); "keep" leaves it (and a later scan does not
// examine it again); "delete" removes it. The bytes always exist
// somewhere: the catalogued copy holds them, verified by SHA-256.
func TestMoveDuplicatePolicies(t *testing.T) {
	content := pngtest.PNG(9, 9, 3)
	for _, policy := range []string{"", scan.DupMove, scan.DupKeep, scan.DupDelete} {
		t.Run("policy_"+policy, func(t *testing.T) {
			ctx := context.Background()
			d := openDB(t)
			im := newImporter(d, testRoots(t), scan.ModeMove)
			im.Duplicates = policy
			in := t.TempDir()
			os.WriteFile(filepath.Join(in, "a.png"), content, 0o644)
			if s, err := im.ScanPath(ctx, in, scan.RunOptions{}); err != nil || s.Imported != 1 {
				t.Fatalf("%+v %v", s, err)
			}
			dup := filepath.Join(in, "sub", "b.png")
			os.MkdirAll(filepath.Dir(dup), 0o755)
			os.WriteFile(dup, content, 0o644)
			// A foreign file already at the duplicate's place: never replaced.
			foreign := filepath.Join(im.DuplicatesDir, "sub", "b.png")
			os.MkdirAll(filepath.Dir(foreign), 0o755)
			os.WriteFile(foreign, []byte("not mine"), 0o644)
			s, err := im.ScanPath(ctx, in, scan.RunOptions{})
			if err != nil || s.Duplicates != 1 {
				t.Fatalf("%+v %v", s, err)
			}
			_, srcErr := os.Stat(dup)
			aside, asideErr := os.ReadFile(filepath.Join(im.DuplicatesDir, "sub", "b (1).png"))
			if f, _ := os.ReadFile(foreign); string(f) != "not mine" {
				t.Fatal("a file under the duplicates folder was replaced")
			}
			switch policy {
			case "", scan.DupMove:
				if srcErr == nil || asideErr != nil || !bytes.Equal(aside, content) || s.DuplicatesMoved != 1 {
					t.Fatalf("not moved aside intact: src %v aside %v moved %d", srcErr, asideErr, s.DuplicatesMoved)
				}
			case scan.DupKeep:
				if srcErr != nil || asideErr == nil {
					t.Fatalf("not kept: src %v aside %v", srcErr, asideErr)
				}
				if s, err := im.ScanPath(ctx, in, scan.RunOptions{}); err != nil || s.Unchanged != 1 || s.Duplicates != 0 {
					t.Fatalf("kept duplicate examined again: %+v %v", s, err)
				}
			case scan.DupDelete:
				if srcErr == nil || asideErr == nil {
					t.Fatalf("not deleted: src %v aside %v", srcErr, asideErr)
				}
			}
		})
	}
}
