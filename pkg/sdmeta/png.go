package sdmeta

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

var pngSig = []byte("\x89PNG\r\n\x1a\n")

// pngChunk is one metadata chunk found by walkPNG.
type pngChunk struct {
	typ  string
	data []byte
}

// walkPNG visits the chunks of a PNG. Metadata chunks (tEXt, zTXt, iTXt,
// eXIf, IHDR, the C2PA caBX) are read and passed to fn; every other chunk, IDAT above all,
// is skipped with Seek so pixel data is never read. It continues after IDAT
// because writers may put text there (Pillow, ImageMagick do).
func walkPNG(ctx context.Context, r io.ReadSeeker, maxChunk int, warn func(string, ...any), fn func(pngChunk)) error {
	var sig [8]byte
	if _, err := io.ReadFull(r, sig[:]); err != nil || !bytes.Equal(sig[:], pngSig) {
		return reason.New(CodeCorrupt, "not a PNG (bad signature)")
	}
	var hdr [8]byte
	for i := 0; ; i++ {
		if i%256 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				warn("png_truncated", "no IEND chunk")
				return nil
			}
			return reason.Wrap(fmt.Errorf("read png chunk: %w", err), CodeReadFailed, reason.KindTransient)
		}
		n := binary.BigEndian.Uint32(hdr[:4])
		typ := string(hdr[4:8])
		if n > 0x7FFFFFFF {
			warn("png_bad_chunk_length", typ)
			return nil
		}
		if !validChunkType(hdr[4:8]) {
			warn("png_bad_chunk_type")
			return nil
		}
		switch typ {
		case "IEND":
			return nil
		case "IHDR", "tEXt", "zTXt", "iTXt", "eXIf", "caBX":
			if typ == "caBX" && int64(n) > int64(min(maxChunk, c2paMaxScan)) {
				// Only the head of a huge C2PA manifest is scanned (its
				// markers sit in the claim and assertions); the rest and
				// the CRC are skipped.
				buf := make([]byte, min(maxChunk, c2paMaxScan))
				if _, err := io.ReadFull(r, buf); err != nil {
					warn("png_truncated", typ)
					return nil
				}
				fn(pngChunk{typ: typ, data: buf})
				if _, err := r.Seek(int64(n)-int64(len(buf))+4, io.SeekCurrent); err != nil {
					return nil
				}
				continue
			}
			if int64(n) > int64(maxChunk) {
				warn("png_chunk_too_large", typ)
				if _, err := r.Seek(int64(n)+4, io.SeekCurrent); err != nil {
					return nil
				}
				continue
			}
			buf := make([]byte, int(n)+4)
			if _, err := io.ReadFull(r, buf); err != nil {
				warn("png_truncated", typ)
				return nil
			}
			data := buf[:n]
			want := binary.BigEndian.Uint32(buf[n:])
			crc := crc32.NewIEEE()
			crc.Write(hdr[4:8])
			crc.Write(data)
			if crc.Sum32() != want {
				// Keep the data: a wrong CRC usually means a sloppy writer,
				// and losing a prompt is worse than keeping a suspect one.
				warn("png_crc_mismatch", typ)
			}
			fn(pngChunk{typ: typ, data: data})
		default:
			if _, err := r.Seek(int64(n)+4, io.SeekCurrent); err != nil {
				return nil
			}
		}
	}
}

func validChunkType(b []byte) bool {
	for _, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

func readPNG(ctx context.Context, r io.ReadSeeker, c *collector) error {
	maxText := c.opts.maxText()
	return walkPNG(ctx, r, maxText, c.res.warn, func(ch pngChunk) {
		switch ch.typ {
		case "IHDR":
			if len(ch.data) >= 8 {
				c.res.ImageWidth = int(binary.BigEndian.Uint32(ch.data[0:4]) & 0x7FFFFFFF)
				c.res.ImageHeight = int(binary.BigEndian.Uint32(ch.data[4:8]) & 0x7FFFFFFF)
			}
			if len(ch.data) >= 10 {
				// Colour type 6 (RGBA) or 4 (gray+alpha).
				c.pngAlpha = ch.data[9] == 6 || ch.data[9] == 4
			}
		case "eXIf":
			parseTIFF(ch.data, c, "")
		case "caBX":
			c.addC2PA(ch.data)
		default:
			kw, text, lang, err := decodeTextChunk(ch.typ, ch.data, maxText)
			if err != nil {
				c.res.warn(err.Error(), kw)
				if text == "" {
					return
				}
			}
			if kw == "" {
				c.res.warn("png_text_without_keyword")
				return
			}
			if kw == xmpPNGKeyword {
				// Draw Things and editors put an XMP packet here: read its
				// properties like a JPEG's APP1 XMP.
				addXMP(c, SourcePNGText, kw, []byte(text))
			} else {
				c.add(SourcePNGText, kw, text)
			}
			if lang != "" {
				c.add(SourcePNGText, kw+".lang", lang)
			}
		}
	})
}

// decodeTextChunk decodes a tEXt, zTXt or iTXt chunk body. On a decoding
// problem it returns what it could decode plus an error whose text is a
// warning code.
func decodeTextChunk(typ string, data []byte, maxText int) (kw, text, lang string, err error) {
	i := bytes.IndexByte(data, 0)
	if i < 0 {
		return "", "", "", errors.New("png_text_no_separator")
	}
	if i > 79 {
		// Keywords are 1-79 bytes; longer is corrupt, but keep going.
		kw = latin1OrUTF8(data[:79])
	} else {
		kw = latin1OrUTF8(data[:i])
	}
	rest := data[i+1:]
	switch typ {
	case "tEXt":
		return kw, latin1OrUTF8(rest), "", nil
	case "zTXt":
		// The compression-method byte precedes the zlib stream (the
		// original forgot to skip it; defect 24).
		if len(rest) < 1 {
			return kw, "", "", errors.New("png_ztxt_truncated")
		}
		out, zerr := inflateBounded(rest[1:], maxText)
		return kw, latin1OrUTF8(out), "", zerr
	case "iTXt":
		if len(rest) < 2 {
			return kw, "", "", errors.New("png_itxt_truncated")
		}
		compressed := rest[0] == 1
		rest = rest[2:]
		j := bytes.IndexByte(rest, 0)
		if j < 0 {
			return kw, "", "", errors.New("png_itxt_truncated")
		}
		lang = latin1OrUTF8(rest[:j])
		rest = rest[j+1:]
		k := bytes.IndexByte(rest, 0) // translated keyword (UTF-8)
		if k < 0 {
			return kw, "", lang, errors.New("png_itxt_truncated")
		}
		rest = rest[k+1:]
		if compressed {
			out, zerr := inflateBounded(rest, maxText)
			return kw, string(out), lang, zerr
		}
		return kw, string(rest), lang, nil
	}
	return kw, "", "", errors.New("png_unknown_text_chunk")
}

// inflateBounded decompresses a zlib stream, never producing more than max
// bytes (a zip bomb yields a truncated value and a warning).
func inflateBounded(b []byte, max int) ([]byte, error) {
	zr, err := zlib.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, errors.New("png_zlib_error")
	}
	defer zr.Close()
	var out bytes.Buffer
	n, err := io.Copy(&out, io.LimitReader(zr, int64(max)+1))
	if n > int64(max) {
		return out.Bytes()[:max], errors.New("text_truncated_at_cap")
	}
	if err != nil {
		return out.Bytes(), errors.New("png_zlib_error")
	}
	return out.Bytes(), nil
}
