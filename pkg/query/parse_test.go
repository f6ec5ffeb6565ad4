package query

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

var testNow = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

func opts() Options { return Options{Now: testNow} }

// describe writes the typed value of a term for the table ("-" if none).
func describe(t *Term) string {
	switch {
	case t.Num != nil:
		return "num " + ivl(t.Num.Lo, t.Num.Hi, t.Num.LoIncl, t.Num.HiIncl, func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) })
	case t.Similar != nil:
		return fmt.Sprintf("similar %d~%d", t.Similar.MediaID, t.Similar.Distance)
	case t.Seed != nil:
		return "seed " + ivl(t.Seed.Lo, t.Seed.Hi, t.Seed.LoIncl, t.Seed.HiIncl, func(u uint64) string { return strconv.FormatUint(u, 10) })
	case t.Time != nil:
		f := func(x time.Time) string {
			if x.IsZero() {
				return "open"
			}
			return x.Format(time.RFC3339)
		}
		return "time [" + f(t.Time.From) + "," + f(t.Time.To) + ")"
	case t.Enum != "":
		return "enum " + t.Enum
	}
	return "-"
}

func ivl[T any](lo, hi *T, li, hi2 bool, f func(T) string) string {
	var b strings.Builder
	if lo == nil {
		b.WriteString("(-inf")
	} else {
		b.WriteString(map[bool]string{true: "[", false: "("}[li] + f(*lo))
	}
	b.WriteByte(',')
	if hi == nil {
		b.WriteString("inf)")
	} else {
		b.WriteString(f(*hi) + map[bool]string{true: "]", false: ")"}[hi2])
	}
	return b.String()
}

// noPos copies a tree with every Pos zeroed, for structural comparison.
func noPos(n Node) Node {
	switch x := n.(type) {
	case *And:
		c := &And{}
		for _, it := range x.Items {
			c.Items = append(c.Items, noPos(it))
		}
		return c
	case *Or:
		c := &Or{}
		for _, it := range x.Items {
			c.Items = append(c.Items, noPos(it))
		}
		return c
	case *Not:
		return &Not{X: noPos(x.X)}
	case *Text:
		c := *x
		c.Pos = 0
		return &c
	case *Term:
		c := *x
		c.Pos = 0
		return &c
	}
	return n
}

func sameTree(a, b Node) bool { return reflect.DeepEqual(noPos(a), noPos(b)) }

