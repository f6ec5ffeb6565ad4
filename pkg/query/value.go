package query

import (
	"cmp"
	"math"
	"strconv"
	"strings"
	"time"
)

// SeedInterval is the exact range of a KindSeed term (seeds are 64-bit
// unsigned and do not fit a float64): Lo/Hi nil when open. OpEq is
// [v, v]. The canonical decimal text of a bound is
// strconv.FormatUint(*Lo, 10) (seed:007 is seed 7).
type SeedInterval struct {
	Lo, Hi         *uint64
	LoIncl, HiIncl bool
}

// kindWords say in words what a value of each kind looks like, for the
// error messages: example is what a person could type ({f} is the
// field name as typed), expected completes "… is not ___" (read only).
var kindWords = map[Kind]struct{ example, expected string }{
	KindText:     {`{f}:word or {f}:"some words"`, "a value"},
	KindPath:     {`{f}:/folder/ or {f}:"/folder with spaces/"`, "a value"},
	KindEnum:     {"{f}:value", "a value"},
	KindInt:      {"{f}:30 or {f}:>=20", "a whole number like 30"},
	KindFloat:    {"{f}:7 or {f}:<0.5", "a number like 7 or 0.5"},
	KindSeed:     {"{f}:123456789", "a seed: a whole number from 0 to 18446744073709551615"},
	KindSize:     {"{f}:>2MB", "a size like 500KB, 2MB or 1.5GB"},
	KindDuration: {"{f}:>30s", "a duration like 90, 30s, 2m, 1h or 1:30"},
	KindRatio:    {"{f}:16:9 or {f}:>1", "an aspect ratio like 16:9 or 1.78"},
	KindSimilar:  {"{f}:123 or {f}:123~8", "a media number, optionally with ~ and a distance from 0 to 11, like 123~8"},
	KindDate:     {"{f}:2026-11 or {f}:7d", "a date like 2026, 2026-11 or 2026-11-05, or a time back from now like 24h, 7d, 2w, 3m or 1y"},
}

func example(k Kind, name string) string {
	return strings.ReplaceAll(kindWords[k].example, "{f}", name)
}

func expected(k Kind) string { return kindWords[k].expected }

// typeTerm checks t.Raw (and the range split) against the field's kind
// and fills the typed fields. opPos is where an operator would be, v
// where the value text starts.
func typeTerm(t *Term, spec Spec, name string, opPos, v int, now time.Time) error {
	switch spec.Kind {
	case KindText, KindPath:
		if t.Op != OpEq {
			return errAt(CodeBadValue, opPos, t.Field, "%s: takes text, not a comparison (position %d); to search for %q put it in quotes", name, opPos, t.Raw)
		}
		return nil
	case KindSimilar:
		if t.Op != OpEq {
			return errAt(CodeBadValue, opPos, t.Field, "%s: takes a media number like %s, not a comparison (position %d)", name, example(spec.Kind, name), opPos)
		}
		t.Quoted = false
		id, dist, hasDist := strings.Cut(t.Raw, "~")
		ref := &SimilarRef{Distance: DefaultSimilarDistance}
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil || n <= 0 {
			return errAt(CodeBadValue, v, t.Field, "%s: %q at position %d is not %s", name, t.Raw, v, expected(spec.Kind))
		}
		ref.MediaID = n
		if hasDist {
			d, err := strconv.Atoi(dist)
			if err != nil || d < 0 || d > MaxSimilarDistance {
				return errAt(CodeBadValue, v+len(id)+1, t.Field, "%s: the distance %q at position %d is not a whole number from 0 to %d", name, dist, v+len(id)+1, MaxSimilarDistance)
			}
			ref.Distance = d
		}
		t.Similar = ref
		return nil
	case KindEnum:
		if t.Op != OpEq {
			return errAt(CodeBadValue, opPos, t.Field, "%s: takes one of %s, not a comparison (position %d)", name, strings.Join(spec.Values, ", "), opPos)
		}
		t.Quoted = false
		e := strings.ToLower(t.Raw)
		if len(spec.Values) == 2 && spec.Values[0] == "yes" && spec.Values[1] == "no" {
			switch e {
			case "true", "1":
				e = "yes"
			case "false", "0":
				e = "no"
			}
		}
		for _, a := range spec.Values {
			if a == e {
				t.Enum = e
				return nil
			}
		}
		return errAt(CodeBadValue, v, t.Field, "%s: %q at position %d is not one of %s", name, t.Raw, v, strings.Join(spec.Values, ", "))
	}
	// Numbers, seeds and dates: quotes are only delimiters.
	lo, hi := t.Raw, ""
	loPos, hiPos := v, v
	if !t.Quoted {
		if k := strings.Index(t.Raw, ".."); k >= 0 {
			if t.Op != OpEq {
				return errAt(CodeSyntax, opPos, t.Field, "%s: a range a..b cannot follow a comparison (position %d): write %s:a..b or %s:>a", name, opPos, name, name)
			}
			t.Op = OpRange
			lo, hi = t.Raw[:k], t.Raw[k+2:]
			hiPos = v + k + 2
			t.Raw, t.Hi = lo, hi
			if lo == "" && hi == "" {
				return errAt(CodeBadValue, v, t.Field, "%s: the range at position %d needs at least one end, like %s", name, v, example(spec.Kind, name))
			}
		}
	}
	t.Quoted = false
	bad := func(pos int, val string) error {
		return errAt(CodeBadValue, pos, t.Field, "%s: %q at position %d is not %s", name, val, pos, expected(spec.Kind))
	}
	reversed := func() error {
		return errAt(CodeBadValue, loPos, t.Field, "%s: the range %s..%s at position %d is empty: write the lower end first", name, lo, hi, loPos)
	}
	switch spec.Kind {
	case KindSeed:
		si := &SeedInterval{}
		var err error
		si.Lo, si.Hi, si.LoIncl, si.HiIncl, err = ends(t.Op, lo, hi, loPos, hiPos, parseSeed, bad, reversed)
		t.Seed = si
		return err
	case KindDate:
		var lp, hp period
		if lo != "" {
			var ok bool
			if lp, ok = parseDate(lo, now); !ok {
				return bad(loPos, lo)
			}
		}
		if hi != "" {
			var ok bool
			if hp, ok = parseDate(hi, now); !ok {
				return bad(hiPos, hi)
			}
		}
		ti := &TimeInterval{}
		switch t.Op {
		case OpEq:
			ti.From = lp.from
			if !lp.instant {
				ti.To = lp.to
			}
		case OpGt:
			ti.From = lp.to
		case OpGe:
			ti.From = lp.from
		case OpLt:
			ti.To = lp.from
		case OpLe:
			ti.To = lp.to
		case OpRange:
			ti.From, ti.To = lp.from, hp.to
		}
		if !ti.From.IsZero() && !ti.To.IsZero() && !ti.From.Before(ti.To) {
			return reversed()
		}
		t.Time = ti
		return nil
	}
	in := &Interval{}
	var err error
	in.Lo, in.Hi, in.LoIncl, in.HiIncl, err = ends(t.Op, lo, hi, loPos, hiPos,
		func(s string) (float64, bool) { return parseNumber(spec.Kind, s) }, bad, reversed)
	t.Num = in
	return err
}

