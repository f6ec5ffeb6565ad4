package probe

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/probe/probetest"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

// countingReadSeeker records how many bytes were read.
type countingReadSeeker struct {
	io.ReadSeeker
	n int
}

func (c *countingReadSeeker) Read(p []byte) (int, error) {
	n, err := c.ReadSeeker.Read(p)
	c.n += n
	return n, err
}

func TestCheckPixels(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		w, h, max int64
		wantCode  string
	}{
		{"fits", 1000, 1000, 1_000_000, ""},
		{"one over", 1001, 1000, 1_000_000, CodeDecompressionBomb},
		{"default budget", 100_000, 100_000, 0, CodeDecompressionBomb},
		{"default budget fits 8k", 7680, 4320, 0, ""},
		{"overflowing product", 1 << 40, 1 << 40, 0, CodeDecompressionBomb},
		{"zero width", 0, 10, 0, CodeInvalidHeader},
		{"negative", 10, -1, 0, CodeInvalidHeader},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckPixels(tc.w, tc.h, tc.max)
			if reason.Code(err) != tc.wantCode {
				t.Fatalf("CheckPixels = %v, want code %q", err, tc.wantCode)
			}
		})
	}
}

func TestDecodeImageRejectsBombBeforeDecode(t *testing.T) {
	t.Parallel()
	data := probetest.PNGHeaderOnly(100_000, 100_000)
	r := &countingReadSeeker{ReadSeeker: bytes.NewReader(data)}
	_, _, err := DecodeImage(r, 0)
	if reason.Code(err) != CodeDecompressionBomb || !reason.IsPermanent(err) {
		t.Fatalf("err = %v, want permanent decompression_bomb", err)
	}
	if f := reason.FieldsOf(err); f["width"] != int64(100_000) {
		t.Fatalf("fields = %v", f)
	}
	// The same header with a budget that allows it must fail in the
	// decoder instead: proves the budget, not a parse error, stopped it.
	_, _, err = DecodeImage(bytes.NewReader(probetest.PNGHeaderOnly(10, 10)), 0)
	if c := reason.Code(err); c != CodeTruncatedFile && c != CodeDecodeFailed {
		t.Fatalf("small header: err = %v", err)
	}
}

func TestImageInfo(t *testing.T) {
	t.Parallel()
	root := sharedFixtures(t)
	tests := []struct {
		file     string
		w, h     int
		format   string
		wantCode string
	}{
		{"png_misc/pillow_hopper.png", 128, 128, "png", ""},
		{"png_misc/pillow_itxt_chunks.png", 2400, 2000, "png", ""},
		{"png_misc/pillow_xmp_tags_orientation.png", 326, 268, "png", ""},
		{"webp/goimage_blue-purple-pink.lossless.webp", 150, 100, "webp", ""},
		{"webp/goimage_gopher-doc.with-alpha.lossless.webp", 75, 100, "webp", ""},
		{"webp/pillow_transparent.webp", 200, 150, "webp", ""},
		{"webp/pillow_iss634.webp", 245, 245, "webp", ""},
		{"exif_jpeg/pillow_orientation_rectangle.jpg", 2, 1, "jpeg", ""},
		{"exif_jpeg/recurser_Landscape_6.jpg", 1200, 1800, "jpeg", ""},
		{"corrupt/pillow_broken_data_stream.png", 128, 128, "png", ""}, // header is fine
		{"corrupt/derived_text_named.jpg", 0, 0, "", CodeUnsupportedType},
		{"corrupt/sdparsers_empty_file.png", 0, 0, "", CodeUnsupportedType},
		{"corrupt/pillow_broken.png", 0, 0, "", CodeInvalidHeader},
		{"does/not/exist.png", 0, 0, "", CodeMissingFile},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			w, h, format, err := ImageInfo(filepath.Join(root, tc.file))
			if reason.Code(err) != tc.wantCode {
				t.Fatalf("err = %v, want code %q", err, tc.wantCode)
			}
			if w != tc.w || h != tc.h || format != tc.format {
				t.Fatalf("got %dx%d %s, want %dx%d %s", w, h, format, tc.w, tc.h, tc.format)
			}
		})
	}
}

