// Package dupes finds groups of duplicate media in three tiers — the same
// content (hash.sha256), a perceptual hash within a distance (pkg/similar's
// media_phash) and, when Ollama dupe hints exist, text embeddings at a
// cosine similarity — and resolves a group: the kept media receives what
// the discarded ones had and it lacked, the others are soft-deleted.
// Pairs a person called "not duplicates" are remembered and never grouped
// again.
package dupes

import (
	"cmp"
	"slices"
	"sync"

	"github.com/localsupervisor/supervisor/pkg/phash"
)

// Tiers, strongest first. A group is labelled with the weakest tier whose
// link it needed: two byte-identical PNGs joined to their JPEG export by
// a pHash link make a "phash" group.
const (
	TierExact     = "exact"
	TierPhash     = "phash"
	TierEmbedding = "embedding"
)

// tierRank orders the tiers (a group's label is its highest rank).
var tierRank = map[string]int{TierExact: 0, TierPhash: 1, TierEmbedding: 2}

// tierNames is tierRank inverted.
var tierNames = [...]string{TierExact, TierPhash, TierEmbedding}

// ValidTier reports whether t names a tier.
func ValidTier(t string) bool { _, ok := tierRank[t]; return ok }

// Defaults of Options.
const (
	DefaultEmbeddingThreshold = 0.97
	DefaultMaxGroupSize       = 50
)

// Link says two media look like duplicates: Tier found it, Score orders
// links within a tier (distance for phash, 1 − cosine for embeddings,
// 0 for exact), nearest first.
type Link struct {
	A, B  int64
	Tier  string
	Score float64
}

// Group is one set of duplicates.
type Group struct {
	Tier  string  `json:"tier"`
	Media []int64 `json:"media"`
}

// GroupStats counts what Groups left out.
type GroupStats struct {
	Links     int `json:"links"`
	Dismissed int `json:"dismissed_links"`
	Capped    int `json:"capped_links"`
}

// Pair is an unordered media pair, smaller id first.
type Pair [2]int64

// PairOf orders a and b.
func PairOf(a, b int64) Pair {
	if a > b {
		a, b = b, a
	}
	return Pair{a, b}
}

// Groups joins links transitively (union-find), strongest tier first and
// within a tier nearest first, so a group that reaches maxSize has taken
// its closest members. A link is left out when its two sides already
// hold a pair in dismissed (a pair said "not duplicates" never lands in
// one group, not even through a third media) or when the joined group
// would exceed maxSize. Groups come out ordered by tier, then smallest
// member; members in id order.
func Groups(links []Link, dismissed map[Pair]bool, maxSize int) ([]Group, GroupStats) {
	if maxSize < 2 {
		maxSize = DefaultMaxGroupSize
	}
	st := GroupStats{Links: len(links)}
	slices.SortStableFunc(links, func(x, y Link) int {
		return cmp.Or(tierRank[x.Tier]-tierRank[y.Tier], cmp.Compare(x.Score, y.Score),
			cmp.Compare(x.A, y.A), cmp.Compare(x.B, y.B))
	})
	// Only media with a dismissed pair carry a partner list: the check
	// on a join walks the smaller side's partners.
	partners := map[int64][]int64{}
	for p := range dismissed {
		partners[p[0]] = append(partners[p[0]], p[1])
		partners[p[1]] = append(partners[p[1]], p[0])
	}
	u := newUnion()
	for _, l := range links {
		if l.A == l.B {
			continue
		}
		ra, rb := u.find(l.A), u.find(l.B)
		if ra == rb {
			continue
		}
		if u.size[ra]+u.size[rb] > maxSize {
			st.Capped++
			continue
		}
		if u.blocked(ra, rb, partners) {
			st.Dismissed++
			continue
		}
		u.join(ra, rb, tierRank[l.Tier])
	}
	byRoot := map[int64][]int64{}
	for id := range u.parent {
		r := u.find(id)
		byRoot[r] = append(byRoot[r], id)
	}
	out := make([]Group, 0, len(byRoot))
	for r, ids := range byRoot {
		if len(ids) < 2 {
			continue
		}
		slices.Sort(ids)
		out = append(out, Group{Tier: tierNames[u.rank[r]], Media: ids})
	}
	slices.SortFunc(out, func(x, y Group) int {
		return cmp.Or(tierRank[x.Tier]-tierRank[y.Tier], cmp.Compare(x.Media[0], y.Media[0]))
	})
	return out, st
}

// union is a union-find over media ids with the members of each root
// (for the dismissed-pair check) and the weakest tier rank that joined it.
type union struct {
	parent  map[int64]int64
	size    map[int64]int
	rank    map[int64]int
	members map[int64][]int64
}

