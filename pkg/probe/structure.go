package probe

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

// StructureCheck follows a file's bytes in order, as the import hashes
// them, and judges the container structure a truncated or damaged file
// breaks: PNG chunk CRCs and IEND, the JPEG EOI marker, the WebP RIFF size,
// MP4/MOV top-level boxes (each inside the file, moov present, media data
// present) and the Matroska segment size. It decodes nothing, so it costs a
// CRC over a PNG and a byte scan over a JPEG's entropy data; a full decode
// is the integrity_check job's. MP4 sample offsets (stco/co64) are not
// checked here: that needs the sample tables, which the integrity job's
// ffmpeg decode of start and end covers.
//
// Write never fails; Err reports the verdict once every byte was written.
type StructureCheck struct {
	off  int64 // bytes seen
	png  *pngWalker
	jpeg *jpegWalker
	mp4  *boxWalker
	// riffWant, segEnd: file sizes the header promises (0: none).
	riffWant int64
	segEnd   int64
}

// StructureHead is how much of a file's start NewStructureCheck needs (or
// the whole file, when smaller): the Matroska segment header follows the
// EBML header, which is rarely longer than a hundred bytes.
const StructureHead = 4 << 10

// NewStructureCheck returns the check for a file starting with head (its
// first StructureHead bytes or more), or nil when the format has no
// structural check (GIF, BMP, unknown).
func NewStructureCheck(head []byte) *StructureCheck {
	switch {
	case bytes.HasPrefix(head, pngSig):
		return &StructureCheck{png: &pngWalker{}}
	case len(head) >= 3 && head[0] == 0xFF && head[1] == 0xD8 && head[2] == 0xFF:
		return &StructureCheck{jpeg: &jpegWalker{}}
	case len(head) >= 12 && string(head[0:4]) == "RIFF" && string(head[8:12]) == "WEBP":
		return &StructureCheck{riffWant: int64(binary.LittleEndian.Uint32(head[4:8])) + 8}
	case len(head) >= 8 && isBox(string(head[4:8])):
		return &StructureCheck{mp4: &boxWalker{}}
	case len(head) >= 4 && string(head[:4]) == "\x1a\x45\xdf\xa3":
		if end := segmentEnd(head); end > 0 {
			return &StructureCheck{segEnd: end}
		}
	}
	return nil
}

// CheckStructure runs the structural check over the file in r (size
// bytes): the same verdict as streaming it through a StructureCheck, but an
// MP4/MOV is walked box header to box header instead of read in full. It
// returns nil for formats without a check; a read error is transient.
func CheckStructure(r io.ReaderAt, size int64) error {
	head := make([]byte, min(size, StructureHead))
	n, err := r.ReadAt(head, 0)
	if err != nil && err != io.EOF {
		return reason.Transient(CodeNotReadable, err)
	}
	c := NewStructureCheck(head[:n])
	switch {
	case c == nil:
		return nil
	case c.png == nil && c.jpeg == nil && c.mp4 == nil:
		// WebP, Matroska: the head's promise against the size, no read.
		c.off = size
	case c.mp4 != nil:
		var buf [16]byte
		for !c.mp4.stop {
			at := c.mp4.next + int64(c.mp4.nh)
			if at >= size {
				break
			}
			n, err := r.ReadAt(buf[:min(int64(len(buf)), size-at)], at)
			if err != nil && err != io.EOF {
				return reason.Transient(CodeNotReadable, err)
			}
			c.mp4.write(buf[:n], at)
		}
		c.off = size
	default:
		if _, err := io.Copy(c, io.NewSectionReader(r, 0, size)); err != nil {
			return reason.Transient(CodeNotReadable, err)
		}
	}
	return c.Err()
}

var pngSig = []byte("\x89PNG\r\n\x1a\n")

// isBox reports the top-level box types an MP4/MOV may start with (as
// detectISOBMFF).
func isBox(t string) bool {
	switch t {
	case "ftyp", "moov", "mdat", "wide", "pnot", "free", "skip":
		return true
	}
	return false
}

// Write feeds the next bytes of the file.
func (c *StructureCheck) Write(p []byte) (int, error) {
	switch {
	case c.png != nil:
		c.png.write(p)
	case c.jpeg != nil:
		c.jpeg.write(p)
	case c.mp4 != nil:
		c.mp4.write(p, c.off)
	}
	c.off += int64(len(p))
	return len(p), nil
}

