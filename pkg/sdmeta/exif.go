package sdmeta

import (
	"bytes"
	"encoding/binary"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// A small bounded TIFF/IFD reader. EXIF libraries either return
// UserComment/XPComment as undecoded bytes (so we would decode them
// ourselves anyway) or have panicked on hostile input in the past; this
// reader only needs a dozen tags, checks every offset against the buffer
// and follows at most maxIFDs directories, each visited once.

const (
	maxIFDs       = 8
	maxIFDEntries = 1024
)

type exifTag struct {
	name string
	kind int // 0 text, 1 short int, 2 user comment, 3 UTF-16LE (XP*)
}

var (
	ifd0Tags = map[uint16]exifTag{
		0x010E: {"ImageDescription", 0},
		0x010F: {"Make", 0},
		0x0110: {"Model", 0},
		0x0131: {"Software", 0},
		0x013B: {"Artist", 0},
		0x8298: {"Copyright", 0},
		0x0112: {"Orientation", 1},
		0x9C9B: {"XPTitle", 3},
		0x9C9C: {"XPComment", 3},
		0x9C9D: {"XPAuthor", 3},
		0x9C9E: {"XPKeywords", 3},
		0x9C9F: {"XPSubject", 3},
		0x9286: {"UserComment", 2}, // some writers put it in IFD0
	}
	exifIFDTags = map[uint16]exifTag{
		0x9286: {"UserComment", 2},
		0x9003: {"DateTimeOriginal", 0},
		0x010E: {"ImageDescription", 0},
	}
)

// TIFFByteOrder returns the byte order a TIFF block (an EXIF payload)
// declares in its first two bytes, "II" little endian or "MM" big endian;
// ok is false for anything else, including a block shorter than that.
// probe's EXIF orientation reader uses it too.
func TIFFByteOrder(b []byte) (bo binary.ByteOrder, ok bool) {
	if len(b) < 2 {
		return nil, false
	}
	switch string(b[:2]) {
	case "II":
		return binary.LittleEndian, true
	case "MM":
		return binary.BigEndian, true
	}
	return nil, false
}

// parseTIFF reads a TIFF-structured EXIF block (without the "Exif\0\0"
// prefix) and adds exif entries named "<SECTION>.<Tag>".
func parseTIFF(b []byte, c *collector, _ string) {
	if len(b) < 8 {
		c.res.warn("exif_truncated")
		return
	}
	bo, ok := TIFFByteOrder(b)
	if !ok {
		c.res.warn("exif_bad_byte_order")
		return
	}
	if bo.Uint16(b[2:4]) != 42 {
		c.res.warn("exif_bad_magic")
		return
	}
	type todo struct {
		off     uint32
		section string
	}
	queue := []todo{{bo.Uint32(b[4:8]), "IFD0"}}
	seen := map[uint32]bool{}
	for n := 0; len(queue) > 0 && n < maxIFDs; n++ {
		t := queue[0]
		queue = queue[1:]
		if t.off == 0 || seen[t.off] {
			continue
		}
		seen[t.off] = true
		off := int64(t.off)
		if off+2 > int64(len(b)) {
			c.res.warn("exif_bad_offset", t.section)
			continue
		}
		cnt := int(bo.Uint16(b[off : off+2]))
		if cnt > maxIFDEntries {
			c.res.warn("exif_too_many_entries", t.section)
			cnt = maxIFDEntries
		}
		tags := ifd0Tags
		if t.section == "EXIF" {
			tags = exifIFDTags
		}
		p := off + 2
		for i := 0; i < cnt; i++ {
			if p+12 > int64(len(b)) {
				c.res.warn("exif_truncated", t.section)
				break
			}
			e := b[p : p+12]
			p += 12
			tag := bo.Uint16(e[0:2])
			typ := bo.Uint16(e[2:4])
			count := bo.Uint32(e[4:8])
			if t.section == "IFD0" && (tag == 0x8769) {
				queue = append(queue, todo{bo.Uint32(e[8:12]), "EXIF"})
				continue
			}
			def, ok := tags[tag]
			if !ok || t.section == "IFD1" {
				continue
			}
			val, ok := ifdValue(b, e, bo, typ, count)
			if !ok {
				c.res.warn("exif_bad_value", t.section+"."+def.name)
				continue
			}
			var s string
			switch def.kind {
			case 0:
				s = exifText(val)
			case 1:
				if len(val) >= 2 {
					s = strconv.Itoa(int(bo.Uint16(val[:2])))
				}
			case 2:
				var w string
				s, w = decodeUserComment(val, bo)
				if w != "" {
					c.res.warn(w, t.section+"."+def.name)
				}
			case 3:
				s = decodeUTF16(val, binary.LittleEndian)
			}
			if strings.TrimSpace(s) != "" {
				c.add(SourceEXIF, t.section+"."+def.name, s)
			}
		}
		if t.section == "IFD0" && p+4 <= int64(len(b)) {
			queue = append(queue, todo{bo.Uint32(b[p : p+4]), "IFD1"})
		}
	}
}

// ifdValue returns the bytes of an entry's value, bounds-checked.
func ifdValue(b, e []byte, bo binary.ByteOrder, typ uint16, count uint32) ([]byte, bool) {
	var size uint64
	switch typ {
	case 1, 2, 6, 7:
		size = 1
	case 3, 8:
		size = 2
	case 4, 9, 11:
		size = 4
	case 5, 10, 12:
		size = 8
	default:
		return nil, false
	}
	total := size * uint64(count)
	if total <= 4 {
		return e[8 : 8+total], true
	}
	off := uint64(bo.Uint32(e[8:12]))
	if off+total > uint64(len(b)) {
		return nil, false
	}
	return b[off : off+total], true
}

// exifText decodes an ASCII tag: NUL-terminated, often UTF-8 in practice.
func exifText(v []byte) string {
	if i := bytes.IndexByte(v, 0); i >= 0 {
		v = v[:i]
	}
	return latin1OrUTF8(v)
}

// decodeUserComment decodes the EXIF UserComment: an 8-byte character-code
// prefix (ASCII, UNICODE, JIS, or undefined NULs) then the text. UNICODE is
// UTF-16 in either byte order (A1111/piexif writes big endian whatever the
// TIFF order; others follow the TIFF order), with or without BOM and
// trailing NULs. It returns the text and a warning code ("" if none).
func decodeUserComment(v []byte, bo binary.ByteOrder) (string, string) {
	if len(v) < 8 {
		return strings.TrimRight(latin1OrUTF8(v), "\x00 "), ""
	}
	prefix, body := string(v[:8]), v[8:]
	switch {
	case strings.HasPrefix(prefix, "UNICODE"):
		return decodeUTF16Guess(body, bo)
	case strings.HasPrefix(prefix, "ASCII"), prefix == "\x00\x00\x00\x00\x00\x00\x00\x00":
		return strings.TrimRight(latin1OrUTF8(trimNUL(body)), " "), ""
	case strings.HasPrefix(prefix, "JIS"):
		// No JIS X 0208 decoder here; keep UTF-8 when valid, else
		// Latin-1 so nothing is lost.
		t := trimNUL(body)
		if utf8.Valid(t) {
			return string(t), ""
		}
		return latin1OrUTF8(t), "exif_jis_not_decoded"
	default:
		// No known prefix: some writers omit it entirely.
		return strings.TrimRight(latin1OrUTF8(trimNUL(v)), " "), ""
	}
}

func trimNUL(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return b
}

// decodeUTF16Guess picks the byte order from a BOM, else from where the
// zero bytes of ASCII-range characters fall, else from the TIFF order.
func decodeUTF16Guess(b []byte, bo binary.ByteOrder) (string, string) {
	warn := ""
	if len(b)%2 == 1 {
		b = b[:len(b)-1]
		warn = "exif_utf16_odd_length"
	}
	if len(b) >= 2 {
		switch {
		case b[0] == 0xFE && b[1] == 0xFF:
			return decodeUTF16(b[2:], binary.BigEndian), warn
		case b[0] == 0xFF && b[1] == 0xFE:
			return decodeUTF16(b[2:], binary.LittleEndian), warn
		}
	}
	var zeroEven, zeroOdd int
	lim := len(b)
	if lim > 4096 {
		lim = 4096
	}
	for i := 0; i+1 < lim; i += 2 {
		if b[i] == 0 && b[i+1] != 0 {
			zeroEven++
		}
		if b[i+1] == 0 && b[i] != 0 {
			zeroOdd++
		}
	}
	switch {
	case zeroEven > zeroOdd:
		bo = binary.BigEndian
	case zeroOdd > zeroEven:
		bo = binary.LittleEndian
	}
	return decodeUTF16(b, bo), warn
}

func decodeUTF16(b []byte, bo binary.ByteOrder) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		u = append(u, bo.Uint16(b[i:i+2]))
	}
	for len(u) > 0 && u[len(u)-1] == 0 {
		u = u[:len(u)-1]
	}
	// utf16.Decode maps unpaired surrogates to U+FFFD, so the result is
	// always valid UTF-8.
	return string(utf16.Decode(u))
}
