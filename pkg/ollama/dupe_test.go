package ollama_test

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"os"
	"reflect"
	"sort"
	"strconv"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/ollama"
)

// clusteredVectors returns n vectors in groups of 3 near-duplicates.
func clusteredVectors(n, dims int, seed int64) [][]float32 {
	rng := rand.New(rand.NewSource(seed))
	out := make([][]float32, n)
	var base []float32
	for i := range out {
		if i%3 == 0 {
			base = make([]float32, dims)
			for d := range base {
				base[d] = float32(rng.NormFloat64())
			}
		}
		v := make([]float32, dims)
		for d := range v {
			v[d] = base[d] + float32(rng.NormFloat64()*0.15)
		}
		out[i] = v
	}
	return out
}

func buildIndex(vecs [][]float32) *ollama.VectorIndex {
	ix := ollama.NewVectorIndex(len(vecs[0]), len(vecs))
	for i, v := range vecs {
		ix.Add(int64(i+1), v, "")
	}
	return ix
}

func allIDs(n int) []int64 {
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = int64(i + 1)
	}
	return ids
}

func TestDupeHintsIncrementalEqualsFull(t *testing.T) {
	opts := ollama.DupeOptions{TopK: 2, Threshold: 0.9}
	vecs := clusteredVectors(60, 32, 1)
	full := ollama.DupeHints(buildIndex(vecs), allIDs(60), nil, opts)

	// Phase 1 indexes the first 30 media, phase 2 adds the rest as seeds.
	first := ollama.DupeHints(buildIndex(vecs[:30]), allIDs(30), nil, opts)
	second := ollama.DupeHints(buildIndex(vecs), allIDs(60)[30:], first, opts)
	got := map[int64][]ollama.Hint{}
	for id, l := range first {
		got[id] = l
	}
	for id, l := range second {
		got[id] = l
	}
	if !reflect.DeepEqual(got, full) {
		t.Fatalf("incremental != full\nincremental: %v\nfull: %v", got, full)
	}
	// Near-duplicates find each other, and the relation is symmetric.
	if len(full[1]) == 0 || full[1][0].MediaID != 2 && full[1][0].MediaID != 3 {
		t.Errorf("hints of 1 = %v", full[1])
	}
	for id, list := range full {
		for _, h := range list {
			if !containsHint(full[h.MediaID], id) && len(full[h.MediaID]) < opts.TopK {
				t.Errorf("%d→%d not symmetric", id, h.MediaID)
			}
		}
	}

	// Changing one vector rebuilds every list that mentioned it.
	vecs2 := append([][]float32(nil), vecs...)
	vecs2[1] = clusteredVectors(3, 32, 99)[0]
	fullAfter := ollama.DupeHints(buildIndex(vecs2), allIDs(60), nil, opts)
	inc := ollama.DupeHints(buildIndex(vecs2), []int64{2}, full, opts)
	merged := map[int64][]ollama.Hint{}
	for id, l := range full {
		merged[id] = l
	}
	for id, l := range inc {
		merged[id] = l
	}
	if !reflect.DeepEqual(merged, fullAfter) {
		t.Fatalf("after change: incremental != full\n%v\n%v", merged, fullAfter)
	}
}

func containsHint(list []ollama.Hint, id int64) bool {
	for _, h := range list {
		if h.MediaID == id {
			return true
		}
	}
	return false
}

func TestDupeHintsDomainSplitAndRejects(t *testing.T) {
	ix := ollama.NewVectorIndex(3, 4)
	if ix.Add(9, []float32{0, 0, 0}, "") || ix.Add(9, []float32{1, 2}, "") {
		t.Fatal("zero or short vectors must be rejected")
	}
	ix.Add(1, []float32{1, 0, 0}, "photo")
	ix.Add(2, []float32{1, 0.01, 0}, "anime")
	ix.Add(3, []float32{1, 0.02, 0}, "")
	h := ollama.DupeHints(ix, []int64{1, 2, 3}, nil, ollama.DupeOptions{TopK: 5, Threshold: 0.5, DomainSplit: true})
	if containsHint(h[1], 2) || !containsHint(h[1], 3) {
		t.Errorf("domain split: %v", h[1])
	}
	h = ollama.DupeHints(ix, []int64{1, 2, 3}, nil, ollama.DupeOptions{TopK: 5, Threshold: 0.5})
	if !containsHint(h[1], 2) || h[1][0].Score > 1 || h[1][0].Reason != ollama.DupeReason {
		t.Errorf("no split: %v", h[1])
	}
}

