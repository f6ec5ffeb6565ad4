package ollama

import (
	"math"
	"runtime"
	"slices"
	"sync"
)

// DupeReason is the reason stored with every hint.
const DupeReason = "embedding_text_cosine"

// Hint is one entry of ollama.dupe_hints.top.
type Hint struct {
	MediaID int64   `json:"media_id"`
	Score   float64 `json:"score"`
	Reason  string  `json:"reason"`
}

// VectorIndex holds unit-normalised float32 vectors of one model and
// dimension in one contiguous slice, so cosine similarity is a plain dot
// product over cache-friendly memory.
type VectorIndex struct {
	dims   int
	ids    []int64
	pos    map[int64]int
	data   []float32
	domain []string
}

// NewVectorIndex returns an empty index for vectors of dims dimensions.
func NewVectorIndex(dims, capacity int) *VectorIndex {
	return &VectorIndex{dims: dims, pos: make(map[int64]int, capacity),
		ids: make([]int64, 0, capacity), data: make([]float32, 0, capacity*dims), domain: make([]string, 0, capacity)}
}

// Dims returns the vector dimension.
func (ix *VectorIndex) Dims() int { return ix.dims }

// Len returns the number of vectors.
func (ix *VectorIndex) Len() int { return len(ix.ids) }

// Has reports whether the media is indexed.
func (ix *VectorIndex) Has(mediaID int64) bool { _, ok := ix.pos[mediaID]; return ok }

// Add indexes the vector of a media (normalised once here). domain is the
// media's ollama.domain.type ("" = unknown). It returns false for a wrong
// dimension or a zero vector, which have no defined cosine.
func (ix *VectorIndex) Add(mediaID int64, vec []float32, domain string) bool {
	if len(vec) != ix.dims {
		return false
	}
	var norm float64
	for _, v := range vec {
		norm += float64(v) * float64(v)
	}
	if norm == 0 || math.IsNaN(norm) || math.IsInf(norm, 0) {
		return false
	}
	inv := float32(1 / math.Sqrt(norm))
	if p, ok := ix.pos[mediaID]; ok {
		row := ix.data[p*ix.dims : (p+1)*ix.dims]
		for i, v := range vec {
			row[i] = v * inv
		}
		ix.domain[p] = domain
		return true
	}
	ix.pos[mediaID] = len(ix.ids)
	ix.ids = append(ix.ids, mediaID)
	ix.domain = append(ix.domain, domain)
	for _, v := range vec {
		ix.data = append(ix.data, v*inv)
	}
	return true
}

func (ix *VectorIndex) row(p int) []float32 { return ix.data[p*ix.dims : (p+1)*ix.dims] }

func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return s0 + s1 + s2 + s3
}

// DupeOptions configures DupeHints.
type DupeOptions struct {
	TopK      int
	Threshold float64
	// DomainSplit compares only media of the same domain type when both
	// have one.
	DomainSplit bool
	// Workers bounds parallel scans (default GOMAXPROCS).
	Workers int
}

// topK keeps the k best hints, sorted by score desc, then media id.
func insertTop(list []Hint, h Hint, k int) []Hint {
	i := slices.IndexFunc(list, func(e Hint) bool {
		return h.Score > e.Score || (h.Score == e.Score && h.MediaID < e.MediaID)
	})
	if i < 0 {
		if len(list) < k {
			return append(list, h)
		}
		return list
	}
	list = slices.Insert(list, i, h)
	if len(list) > k {
		list = list[:k]
	}
	return list
}

// dupeBlock is how many seeds share one pass over the index. A pass reads
// every vector once (100k × 768 float32 = 300 MB); comparing a block of
// seeds per row read makes the scan compute-bound instead of bound by
// memory bandwidth, while the block's query vectors (16 × 3 KB) stay in
// the L1/L2 cache.
const dupeBlock = 16

// mirrorHit is a hit of a scanned media found while scanning another one:
// both are scanned in full, so the pair is computed once and the hint is
// added to the other list afterwards.
type mirrorHit struct {
	pos int
	h   Hint
}