// ends parses the given ends of a value (lo alone for the one-value
// operators) and turns them and the operator into interval ends.
func ends[T cmp.Ordered](op Op, lo, hi string, loPos, hiPos int, parse func(string) (T, bool),
	bad func(pos int, val string) error, reversed func() error) (l, h *T, li, hi2 bool, err error) {
	var vl, vh *T
	for _, e := range []struct {
		s   string
		pos int
		dst **T
	}{{lo, loPos, &vl}, {hi, hiPos, &vh}} {
		if e.s == "" {
			continue
		}
		v, ok := parse(e.s)
		if !ok {
			return nil, nil, false, false, bad(e.pos, e.s)
		}
		*e.dst = &v
	}
	if vl != nil && vh != nil && *vl > *vh {
		return nil, nil, false, false, reversed()
	}
	l, h, li, hi2 = bounds(op, vl, vh)
	return l, h, li, hi2, nil
}

// bounds turns an operator and its value(s) into interval ends: lo is
// the value for the one-value operators.
func bounds[T any](op Op, lo, hi *T) (l, h *T, li, hi2 bool) {
	switch op {
	case OpEq:
		return lo, lo, true, true
	case OpGt:
		return lo, nil, false, false
	case OpGe:
		return lo, nil, true, false
	case OpLt:
		return nil, lo, false, false
	case OpLe:
		return nil, lo, false, true
	}
	return lo, hi, lo != nil, hi != nil
}