var validCases = []struct {
	in, want string
	typed    string // describe() of the first term, "" = not checked
}{
	{"juggernaut", "juggernaut", ""},
	{"  1girl   solo ", "1girl solo", ""},
	{`"red dress"`, `"red dress"`, ""},
	{`"he said \"hi\""`, `"he said \"hi\""`, ""},
	{`"C:\path\x"`, `"C:\path\x"`, ""},
	{`"a\\" "b\\\"c\\\\"`, `"a\\" "b\\\"c\\\\"`, ""},
	{"sci-fi", "sci-fi", ""},
	{"image(1).png", "image(1).png", ""},
	{"foo* ^bar NEAR AND NOT or", "foo* ^bar NEAR AND NOT or", ""},
	{"12:30 é:x :3", "12:30 é:x :3", ""},
	{`a"b`, `a"b`, ""},
	{"tag:1girl", "tag:1girl", "-"},
	{"tag:1gi*", "tag:1gi*", "-"},
	{"TAG:Solo", "tag:Solo", "-"},
	{"model:juggernautXL_v8", "model:juggernautXL_v8", "-"},
	{`model:"juggernaut xl"`, `model:"juggernaut xl"`, "-"},
	{`model:">x"`, `model:">x"`, "-"},
	{"width:512", "w:512", "num [512,512]"},
	{"stars:>=2", "rating:>=2", "num [2,inf)"},
	{"steps:>30", "steps:>30", "num (30,inf)"},
	{"steps:<30", "steps:<30", "num (-inf,30)"},
	{"steps:<=30", "steps:<=30", "num (-inf,30]"},
	{"steps:20..40", "steps:20..40", "num [20,40]"},
	{"steps:..40", "steps:..40", "num (-inf,40]"},
	{"steps:20..", "steps:20..", "num [20,inf)"},
	{"steps:30..30", "steps:30..30", "num [30,30]"},
	{`steps:"30"`, "steps:30", "num [30,30]"},
	{"cfg:7", "cfg:7", "num [7,7]"},
	{"denoise:<0.5", "denoise:<0.5", "num (-inf,0.5)"},
	{"cfg:-1.5..+2", "cfg:-1.5..+2", "num [-1.5,2]"},
	{"size:>2MB", "size:>2MB", "num (2097152,inf)"},
	{"size:1.5gb", "size:1.5gb", "num [1610612736,1610612736]"},
	{"size:500", "size:500", "num [500,500]"},
	{"size:10kB..1TB", "size:10kB..1TB", "num [10240,1099511627776]"},
	{"dur:>30s", "dur:>30s", "num (30,inf)"},
	{"dur:90", "dur:90", "num [90,90]"},
	{"dur:2m", "dur:2m", "num [120,120]"},
	{"dur:1.5H", "dur:1.5H", "num [5400,5400]"},
	{"dur:1:30", "dur:1:30", "num [90,90]"},
	{"duration:1:02:03", "dur:1:02:03", "num [3723,3723]"},
	{"ratio:16:9", "ratio:16:9", "num [1.7777777777777777,1.7777777777777777]"},
	{"ratio:>1", "ratio:>1", "num (1,inf)"},
	{"ratio:1.5..16:9", "ratio:1.5..16:9", "num [1.5,1.7777777777777777]"},
	{"seed:123456789012345678", "seed:123456789012345678", "seed [123456789012345678,123456789012345678]"},
	{"seed:18446744073709551615", "seed:18446744073709551615", "seed [18446744073709551615,18446744073709551615]"},
	{"seed:007", "seed:007", "seed [7,7]"},
	{"seed:>=10", "seed:>=10", "seed [10,inf)"},
	{"seed:1000..1010", "seed:1000..1010", "seed [1000,1010]"},
	{"similar:123", "similar:123", "similar 123~10"},
	{"similar:123~0", "similar:123~0", "similar 123~0"},
	{"similar:7~11", "similar:7~11", "similar 7~11"},
	{"nsfw:true", "nsfw:true", "enum yes"},
	{"nsfw:0", "nsfw:0", "enum no"},
	{"nsfw:No", "nsfw:No", "enum no"},
	{"type:VIDEO", "type:VIDEO", "enum video"},
	{`type:"image"`, "type:image", "enum image"},
	{"has:prompt is:broken", "has:prompt is:broken", "enum prompt"},
	{"created:2026", "created:2026", "time [2026-01-01T00:00:00Z,2027-01-01T00:00:00Z)"},
	{"created:2026-11", "created:2026-11", "time [2026-11-01T00:00:00Z,2026-12-01T00:00:00Z)"},
	{"created:2026-02-28", "created:2026-02-28", "time [2026-02-28T00:00:00Z,2026-03-01T00:00:00Z)"},
	{"created:>2026-11", "created:>2026-11", "time [2026-12-01T00:00:00Z,open)"},
	{"created:>=2026-11", "created:>=2026-11", "time [2026-11-01T00:00:00Z,open)"},
	{"created:<2026-11", "created:<2026-11", "time [open,2026-11-01T00:00:00Z)"},
	{"created:<=2026-11", "created:<=2026-11", "time [open,2026-12-01T00:00:00Z)"},
	{"created:2026-11..2026-12", "created:2026-11..2026-12", "time [2026-11-01T00:00:00Z,2027-01-01T00:00:00Z)"},
	{"created:..2025", "created:..2025", "time [open,2026-01-01T00:00:00Z)"},
	{"created:2026-11-05T10:00:00+01:00", "created:2026-11-05T10:00:00+01:00", "time [2026-11-05T09:00:00Z,2026-11-05T09:00:01Z)"},
	{"imported:7d", "imported:7d", "time [2026-11-28T12:00:00Z,open)"},
	{"imported:24h", "imported:24h", "time [2026-12-04T12:00:00Z,open)"},
	{"imported:2w", "imported:2w", "time [2026-11-21T12:00:00Z,open)"},
	{"imported:3m", "imported:3m", "time [2026-09-05T12:00:00Z,open)"},
	{"imported:1Y", "imported:1Y", "time [2025-12-05T12:00:00Z,open)"},
	{"imported:<7d", "imported:<7d", "time [open,2026-11-28T12:00:00Z)"},
	{"imported:30d..7d", "imported:30d..7d", "time [2026-11-05T12:00:00Z,2026-11-28T12:00:00Z)"},
	{"path:/lib/2026/", "path:/lib/2026/", "-"},
	{`folder:"/a/b c"`, `path:"/a/b c"`, "-"},
	{"-tag:nsfw", "-tag:nsfw", "-"},
	{"--a", "--a", ""},
	{`-"a b"`, `-"a b"`, ""},
	{"a OR b", "a OR b", ""},
	{"a b OR c", "a b OR c", ""},
	{"a (b OR c)", "a (b OR c)", ""},
	{"(a OR b) OR (c OR d)", "a OR b OR c OR d", ""},
	{"(a b) (c (d e))", "a b c d e", ""},
	{"((a))", "a", ""},
	{"-(a b)", "-(a b)", ""},
	{"-(a OR b)", "-(a OR b)", ""},
	{"-(a)", "-a", ""},
	{"a OR (b c)", "a OR b c", ""},
	{"a OR(b OR c)", "a OR b OR c", ""},
	{`a OR"b c"`, `a OR "b c"`, ""},
	{"(a)b", "a b", ""},
	{"tag:1girl -nsfw:yes model:jugg steps:>=30 created:2026-11", "tag:1girl -nsfw:yes model:jugg steps:>=30 created:2026-11", "-"},
	{"name:a..b", "name:a..b", "-"},
	{"tag:OR", "tag:OR", "-"},
	{"prompt:(masterpiece)", "prompt:(masterpiece)", "-"},
	{"\u00a0a\u3000b\t", "a b", ""},
}