// scanBlock compares each indexed media of ps against all others in one
// pass over the index. inFull marks the positions that are scanned in full
// in this run: a pair of two such media is computed only by the scan of the
// smaller position, which reports the reverse hint as a mirrorHit (halves
// a first run over a whole library).
func (ix *VectorIndex) scanBlock(ps []int, inFull []bool, o DupeOptions) ([][]Hint, []mirrorHit) {
	th := float32(o.Threshold)
	qs := make([][]float32, len(ps))
	for b, p := range ps {
		qs[b] = ix.row(p)
	}
	out := make([][]Hint, len(ps))
	var mirrors []mirrorHit
	for j := range ix.ids {
		r := ix.data[j*ix.dims : (j+1)*ix.dims]
		for b, q := range qs {
			p := ps[b]
			if j == p || inFull[j] && j < p {
				continue
			}
			s := dot(q, r)
			if s < th {
				continue
			}
			if dom := ix.domain[p]; o.DomainSplit && dom != "" && ix.domain[j] != "" && ix.domain[j] != dom {
				continue
			}
			score := round6(float64(s))
			out[b] = insertTop(out[b], Hint{MediaID: ix.ids[j], Score: score, Reason: DupeReason}, o.TopK)
			if inFull[j] {
				mirrors = append(mirrors, mirrorHit{pos: j, h: Hint{MediaID: ix.ids[p], Score: score, Reason: DupeReason}})
			}
		}
	}
	return out, mirrors
}

func round6(f float64) float64 { return math.Round(math.Min(f, 1)*1e6) / 1e6 }

// DupeHints computes hints incrementally and symmetrically. seeds are the
// media whose vectors are new or changed; existing holds the current
// hint lists of other media. Every seed is compared against all indexed
// vectors (O(seeds × N)); a seed that scores above the threshold against
// an older media is merged into that media's list too, so the relation is
// symmetric without rescanning everything. Lists that referred to a
// changed or vanished media are rebuilt by a full scan so no stale score
// survives. The result holds every list that changed.
func DupeHints(ix *VectorIndex, seeds []int64, existing map[int64][]Hint, o DupeOptions) map[int64][]Hint {
	if o.TopK <= 0 {
		o.TopK = DefaultDupeTopK
	}
	if o.Threshold <= 0 {
		o.Threshold = DefaultDupeThreshold
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	isSeed := make(map[int64]bool, len(seeds))
	var full []int
	for _, id := range seeds {
		if p, ok := ix.pos[id]; ok && !isSeed[id] {
			isSeed[id] = true
			full = append(full, p)
		}
	}
	// Old lists that mention a seed (its vector changed) or a media that
	// is no longer indexed need a full rescan; the rest can be merged.
	merged := map[int64][]Hint{}
	for id, list := range existing {
		if isSeed[id] || !ix.Has(id) {
			continue
		}
		stale := slices.ContainsFunc(list, func(h Hint) bool { return isSeed[h.MediaID] || !ix.Has(h.MediaID) })
		if stale {
			full = append(full, ix.pos[id])
			isSeed[id] = true // rebuilt by scan, not merged
		}
	}
	results := make([][]Hint, len(full))
	inFull := make([]bool, ix.Len())
	at := make(map[int]int, len(full)) // position → index in full
	for i, p := range full {
		inFull[p] = true
		at[p] = i
	}
	// Blocks small enough that every worker gets one, at most dupeBlock.
	size := min(dupeBlock, max(1, (len(full)+o.Workers-1)/o.Workers))
	// Mirrored hints are merged into per-media top-k lists as blocks
	// finish, so memory stays bounded by N × TopK even in a library full
	// of near-duplicates.
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		mirrored = make([][]Hint, len(full))
	)
	next := make(chan int)
	for w := 0; w < min(o.Workers, max(len(full), 1)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for lo := range next {
				hi := min(lo+size, len(full))
				lists, mh := ix.scanBlock(full[lo:hi], inFull, o)
				copy(results[lo:hi], lists)
				mu.Lock()
				for _, m := range mh {
					i := at[m.pos]
					mirrored[i] = insertTop(mirrored[i], m.h, o.TopK)
				}
				mu.Unlock()
			}
		}()
	}
	for lo := 0; lo < len(full); lo += size {
		next <- lo
	}
	close(next)
	wg.Wait()
	// insertTop keeps score desc, then id, so the order of merging does
	// not change a list.
	for i := range results {
		for _, h := range mirrored[i] {
			results[i] = insertTop(results[i], h, o.TopK)
		}
		if results[i] == nil {
			results[i] = []Hint{}
		}
	}

	out := make(map[int64][]Hint, len(full))
	for i, p := range full {
		out[ix.ids[p]] = results[i]
	}
	for i, p := range full {
		seed := ix.ids[p]
		for _, h := range results[i] {
			if isSeed[h.MediaID] {
				continue // its own full scan already saw seed
			}
			list, ok := merged[h.MediaID]
			if !ok {
				list = slices.Clone(existing[h.MediaID])
			}
			merged[h.MediaID] = insertTop(list, Hint{MediaID: seed, Score: h.Score, Reason: DupeReason}, o.TopK)
		}
	}
	for id, list := range merged {
		out[id] = list
	}
	return out
}
