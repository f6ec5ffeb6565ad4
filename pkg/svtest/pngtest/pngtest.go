// Package pngtest builds small PNG files for tests and benchmarks: real
// pixels, and text chunks where generation metadata goes.
package pngtest

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/png"
)

// PNG encodes a w×h RGBA image whose pixels start at seed (different
// seeds give different content).
func PNG(w, h int, seed uint8) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = seed + uint8(i)
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	return b.Bytes()
}

// Chunk is one PNG chunk: length, type, data, CRC.
func Chunk(typ string, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, uint32(len(data)))
	b.WriteString(typ)
	b.Write(data)
	c := crc32.NewIEEE()
	c.Write([]byte(typ))
	c.Write(data)
	binary.Write(&b, binary.BigEndian, c.Sum32())
	return b.Bytes()
}

// WithText inserts a tEXt chunk right after IHDR (8 signature + 25 IHDR
// bytes) of p.
func WithText(p []byte, key, val string) []byte {
	out := append([]byte{}, p[:33]...)
	out = append(out, Chunk("tEXt", append(append([]byte(key), 0), val...))...)
	return append(out, p[33:]...)
}

// Stealth encodes a w×h image hiding text the way A1111's stealth pnginfo
// extension does: column by column, in the alpha LSBs ("stealth_pnginfo",
// an RGBA PNG) or, with rgb, in the R,G,B LSBs ("stealth_rgbinfo", every
// pixel opaque, so the encoder writes an RGB PNG); the signature, a 32-bit
// big-endian bit count, then the text. It panics when text does not fit.
func Stealth(w, h int, rgb bool, text string) []byte {
	sig, per := "stealth_pnginfo", 1
	if rgb {
		sig, per = "stealth_rgbinfo", 3
	}
	payload := binary.BigEndian.AppendUint32([]byte(sig), uint32(len(text)*8))
	payload = append(payload, text...)
	if len(payload)*8 > w*h*per {
		panic("pngtest.Stealth: image too small for the text")
	}
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = byte(i*7) &^ 1
		if i%4 == 3 {
			img.Pix[i] = 0xFF
			if !rgb {
				img.Pix[i] = 0xFE // not opaque: the encoder keeps alpha
			}
		}
	}
	for i := 0; i < len(payload)*8; i++ {
		if payload[i/8]&(0x80>>(i%8)) == 0 {
			continue
		}
		px, ch := i/per, 3
		if rgb {
			ch = i % per
		}
		img.Pix[img.PixOffset(px/h, px%h)+ch] |= 1
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	return b.Bytes()
}
