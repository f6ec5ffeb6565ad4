// Package pngstream decodes PNG files row by row, keeping only two rows of
// pixel data in memory. Check verifies a whole file the way image/png does
// (chunk CRCs, chunk order, the zlib stream and its checksum, filter bytes,
// IEND) and Scale box-filters the image down while decoding.
//
// It exists because image/png always allocates the full image: a PNG of
// 10000×10000 RGBA inside the configured pixel budget costs 400 MB decoded,
// which a thumbnail or an integrity check does not need (issue #17 item
// 21a). No maintained Go library streams PNG rows; the format makes it
// simple (each row is unfiltered against the previous one only).
//
// Interlaced (Adam7) images are not streamed: their rows arrive in seven
// passes over the whole image. Both functions return ErrInterlaced before
// reading pixel data, and callers decode those fully (under their decode
// budget).
package pngstream

import (
	"bufio"
	"compress/flate"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"hash"
	"hash/crc32"
	"image"
	"io"
)

// ErrInterlaced is returned for Adam7-interlaced images.
var ErrInterlaced = errors.New("pngstream: interlaced PNG cannot be streamed")

// FormatError reports a malformed PNG (as image/png's FormatError does).
type FormatError string

func (e FormatError) Error() string { return "png: invalid format: " + string(e) }

const pngHeader = "\x89PNG\r\n\x1a\n"

// Config is the header of a PNG.
type Config struct {
	Width, Height int
	Depth         uint8
	ColorType     uint8
	Interlaced    bool
}

type decoder struct {
	r   *bufio.Reader
	crc hash.Hash32
	tmp [8]byte
	cfg Config
	// palette holds RGBA per index; entries past PLTE are opaque black,
	// as image/png treats out-of-range indices.
	palette    [256][4]uint8
	hasPalette bool
	// trns is the tRNS chunk of a gray or RGB image (the key colour).
	trns []byte

	// IDAT stream state: bytes left in the current chunk; done once a
	// non-IDAT chunk header was read (then pending holds it).
	idatLeft uint32
	idatDone bool
	pending  *chunkHeader
}

type chunkHeader struct {
	length uint32
	typ    string
}

// Check decodes every row of the PNG in r without keeping the image.
func Check(r io.Reader) error {
	return decode(r, nil, nil)
}

// Scale decodes the PNG in r into an image whose long edge is at most
// maxEdge (aspect kept, never enlarged, sizes as nfnt/resize.Thumbnail
// computes them). Every source pixel is averaged into exactly one output
// pixel (a box filter, alpha-weighted), so a big image does not alias.
func Scale(r io.Reader, maxEdge int) (*image.NRGBA, error) {
	var s *scaler
	err := decode(r, func(c Config) { s = newScaler(c, maxEdge) }, func(y int, px []byte) { s.addRow(y, px) })
	if err != nil {
		return nil, err
	}
	s.flush()
	return s.out, nil
}

