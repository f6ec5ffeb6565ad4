package sdmeta

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"image"
	"image/color"
	"image/png"
	"io"

	"golang.org/x/image/webp"
)

// A1111's "stealth pnginfo" extension hides the parameters text in the
// least significant bits of the alpha channel (or of R,G,B), read column by
// column: a 15-byte signature, a 32-bit big-endian bit count, then the
// data, gzip-compressed for the *comp signatures.

type pixelBits struct {
	img  image.Image
	w, h int
	rgb  bool
}

// bit returns stream bit i (false past the end).
func (p pixelBits) bit(i int) (bool, bool) {
	per := 1
	if p.rgb {
		per = 3
	}
	px := i / per
	if px >= p.w*p.h {
		return false, false
	}
	x, y := px/p.h, px%p.h
	b := p.img.Bounds()
	var r, g, bl, a uint8
	if n, ok := p.img.(*image.NRGBA); ok {
		o := n.PixOffset(b.Min.X+x, b.Min.Y+y)
		r, g, bl, a = n.Pix[o], n.Pix[o+1], n.Pix[o+2], n.Pix[o+3]
	} else {
		c := color.NRGBAModel.Convert(p.img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
		r, g, bl, a = c.R, c.G, c.B, c.A
	}
	if !p.rgb {
		return a&1 == 1, true
	}
	return [3]uint8{r, g, bl}[i%3]&1 == 1, true
}

func (p pixelBits) bytes(start, n int) ([]byte, bool) {
	out := make([]byte, n)
	for i := 0; i < n*8; i++ {
		v, ok := p.bit(start + i)
		if !ok {
			return nil, false
		}
		if v {
			out[i/8] |= 0x80 >> (i % 8)
		}
	}
	return out, true
}

// readStealth decodes the image (bounded by MaxStealthPixels) and looks
// for stealth info. Only called when Options.Stealth or StealthAuto asks.
func readStealth(ctx context.Context, rs io.ReadSeeker, cont container, c *collector) {
	decCfg, dec := png.DecodeConfig, png.Decode
	if cont == contWebP {
		decCfg, dec = webp.DecodeConfig, webp.Decode
	}
	cfg, err := decCfg(bufio.NewReader(rs))
	if err != nil {
		c.res.warn("stealth_decode_failed", err)
		return
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > int64(c.opts.maxStealthPixels()) {
		c.res.warn("stealth_image_too_large")
		return
	}
	if _, err := rs.Seek(0, io.SeekStart); err != nil {
		return
	}
	img, err := dec(bufio.NewReaderSize(rs, 64<<10))
	if err != nil || ctx.Err() != nil {
		c.res.warn("stealth_decode_failed", err)
		return
	}
	b := img.Bounds()
	for _, rgb := range []bool{false, true} {
		p := pixelBits{img: img, w: b.Dx(), h: b.Dy(), rgb: rgb}
		sig, ok := p.bytes(0, 15)
		if !ok {
			return
		}
		var compressed bool
		switch string(sig) {
		case "stealth_pnginfo", "stealth_rgbinfo":
		case "stealth_pngcomp", "stealth_rgbcomp":
			compressed = true
		default:
			continue
		}
		if rgb != (sig[8] == 'r') {
			continue
		}
		lb, ok := p.bytes(120, 4)
		if !ok {
			c.res.warn("stealth_truncated")
			return
		}
		nbits := int(uint32(lb[0])<<24 | uint32(lb[1])<<16 | uint32(lb[2])<<8 | uint32(lb[3]))
		if nbits <= 0 || nbits/8 > c.opts.maxText() {
			c.res.warn("stealth_bad_length")
			return
		}
		data, ok := p.bytes(152, nbits/8)
		if !ok {
			c.res.warn("stealth_truncated")
			return
		}
		if compressed {
			zr, err := gzip.NewReader(bytes.NewReader(data))
			if err != nil {
				c.res.warn("stealth_gzip_error")
				return
			}
			var out bytes.Buffer
			n, err := io.Copy(&out, io.LimitReader(zr, int64(c.opts.maxText())+1))
			if err != nil || n > int64(c.opts.maxText()) {
				c.res.warn("stealth_gzip_error")
				return
			}
			data = out.Bytes()
		}
		before := len(c.entries)
		c.add(SourcePNGText, "stealth.parameters", string(data))
		if len(c.entries) > before {
			// Re-run interpretation with the new entry.
			*c.res = Result{ImageWidth: c.res.ImageWidth, ImageHeight: c.res.ImageHeight, Warnings: c.res.Warnings}
			interpretStealth(c)
		}
		return
	}
}

// interpretStealth interprets again after the stealth text was added; the
// stealth text is A1111 parameters text.
func interpretStealth(c *collector) {
	for i := range c.entries {
		if c.entries[i].key == "stealth.parameters" {
			// Treat as a "parameters" value for detection.
			e := c.entries[i]
			c.entries = append([]entry{{source: e.source, key: "parameters", value: e.value}}, append(c.entries[:i:i], c.entries[i+1:]...)...)
			break
		}
	}
	interpret(c)
	for i := range c.res.Chunks {
		if c.res.Chunks[i].Key == "parameters" && i == 0 {
			c.res.Chunks[i].Key = "stealth.parameters"
		}
	}
	if c.res.SourceMetadata != nil {
		c.res.SourceMetadata["source_key"] = "stealth.parameters"
		c.res.SourceMetadata["container"] = "stealth"
	}
}