func TestCheckImage(t *testing.T) {
	t.Parallel()
	root := sharedFixtures(t)
	// A valid JPEG followed by unrelated bytes (motion photos append an
	// MP4) must pass: the EOI check walks the structure.
	var jb bytes.Buffer
	img := image.NewRGBA(image.Rect(0, 0, 16, 16))
	img.Set(3, 3, color.White)
	if err := jpeg.Encode(&jb, img, nil); err != nil {
		t.Fatal(err)
	}
	withTrailer := filepath.Join(t.TempDir(), "motion.jpg")
	os.WriteFile(withTrailer, append(jb.Bytes(), []byte("\x00\x00\x00\x18ftypmp42 trailing video")...), 0o644)
	cut := filepath.Join(t.TempDir(), "cut.jpg")
	os.WriteFile(cut, jb.Bytes()[:jb.Len()-2], 0o644)
	bomb := filepath.Join(t.TempDir(), "bomb.png")
	os.WriteFile(bomb, probetest.PNGHeaderOnly(100_000, 100_000), 0o644)

	tests := []struct {
		file     string
		wantCode string
	}{
		{"png_misc/pillow_hopper.png", ""},
		{"exif_jpeg/pillow_flower.jpg", ""},
		{"exif_jpeg/recurser_Portrait_6.jpg", ""},
		{"webp/pillow_transparent.webp", ""},
		{"webp/pillow_iss634.webp", ""}, // animated: first frame decodes
		// Pillow decodes it, ffmpeg conceals 64 entropy errors, Go refuses.
		{"corrupt/pillow_hopper_bad_exif.jpg", CodeDecodeFailed},
		{"corrupt/pillow_invalid-exif.jpg", ""},
		{withTrailer, ""},
		{cut, CodeTruncatedFile},
		{bomb, CodeDecompressionBomb},
		{"corrupt/gostd_invalid-crc32.png", CodeInvalidHeader}, // the IHDR CRC is the broken one
		{"corrupt/gostd_invalid-zlib.png", CodeDecodeFailed},
		{"corrupt/gostd_invalid-noend.png", CodeTruncatedFile},
		{"corrupt/gostd_invalid-trunc.png", CodeTruncatedFile},
		{"corrupt/gostd_video-001.progressive.truncated.jpeg", CodeTruncatedFile},
		{"corrupt/pillow_truncated_jpeg.jpg", CodeTruncatedFile},
		{"corrupt/pillow_truncated_end_chunk.png", CodeTruncatedFile},
		{"corrupt/pillow_truncated_image.png", CodeDecodeFailed}, // png: "not enough pixel data"
		{"corrupt/pillow_broken_data_stream.png", CodeDecodeFailed},
		{"corrupt/pillow_broken.png", CodeInvalidHeader},
		{"corrupt/pillow_pngtest_bad.png.bin", CodeUnsupportedType},
		{"corrupt/derived_text_named.jpg", CodeUnsupportedType},
		{"corrupt/sdparsers_empty_file.png", CodeEmptyFile},
		{"missing.png", CodeMissingFile},
	}
	for _, tc := range tests {
		t.Run(filepath.Base(tc.file), func(t *testing.T) {
			p := tc.file
			if !filepath.IsAbs(p) {
				p = filepath.Join(root, p)
			}
			err := CheckImage(p, 0)
			if reason.Code(err) != tc.wantCode {
				t.Fatalf("CheckImage = %v, want code %q", err, tc.wantCode)
			}
			if err != nil && !reason.IsPermanent(err) {
				t.Fatalf("%v should be permanent", err)
			}
		})
	}
}

func TestOrientation(t *testing.T) {
	t.Parallel()
	root := sharedFixtures(t)
	tests := []struct {
		file   string
		format string
		want   int
	}{
		{"exif_jpeg/pillow_hopper.jpg", "jpeg", 1},
		{"exif_jpeg/pillow_hopper_orientation_3.jpg", "jpeg", 3},
		{"exif_jpeg/pillow_hopper_orientation_6.jpg", "jpeg", 6},
		{"exif_jpeg/pillow_hopper_orientation_8.jpg", "jpeg", 8},
		{"exif_jpeg/pillow_orientation_rectangle.jpg", "jpeg", 8},
		{"exif_jpeg/recurser_Landscape_0.jpg", "jpeg", 1},
		{"exif_jpeg/recurser_Landscape_3.jpg", "jpeg", 3},
		{"exif_jpeg/recurser_Portrait_6.jpg", "jpeg", 6},
		{"exif_jpeg/pillow_exif_gps.jpg", "jpeg", 1},
		{"corrupt/pillow_hopper_bad_exif.jpg", "jpeg", 1},
		{"corrupt/pillow_invalid-exif.jpg", "jpeg", 1},
		{"webp/pillow_hopper_orientation_6.webp", "webp", 6},
		{"webp/pillow_flower.webp", "webp", 1},
		{"png_misc/pillow_exif.png", "png", 1},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			f, err := os.Open(filepath.Join(root, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if got := Orientation(f, tc.format); got != tc.want {
				t.Fatalf("Orientation = %d, want %d", got, tc.want)
			}
		})
	}
	if w, h := DisplaySize(1200, 1800, 6); w != 1800 || h != 1200 {
		t.Fatalf("DisplaySize(6) = %dx%d", w, h)
	}
	if w, h := DisplaySize(1200, 1800, 3); w != 1200 || h != 1800 {
		t.Fatalf("DisplaySize(3) = %dx%d", w, h)
	}
}

func TestDecodeAnimatedWebPFirstFrame(t *testing.T) {
	t.Parallel()
	img, format, err := DecodeImageFile(filepath.Join(sharedFixtures(t), "webp/pillow_iss634.webp"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if format != "webp" || img.Bounds().Dx() == 0 || img.Bounds().Dx() > 245 || img.Bounds().Dy() > 245 {
		t.Fatalf("got %s %v", format, img.Bounds())
	}
}

func BenchmarkImageInfo(b *testing.B) {
	for _, n := range []string{"pillow_hopper.png", "pillow_hopper.jpg", "goimage_blue-purple-pink.lossy.webp"} {
		p := filepath.Join("testdata", n)
		b.Run(n, func(b *testing.B) {
			for b.Loop() {
				if _, _, _, err := ImageInfo(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestCheckImageValidFixtures runs the integrity check on every real-world
// image outside corrupt/: none may be flagged.
func TestCheckImageValidFixtures(t *testing.T) {
	t.Parallel()
	root := sharedFixtures(t)
	n := 0
	for _, dir := range []string{"png_misc", "webp", "exif_jpeg", "sd_a1111", "comfyui", "novelai", "invokeai", "fooocus", "nometa"} {
		files, _ := filepath.Glob(filepath.Join(root, dir, "*"))
		for _, f := range files {
			n++
			if err := CheckImage(f, 0); err != nil {
				t.Errorf("%s/%s: %v", dir, filepath.Base(f), err)
			}
		}
	}
	if n < 40 {
		t.Fatalf("only %d fixtures", n)
	}
}