// decode runs the decoder; start sees the header before any pixel data,
// row gets each row expanded to 8-bit NRGBA (nil: rows are only verified).
func decode(r io.Reader, start func(Config), row func(y int, nrgba []byte)) error {
	d := &decoder{r: bufio.NewReaderSize(r, 64<<10), crc: crc32.NewIEEE()}
	for i := range d.palette {
		d.palette[i] = [4]uint8{0, 0, 0, 0xff}
	}
	if _, err := io.ReadFull(d.r, d.tmp[:8]); err != nil {
		return unexpected(err)
	}
	if string(d.tmp[:8]) != pngHeader {
		return FormatError("not a PNG file")
	}
	if err := d.readIHDR(); err != nil {
		return err
	}
	if d.cfg.Interlaced {
		return ErrInterlaced
	}
	seenIDAT := false
	for {
		ch, err := d.next()
		if err != nil {
			return err
		}
		switch ch.typ {
		case "PLTE":
			if seenIDAT {
				return FormatError("chunk out of order")
			}
			err = d.readPLTE(ch.length)
		case "tRNS":
			if seenIDAT {
				return FormatError("chunk out of order")
			}
			err = d.readTRNS(ch.length)
		case "IDAT":
			if seenIDAT {
				// Trailing IDAT chunks after the image are ignored, as
				// image/png does.
				err = d.skip(ch.length)
				break
			}
			if d.cfg.ColorType == 3 && !d.hasPalette {
				return FormatError("chunk out of order")
			}
			seenIDAT = true
			if start != nil {
				start(d.cfg)
			}
			d.idatLeft = ch.length
			err = d.readImage(row)
		case "IEND":
			if !seenIDAT {
				return FormatError("no image data")
			}
			if ch.length != 0 {
				return FormatError("bad IEND length")
			}
			return d.verifyCRC()
		default:
			err = d.skip(ch.length)
		}
		if err != nil {
			return err
		}
	}
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// next returns the next chunk header (one the IDAT reader already read,
// or a new one).
func (d *decoder) next() (chunkHeader, error) {
	if d.pending != nil {
		ch := *d.pending
		d.pending = nil
		return ch, nil
	}
	return d.readHeader()
}

func (d *decoder) readHeader() (chunkHeader, error) {
	if _, err := io.ReadFull(d.r, d.tmp[:8]); err != nil {
		return chunkHeader{}, unexpected(err)
	}
	n := binary.BigEndian.Uint32(d.tmp[:4])
	if n > 0x7fffffff {
		return chunkHeader{}, FormatError("chunk too long")
	}
	d.crc.Reset()
	d.crc.Write(d.tmp[4:8])
	return chunkHeader{length: n, typ: string(d.tmp[4:8])}, nil
}

func (d *decoder) verifyCRC() error {
	if _, err := io.ReadFull(d.r, d.tmp[:4]); err != nil {
		return unexpected(err)
	}
	if binary.BigEndian.Uint32(d.tmp[:4]) != d.crc.Sum32() {
		return FormatError("invalid checksum")
	}
	return nil
}

// body reads a whole (small) chunk body and its CRC.
func (d *decoder) body(n uint32) ([]byte, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(d.r, b); err != nil {
		return nil, unexpected(err)
	}
	d.crc.Write(b)
	return b, d.verifyCRC()
}

func (d *decoder) skip(n uint32) error {
	if _, err := io.CopyN(d.crc, d.r, int64(n)); err != nil {
		return unexpected(err)
	}
	return d.verifyCRC()
}

func (d *decoder) readIHDR() error {
	ch, err := d.readHeader()
	if err != nil {
		return err
	}
	if ch.typ != "IHDR" || ch.length != 13 {
		return FormatError("missing IHDR")
	}
	b, err := d.body(13)
	if err != nil {
		return err
	}
	w, h := binary.BigEndian.Uint32(b[0:4]), binary.BigEndian.Uint32(b[4:8])
	if w == 0 || h == 0 || w > 0x7fffffff || h > 0x7fffffff {
		return FormatError("invalid dimensions")
	}
	if b[10] != 0 || b[11] != 0 || b[12] > 1 {
		return FormatError("unsupported compression, filter or interlace method")
	}
	c := Config{Width: int(w), Height: int(h), Depth: b[8], ColorType: b[9], Interlaced: b[12] == 1}
	ok := false
	switch c.ColorType {
	case 0:
		ok = c.Depth == 1 || c.Depth == 2 || c.Depth == 4 || c.Depth == 8 || c.Depth == 16
	case 3:
		ok = c.Depth == 1 || c.Depth == 2 || c.Depth == 4 || c.Depth == 8
	case 2, 4, 6:
		ok = c.Depth == 8 || c.Depth == 16
	}
	if !ok {
		return FormatError("bit depth / color type combination")
	}
	d.cfg = c
	return nil
}

func (d *decoder) readPLTE(n uint32) error {
	if n%3 != 0 || n == 0 || n > 256*3 {
		return FormatError("bad PLTE length")
	}
	b, err := d.body(n)
	if err != nil {
		return err
	}
	if d.cfg.ColorType == 3 {
		for i := 0; i < int(n)/3; i++ {
			d.palette[i] = [4]uint8{b[3*i], b[3*i+1], b[3*i+2], 0xff}
		}
		d.hasPalette = true
	}
	return nil
}

func (d *decoder) readTRNS(n uint32) error {
	b, err := d.body(n)
	if err != nil {
		return err
	}
	switch d.cfg.ColorType {
	case 0:
		if n != 2 {
			return FormatError("bad tRNS length")
		}
		d.trns = b
	case 2:
		if n != 6 {
			return FormatError("bad tRNS length")
		}
		d.trns = b
	case 3:
		if n > 256 || !d.hasPalette {
			return FormatError("bad tRNS length")
		}
		for i, a := range b {
			d.palette[i][3] = a
		}
	default:
		return FormatError("tRNS, color type mismatch")
	}
	return nil
}

// Read serves the concatenated IDAT data to zlib, checking each chunk's
// CRC; at the first other chunk it reports io.EOF and keeps that header
// for the chunk loop.
func (d *decoder) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for d.idatLeft == 0 {
		if d.idatDone {
			return 0, io.EOF
		}
		if err := d.verifyCRC(); err != nil {
			return 0, err
		}
		ch, err := d.readHeader()
		if err != nil {
			return 0, err
		}
		if ch.typ != "IDAT" {
			d.pending, d.idatDone = &ch, true
			return 0, io.EOF
		}
		d.idatLeft = ch.length
	}
	if uint32(len(p)) > d.idatLeft {
		p = p[:d.idatLeft]
	}
	n, err := d.r.Read(p)
	d.crc.Write(p[:n])
	d.idatLeft -= uint32(n)
	return n, unexpected(err)
}

