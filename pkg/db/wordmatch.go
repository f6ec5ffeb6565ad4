package db

import (
	"strings"
	"unicode"
)

// The SQL function sv_wordmatch(name, value, phrase) is how the catalog's
// query terms on small vocabularies (model, sampler, scheduler, software,
// LoRA names) match a value "by word prefix, accents folded", the way the
// text index matches free words: the candidate names are the DISTINCT
// values of an indexed column (a skip-ahead scan of the index), the
// function picks the matching ones, and the matching media come from the
// same index by equality. A Go function rather than LIKE because LIKE folds
// neither accents nor word boundaries ("xl" in "juggernautXL_v9").

// WordMatch reports whether value's tokens occur in name as adjacent
// tokens, the last one by prefix (every one whole when phrase). Tokens are
// runs of letters and digits, lower-cased and accent-folded; a change from
// lower to upper case also starts a token ("juggernautXL" is "juggernaut",
// "xl"), so "xl" finds it. A value without tokens matches nothing.
func WordMatch(name, value string, phrase bool) bool {
	want := FoldTokens(value)
	if len(want) == 0 {
		return false
	}
	have := FoldTokens(name)
	// Also the whole runs without the case split, so "juggernautx" (a
	// prefix across the case change) still finds "juggernautXL".
	have = append(have, foldRuns(name, false)...)
	for i := 0; i+len(want) <= len(have); i++ {
		ok := true
		for j, w := range want {
			h := have[i+j]
			last := j == len(want)-1
			if h == w || (last && !phrase && strings.HasPrefix(h, w)) {
				continue
			}
			ok = false
			break
		}
		if ok {
			return true
		}
	}
	return false
}

// FoldTokens splits s into lower-case, accent-folded tokens (see WordMatch).
func FoldTokens(s string) []string { return foldRuns(s, true) }

func foldRuns(s string, caseSplit bool) []string {
	var out []string
	var cur strings.Builder
	prevLower := false
	flush := func() {
		if cur.Len() > 0 {
			out = append(out, cur.String())
			cur.Reset()
		}
	}
	for _, r := range s {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r)) {
			if unicode.IsMark(r) {
				continue // a combining accent: folded away
			}
			flush()
			prevLower = false
			continue
		}
		if caseSplit && prevLower && unicode.IsUpper(r) {
			flush()
		}
		prevLower = unicode.IsLower(r) || unicode.IsDigit(r)
		cur.WriteString(foldRune(r))
	}
	flush()
	return out
}

// foldRune lower-cases r and removes the accent of the Latin letters
// (the unicode61 tokenizer of the text index folds the same ones).
func foldRune(r rune) string {
	r = unicode.ToLower(r)
	if r < 0xC0 {
		return string(r)
	}
	if f, ok := latinFold[r]; ok {
		return f
	}
	return string(r)
}

// latinFold maps accented Latin-1 / Latin Extended-A letters (lower case)
// to their base letters.
var latinFold = func() map[rune]string {
	groups := map[string]string{
		"a": "àáâãäåāăą", "c": "çćĉċč", "d": "ďđ", "e": "èéêëēĕėęě", "g": "ĝğġģ", "h": "ĥħ",
		"i": "ìíîïĩīĭįı", "j": "ĵ", "k": "ķ", "l": "ĺļľŀł", "n": "ñńņňŉ", "o": "òóôõöøōŏő",
		"r": "ŕŗř", "s": "śŝşš", "t": "ţťŧ", "u": "ùúûüũūŭůűų", "w": "ŵ", "y": "ýÿŷ", "z": "źżž",
		"ae": "æ", "oe": "œ", "ss": "ß", "th": "þ",
	}
	m := map[rune]string{}
	for base, letters := range groups {
		for _, r := range letters {
			m[r] = base
		}
	}
	return m
}()

// svWordMatch is the SQL function sv_wordmatch(name, value, phrase):
// 1 when WordMatch, 0 otherwise (NULL name: 0).
func svWordMatch(name, value any, phrase int64) int64 {
	n, ok := sqlText(name)
	v, ok2 := sqlText(value)
	if !ok || !ok2 || !WordMatch(n, v, phrase != 0) {
		return 0
	}
	return 1
}

func sqlText(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case []byte:
		return string(x), x != nil
	}
	return "", false
}
