package probe

import (
	"bytes"
	"encoding/binary"
	"io"

	"github.com/localsupervisor/supervisor/pkg/sdmeta"
)

// Orientation returns the EXIF orientation (1..8) of a JPEG or WebP image,
// or 1 when there is none or it cannot be read. format is the name
// ImageInfo returns ("jpeg", "webp"); other formats always give 1. Only the
// IFD0 Orientation tag is read, with every offset bounds-checked, so broken
// EXIF blocks are harmless.
func Orientation(r io.ReaderAt, format string) int {
	var tiff []byte
	switch format {
	case "jpeg":
		tiff = jpegEXIF(r)
	case "webp":
		tiff = webpEXIF(r)
	}
	if tiff == nil {
		return 1
	}
	return tiffOrientation(tiff)
}

// DisplaySize returns the size an image is shown at after applying an EXIF
// orientation: orientations 5..8 swap width and height.
func DisplaySize(w, h, orientation int) (int, int) {
	if orientation >= 5 && orientation <= 8 {
		return h, w
	}
	return w, h
}

// jpegEXIF returns the TIFF block of the first APP1 "Exif" segment.
func jpegEXIF(r io.ReaderAt) []byte {
	var hdr [4]byte
	off := int64(2)
	if _, err := r.ReadAt(hdr[:2], 0); err != nil || hdr[0] != 0xFF || hdr[1] != 0xD8 {
		return nil
	}
	for range 64 { // a real file has a handful of segments before SOS
		if _, err := r.ReadAt(hdr[:], off); err != nil || hdr[0] != 0xFF {
			return nil
		}
		m := hdr[1]
		if m == 0xDA || m == 0xD9 {
			return nil
		}
		n := int64(binary.BigEndian.Uint16(hdr[2:]))
		if n < 2 {
			return nil
		}
		if m == 0xE1 && n > 8 {
			seg := make([]byte, n-2)
			if _, err := r.ReadAt(seg, off+4); err != nil {
				return nil
			}
			if bytes.HasPrefix(seg, []byte("Exif\x00\x00")) {
				return seg[6:]
			}
		}
		off += 2 + n
	}
	return nil
}

// maxEXIF bounds how much of a WebP EXIF chunk is read.
const maxEXIF = 1 << 20

// webpEXIF returns the TIFF block of a WebP EXIF chunk (with or without the
// "Exif\0\0" prefix some writers add).
func webpEXIF(r io.ReaderAt) []byte {
	var data []byte
	walkRIFF(r, func(fourcc string, off, size int64) bool {
		if fourcc != "EXIF" {
			return true
		}
		if size > maxEXIF {
			return false
		}
		data = make([]byte, size)
		if _, err := r.ReadAt(data, off); err != nil {
			data = nil
		}
		return false
	})
	return bytes.TrimPrefix(data, []byte("Exif\x00\x00"))
}

// walkRIFF calls fn for each top-level chunk of a RIFF file (offset of the
// chunk data and its size) until fn returns false or the chunks run out.
func walkRIFF(r io.ReaderAt, fn func(fourcc string, off, size int64) bool) {
	var h [8]byte
	off := int64(12)
	for range 1 << 16 {
		if _, err := r.ReadAt(h[:], off); err != nil {
			return
		}
		size := int64(binary.LittleEndian.Uint32(h[4:]))
		if !fn(string(h[:4]), off+8, size) {
			return
		}
		off += 8 + size + size&1 // chunks are padded to even length
	}
}

// tiffOrientation reads tag 0x0112 from IFD0 of a TIFF block.
func tiffOrientation(t []byte) int {
	if len(t) < 8 {
		return 1
	}
	bo, ok := sdmeta.TIFFByteOrder(t)
	if !ok {
		return 1
	}
	ifd := int64(bo.Uint32(t[4:8]))
	if ifd < 8 || ifd+2 > int64(len(t)) {
		return 1
	}
	n := int64(bo.Uint16(t[ifd:]))
	for i := range n {
		e := ifd + 2 + i*12
		if e+12 > int64(len(t)) {
			return 1
		}
		if bo.Uint16(t[e:]) != 0x0112 {
			continue
		}
		var v int
		switch bo.Uint16(t[e+2:]) {
		case 3: // SHORT
			v = int(bo.Uint16(t[e+8:]))
		case 4: // LONG, seen from some broken writers
			v = int(bo.Uint32(t[e+8:]))
		}
		if v >= 1 && v <= 8 {
			return v
		}
		return 1
	}
	return 1
}

// maxWebPFrame bounds the size of an animation frame we copy into memory.
const maxWebPFrame = 64 << 20

// firstWebPFrame rebuilds the first frame of an animated WebP as a still
// WebP, because golang.org/x/image/webp (and ffmpeg 5) cannot decode
// animations. It returns false for still images. The frame is wrapped in a
// VP8X header carrying the frame's size so that the decoder cross-checks
// the VP8/VP8L bitstream dimensions against it.
func firstWebPFrame(r io.ReaderAt) (io.Reader, bool) {
	var canvasW, canvasH uint32
	animated := false
	var frame []byte
	walkRIFF(r, func(fourcc string, off, size int64) bool {
		switch fourcc {
		case "VP8X":
			var b [10]byte
			if size != 10 {
				return false
			}
			if _, err := r.ReadAt(b[:], off); err != nil {
				return false
			}
			animated = b[0]&0x02 != 0
			canvasW = le24(b[4:]) + 1
			canvasH = le24(b[7:]) + 1
			return animated
		case "ANMF":
			if size < 16+8 || size > maxWebPFrame {
				return false
			}
			frame = make([]byte, size)
			if _, err := r.ReadAt(frame, off); err != nil {
				frame = nil
			}
			return false
		}
		return true
	})
	if !animated || frame == nil {
		return nil, false
	}
	w, h := le24(frame[6:])+1, le24(frame[9:])+1
	if w > canvasW || h > canvasH {
		return nil, false
	}
	sub := frame[16:]
	var flags byte
	// Sub-chunks: optional ALPH then VP8 or VP8L.
	for p := 0; p+8 <= len(sub); {
		sz := int(binary.LittleEndian.Uint32(sub[p+4:]))
		if string(sub[p:p+4]) == "ALPH" {
			flags |= 0x10
		}
		if p+8+sz > len(sub) {
			return nil, false
		}
		p += 8 + sz + sz&1
	}
	var out bytes.Buffer
	out.WriteString("RIFF")
	binary.Write(&out, binary.LittleEndian, uint32(4+18+len(sub)))
	out.WriteString("WEBPVP8X")
	binary.Write(&out, binary.LittleEndian, uint32(10))
	out.Write([]byte{flags, 0, 0, 0})
	out.Write(le24b(w - 1))
	out.Write(le24b(h - 1))
	out.Write(sub)
	return &out, true
}

func le24(b []byte) uint32 { return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 }

func le24b(v uint32) []byte { return []byte{byte(v), byte(v >> 8), byte(v >> 16)} }