func newUnion() *union {
	return &union{parent: map[int64]int64{}, size: map[int64]int{}, rank: map[int64]int{}, members: map[int64][]int64{}}
}

func (u *union) find(x int64) int64 {
	p, ok := u.parent[x]
	if !ok {
		u.parent[x], u.size[x], u.members[x] = x, 1, []int64{x}
		return x
	}
	if p == x {
		return x
	}
	r := u.find(p)
	u.parent[x] = r
	return r
}

// blocked reports whether a member of one side has a dismissed partner in
// the other.
func (u *union) blocked(ra, rb int64, partners map[int64][]int64) bool {
	if len(partners) == 0 {
		return false
	}
	if u.size[ra] > u.size[rb] {
		ra, rb = rb, ra
	}
	for _, m := range u.members[ra] {
		for _, p := range partners[m] {
			if _, ok := u.parent[p]; ok && u.find(p) == rb {
				return true
			}
		}
	}
	return false
}

func (u *union) join(ra, rb int64, rank int) {
	if u.size[ra] < u.size[rb] {
		ra, rb = rb, ra
	}
	u.parent[rb] = ra
	u.size[ra] += u.size[rb]
	u.members[ra] = append(u.members[ra], u.members[rb]...)
	u.rank[ra] = max(u.rank[ra], u.rank[rb], rank)
	delete(u.members, rb)
}

// Hashed is one media's perceptual hash.
type Hashed struct {
	ID   int64
	Hash phash.Hash
}

// PhashLinks returns every pair of hs within maxDist, in memory: the same
// multi-index hashing as pkg/similar's lookup (two hashes within d share
// a 16-bit band within ⌊d/4⌋ bits), with each band's entries counting-
// sorted by band value into one array holding the hash itself, so a
// neighbour value is one contiguous run read in order (no random access
// to hs: at a million hashes that is what the time goes to). Each pair
// is reported once.
func PhashLinks(hs []Hashed, maxDist int) []Link {
	r := maxDist / 4
	n := len(hs)
	// start[b][v] .. start[b][v+1] are the positions in sorted[b] of the
	// hashes whose band b is v.
	var start [4][]int32
	var sorted [4][]bandEntry
	for b := range 4 {
		cnt := make([]int32, 1<<16+1)
		for _, h := range hs {
			cnt[int(phash.Bands(h.Hash)[b])+1]++
		}
		for v := 1; v < len(cnt); v++ {
			cnt[v] += cnt[v-1]
		}
		start[b] = slices.Clone(cnt)
		sorted[b] = make([]bandEntry, n)
		for i, h := range hs {
			v := phash.Bands(h.Hash)[b]
			sorted[b][cnt[v]] = bandEntry{h.Hash, int32(i)}
			cnt[v]++
		}
	}
	// The values within r bits of v are v XOR the values within r bits
	// of 0. The pass goes bucket by bucket: all hashes whose band is v
	// against the bucket of each neighbour value, two contiguous runs
	// compared in cache instead of one scattered lookup per hash.
	masks := phash.BandNeighbours(0, r)
	// One goroutine per band (the bands are independent: each pair is
	// kept by the first band it shares), joined in band order so the
	// result does not depend on scheduling.
	var perBand [4][]Link
	var wg sync.WaitGroup
	for b := range 4 {
		wg.Go(func() {
			st, sb := start[b], sorted[b]
			var links []Link
			for v := range 1 << 16 {
				qs := sb[st[v]:st[v+1]]
				if len(qs) == 0 {
					continue
				}
				for _, m := range masks {
					u := v ^ m
					cs := sb[st[u]:st[u+1]]
					for _, q := range qs {
						for _, c := range cs {
							d := phash.Distance(q.hash, c.hash)
							// Each pair once: from its smaller position,
							// and from the first band the two share.
							if d > maxDist || c.pos <= q.pos || sharedEarlier(phash.Bands(q.hash), phash.Bands(c.hash), b, r) {
								continue
							}
							links = append(links, Link{A: hs[q.pos].ID, B: hs[c.pos].ID, Tier: TierPhash, Score: float64(d)})
						}
					}
				}
			}
			perBand[b] = links
		})
	}
	wg.Wait()
	return slices.Concat(perBand[:]...)
}

// bandEntry is one hash in a band's sorted array, with its position in
// the input.
type bandEntry struct {
	hash phash.Hash
	pos  int32
}

// sharedEarlier reports whether x and y are within r bits in a band
// before b (the pair was then found there).
func sharedEarlier(x, y [4]uint16, b, r int) bool {
	for k := range b {
		if phash.Distance(phash.Hash(x[k]), phash.Hash(y[k])) <= r {
			return true
		}
	}
	return false
}