func TestParseValid(t *testing.T) {
	for _, c := range validCases {
		n, err := Parse(c.in, opts())
		if err != nil {
			t.Errorf("Parse(%q): %v", c.in, err)
			continue
		}
		if got := String(n); got != c.want {
			t.Errorf("String(Parse(%q)) = %q, want %q", c.in, got, c.want)
		}
		if c.typed != "" {
			ts := Terms(n)
			if len(ts) == 0 {
				t.Errorf("Parse(%q): no term", c.in)
			} else if got := describe(ts[0]); got != c.typed {
				t.Errorf("Parse(%q) first term = %s, want %s", c.in, got, c.typed)
			}
		}
		checkRoundTrip(t, c.in, n)
	}
}

func checkRoundTrip(t *testing.T, in string, n Node) {
	t.Helper()
	s := String(n)
	if len(s) > MaxQueryBytes { // see String
		return
	}
	m, err := Parse(s, opts())
	if err != nil {
		t.Errorf("Parse(String(Parse(%q))) = Parse(%q): %v", in, s, err)
		return
	}
	if !sameTree(n, m) {
		t.Errorf("round trip of %q via %q changed the tree:\n%s\n%s", in, s, dump(n), dump(m))
	}
	if s2 := String(m); s2 != s {
		t.Errorf("String not idempotent for %q: %q then %q", in, s, s2)
	}
}

func dump(n Node) string { return fmt.Sprintf("%#v", noPos(n)) }

func TestParseEmpty(t *testing.T) {
	for _, in := range []string{"", " ", "\t\n "} {
		n, err := Parse(in, opts())
		if n != nil || err != nil {
			t.Errorf("Parse(%q) = %v, %v; want nil, nil", in, n, err)
		}
	}
}

