package sdmeta

import (
	"strings"
	"unicode/utf8"
)

// entry is one raw metadata value as read from the container, untruncated
// (but capped at Options.MaxTextBytes).
type entry struct {
	source, key, value string
}

// collector gathers the entries of one file before interpretation.
type collector struct {
	res     *Result
	opts    Options
	entries []entry
	total   int
	// pngAlpha is set when the PNG header declares an alpha channel
	// (Options.StealthAuto).
	pngAlpha bool
	// c2pa is the C2PA manifest summary, when the file carries one.
	c2pa *c2paInfo
}

// maxEntries bounds the number of raw values kept from one file; a file
// with a million tiny text chunks must not produce a million rows.
const maxEntries = 512

func (c *collector) any() bool { return len(c.entries) > 0 }

// add records a value. Invalid UTF-8 is repaired (SQLite TEXT and JSON need
// valid UTF-8) with a warning.
func (c *collector) add(source, key, value string) {
	if len(c.entries) >= maxEntries {
		c.res.warn("too_many_metadata_entries")
		return
	}
	// Bound the sum too: many chunks each just under the cap add up.
	if c.total+len(value) > 4*c.opts.maxText() {
		c.res.warn("metadata_total_too_large", key)
		return
	}
	if !utf8.ValidString(key) {
		key = strings.ToValidUTF8(key, "\uFFFD")
	}
	if !utf8.ValidString(value) {
		c.res.warn("invalid_utf8", key)
		value = strings.ToValidUTF8(value, "\uFFFD")
	}
	// NUL bytes are never meaningful in these texts and break C strings.
	value = strings.ReplaceAll(value, "\x00", "")
	c.total += len(value)
	c.entries = append(c.entries, entry{source: source, key: key, value: value})
}

// shortKey is the lower-cased text after the last dot, with runs of
// space/_/- folded into one space. (The original kept the dot, so EXIF keys
// never matched; defect 24.)
func shortKey(key string) string {
	k := key
	if i := strings.LastIndexByte(k, '.'); i >= 0 && i+1 < len(k) {
		k = k[i+1:]
	}
	k = strings.ToLower(k)
	var b strings.Builder
	sp := false
	for _, r := range k {
		if r == ' ' || r == '_' || r == '-' {
			if !sp {
				b.WriteByte(' ')
			}
			sp = true
			continue
		}
		sp = false
		b.WriteRune(r)
	}
	return strings.TrimSpace(b.String())
}

// find returns the first entry whose short key equals one of names (given
// in shortKey form), in file order of names' priority.
func (c *collector) find(names ...string) (entry, bool) {
	for _, n := range names {
		for _, e := range c.entries {
			if shortKey(e.key) == n && strings.TrimSpace(e.value) != "" {
				return e, true
			}
		}
	}
	return entry{}, false
}

// truncateRaw cuts s at MaxRawBytes on a rune boundary and appends the
// marker.
func truncateRaw(s string) string {
	if len(s) <= MaxRawBytes {
		return s
	}
	cut := MaxRawBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + TruncatedMarker
}

// latin1OrUTF8 decodes PNG tEXt bytes. The PNG spec says Latin-1, but many
// writers put UTF-8 there; valid UTF-8 is taken as such.
func latin1OrUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}
