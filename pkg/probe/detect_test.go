package probe

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/gif"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/image/bmp"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

func gifBytes(t testing.TB, frames int) []byte {
	t.Helper()
	pal := color.Palette{color.Black, color.White}
	g := &gif.GIF{}
	for i := range frames {
		img := image.NewPaletted(image.Rect(0, 0, 8, 8), pal)
		img.SetColorIndex(i%8, 0, 1)
		g.Image = append(g.Image, img)
		g.Delay = append(g.Delay, 10)
	}
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, g); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func bmpBytes(t testing.TB) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := bmp.Encode(&b, image.NewRGBA(image.Rect(0, 0, 4, 3))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func ftyp(brand string) []byte {
	b := make([]byte, 32)
	binary.BigEndian.PutUint32(b, 24)
	copy(b[4:], "ftyp"+brand)
	return b
}

func TestDetectType(t *testing.T) {
	t.Parallel()
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// An EBML header with an unusual element before DocType "webm".
	webmHdr := []byte{0x1A, 0x45, 0xDF, 0xA3, 0x8B, 0x42, 0x86, 0x81, 0x01, 0x42, 0x82, 0x84, 'w', 'e', 'b', 'm'}
	tests := []struct {
		name     string
		data     []byte
		kind     Kind
		ext      string
		wantCode string
	}{
		{"png", read("pillow_hopper.png"), KindImage, "png", ""},
		{"jpeg", read("pillow_hopper.jpg"), KindImage, "jpg", ""},
		{"webp lossy", read("goimage_blue-purple-pink.lossy.webp"), KindImage, "webp", ""},
		{"webp lossless", read("goimage_blue-purple-pink.lossless.webp"), KindImage, "webp", ""},
		{"still gif", gifBytes(t, 1), KindImage, "gif", ""},
		{"animated gif is video", gifBytes(t, 3), KindVideo, "gif", ""},
		{"bmp", bmpBytes(t), KindImage, "bmp", ""},
		{"mp4", read("gomp4_sample.mp4"), KindVideo, "mp4", ""},
		{"mkv", read("mkvparse_example.mkv"), KindVideo, "mkv", ""},
		{"webm", read("ebmlgo_sample.webm"), KindVideo, "webm", ""},
		{"webm synthetic header", webmHdr, KindVideo, "webm", ""},
		{"mov brand", ftyp("qt  "), KindVideo, "mov", ""},
		{"m4v brand", ftyp("M4V "), KindVideo, "m4v", ""},
		{"isom brand", ftyp("isom"), KindVideo, "mp4", ""},
		{"quicktime without ftyp", append([]byte{0, 0, 0, 8}, "moov"...), KindVideo, "mov", ""},
		{"avi", []byte("RIFF\x00\x00\x00\x00AVI LIST"), KindVideo, "avi", ""},
		{"heic is unsupported", ftyp("heic"), "", "", CodeUnsupportedType},
		{"text named jpg", read("derived_text_named.jpg"), "", "", CodeUnsupportedType},
		{"BM text is not bmp", []byte("BM is a text file that starts like a bitmap"), "", "", CodeUnsupportedType},
		{"empty", nil, "", "", CodeEmptyFile},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kind, ext, err := DetectType(bytes.NewReader(tc.data))
			if tc.wantCode != "" {
				if reason.Code(err) != tc.wantCode || !reason.IsPermanent(err) {
					t.Fatalf("err = %v (code %q), want permanent %s", err, reason.Code(err), tc.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if kind != tc.kind || ext != tc.ext {
				t.Fatalf("got %s/%s, want %s/%s", kind, ext, tc.kind, tc.ext)
			}
		})
	}
}

// TestDetectTypeSharedFixtures checks every real-world media file: the
// folder decides the expected type.
func TestDetectTypeSharedFixtures(t *testing.T) {
	t.Parallel()
	root := sharedFixtures(t)
	want := map[string]string{"png_misc": "png", "webp": "webp", "exif_jpeg": "jpg",
		"sd_a1111": "", "comfyui": "", "novelai": "", "invokeai": "", "fooocus": "", "nometa": ""}
	n := 0
	for dir, ext := range want {
		files, _ := filepath.Glob(filepath.Join(root, dir, "*"))
		for _, f := range files {
			kind, got, err := DetectFile(f)
			if err != nil {
				t.Errorf("%s: %v", f, err)
				continue
			}
			n++
			wantExt := ext
			if wantExt == "" { // generator folders: trust the file extension
				wantExt = strings.TrimPrefix(strings.ToLower(filepath.Ext(f)), ".")
				if wantExt == "jpeg" {
					wantExt = "jpg"
				}
			}
			if kind != KindImage || got != wantExt {
				t.Errorf("%s: got %s/%s, want image/%s", filepath.Base(f), kind, got, wantExt)
			}
		}
	}
	videos, _ := filepath.Glob(filepath.Join(root, "video", "*"))
	for _, f := range videos {
		kind, got, err := DetectFile(f)
		wantExt := strings.TrimPrefix(filepath.Ext(f), ".")
		if err != nil || kind != KindVideo || got != wantExt {
			t.Errorf("%s: got %s/%s %v, want video/%s", filepath.Base(f), kind, got, err, wantExt)
		}
		n++
	}
	if n < 30 {
		t.Fatalf("only %d fixtures checked", n)
	}
}

func TestIsAnimatedGIF(t *testing.T) {
	t.Parallel()
	anim := gifBytes(t, 2)
	tests := []struct {
		name     string
		data     []byte
		want     bool
		wantCode string
	}{
		{"one frame", gifBytes(t, 1), false, ""},
		{"two frames", anim, true, ""},
		{"forty frames", gifBytes(t, 40), true, ""},
		{"truncated in header", anim[:10], false, CodeTruncatedFile},
		{"truncated in first frame", anim[:40], false, CodeTruncatedFile},
		{"not a gif", []byte("PNG..........................."), false, CodeInvalidHeader},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := IsAnimatedGIF(bytes.NewReader(tc.data))
			if reason.Code(err) != tc.wantCode {
				t.Fatalf("err = %v, want code %q", err, tc.wantCode)
			}
			if got != tc.want {
				t.Fatalf("animated = %v, want %v", got, tc.want)
			}
		})
	}
}

func sharedFixtures(t testing.TB) string {
	t.Helper()
	return svtestSharedFixtures(t)
}

func BenchmarkDetectType(b *testing.B) {
	cases := map[string][]byte{}
	for _, n := range []string{"pillow_hopper.png", "gomp4_sample.mp4", "ebmlgo_sample.webm"} {
		data, err := os.ReadFile(filepath.Join("testdata", n))
		if err != nil {
			b.Fatal(err)
		}
		cases[n] = data
	}
	cases["animated.gif"] = gifBytes(b, 20)
	for name, data := range cases {
		b.Run(name, func(b *testing.B) {
			r := bytes.NewReader(data)
			for b.Loop() {
				if _, _, err := DetectType(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