func TestRunDupeHintsStored(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	r.fake.SetDims(8)
	var ids []int64
	for i := 0; i < 4; i++ {
		id := addMedia(t, r.db, "image")
		ids = append(ids, id)
		cap := "a fox in snow"
		if i == 3 {
			cap = "a city at night"
		}
		// Identical captions ⇒ identical fake vectors, except for media 4.
		if _, err := r.proc.Process(ctx, ollama.ModeEmbed, ollama.Inputs{MediaID: id, Caption: cap}, ollama.JobRef{}); err != nil {
			t.Fatal(err)
		}
	}
	run, err := r.store.RunDupeHints(ctx, "nomic-embed-text:latest", ollama.DupeOptions{TopK: 8, Threshold: 0.99}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if run.Vectors != 4 || run.Seeds != 4 || run.Updated != 4 {
		t.Fatalf("run = %+v", run)
	}
	top := r.meta(t, ids[0], "ollama.dupe_hints.top")["ollama.dupe_hints.top"]
	want := fmt.Sprintf(`[{"media_id":%d,"score":1,"reason":"embedding_text_cosine"},{"media_id":%d,"score":1,"reason":"embedding_text_cosine"}]`, ids[1], ids[2])
	if top != want {
		t.Errorf("top = %s\nwant %s", top, want)
	}
	if top := r.meta(t, ids[3], "ollama.dupe_hints.top")["ollama.dupe_hints.top"]; top != "[]" {
		t.Errorf("unrelated media top = %s", top)
	}
	// A second run has no seeds and writes nothing.
	run, err = r.store.RunDupeHints(ctx, "nomic-embed-text:latest", ollama.DupeOptions{TopK: 8, Threshold: 0.99}, 0)
	if err != nil || run.Seeds != 0 || run.Updated != 0 {
		t.Fatalf("second run = %+v %v", run, err)
	}
	// A new duplicate updates the older media symmetrically.
	id5 := addMedia(t, r.db, "image")
	if _, err := r.proc.Process(ctx, ollama.ModeEmbed, ollama.Inputs{MediaID: id5, Caption: "a city at night"}, ollama.JobRef{}); err != nil {
		t.Fatal(err)
	}
	run, err = r.store.RunDupeHints(ctx, "nomic-embed-text:latest", ollama.DupeOptions{TopK: 8, Threshold: 0.99}, 0)
	if err != nil || run.Seeds != 1 || run.Updated != 2 {
		t.Fatalf("third run = %+v %v", run, err)
	}
	if top := r.meta(t, ids[3], "ollama.dupe_hints.top")["ollama.dupe_hints.top"]; top != fmt.Sprintf(`[{"media_id":%d,"score":1,"reason":"embedding_text_cosine"}]`, id5) {
		t.Errorf("older media not updated: %s", top)
	}
}

func randomIndex(n, dims int) *ollama.VectorIndex {
	rng := rand.New(rand.NewSource(1))
	ix := ollama.NewVectorIndex(dims, n)
	v := make([]float32, dims)
	for i := 0; i < n; i++ {
		for d := range v {
			v[d] = float32(rng.NormFloat64())
		}
		ix.Add(int64(i+1), v, "")
	}
	return ix
}

// BenchmarkDupeHints100k measures one incremental run: 100 new media
// against an index of 100,000 vectors of 768 dimensions.
func BenchmarkDupeHints100k(b *testing.B) {
	const n, dims, seeds = 100_000, 768, 100
	ix := randomIndex(n, dims)
	ids := allIDs(n)[n-seeds:]
	b.ResetTimer()
	for b.Loop() {
		ollama.DupeHints(ix, ids, nil, ollama.DupeOptions{TopK: 8, Threshold: 0.92})
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N)/seeds, "ms/seed")
}