// readImage inflates and unfilters every row, then checks, as image/png
// does, that the zlib stream ends (its checksum verified) with no pixel
// data left over.
func (d *decoder) readImage(row func(int, []byte)) error {
	zr, err := zlib.NewReader(d)
	if err != nil {
		return zlibErr(err)
	}
	defer zr.Close()
	c := d.cfg
	channels := map[uint8]int{0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[c.ColorType]
	bitsPP := int(c.Depth) * channels
	bpp := max(1, (bitsPP+7)/8)
	rowBytes := 1 + (c.Width*bitsPP+7)/8
	cr, pr := make([]byte, rowBytes), make([]byte, rowBytes)
	var px []byte
	if row != nil {
		px = make([]byte, 4*c.Width)
	}
	for y := 0; y < c.Height; y++ {
		if _, err := io.ReadFull(zr, cr); err != nil {
			// image/png's verdict, also for a file cut inside IDAT.
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return FormatError("not enough pixel data")
			}
			return zlibErr(err)
		}
		if err := unfilter(cr[0], cr[1:], pr[1:], bpp); err != nil {
			return err
		}
		if row != nil {
			d.expand(cr[1:], px)
			row(y, px)
		}
		cr, pr = pr, cr
	}
	n := 0
	for i := 0; n == 0 && err == nil; i++ {
		if i == 100 {
			return io.ErrNoProgress
		}
		n, err = zr.Read(pr[:1])
	}
	if err != nil && err != io.EOF {
		return zlibErr(err)
	}
	if n != 0 || (!d.idatDone && d.idatLeft != 0) {
		return FormatError("too much pixel data")
	}
	if !d.idatDone {
		// zlib stopped exactly at the end of the last IDAT's data.
		return d.verifyCRC()
	}
	return nil
}

func zlibErr(err error) error {
	var ce flate.CorruptInputError
	if errors.Is(err, zlib.ErrChecksum) || errors.Is(err, zlib.ErrHeader) || errors.Is(err, zlib.ErrDictionary) || errors.As(err, &ce) {
		return FormatError(err.Error())
	}
	return err
}

