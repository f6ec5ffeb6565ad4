package pngstream

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"os"
	"testing"
)

// samples are images of every kind image/png writes: RGBA/NRGBA 8 and 16
// bit, gray 8 and 16 bit, paletted at 1, 2, 4 and 8 bits, with random
// content so every row filter occurs.
func samples(w, h int) map[string]image.Image {
	r := rand.New(rand.NewPCG(uint64(w), uint64(h)))
	nrgba := image.NewNRGBA(image.Rect(0, 0, w, h))
	rgba64 := image.NewNRGBA64(image.Rect(0, 0, w, h))
	gray := image.NewGray(image.Rect(0, 0, w, h))
	gray16 := image.NewGray16(image.Rect(0, 0, w, h))
	opaque := image.NewRGBA(image.Rect(0, 0, w, h))
	pal := func(n int) *image.Paletted {
		p := make(color.Palette, n)
		for i := range p {
			p[i] = color.NRGBA{uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(128 + r.IntN(128))}
		}
		return image.NewPaletted(image.Rect(0, 0, w, h), p)
	}
	pals := map[string]*image.Paletted{"pal2": pal(2), "pal4": pal(4), "pal16": pal(16), "pal256": pal(256)}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			// Smooth areas and noise, so filters other than none win.
			v := uint8(x*3 + y)
			if r.IntN(4) == 0 {
				v = uint8(r.IntN(256))
			}
			nrgba.SetNRGBA(x, y, color.NRGBA{v, uint8(y), uint8(x), uint8(r.IntN(256))})
			rgba64.SetNRGBA64(x, y, color.NRGBA64{uint16(v) << 8, uint16(r.IntN(65536)), 300, uint16(r.IntN(65536))})
			gray.SetGray(x, y, color.Gray{v})
			gray16.SetGray16(x, y, color.Gray16{uint16(r.IntN(65536))})
			opaque.SetRGBA(x, y, color.RGBA{v, v / 2, 255 - v, 255})
			for _, p := range pals {
				p.SetColorIndex(x, y, uint8(r.IntN(len(p.Palette))))
			}
		}
	}
	m := map[string]image.Image{"nrgba": nrgba, "nrgba64": rgba64, "gray": gray, "gray16": gray16, "rgb": opaque}
	for k, p := range pals {
		m[k] = p
	}
	return m
}