// TestDupeHintsMatchBruteForce compares a full DupeHints run (pairs of
// seeds computed once and mirrored) against a naive all-pairs reference
// for several worker counts (block splits), with domains mixed in.
func TestDupeHintsMatchBruteForce(t *testing.T) {
	const n, dims = 47, 24
	vecs := clusteredVectors(n, dims, 7)
	domains := []string{"", "photo", "anime"}
	ix := ollama.NewVectorIndex(dims, n)
	for i, v := range vecs {
		ix.Add(int64(i+1), v, domains[(i/3)%3])
	}
	opts := ollama.DupeOptions{TopK: 3, Threshold: 0.85, DomainSplit: true}
	// Reference: the same float32 dot over normalised vectors, all pairs.
	norm := func(v []float32) []float32 {
		var s float64
		for _, x := range v {
			s += float64(x) * float64(x)
		}
		inv := float32(1 / math.Sqrt(s))
		out := make([]float32, len(v))
		for i, x := range v {
			out[i] = x * inv
		}
		return out
	}
	want := map[int64][]ollama.Hint{}
	for i := range vecs {
		var cands []ollama.Hint
		for j := range vecs {
			di, dj := domains[(i/3)%3], domains[(j/3)%3]
			if i == j || di != "" && dj != "" && di != dj {
				continue
			}
			a, b := norm(vecs[i]), norm(vecs[j])
			var s0, s1, s2, s3 float32
			for k := 0; k < dims; k += 4 {
				s0, s1, s2, s3 = s0+a[k]*b[k], s1+a[k+1]*b[k+1], s2+a[k+2]*b[k+2], s3+a[k+3]*b[k+3]
			}
			if s := s0 + s1 + s2 + s3; s >= float32(opts.Threshold) {
				cands = append(cands, ollama.Hint{MediaID: int64(j + 1), Score: math.Round(math.Min(float64(s), 1)*1e6) / 1e6, Reason: ollama.DupeReason})
			}
		}
		sort.Slice(cands, func(x, y int) bool {
			return cands[x].Score > cands[y].Score || cands[x].Score == cands[y].Score && cands[x].MediaID < cands[y].MediaID
		})
		want[int64(i+1)] = append([]ollama.Hint{}, cands[:min(len(cands), opts.TopK)]...)
	}
	hits := 0
	for _, l := range want {
		hits += len(l)
	}
	if hits < n {
		t.Fatalf("fixture too sparse: %d hints for %d media", hits, n)
	}
	for _, workers := range []int{1, 2, 5, 64} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			o := opts
			o.Workers = workers
			if got := ollama.DupeHints(ix, allIDs(n), nil, o); !reflect.DeepEqual(got, want) {
				t.Fatalf("full run differs from brute force\ngot:  %v\nwant: %v", got, want)
			}
		})
	}
}

// BenchmarkDupeHintsFullRun measures a first run in which every vector is
// new (all pairs, each computed once): 10,000 × 768 by default, which
// takes seconds; SV_BENCH_DUPE_N=100000 measures a whole 100k library
// (minutes: the work grows with N²).
func BenchmarkDupeHintsFullRun(b *testing.B) {
	n := 10_000
	if v, err := strconv.Atoi(os.Getenv("SV_BENCH_DUPE_N")); err == nil && v > 0 {
		n = v
	}
	ix := randomIndex(n, 768)
	ids := allIDs(n)
	b.ResetTimer()
	for b.Loop() {
		ollama.DupeHints(ix, ids, nil, ollama.DupeOptions{TopK: 8, Threshold: 0.92})
	}
	b.ReportMetric(float64(n)*float64(n-1)/2/(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e9)/1e6, "Mpairs/s")
}