func TestParseStructure(t *testing.T) {
	n, err := Parse(`a -(b OR tag:"x y") OR c`, opts())
	if err != nil {
		t.Fatal(err)
	}
	want := &Or{Items: []Node{
		&And{Items: []Node{
			&Text{Value: "a"},
			&Not{X: &Or{Items: []Node{&Text{Value: "b"}, &Term{Field: "tag", Raw: "x y", Quoted: true}}}},
		}},
		&Text{Value: "c"},
	}}
	if !sameTree(n, want) {
		t.Fatalf("got %s", dump(n))
	}
	tm := Terms(n)[0]
	if tm.Pos != 9 {
		t.Errorf("term Pos = %d, want 9", tm.Pos)
	}
}

var invalidCases = []struct {
	in   string
	code string
	pos  int
}{
	{`"abc`, CodeSyntax, 0},
	{`a "b c`, CodeSyntax, 2},
	{`"a\"`, CodeSyntax, 0},
	{"(a", CodeSyntax, 0},
	{"a (b (c)", CodeSyntax, 2},
	{"a)", CodeSyntax, 1},
	{"a)(b", CodeSyntax, 1},
	{")", CodeSyntax, 0},
	{"()", CodeSyntax, 0},
	{"a ( ) b", CodeSyntax, 2},
	{"OR", CodeSyntax, 0},
	{"OR a", CodeSyntax, 0},
	{"a OR", CodeSyntax, 2},
	{"a OR OR b", CodeSyntax, 2},
	{"(a OR)", CodeSyntax, 3},
	{"(OR a)", CodeSyntax, 1},
	{"-", CodeSyntax, 0},
	{"a -", CodeSyntax, 2},
	{"a - b", CodeSyntax, 2},
	{"(-)", CodeSyntax, 1},
	{"-OR", CodeSyntax, 0},
	{`""`, CodeSyntax, 0},
	{`a "  "`, CodeSyntax, 2},
	{"foo(bar baz)", CodeSyntax, 3},
	{"model:", CodeSyntax, 5},
	{"model: x", CodeSyntax, 5},
	{"(model:)", CodeSyntax, 6},
	{"steps:>", CodeSyntax, 6},
	{"steps:>=", CodeSyntax, 6},
	{`model:""`, CodeSyntax, 6},
	{`model:"abc`, CodeSyntax, 6},
	{"steps:>1..5", CodeSyntax, 6},
	{"foo:bar", CodeUnknownField, 0},
	{"a Foo:bar", CodeUnknownField, 2},
	{"http://x", CodeUnknownField, 0},
	{"C:\\x", CodeUnknownField, 0},
	{"steps:abc", CodeBadValue, 6},
	{"steps:1.5", CodeBadValue, 6},
	{"steps:99999999999999999999", CodeBadValue, 6},
	{"steps:20..x", CodeBadValue, 10},
	{"steps:40..20", CodeBadValue, 6},
	{"steps:..", CodeBadValue, 6},
	{"cfg:1e3", CodeBadValue, 4},
	{"cfg:NaN", CodeBadValue, 4},
	{"cfg:inf", CodeBadValue, 4},
	{"cfg:0x10", CodeBadValue, 4},
	{"cfg:1.2.3", CodeBadValue, 4},
	{"seed:-1", CodeBadValue, 5},
	{"similar:abc", CodeBadValue, 8},
	{"similar:0", CodeBadValue, 8},
	{"similar:12~12", CodeBadValue, 11},
	{"similar:12~", CodeBadValue, 11},
	{"similar:>12", CodeBadValue, 8},
	{"similar:1..5", CodeBadValue, 8},
	{"seed:12a", CodeBadValue, 5},
	{"seed:18446744073709551616", CodeBadValue, 5},
	{"seed:+5", CodeBadValue, 5},
	{"size:2XB", CodeBadValue, 5},
	{"size:-2MB", CodeBadValue, 5},
	{"size:MB", CodeBadValue, 5},
	{"dur:1:60", CodeBadValue, 4},
	{"dur:1:2:3:4", CodeBadValue, 4},
	{"dur:10x", CodeBadValue, 4},
	{"ratio:16:0", CodeBadValue, 6},
	{"ratio:0", CodeBadValue, 6},
	{"ratio:a:b", CodeBadValue, 6},
	{"created:2026-13", CodeBadValue, 8},
	{"created:2026-02-30", CodeBadValue, 8},
	{"created:26-11", CodeBadValue, 8},
	{"created:0999", CodeBadValue, 8},
	{"created:7x", CodeBadValue, 8},
	{"created:2026-12..2026-11", CodeBadValue, 8},
	{"imported:7d..30d", CodeBadValue, 9},
	{"imported:7d..7d", CodeBadValue, 9},
	{"imported:999999d", CodeBadValue, 9},
	{"created:2026-11..2026-1x", CodeBadValue, 17},
	{"type:gif", CodeBadValue, 5},
	{"nsfw:maybe", CodeBadValue, 5},
	{"type:>image", CodeBadValue, 5},
	{"model:>x", CodeBadValue, 6},
	{"tag:<=a", CodeBadValue, 4},
	{"path:>/a", CodeBadValue, 5},
	{strings.Repeat("a ", MaxQueryBytes), CodeTooLong, MaxQueryBytes},
	{strings.Repeat("a ", MaxTerms+1), CodeTooLong, 2 * MaxTerms},
	{strings.Repeat("(", MaxDepth+1) + "a" + strings.Repeat(")", MaxDepth+1), CodeTooLong, MaxDepth},
	{strings.Repeat("-", MaxDepth+1) + "a", CodeTooLong, MaxDepth},
	{"a \xff", CodeSyntax, 2},
}

