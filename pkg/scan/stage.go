package scan

import (
	"sync/atomic"
	"time"

	"github.com/localsupervisor/supervisor/pkg/jobs/workerstate"
	"github.com/localsupervisor/supervisor/pkg/library"
	"github.com/localsupervisor/supervisor/pkg/probe"
)

// Copy mode writes each new file's library copy while the examining
// goroutines read it to hash it (one read), into its library root, and
// fsyncs it there, many at once; the writer then only gives the copy its
// destination name (a rename that never replaces, or a link) and fsyncs
// each folder once per batch, before the commit. Before, the writer
// copied, fsynced the file and fsynced its folder one file after the
// other: 145-340 files/s on small images.
const (
	// stageBudget bounds the bytes of staged copies not yet published: the
	// feed runs up to feedDepth files ahead of the writer (far more with a
	// slow tagger), and videos can be large. A file that does not fit is
	// copied by the writer when it places it (library.CopyNew), as before;
	// for a large file the fsync is a small part of its copy anyway.
	stageBudget = 256 << 20
	// stageSyncParallel is how many staged copies are fsynced at once.
	// Concurrent fsyncs on a journalling filesystem share commits; the
	// examining goroutines (one per core) are not held up by them.
	stageSyncParallel = 16
)

// stager stages the library copies of one copy-mode run.
type stager struct {
	roots library.Roots
	// nsfw picks the root a copy is staged in: the default, as the tagger's
	// verdict is not known yet. A copy whose destination is another root
	// is linked there when the roots share a filesystem, else copied again
	// (placeCopy).
	nsfw bool
	// free is what is left of stageBudget.
	free atomic.Int64
}

func newStager(im *Importer) *stager {
	st := &stager{roots: im.Roots, nsfw: im.DefaultNSFW}
	st.free.Store(stageBudget)
	return st
}

// stagedCopy is one file's staged library copy.
type stagedCopy struct {
	*library.Staged
	size int64
	st   *stager
}

// stage starts the staged copy of a file of kind and size, or returns nil
// (no root for it, over budget, not creatable: the writer copies it).
func (st *stager) stage(kind probe.Kind, size int64, mtime time.Time) *stagedCopy {
	root := st.roots.Root(string(kind), st.nsfw)
	if root == "" {
		return nil
	}
	for {
		free := st.free.Load()
		if free < size {
			return nil
		}
		if st.free.CompareAndSwap(free, free-size) {
			break
		}
	}
	s, err := library.Stage(root, mtime)
	if err != nil {
		st.free.Add(size)
		return nil
	}
	return &stagedCopy{Staged: s, size: size, st: st}
}

// publish gives the copy its name dest (library.Staged.Publish) and
// releases it.
func (c *stagedCopy) publish(dest string, ds *library.DirSyncer) error {
	defer c.st.free.Add(c.size)
	return c.Publish(dest, ds)
}

// discard removes the copy and releases it.
func (c *stagedCopy) discard() {
	c.Discard()
	c.st.free.Add(c.size)
}

// dropCopy discards p's staged copy, if it still has one: every path that
// does not publish it (a duplicate, an error, a run that stops) ends here.
func (p *prepared) dropCopy() {
	if p != nil && p.copy != nil {
		p.copy.discard()
		p.copy = nil
	}
}

// hashCopy feeds the hashers and, until it fails, the staged copy: the
// file is read once for both. A failed copy does not fail the hash; the
// writer copies that file itself.
type hashCopy struct {
	hp  hashPair
	c   *stagedCopy
	err error
}

func (h *hashCopy) Write(p []byte) (int, error) {
	h.hp.Write(p)
	if h.err == nil {
		_, h.err = h.c.Write(p)
	}
	return len(p), nil
}

// removeStaleStaged clears the staged copies a killed run left in the
// library roots (library.RemoveStaleTempsIn: a live importer's are kept).
func (im *Importer) removeStaleStaged() {
	for _, root := range im.Roots.All() {
		library.RemoveStaleTempsIn(root, time.Hour, time.Now(), workerstate.ProcessAlive)
	}
}