// Err is the verdict after the last byte: nil, or a permanent error with
// truncated_file, crc_mismatch, riff_size_mismatch, moov_missing or
// media_data_missing.
func (c *StructureCheck) Err() error {
	size := c.off
	switch {
	case c.png != nil:
		return c.png.verdict()
	case c.jpeg != nil:
		if c.jpeg.st != jDone || !c.jpeg.ok {
			return reason.New(CodeTruncatedFile, "jpeg has no end-of-image marker")
		}
	case c.mp4 != nil:
		return c.mp4.verdict(size)
	case c.riffWant > 0:
		// One pad byte after an odd-sized RIFF is tolerated, as players do.
		if c.riffWant != size && c.riffWant+1 != size {
			return reason.New(CodeRIFFSize, fmt.Sprintf("RIFF size says %d bytes, file has %d", c.riffWant, size))
		}
	case c.segEnd > 0:
		// Data after the segment (junk a live recorder left) is harmless;
		// a segment that ends beyond the file lost its end.
		if c.segEnd > size {
			return reason.New(CodeTruncatedFile, fmt.Sprintf("matroska segment needs %d bytes, file has %d", c.segEnd, size))
		}
	}
	return nil
}

// segmentEnd is the file offset where the Matroska segment after the EBML
// header ends, or 0 when head does not say (unknown size, live streams).
func segmentEnd(head []byte) int64 {
	p := 4
	size, n := readVint(head[p:], true)
	if n == 0 || size > uint64(len(head)) {
		return 0
	}
	p += n + int(size)
	if p >= len(head) {
		return 0
	}
	id, n := readVint(head[p:], false)
	if n == 0 || id != 0x18538067 {
		return 0
	}
	p += n
	size, n = readVint(head[p:], true)
	if n == 0 || size == 1<<(7*n)-1 { // all ones: unknown size
		return 0
	}
	return int64(p+n) + int64(size)
}

// pngWalker checks the chunk sequence: every chunk complete with a
// matching CRC, ending with IEND. Bytes after IEND are ignored.
type pngWalker struct {
	sig    int // signature bytes still to skip
	hdr    [8]byte
	nh     int    // header bytes collected
	left   uint32 // data bytes of the current chunk still to come
	crc    uint32
	ncrc   int
	want   [4]byte
	inData bool
	typ    string
	iend   bool
	err    error
	seen   bool
}

func (w *pngWalker) write(p []byte) {
	if !w.seen {
		w.seen, w.sig = true, len(pngSig)
	}
	for len(p) > 0 && !w.iend && w.err == nil {
		switch {
		case w.sig > 0:
			k := min(w.sig, len(p))
			w.sig -= k
			p = p[k:]
		case w.nh < 8:
			k := copy(w.hdr[w.nh:], p)
			w.nh += k
			p = p[k:]
			if w.nh == 8 {
				w.left = binary.BigEndian.Uint32(w.hdr[:4])
				w.typ = string(w.hdr[4:8])
				w.crc = crc32.Update(0, crc32.IEEETable, w.hdr[4:8])
				w.inData = true
			}
		case w.inData && w.left > 0:
			k := int(min(uint64(w.left), uint64(len(p))))
			w.crc = crc32.Update(w.crc, crc32.IEEETable, p[:k])
			w.left -= uint32(k)
			p = p[k:]
		default:
			w.inData = false
			k := copy(w.want[w.ncrc:], p)
			w.ncrc += k
			p = p[k:]
			if w.ncrc == 4 {
				if binary.BigEndian.Uint32(w.want[:]) != w.crc {
					w.err = reason.New(CodeCRCMismatch, fmt.Sprintf("png %s chunk fails its CRC", w.typ))
					return
				}
				w.iend = w.typ == "IEND"
				w.nh, w.ncrc = 0, 0
			}
		}
	}
}

func (w *pngWalker) verdict() error {
	switch {
	case w.err != nil:
		return w.err
	case w.iend:
		return nil
	case w.nh == 0 && w.sig == 0 && w.seen:
		return reason.New(CodeTruncatedFile, "png ends without its IEND chunk")
	}
	return reason.New(CodeTruncatedFile, "png ends inside a chunk")
}

// jpegWalker follows the JPEG marker structure, including entropy-coded
// scan data, and notes whether an EOI marker properly ends the image. Data
// appended after EOI (motion photos, trailers) is ignored, which a plain
// "ends with FFD9" test would get wrong. Tables (DHT/DQT/DRI) directly
// before EOI count as truncation: encoders only emit them for a scan that
// follows, so a file cut after them and "repaired" with an EOI lost its
// remaining progressive scans.
type jpegWalker struct {
	st     int
	inScan bool
	last   byte // last marker with a segment
	m, hi  byte
	skip   int
	ok     bool
}