func TestParseInvalid(t *testing.T) {
	for _, c := range invalidCases {
		n, err := Parse(c.in, opts())
		var qe *Error
		if !errors.As(err, &qe) {
			t.Errorf("Parse(%.40q) = %v, %v; want *Error %s", c.in, dump(n), err, c.code)
			continue
		}
		if qe.Code != c.code || qe.Pos != c.pos {
			t.Errorf("Parse(%.40q): %s at %d (%s); want %s at %d", c.in, qe.Code, qe.Pos, qe.Msg, c.code, c.pos)
		}
		if qe.Msg == "" || qe.Error() != qe.Msg || qe.ReasonCode() != qe.Code {
			t.Errorf("Parse(%.40q): incomplete error %+v", c.in, qe)
		}
	}
}

func TestUnknownFieldMessage(t *testing.T) {
	_, err := Parse("x foo:bar", opts())
	var qe *Error
	if !errors.As(err, &qe) || qe.Field != "foo" ||
		!strings.HasPrefix(qe.Msg, `unknown field "foo" at position 2; fields are: caption, cfg,`) {
		t.Fatalf("got %#v", err)
	}
	for in, want := range map[string]string{"modle:x": "model", "Stpes:3": "steps", "heigth:3": "h", "xyz:1": "", "tg:a": "tag"} {
		_, err = Parse(in, opts())
		if !errors.As(err, &qe) || qe.Code != CodeUnknownField {
			t.Fatalf("Parse(%q) = %v", in, err)
		}
		if hint := "(did you mean " + want + ":?)"; strings.Contains(qe.Msg, hint) != (want != "") || want == "" && strings.Contains(qe.Msg, "did you mean") {
			t.Errorf("Parse(%q): %s; want hint %q", in, qe.Msg, want)
		}
	}
	_, err = Parse("steps:abc", opts())
	if !errors.As(err, &qe) || qe.Field != "steps" {
		t.Fatalf("got %#v", err)
	}
}

func TestLimitsAccepted(t *testing.T) {
	for _, in := range []string{
		strings.Repeat("a ", MaxTerms),
		strings.Repeat("(", MaxDepth) + "a" + strings.Repeat(")", MaxDepth),
		strings.Repeat("-", MaxDepth) + "a",
		strings.Repeat("x", MaxQueryBytes),
	} {
		n, err := Parse(in, opts())
		if err != nil {
			t.Errorf("Parse(%.30q…): %v", in, err)
			continue
		}
		checkRoundTrip(t, in, n)
	}
}