func parseSeed(s string) (uint64, bool) {
	if !allDigits(s) {
		return 0, false
	}
	u, err := strconv.ParseUint(s, 10, 64)
	return u, err == nil
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// decimal parses digits with at most one "." (and a sign when signed):
// no exponents, hex, Inf or NaN that strconv.ParseFloat would take.
func decimal(s string, signed bool) (float64, bool) {
	body := s
	if signed && body != "" && (body[0] == '-' || body[0] == '+') {
		body = body[1:]
	}
	digits, dots := 0, 0
	for i := 0; i < len(body); i++ {
		switch c := body[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.':
			dots++
		default:
			return 0, false
		}
	}
	if digits == 0 || dots > 1 {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

var sizeUnits = []struct {
	suffix string
	mul    float64
}{{"tb", 1 << 40}, {"gb", 1 << 30}, {"mb", 1 << 20}, {"kb", 1 << 10}, {"b", 1}}

func parseNumber(k Kind, s string) (float64, bool) {
	switch k {
	case KindInt:
		body := strings.TrimLeft(s, "+-")
		if len(s)-len(body) > 1 || !allDigits(body) {
			return 0, false
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n > 1<<53 || n < -(1<<53) {
			return 0, false
		}
		return float64(n), true
	case KindFloat:
		return decimal(s, true)
	case KindSize:
		ls := strings.ToLower(s)
		mul := 1.0
		for _, u := range sizeUnits {
			if strings.HasSuffix(ls, u.suffix) {
				ls, mul = ls[:len(ls)-len(u.suffix)], u.mul
				break
			}
		}
		f, ok := decimal(ls, false)
		if !ok || math.IsInf(f*mul, 0) {
			return 0, false
		}
		return f * mul, true
	case KindDuration:
		return parseDuration(s)
	case KindRatio:
		if a, b, ok := strings.Cut(s, ":"); ok {
			x, ok1 := decimal(a, false)
			y, ok2 := decimal(b, false)
			if !ok1 || !ok2 || x <= 0 || y <= 0 {
				return 0, false
			}
			return x / y, true
		}
		f, ok := decimal(s, false)
		return f, ok && f > 0
	}
	return 0, false
}

// parseDuration reads seconds: 90, 30s, 2m, 1.5h, 1:30 (m:s), 1:02:03.
func parseDuration(s string) (float64, bool) {
	if strings.Contains(s, ":") {
		parts := strings.Split(s, ":")
		if len(parts) > 3 {
			return 0, false
		}
		total := 0.0
		for i, p := range parts {
			last := i == len(parts)-1
			var f float64
			var ok bool
			if last {
				f, ok = decimal(p, false)
			} else if allDigits(p) {
				f, ok = decimal(p, false)
			}
			if !ok || (i > 0 && f >= 60) {
				return 0, false
			}
			total = total*60 + f
		}
		return total, !math.IsInf(total, 0)
	}
	mul := 1.0
	if s != "" {
		switch s[len(s)-1] {
		case 's', 'S':
			s = s[:len(s)-1]
		case 'm', 'M':
			s, mul = s[:len(s)-1], 60
		case 'h', 'H':
			s, mul = s[:len(s)-1], 3600
		}
	}
	f, ok := decimal(s, false)
	if !ok || math.IsInf(f*mul, 0) {
		return 0, false
	}
	return f * mul, true
}

// period is what a date value denotes: [from, to), or for a relative
// value the instant from (= to).
type period struct {
	from, to time.Time
	instant  bool
}

// maxRelative bounds N in 7d etc. (far beyond any library's age, small
// enough for every unit to stay a valid time).
const maxRelative = 100000

func parseDate(s string, now time.Time) (period, bool) {
	if len(s) >= 2 && allDigits(s[:len(s)-1]) && strings.ContainsRune("hHdDwWmMyY", rune(s[len(s)-1])) {
		n, err := strconv.Atoi(s[:len(s)-1])
		if err != nil || n > maxRelative {
			return period{}, false
		}
		var p time.Time
		switch s[len(s)-1] | 0x20 { // lower case
		case 'h':
			p = now.Add(-time.Duration(n) * time.Hour)
		case 'd':
			p = now.AddDate(0, 0, -n)
		case 'w':
			p = now.AddDate(0, 0, -7*n)
		case 'm':
			p = now.AddDate(0, -n, 0)
		default: // 'y'
			p = now.AddDate(-n, 0, 0)
		}
		return period{from: p, to: p, instant: true}, true
	}
	switch len(s) {
	case 4, 7, 10:
		parts := strings.Split(s, "-")
		if len(parts) != (len(s)+1)/3 {
			return period{}, false
		}
		num := [3]int{0, 1, 1}
		for i, p := range parts {
			want := 2
			if i == 0 {
				want = 4
			}
			if len(p) != want || !allDigits(p) {
				return period{}, false
			}
			num[i], _ = strconv.Atoi(p)
		}
		y, m, d := num[0], num[1], num[2]
		if y < 1000 || m < 1 || m > 12 || d < 1 {
			return period{}, false
		}
		from := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
		if from.Day() != d { // Feb 30 rolls over
			return period{}, false
		}
		switch len(parts) {
		case 1:
			return period{from: from, to: from.AddDate(1, 0, 0)}, true
		case 2:
			return period{from: from, to: from.AddDate(0, 1, 0)}, true
		}
		return period{from: from, to: from.AddDate(0, 0, 1)}, true
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil || t.Year() < 1000 {
		return period{}, false
	}
	t = t.UTC()
	return period{from: t, to: t.Add(time.Second)}, true
}
