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