func TestJoinWalkTerms(t *testing.T) {
	if Join() != nil || Join(nil, nil) != nil {
		t.Fatal("Join of nothing should be nil")
	}
	a := &Text{Value: "a"}
	if Join(nil, a) != a {
		t.Fatal("Join of one item should be the item")
	}
	q, _ := Parse("b OR c d", opts())
	tag := &Term{Field: "tag", Raw: "x"}
	j := Join(&And{Items: []Node{a, &Text{Value: "e"}}}, nil, q, tag)
	if got := String(j); got != "a e (b OR c d) tag:x" {
		t.Fatalf("String(Join) = %q", got)
	}
	if and, ok := j.(*And); !ok || len(and.Items) != 4 {
		t.Fatalf("Join not flattened: %s", dump(j))
	}
	var seen []string
	Walk(j, func(n Node) bool {
		switch x := n.(type) {
		case *Text:
			seen = append(seen, x.Value)
		case *Or:
			return false
		}
		return true
	})
	if strings.Join(seen, ",") != "a,e" {
		t.Fatalf("Walk skipping Or saw %v", seen)
	}
	n, _ := Parse("tag:x -(model:y OR a) steps:3", opts())
	var fs []string
	for _, tm := range Terms(n) {
		fs = append(fs, tm.Field)
	}
	if strings.Join(fs, ",") != "tag,model,steps" {
		t.Fatalf("Terms = %v", fs)
	}
}

func TestStringBuiltNodes(t *testing.T) {
	// Nodes built by hand (legacy URL filters) with values that are not
	// plain words come out quoted, so they still parse.
	for _, c := range []struct {
		n    Node
		want string
	}{
		{&Text{Value: "a b"}, `"a b"`},
		{&Text{Value: "OR"}, `"OR"`},
		{&Text{Value: "-x"}, `"-x"`},
		{&Text{Value: "tag:x"}, `"tag:x"`},
		{&Term{Field: "tag", Raw: "a b"}, `tag:"a b"`},
		{&Term{Field: "tag", Raw: ">a"}, `tag:">a"`},
		{&Term{Field: "tag", Raw: `a"b`}, `tag:a"b`},
		{&Not{X: &And{Items: []Node{&Text{Value: "a"}}}}, "-a"},
		{&And{Items: []Node{&Or{}, &Text{Value: "a"}}}, "a"},
		{nil, ""},
	} {
		if got := String(c.n); got != c.want {
			t.Errorf("String(%s) = %q, want %q", dump(c.n), got, c.want)
		}
	}
}

func TestNowDefault(t *testing.T) {
	n, err := Parse("imported:1h", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if from := Terms(n)[0].Time.From; from.IsZero() || from.Location() != time.UTC {
		t.Fatalf("From = %v", from)
	}
}

func FuzzParse(f *testing.F) {
	for _, c := range validCases {
		f.Add(c.in)
	}
	for _, c := range invalidCases {
		if len(c.in) < 200 {
			f.Add(c.in)
		}
	}
	f.Fuzz(func(t *testing.T, in string) {
		n, err := Parse(in, opts())
		if err != nil {
			var qe *Error
			if !errors.As(err, &qe) {
				t.Fatalf("Parse(%q): error %T %v is not *Error", in, err, err)
			}
			if qe.Pos < 0 || qe.Pos > len(in) || qe.Msg == "" || qe.Code == "" {
				t.Fatalf("Parse(%q): bad error %+v", in, qe)
			}
			if n != nil {
				t.Fatalf("Parse(%q): node with error", in)
			}
			return
		}
		if n == nil {
			if strings.TrimSpace(in) != "" {
				t.Fatalf("Parse(%q) = nil for a non-blank query", in)
			}
			return
		}
		checkRoundTrip(t, in, n)
	})
}

func BenchmarkParse(b *testing.B) {
	const q = `tag:1girl model:juggernaut steps:>=30 created:2026-11 -"red dress"`
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(q, opts()); err != nil {
			b.Fatal(err)
		}
	}
}
