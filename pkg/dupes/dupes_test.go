package dupes

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/localsupervisor/supervisor/pkg/db/dbtest"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/phash"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/similar"
)

var now = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

// lib is a test library: a real SQLite file with migrations applied.
type lib struct {
	t *testing.T
	d *sql.DB
	n int
}

func newLib(t *testing.T) *lib {
	return &lib{t: t, d: dbtest.Open(t, filepath.Join(t.TempDir(), "DB", "local.sqlite"))}
}

// add inserts a media; name's extension is its format.
func (l *lib) add(name string, w, h int) int64 {
	l.t.Helper()
	l.n++
	id, err := media.Insert(context.Background(), l.d, media.NewMedia{Path: "/lib/" + name, Type: "image", Source: "import",
		Width: w, Height: h, Filesize: int64(w * h), Hash: fmt.Sprint("md5-", l.n)}, now)
	if err != nil {
		l.t.Fatal(err)
	}
	return id
}

func (l *lib) sha(id int64, v string) {
	l.t.Helper()
	if _, err := media.SetMeta(context.Background(), l.d, id, "hash", "hash.sha256", v, now); err != nil {
		l.t.Fatal(err)
	}
}

func (l *lib) phash(id int64, h uint64) {
	l.t.Helper()
	if err := similar.Save(context.Background(), l.d, id, phash.Hash(h), "", now); err != nil {
		l.t.Fatal(err)
	}
}

func (l *lib) count(q string, args ...any) int {
	l.t.Helper()
	var n int
	if err := l.d.QueryRow(q, args...).Scan(&n); err != nil {
		l.t.Fatal(err)
	}
	return n
}

func (l *lib) groups(o Options) []Group {
	l.t.Helper()
	if _, err := Rebuild(context.Background(), l.d, o, now); err != nil {
		l.t.Fatal(err)
	}
	listed, err := List(context.Background(), l.d, "", 0)
	if err != nil {
		l.t.Fatal(err)
	}
	out := []Group{}
	for _, g := range listed {
		var ids []int64
		for _, m := range g.Members {
			ids = append(ids, m.ID)
		}
		out = append(out, Group{Tier: g.Tier, Media: ids})
	}
	return out
}

// flip returns h with the lowest n bits inverted (distance n).
func flip(h uint64, n int) uint64 { return h ^ (1<<n - 1) }

// TestGrouping builds libraries and checks the groups a rebuild stores:
// each tier, refusals and deleted media left out, dismissed pairs never
// grouped again, the transitive join and its cap.
func TestGrouping(t *testing.T) {
	const base = 0x9f3a_5c71_e2d4_8b06
	far := uint64(0x1234_5678_9abc_def0)
	cases := []struct {
		name  string
		setup func(l *lib) []Group
		opts  Options
	}{
		{"exact: same sha256 groups, the newest value counts", func(l *lib) []Group {
			a, b, c, x := l.add("a.png", 64, 64), l.add("b.png", 64, 64), l.add("c.png", 64, 64), l.add("x.png", 64, 64)
			l.sha(a, "s1")
			l.sha(b, "s1")
			l.sha(x, "s1")
			l.sha(x, "s2") // replaced content: no longer a copy
			l.sha(c, "s3")
			return []Group{{TierExact, []int64{a, b}}}
		}, Options{}},
		{"phash: near groups, far does not", func(l *lib) []Group {
			a, b, c := l.add("a.png", 64, 64), l.add("b.jpg", 64, 64), l.add("c.png", 64, 64)
			l.phash(a, base)
			l.phash(b, flip(base, phash.DefaultThreshold))
			l.phash(c, far)
			return []Group{{TierPhash, []int64{a, b}}}
		}, Options{}},
		{"phash: a lower threshold splits", func(l *lib) []Group {
			a, b := l.add("a.png", 64, 64), l.add("b.jpg", 64, 64)
			l.phash(a, base)
			l.phash(b, flip(base, 6))
			return []Group{}
		}, Options{PhashThreshold: 5}},
		{"refusals and missing hashes never group", func(l *lib) []Group {
			a, b, c := l.add("blank1.png", 64, 64), l.add("blank2.png", 64, 64), l.add("tiny.png", 1, 1)
			for _, id := range []int64{a, b} {
				if err := similar.SaveRefusal(context.Background(), l.d, id, phash.CodeLowDetail, "", now); err != nil {
					t.Fatal(err)
				}
			}
			_ = c
			return []Group{}
		}, Options{}},
		{"soft-deleted media are left out", func(l *lib) []Group {
			a, b, c := l.add("a.png", 64, 64), l.add("b.png", 64, 64), l.add("c.png", 64, 64)
			for _, id := range []int64{a, b, c} {
				l.sha(id, "same")
			}
			if err := media.SoftDelete(context.Background(), l.d, c, now); err != nil {
				t.Fatal(err)
			}
			return []Group{{TierExact, []int64{a, b}}}
		}, Options{}},
		{"transitive join labelled with the weakest link", func(l *lib) []Group {
			a, b, c, d := l.add("a.png", 64, 64), l.add("b.png", 64, 64), l.add("c.jpg", 64, 64), l.add("x.png", 64, 64)
			l.sha(a, "s")
			l.sha(b, "s")
			l.phash(b, base)
			l.phash(c, flip(base, 3))
			l.phash(d, far)
			return []Group{{TierPhash, []int64{a, b, c}}}
		}, Options{}},
		{"embedding hints at or above the threshold", func(l *lib) []Group {
			a, b, c := l.add("a.png", 64, 64), l.add("b.png", 64, 64), l.add("c.png", 64, 64)
			top := func(id int64, score float64) string {
				return fmt.Sprintf(`[{"media_id":%d,"score":%g,"reason":"embedding_text_cosine"}]`, id, score)
			}
			for _, m := range []struct {
				id int64
				v  string
			}{{a, top(b, 0.99)}, {b, top(a, 0.99)}, {c, top(a, 0.95)}} {
				if _, err := media.SetMeta(context.Background(), l.d, m.id, "ollama", "ollama.dupe_hints.top", m.v, now); err != nil {
					t.Fatal(err)
				}
			}
			return []Group{{TierEmbedding, []int64{a, b}}}
		}, Options{}},
		{"group size cap keeps the nearest", func(l *lib) []Group {
			ids := []int64{}
			for i := range 4 {
				id := l.add(fmt.Sprintf("p%d.png", i), 64, 64)
				l.phash(id, flip(base, i))
				ids = append(ids, id)
			}
			return []Group{{TierPhash, ids[:3]}}
		}, Options{MaxGroupSize: 3}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := newLib(t)
			want := c.setup(l)
			if got := l.groups(c.opts); !reflect.DeepEqual(got, want) {
				t.Fatalf("groups %v, want %v", got, want)
			}
		})
	}
}

