package sdmeta

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

// readWebP walks the RIFF chunks of a WebP file, reading EXIF, XMP, the
// C2PA manifest and the VP8X canvas size, and seeking over image data.
func readWebP(ctx context.Context, r io.ReadSeeker, c *collector) error {
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil || string(hdr[:4]) != "RIFF" || string(hdr[8:12]) != "WEBP" {
		return reason.New(CodeCorrupt, "not a WebP (bad RIFF header)")
	}
	riffEnd := int64(binary.LittleEndian.Uint32(hdr[4:8])) + 8
	pos := int64(12)
	var ch [8]byte
	for i := 0; pos+8 <= riffEnd; i++ {
		if i%256 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			c.res.warn("webp_truncated")
			return nil
		}
		fourcc := string(ch[:4])
		n := int64(binary.LittleEndian.Uint32(ch[4:8]))
		padded := n + n&1
		pos += 8 + padded
		switch fourcc {
		case "EXIF", "XMP ", "VP8X":
			if n > int64(c.opts.maxText()) {
				c.res.warn("webp_chunk_too_large", fourcc)
				break
			}
			buf := make([]byte, n)
			if _, err := io.ReadFull(r, buf); err != nil {
				c.res.warn("webp_truncated", fourcc)
				return nil
			}
			if n&1 == 1 {
				if _, err := r.Seek(1, io.SeekCurrent); err != nil {
					return nil
				}
			}
			switch fourcc {
			case "EXIF":
				// Writers disagree on whether the chunk keeps JPEG's
				// "Exif\0\0" prefix; accept both.
				parseTIFF(bytes.TrimPrefix(buf, []byte("Exif\x00\x00")), c, "")
			case "XMP ":
				addXMP(c, SourceEXIF, "XMP", buf)
			case "VP8X":
				if len(buf) >= 10 {
					c.res.ImageWidth = int(uint32(buf[4])|uint32(buf[5])<<8|uint32(buf[6])<<16) + 1
					c.res.ImageHeight = int(uint32(buf[7])|uint32(buf[8])<<8|uint32(buf[9])<<16) + 1
				}
			}
			continue
		}
		if fourcc == "C2PA" && c.c2pa == nil {
			// The JUMBF manifest box; only its head is scanned.
			buf := make([]byte, min(n, c2paMaxScan, int64(c.opts.maxText())))
			if _, err := io.ReadFull(r, buf); err != nil {
				c.res.warn("webp_truncated", fourcc)
				return nil
			}
			c.addC2PA(buf)
		}
		if _, err := r.Seek(pos, io.SeekStart); err != nil {
			return nil
		}
	}
	return nil
}