const (
	jSOI0 = iota
	jSOI1
	jSeek   // between segments, or inside scan data
	jMarker // after 0xFF
	jLen0
	jLen1
	jSkip
	jDone
	jBad
)

func (j *jpegWalker) write(p []byte) {
	for i := 0; i < len(p); i++ {
		b := p[i]
		switch j.st {
		case jSOI0:
			j.st = jBad
			if b == 0xFF {
				j.st = jSOI1
			}
		case jSOI1:
			j.st = jBad
			if b == 0xD8 {
				j.st = jSeek
			}
		case jSeek:
			if b == 0xFF {
				j.st = jMarker
				continue
			}
			if !j.inScan {
				j.st = jBad // garbage between segments
				continue
			}
			k := bytes.IndexByte(p[i:], 0xFF)
			if k < 0 {
				return
			}
			i += k
			j.st = jMarker
		case jMarker:
			switch {
			case b == 0xFF: // fill byte
			case b == 0x00 && j.inScan, b >= 0xD0 && b <= 0xD7, b == 0x01: // stuffed, RSTn, TEM
				j.st = jSeek
			case b == 0xD9:
				j.ok = j.last != 0xC4 && j.last != 0xDB && j.last != 0xDD
				j.st = jDone
			default:
				j.m, j.st = b, jLen0
			}
		case jLen0:
			j.hi, j.st = b, jLen1
		case jLen1:
			n := int(j.hi)<<8 | int(b)
			if n < 2 {
				j.st = jBad
				continue
			}
			j.skip, j.inScan, j.last, j.st = n-2, j.m == 0xDA, j.m, jSkip
			if j.skip == 0 {
				j.st = jSeek
			}
		case jSkip:
			k := min(j.skip, len(p)-i)
			j.skip -= k
			i += k - 1
			if j.skip == 0 {
				j.st = jSeek
			}
		default: // jDone, jBad
			return
		}
	}
}

// boxWalker follows the top-level boxes of an MP4/MOV file by their size
// fields.
type boxWalker struct {
	next       int64 // offset of the next box header
	hdr        [16]byte
	nh         int  // header bytes collected
	stop       bool // a box reaching to the end, or a size that cannot be followed
	typ        string
	moov, data bool
}

func (w *boxWalker) write(p []byte, off int64) {
	for !w.stop {
		rel := w.next + int64(w.nh) - off
		if rel < 0 || rel >= int64(len(p)) {
			return
		}
		// Collect 8 header bytes, 16 for a 64-bit size: never more than
		// the box holds, so the next header is still ahead.
		want := 8
		if w.nh >= 8 && binary.BigEndian.Uint32(w.hdr[:4]) == 1 {
			want = 16
		}
		w.nh += copy(w.hdr[w.nh:want], p[rel:])
		if w.nh < want {
			return
		}
		if want == 8 && binary.BigEndian.Uint32(w.hdr[:4]) == 1 {
			continue
		}
		w.header()
	}
}

// header takes the collected header of the box at w.next.
func (w *boxWalker) header() {
	size := int64(binary.BigEndian.Uint32(w.hdr[:4]))
	w.typ = string(w.hdr[4:8])
	nh := int64(w.nh)
	w.nh = 0
	switch w.typ {
	case "moov":
		w.moov = true
	case "mdat", "moof":
		w.data = true
	}
	switch {
	case size == 0: // the box runs to the end of the file
		w.stop = true
		return
	case size == 1:
		size = int64(binary.BigEndian.Uint64(w.hdr[8:16]))
	}
	if size < nh {
		w.stop = true // not a size a player could follow; leave it to ffprobe
		return
	}
	w.next += size
}

func (w *boxWalker) verdict(size int64) error {
	switch {
	case w.nh > 0:
		return reason.New(CodeTruncatedFile, fmt.Sprintf("the file ends inside a box header at byte %d", w.next))
	case !w.stop && w.next > size:
		return reason.New(CodeTruncatedFile, fmt.Sprintf("the %s box needs %d bytes, the file has %d", w.typ, w.next, size))
	case !w.moov:
		return reason.New(CodeMoovMissing, "no moov box (movie header): the file is cut short or was never finished")
	case !w.data:
		return reason.New(CodeMediaDataMissing, "no mdat or moof box: the file holds no media data")
	}
	return nil
}