// TestNotDuplicatesRemembered: a dismissed pair drops its group at once
// and stays apart in every later rebuild, also through a third media.
func TestNotDuplicatesRemembered(t *testing.T) {
	l := newLib(t)
	ctx := context.Background()
	a, b := l.add("a.png", 64, 64), l.add("b.png", 64, 64)
	l.sha(a, "s")
	l.sha(b, "s")
	if g := l.groups(Options{}); len(g) != 1 {
		t.Fatalf("before: %v", g)
	}
	if err := NotDuplicates(ctx, l.d, []int64{b, a}, ActionNotDuplicates, cli); err != nil {
		t.Fatal(err)
	}
	if g, err := List(ctx, l.d, "", 0); err != nil || len(g) != 0 {
		t.Fatalf("after dismissal, before a rebuild: %v %v", g, err)
	}
	if n := l.count(`SELECT count(*) FROM audit_log WHERE action = ?`, ActionNotDuplicates); n != 1 {
		t.Fatalf("audit rows of the dismissal: %d", n)
	}
	c := l.add("c.png", 64, 64)
	l.sha(c, "s")
	got := l.groups(Options{})
	// c joins one of them (a, the smaller id, as links go in id
	// order); a and b never share a group.
	if len(got) != 1 || !reflect.DeepEqual(got[0].Media, []int64{a, c}) {
		t.Fatalf("after rebuild: %v", got)
	}
	for _, bad := range []struct {
		ids  []int64
		code string
	}{{[]int64{a}, CodeTooFew}, {[]int64{a, a}, CodeTooFew}, {[]int64{a, 9999}, media.CodeNotFound}} {
		if err := NotDuplicates(ctx, l.d, bad.ids, ActionNotDuplicates, cli); reason.Code(err) != bad.code {
			t.Errorf("NotDuplicates(%v): %v, want %s", bad.ids, err, bad.code)
		}
	}
}

// TestPhashLinksMatchesBruteForce: the in-memory multi-index pass finds
// exactly the pairs a comparison of every pair finds, each once.
func TestPhashLinksMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var hs []Hashed
	for i := range 400 {
		h := r.Uint64()
		if i%4 != 0 && len(hs) > 0 { // near copies of an earlier one
			h = uint64(hs[r.IntN(len(hs))].Hash) ^ (1 << r.IntN(64)) ^ (1 << r.IntN(64)) ^ (1 << r.IntN(64)) ^ (1<<r.IntN(64))*uint64(r.IntN(2))
			for range r.IntN(8) {
				h ^= 1 << r.IntN(64)
			}
		}
		hs = append(hs, Hashed{ID: int64(i + 1), Hash: phash.Hash(h)})
	}
	// Band values at the top of the 16-bit range (0xffff + 1 must not
	// wrap to 0 in the counting sort).
	hs = append(hs, Hashed{ID: 1000, Hash: ^phash.Hash(0)}, Hashed{ID: 1001, Hash: ^phash.Hash(0) ^ 3}, Hashed{ID: 1002, Hash: 0xffff})
	for _, d := range []int{0, 4, 10, 11} {
		want := map[Pair]bool{}
		for i := range hs {
			for j := i + 1; j < len(hs); j++ {
				if phash.Distance(hs[i].Hash, hs[j].Hash) <= d {
					want[PairOf(hs[i].ID, hs[j].ID)] = true
				}
			}
		}
		got := map[Pair]bool{}
		for _, l := range PhashLinks(hs, d) {
			p := PairOf(l.A, l.B)
			if got[p] {
				t.Fatalf("d=%d: pair %v twice", d, p)
			}
			got[p] = true
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("d=%d: %d pairs, want %d", d, len(got), len(want))
		}
	}
}

// BenchmarkGrouping groups 100k and 1M hashes in memory (the SQLite
// reads left out): groups of five near copies among random ones, like
// pkg/similar's benchmark. Run with -bench Grouping -benchtime 1x.
func BenchmarkGrouping(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			r := rand.New(rand.NewPCG(3, 4))
			hs := make([]Hashed, 0, n)
			for len(hs) < n {
				h := r.Uint64()
				for k := range 5 {
					c := h
					for range k {
						c ^= 1 << r.IntN(64)
					}
					hs = append(hs, Hashed{ID: int64(len(hs) + 1), Hash: phash.Hash(c)})
				}
			}
			b.ResetTimer()
			for range b.N {
				links := PhashLinks(hs, phash.DefaultThreshold)
				groups, _ := Groups(links, nil, DefaultMaxGroupSize)
				b.ReportMetric(float64(len(groups)), "groups")
			}
		})
	}
}