// unfilter reverses the PNG row filter in place (prev is the previous
// unfiltered row, zeros for the first).
func unfilter(ft byte, cur, prev []byte, bpp int) error {
	switch ft {
	case 0:
	case 1:
		for i := bpp; i < len(cur); i++ {
			cur[i] += cur[i-bpp]
		}
	case 2:
		for i, p := range prev {
			cur[i] += p
		}
	case 3:
		for i := 0; i < bpp; i++ {
			cur[i] += prev[i] / 2
		}
		for i := bpp; i < len(cur); i++ {
			cur[i] += uint8((int(cur[i-bpp]) + int(prev[i])) / 2)
		}
	case 4:
		for i := 0; i < bpp; i++ {
			cur[i] += prev[i]
		}
		for i := bpp; i < len(cur); i++ {
			cur[i] += paeth(cur[i-bpp], prev[i], prev[i-bpp])
		}
	default:
		return FormatError("bad filter type")
	}
	return nil
}

func paeth(a, b, c uint8) uint8 {
	pc := int(c)
	pa := int(b) - pc
	pb := int(a) - pc
	pc = abs(pa + pb)
	pa, pb = abs(pa), abs(pb)
	if pa <= pb && pa <= pc {
		return a
	} else if pb <= pc {
		return b
	}
	return c
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// expand converts one unfiltered row to 8-bit NRGBA (16-bit samples keep
// their high byte; a tRNS key colour becomes transparent, compared at full
// depth as image/png does).
func (d *decoder) expand(raw, px []byte) {
	c := d.cfg
	w := c.Width
	switch {
	case c.ColorType == 6 && c.Depth == 8:
		copy(px, raw[:4*w])
	case c.ColorType == 6:
		for x := 0; x < w; x++ {
			px[4*x], px[4*x+1], px[4*x+2], px[4*x+3] = raw[8*x], raw[8*x+2], raw[8*x+4], raw[8*x+6]
		}
	case c.ColorType == 2:
		step := 3 * int(c.Depth) / 8
		hi := int(c.Depth) / 8 // byte offset between samples' high bytes
		for x := 0; x < w; x++ {
			s := raw[step*x:]
			px[4*x], px[4*x+1], px[4*x+2], px[4*x+3] = s[0], s[hi], s[2*hi], 0xff
			if d.trns != nil && keyMatch(s, d.trns, 3, hi) {
				px[4*x+3] = 0
			}
		}
	case c.ColorType == 4:
		hi := int(c.Depth) / 8
		for x := 0; x < w; x++ {
			s := raw[2*hi*x:]
			px[4*x], px[4*x+1], px[4*x+2], px[4*x+3] = s[0], s[0], s[0], s[hi]
		}
	case c.ColorType == 0 && c.Depth >= 8:
		hi := int(c.Depth) / 8
		for x := 0; x < w; x++ {
			s := raw[hi*x:]
			px[4*x], px[4*x+1], px[4*x+2], px[4*x+3] = s[0], s[0], s[0], 0xff
			if d.trns != nil && keyMatch(s, d.trns, 1, hi) {
				px[4*x+3] = 0
			}
		}
	default: // gray or palette at 1, 2, 4 or 8 bits
		depth := int(c.Depth)
		mask := byte(1<<depth - 1)
		for x := 0; x < w; x++ {
			bit := x * depth
			v := (raw[bit/8] >> (8 - depth - bit%8)) & mask
			if c.ColorType == 3 {
				p := d.palette[v]
				px[4*x], px[4*x+1], px[4*x+2], px[4*x+3] = p[0], p[1], p[2], p[3]
				continue
			}
			g := v * (0xff / mask)
			px[4*x], px[4*x+1], px[4*x+2], px[4*x+3] = g, g, g, 0xff
			if d.trns != nil && uint16(v) == binary.BigEndian.Uint16(d.trns) {
				px[4*x+3] = 0
			}
		}
	}
}

// keyMatch compares n samples of a pixel (hi bytes each: 1 or 2) with the
// tRNS key (16-bit big-endian values).
func keyMatch(s, key []byte, n, hi int) bool {
	for i := 0; i < n; i++ {
		k := binary.BigEndian.Uint16(key[2*i:])
		var v uint16
		if hi == 2 {
			v = binary.BigEndian.Uint16(s[2*i:])
		} else {
			v = uint16(s[i])
		}
		if v != k {
			return false
		}
	}
	return true
}
