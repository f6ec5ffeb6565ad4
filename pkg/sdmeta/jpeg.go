package sdmeta

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

var xmpPrefix = []byte("http://ns.adobe.com/xap/1.0/\x00")

// readJPEG walks the JPEG marker segments up to the start of scan. All
// metadata (APP1 EXIF/XMP, COM) precedes the entropy-coded data, so nothing
// after SOS is read. Segments are at most 64 KiB by construction.
func readJPEG(ctx context.Context, r io.ReadSeeker, c *collector) error {
	br := &byteReader{r: r}
	if b0, b1 := br.byte(), br.byte(); br.err != nil || b0 != 0xFF || b1 != 0xD8 {
		return reason.New(CodeCorrupt, "not a JPEG (no SOI)")
	}
	comments := 0
	// C2PA manifests span APP11 JUMBF packets; they are gathered (bounded)
	// and scanned once the segments are read.
	var jumbf jumbfGather
	defer func() {
		if len(jumbf.buf) > 0 {
			c.addC2PA(jumbf.buf)
		}
	}()
	for i := 0; ; i++ {
		if i%64 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		// Find the next marker, skipping fill bytes.
		b := br.byte()
		if br.err != nil {
			break
		}
		if b != 0xFF {
			c.res.warn("jpeg_garbage_between_segments")
			return nil
		}
		m := br.byte()
		for m == 0xFF && br.err == nil {
			m = br.byte()
		}
		if br.err != nil {
			break
		}
		if m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7) {
			continue
		}
		if m == 0xD9 || m == 0xDA {
			return nil // EOI, or SOS: metadata is over
		}
		hi, lo := br.byte(), br.byte()
		if br.err != nil {
			break
		}
		n := int(hi)<<8 | int(lo)
		if n < 2 {
			c.res.warn("jpeg_bad_segment_length")
			return nil
		}
		n -= 2
		wanted := m == 0xE1 || m == 0xFE || m == 0xEB || (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC)
		if !wanted {
			if _, err := r.Seek(int64(n), io.SeekCurrent); err != nil {
				return nil
			}
			continue
		}
		seg := make([]byte, n) // n < 65536: bounded by the format
		if _, err := io.ReadFull(r, seg); err != nil {
			c.res.warn("jpeg_truncated")
			return nil
		}
		switch {
		case m == 0xE1 && bytes.HasPrefix(seg, []byte("Exif\x00\x00")):
			parseTIFF(seg[6:], c, "")
		case m == 0xE1 && bytes.HasPrefix(seg, xmpPrefix):
			addXMP(c, SourceEXIF, "XMP", seg[len(xmpPrefix):])
		case m == 0xEB:
			jumbf.add(seg)
		case m == 0xFE:
			c.add(SourceEXIF, "COMMENT."+strconv.Itoa(comments), latin1OrUTF8(trimNUL(seg)))
			comments++
		case m >= 0xC0 && m <= 0xCF:
			if len(seg) >= 5 && c.res.ImageWidth == 0 {
				c.res.ImageHeight = int(binary.BigEndian.Uint16(seg[1:3]))
				c.res.ImageWidth = int(binary.BigEndian.Uint16(seg[3:5]))
			}
		}
	}
	if br.err != nil && !errors.Is(br.err, io.EOF) && !errors.Is(br.err, io.ErrUnexpectedEOF) {
		return reason.Wrap(fmt.Errorf("read jpeg: %w", br.err), CodeReadFailed, reason.KindTransient)
	}
	c.res.warn("jpeg_truncated")
	return nil
}

// byteReader reads single bytes without a bufio layer (which would read
// ahead into pixel data and defeat Seek).
type byteReader struct {
	r   io.Reader
	buf [1]byte
	err error
}

func (b *byteReader) byte() byte {
	if b.err != nil {
		return 0
	}
	if _, err := io.ReadFull(b.r, b.buf[:]); err != nil {
		b.err = err
		return 0
	}
	return b.buf[0]
}

// jumbfGather collects the packets of the first C2PA JUMBF box of a JPEG.
type jumbfGather struct {
	buf      []byte
	instance string // the box instance number (En) of the C2PA box
}

func (g *jumbfGather) add(seg []byte) {
	body := jumbfPayload(seg)
	if body == nil || len(g.buf) >= c2paMaxScan {
		return
	}
	en := string(seg[2:4])
	if g.instance == "" {
		// The first packet opens with the description box whose UUID and
		// label name the C2PA manifest store; other JUMBF boxes (360
		// images, JPEG XT) are not ours.
		if !bytes.Contains(body[:min(len(body), 64)], []byte("c2pa")) {
			return
		}
		g.instance = en
	} else if en != g.instance {
		return
	}
	g.buf = append(g.buf, body[:min(len(body), c2paMaxScan-len(g.buf))]...)
}
