package worddiff

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// apply replays a script: it must consume a and b exactly and keep only
// equal elements as equal.
func apply[T comparable](t *testing.T, a, b []T, ops []Op) (edits int) {
	t.Helper()
	i, j := 0, 0
	for _, op := range ops {
		switch op {
		case Equal:
			if i >= len(a) || j >= len(b) || a[i] != b[j] {
				t.Fatalf("equal at a[%d], b[%d] does not hold (%v → %v: %v)", i, j, a, b, ops)
			}
			i++
			j++
		case Delete:
			i++
			edits++
		case Insert:
			j++
			edits++
		}
	}
	if i != len(a) || j != len(b) {
		t.Fatalf("script consumed %d/%d of a and %d/%d of b", i, len(a), j, len(b))
	}
	return edits
}

// lcs is the textbook O(n·m) table: the shortest script has n+m-2·lcs edits.
func lcs[T comparable](a, b []T) int {
	l := make([][]int, len(a)+1)
	for i := range l {
		l[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				l[i][j] = l[i+1][j+1] + 1
			} else {
				l[i][j] = max(l[i+1][j], l[i][j+1])
			}
		}
	}
	return l[0][0]
}

func TestOps(t *testing.T) {
	for _, tc := range []struct {
		name string
		a, b string
		want string // E/D/I per op
	}{
		{"both empty", "", "", ""},
		{"insert all", "", "abc", "III"},
		{"delete all", "abc", "", "DDD"},
		{"equal", "abc", "abc", "EEE"},
		{"replace middle", "abc", "axc", "EDIE"},
		{"insert middle", "ac", "abc", "EIE"},
		{"delete end", "abc", "ab", "EED"},
		{"swap", "ab", "ba", "DEI"},
		{"classic", "abcabba", "cbabac", ""}, // checked for length only
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := []byte(tc.a), []byte(tc.b)
			ops := Ops(a, b)
			edits := apply(t, a, b, ops)
			if want := len(a) + len(b) - 2*lcs(a, b); edits != want {
				t.Fatalf("%d edits, shortest is %d", edits, want)
			}
			if tc.want == "" && tc.name != "both empty" {
				return
			}
			var got strings.Builder
			for _, op := range ops {
				got.WriteByte("EDI"[op])
			}
			if got.String() != tc.want {
				t.Fatalf("ops %s, want %s", got.String(), tc.want)
			}
		})
	}
}

// TestOpsShortest checks the script against the LCS length on random
// sequences over small alphabets (many repeats: Myers' hard case).
func TestOpsShortest(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 500 {
		gen := func() []int {
			s := make([]int, r.IntN(30))
			for i := range s {
				s[i] = r.IntN(4)
			}
			return s
		}
		a, b := gen(), gen()
		if got, want := apply(t, a, b, Ops(a, b)), len(a)+len(b)-2*lcs(a, b); got != want {
			t.Fatalf("%v → %v: %d edits, shortest is %d", a, b, got, want)
		}
	}
}

func TestOpsBeyondMaxEdits(t *testing.T) {
	a, b := make([]int, MaxEdits), make([]int, MaxEdits)
	for i := range a {
		a[i], b[i] = i, -i-1
	}
	ops := Ops(a, b)
	if apply(t, a, b, ops) != 2*MaxEdits {
		t.Fatal("disjoint texts must be all deleted and all inserted")
	}
}

func TestWords(t *testing.T) {
	for _, tc := range []struct {
		name, a, b, want string
	}{
		{"same", "a cat, sitting", "a cat, sitting", "a cat, sitting"},
		{"spacing only", "a cat,  sitting", "a cat, sitting", "a cat, sitting"},
		{"word replaced", "a red cat", "a blue cat", "a <del>red </del><ins>blue </ins>cat"},
		{"word inserted", "masterpiece, cat", "masterpiece, best quality, cat", "masterpiece, <ins>best quality, </ins>cat"},
		{"word deleted", "1girl, solo, smile", "1girl, smile", "1girl, <del>solo, </del>smile"},
		{"weight changed", "(cat:1.2), dog", "(cat:1.3), dog", "(cat:<del>1.2</del><ins>1.3</ins>), dog"},
		{"from empty", "", "new prompt", "<ins>new prompt</ins>"},
		{"to empty", "old prompt", "", "<del>old prompt</del>"},
		{"escaped", "<lora:a:1>", "<lora:b:1> & x", "&lt;lora:<del>a</del><ins>b</ins>:1&gt; <ins>&amp; x</ins>"},
		{"unicode", "ein Hund läuft", "ein Hündchen läuft", "ein <del>Hund </del><ins>Hündchen </ins>läuft"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := string(HTML(Words(tc.a, tc.b)))
			if got != tc.want {
				t.Fatalf("\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestChanges(t *testing.T) {
	spans := Words("a red cat on a mat", "a blue cat on a big mat")
	got, more := Changes(spans, 2)
	if !more || len(got) != 2 || got[0] != (Span{Delete, "red"}) || got[1] != (Span{Insert, "blue"}) {
		t.Fatalf("changes %v more %v", got, more)
	}
	all, _ := Changes(spans, 10)
	if len(all) != 3 || all[2] != (Span{Insert, "big"}) {
		t.Fatalf("all changes %v", all)
	}
	if Same(spans) || !Same(Words("x y", "x  y")) {
		t.Fatal("Same")
	}
}

// BenchmarkWords diffs two 300-word prompts that differ in a few places
// (the compare page's usual case) and two unrelated ones (the worst case
// under MaxEdits).
func BenchmarkWords(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	vocab := strings.Fields("masterpiece best quality 1girl solo smile looking at viewer (detailed:1.2) background night city lights rain <lora:x:0.8>")
	words := func(n int) []string {
		w := make([]string, n)
		for i := range w {
			w[i] = vocab[r.IntN(len(vocab))]
		}
		return w
	}
	base := words(300)
	edited := append([]string(nil), base...)
	for i := 0; i < len(edited); i += 40 {
		edited[i] = "changed"
	}
	b.Run("similar", func(b *testing.B) {
		x, y := strings.Join(base, ", "), strings.Join(edited, ", ")
		for b.Loop() {
			Words(x, y)
		}
	})
	b.Run("unrelated", func(b *testing.B) {
		x, y := strings.Join(words(300), ", "), strings.Join(words(300), ", ")
		for b.Loop() {
			Words(x, y)
		}
	})
}