func encode(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestScaleFullSizeMatchesImagePNG: without downscaling every pixel is the
// one image/png decodes (8-bit, non-premultiplied; colour under alpha 0
// is irrelevant).
func TestScaleFullSizeMatchesImagePNG(t *testing.T) {
	for name, img := range samples(37, 23) {
		t.Run(name, func(t *testing.T) {
			data := encode(t, img)
			want, err := png.Decode(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			got, err := Scale(bytes.NewReader(data), 1000)
			if err != nil {
				t.Fatal(err)
			}
			if got.Bounds() != want.Bounds() {
				t.Fatalf("bounds %v, want %v", got.Bounds(), want.Bounds())
			}
			for y := 0; y < 23; y++ {
				for x := 0; x < 37; x++ {
					w := color.NRGBAModel.Convert(want.At(x, y)).(color.NRGBA)
					if n64, ok := want.(*image.NRGBA64); ok {
						// 16-bit samples keep their high byte (Convert
						// rounds through premultiplied alpha).
						c := n64.NRGBA64At(x, y)
						w = color.NRGBA{uint8(c.R >> 8), uint8(c.G >> 8), uint8(c.B >> 8), uint8(c.A >> 8)}
					}
					g := got.NRGBAAt(x, y)
					if w.A == 0 {
						w.R, w.G, w.B = 0, 0, 0
					}
					if g != w {
						t.Fatalf("pixel %d,%d = %v, want %v", x, y, g, w)
					}
				}
			}
			if err := Check(bytes.NewReader(data)); err != nil {
				t.Errorf("Check: %v", err)
			}
		})
	}
}

// TestScaleBoxAverage: a downscale by an integer factor is the exact mean
// of each block (alpha-weighted colour).
func TestScaleBoxAverage(t *testing.T) {
	img := samples(64, 48)["nrgba"].(*image.NRGBA)
	got, err := Scale(bytes.NewReader(encode(t, img)), 16)
	if err != nil {
		t.Fatal(err)
	}
	if got.Bounds().Dx() != 16 || got.Bounds().Dy() != 12 {
		t.Fatalf("size %v", got.Bounds())
	}
	for oy := 0; oy < 12; oy++ {
		for ox := 0; ox < 16; ox++ {
			var sr, sg, sb, sa uint64
			for y := oy * 4; y < oy*4+4; y++ {
				for x := ox * 4; x < ox*4+4; x++ {
					c := img.NRGBAAt(x, y)
					a := uint64(c.A)
					sr, sg, sb, sa = sr+uint64(c.R)*a, sg+uint64(c.G)*a, sb+uint64(c.B)*a, sa+a
				}
			}
			want := color.NRGBA{uint8((sr + sa/2) / sa), uint8((sg + sa/2) / sa), uint8((sb + sa/2) / sa), uint8((sa + 8) / 16)}
			if g := got.NRGBAAt(ox, oy); g != want {
				t.Fatalf("block %d,%d = %v, want %v", ox, oy, g, want)
			}
		}
	}
}

func TestThumbSize(t *testing.T) {
	for _, c := range []struct{ w, h, edge, tw, th int }{
		{10000, 10000, 640, 640, 640}, {9000, 4500, 640, 640, 320}, {300, 9000, 640, 21, 640},
		{100, 50, 640, 100, 50}, {5000, 1, 640, 640, 1},
	} {
		if tw, th := ThumbSize(c.w, c.h, c.edge); tw != c.tw || th != c.th {
			t.Errorf("ThumbSize(%d, %d, %d) = %d×%d, want %d×%d", c.w, c.h, c.edge, tw, th, c.tw, c.th)
		}
	}
}

// TestCheckAgreesWithImagePNG: damaged files (cut anywhere, a byte
// flipped anywhere) are refused by Check exactly when image/png refuses
// them.
func TestCheckAgreesWithImagePNG(t *testing.T) {
	data := encode(t, samples(40, 30)["nrgba"])
	r := rand.New(rand.NewPCG(3, 4))
	agree := func(what string, b []byte) {
		t.Helper()
		_, perr := png.Decode(bytes.NewReader(b))
		serr := Check(bytes.NewReader(b))
		if (perr == nil) != (serr == nil) {
			t.Errorf("%s: image/png %v, pngstream %v", what, perr, serr)
		}
	}
	for i := 0; i < 300; i++ {
		n := r.IntN(len(data))
		agree("cut at "+itoa(n), data[:n])
		b := append([]byte(nil), data...)
		b[n] ^= byte(1 + r.IntN(255))
		agree("flip at "+itoa(n), b)
	}
	trunc, err := os.ReadFile("../probe/testdata/gostd_invalid-trunc.png")
	if err != nil {
		t.Fatal(err)
	}
	agree("gostd_invalid-trunc.png", trunc)
}

func itoa(n int) string {
	return string(rune('0'+n/1000%10)) + string(rune('0'+n/100%10)) + string(rune('0'+n/10%10)) + string(rune('0'+n%10))
}

func TestInterlacedRefused(t *testing.T) {
	data := encode(t, samples(8, 8)["gray"])
	data[8+8+12] = 1 // IHDR interlace method
	binary.BigEndian.PutUint32(data[8+8+13:], crc32.ChecksumIEEE(data[12:8+8+13]))
	if err := Check(bytes.NewReader(data)); !errors.Is(err, ErrInterlaced) {
		t.Errorf("Check: %v", err)
	}
	if _, err := Scale(bytes.NewReader(data), 4); !errors.Is(err, ErrInterlaced) {
		t.Errorf("Scale: %v", err)
	}
}
