package sdmeta

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"math/rand"

	"github.com/localsupervisor/supervisor/pkg/svtest/pngtest"
)

// Fixture generators: small writers for the containers, so tests cover
// encodings the shared real-world set lacks.

func zlibBytes(s string) []byte {
	var b bytes.Buffer
	w := zlib.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.Bytes()
}

func tEXt(k, v string) []byte { return pngtest.Chunk("tEXt", []byte(k+"\x00"+v)) }
func zTXt(k, v string) []byte {
	return pngtest.Chunk("zTXt", append([]byte(k+"\x00\x00"), zlibBytes(v)...))
}
func iTXt(k, v string, compressed bool) []byte {
	body := []byte(k + "\x00")
	if compressed {
		body = append(body, 1, 0)
		body = append(body, []byte("en\x00"+k+"\x00")...)
		body = append(body, zlibBytes(v)...)
	} else {
		body = append(body, 0, 0)
		body = append(body, []byte("\x00\x00"+v)...)
	}
	return pngtest.Chunk("iTXt", body)
}

// buildPNG writes a PNG with the given chunks before and after an IDAT of
// idatBytes random bytes (not a decodable image; the extractor never
// decodes pixels unless Stealth is set).
func buildPNG(w, h int, before [][]byte, idatBytes int, after [][]byte) []byte {
	var b bytes.Buffer
	b.Write(pngSig)
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = 8, 6
	b.Write(pngtest.Chunk("IHDR", ihdr))
	for _, c := range before {
		b.Write(c)
	}
	rnd := rand.New(rand.NewSource(1))
	for idatBytes > 0 {
		n := min(idatBytes, 65536)
		d := make([]byte, n)
		rnd.Read(d)
		b.Write(pngtest.Chunk("IDAT", d))
		idatBytes -= n
	}
	for _, c := range after {
		b.Write(c)
	}
	b.Write(pngtest.Chunk("IEND", nil))
	return b.Bytes()
}

type tiffTag struct {
	tag   uint16
	typ   uint16
	value []byte // raw bytes (count derived from typ size)
}

// buildTIFF writes IFD0 with ifd0 tags and, if exif is non-empty, an EXIF
// sub-IFD.
func buildTIFF(bo binary.ByteOrder, ifd0, exif []tiffTag) []byte {
	var b bytes.Buffer
	if bo == binary.LittleEndian {
		b.WriteString("II")
	} else {
		b.WriteString("MM")
	}
	hdr := make([]byte, 6)
	bo.PutUint16(hdr[0:], 42)
	bo.PutUint32(hdr[2:], 8)
	b.Write(hdr)
	// Layout: IFD0 at 8, then its data, then EXIF IFD, then its data.
	if len(exif) > 0 {
		ifd0 = append(ifd0, tiffTag{0x8769, 4, nil})
	}
	writeIFD := func(tags []tiffTag, start int, exifOff func() uint32) ([]byte, int) {
		var ifd, data bytes.Buffer
		dataStart := start + 2 + 12*len(tags) + 4
		cnt := make([]byte, 2)
		bo.PutUint16(cnt, uint16(len(tags)))
		ifd.Write(cnt)
		for _, t := range tags {
			e := make([]byte, 12)
			bo.PutUint16(e[0:], t.tag)
			bo.PutUint16(e[2:], t.typ)
			if t.tag == 0x8769 {
				bo.PutUint32(e[4:], 1)
				bo.PutUint32(e[8:], exifOff())
				ifd.Write(e)
				continue
			}
			size := map[uint16]int{1: 1, 2: 1, 3: 2, 4: 4, 7: 1}[t.typ]
			bo.PutUint32(e[4:], uint32(len(t.value)/size))
			if len(t.value) <= 4 {
				copy(e[8:], t.value)
			} else {
				bo.PutUint32(e[8:], uint32(dataStart+data.Len()))
				data.Write(t.value)
				if data.Len()%2 == 1 {
					data.WriteByte(0)
				}
			}
			ifd.Write(e)
		}
		ifd.Write(make([]byte, 4)) // no next IFD
		ifd.Write(data.Bytes())
		return ifd.Bytes(), start + ifd.Len()
	}
	var exifStart int
	// Two passes: first to learn IFD0's size.
	_, end0 := writeIFD(ifd0, 8, func() uint32 { return 0 })
	exifStart = end0
	ifd0Bytes, _ := writeIFD(ifd0, 8, func() uint32 { return uint32(exifStart) })
	b.Write(ifd0Bytes)
	if len(exif) > 0 {
		eb, _ := writeIFD(exif, exifStart, nil)
		b.Write(eb)
	}
	return b.Bytes()
}

func utf16Bytes(s string, bo binary.ByteOrder, nul bool) []byte {
	var out []byte
	for _, r := range s { // test strings are BMP-only
		v := make([]byte, 2)
		bo.PutUint16(v, uint16(r))
		out = append(out, v...)
	}
	if nul {
		out = append(out, 0, 0)
	}
	return out
}

func buildJPEG(segments ...[]byte) []byte {
	var b bytes.Buffer
	b.Write([]byte{0xFF, 0xD8})
	for _, s := range segments {
		b.Write(s)
	}
	// SOF0 for 64x48 and a SOS followed by fake entropy data.
	b.Write([]byte{0xFF, 0xC0, 0, 11, 8, 0, 48, 0, 64, 1, 1, 0x11, 0})
	b.Write([]byte{0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 63, 0})
	b.Write(bytes.Repeat([]byte{0x55}, 1000))
	b.Write([]byte{0xFF, 0xD9})
	return b.Bytes()
}

func jpegSeg(marker byte, data []byte) []byte {
	out := []byte{0xFF, marker, byte((len(data) + 2) >> 8), byte(len(data) + 2)}
	return append(out, data...)
}

func buildWebP(chunks ...[]byte) []byte {
	var body bytes.Buffer
	body.WriteString("WEBP")
	vp8x := make([]byte, 10)
	vp8x[0] = 0x08 // EXIF flag
	vp8x[4], vp8x[7] = 63, 47
	body.Write(riffChunk("VP8X", vp8x))
	body.Write(riffChunk("VP8L", bytes.Repeat([]byte{0x2f}, 101)))
	for _, c := range chunks {
		body.Write(c)
	}
	var b bytes.Buffer
	b.WriteString("RIFF")
	binary.Write(&b, binary.LittleEndian, uint32(body.Len()))
	b.Write(body.Bytes())
	return b.Bytes()
}

func riffChunk(fourcc string, data []byte) []byte {
	var b bytes.Buffer
	b.WriteString(fourcc)
	binary.Write(&b, binary.LittleEndian, uint32(len(data)))
	b.Write(data)
	if len(data)%2 == 1 {
		b.WriteByte(0)
	}
	return b.Bytes()
}
