package probe

import (
	"bufio"
	"errors"
	"fmt"
	"image"
	_ "image/gif"  // register GIF for DecodeConfig/Decode
	_ "image/jpeg" // register JPEG
	_ "image/png"  // register PNG
	"io"
	"os"

	_ "golang.org/x/image/bmp"  // register BMP
	_ "golang.org/x/image/webp" // register WebP (lossy, lossless, alpha; not animation)

	"github.com/localsupervisor/supervisor/pkg/pngstream"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

// DefaultMaxPixels is the pixel budget used when a caller passes 0: 100
// megapixels, about 400 MB as RGBA. Larger images are refused before decode.
const DefaultMaxPixels int64 = 100_000_000

// ImageInfo reads an image's stored width, height and format ("png",
// "jpeg", "gif", "bmp", "webp") from its header only; no pixel data is
// decoded, so it is safe on untrusted and huge files. Width and height are
// as stored; see Orientation and DisplaySize for EXIF-rotated JPEG/WebP.
func ImageInfo(path string) (w, h int, format string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, "", openError(err)
	}
	defer f.Close()
	cfg, format, err := decodeConfig(f)
	if err != nil {
		return 0, 0, "", err
	}
	return cfg.Width, cfg.Height, format, nil
}

// ImageHeader is ImageInfo over a reader the caller already has open (the
// importer reads each file once): same header-only read, same reason codes.
func ImageHeader(r io.Reader) (w, h int, format string, err error) {
	cfg, format, err := decodeConfig(r)
	if err != nil {
		return 0, 0, "", err
	}
	return cfg.Width, cfg.Height, format, nil
}

// peeker is what image.DecodeConfig reads from without wrapping it in a
// new bufio.Reader (a caller reading many headers passes its own, Reset
// per file).
type peeker interface {
	io.Reader
	Peek(int) ([]byte, error)
}

func decodeConfig(r io.Reader) (image.Config, string, error) {
	if _, ok := r.(peeker); !ok {
		r = bufio.NewReaderSize(r, 8192)
	}
	cfg, format, err := image.DecodeConfig(r)
	if err != nil {
		if errors.Is(err, image.ErrFormat) {
			return cfg, "", reason.Permanent(CodeUnsupportedType, err)
		}
		return cfg, "", reason.Permanent(CodeInvalidHeader, fmt.Errorf("decode image header: %w", err))
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return cfg, format, reason.Newf(CodeInvalidHeader, "image header has size %dx%d", cfg.Width, cfg.Height)
	}
	return cfg, format, nil
}

// CheckPixels refuses images whose pixel count exceeds budget (0 means
// DefaultMaxPixels) with a permanent decompression_bomb error. Call it with
// header dimensions before decoding anything.
func CheckPixels(w, h, budget int64) error {
	if budget <= 0 {
		budget = DefaultMaxPixels
	}
	if w <= 0 || h <= 0 {
		return reason.Newf(CodeInvalidHeader, "image header has size %dx%d", w, h)
	}
	// Divide rather than multiply so absurd headers cannot overflow.
	if w > budget || h > budget/w {
		return reason.Newf(CodeDecompressionBomb, "image is %dx%d pixels, budget is %d", w, h, budget).
			With("width", w).With("height", h).With("max_pixels", budget)
	}
	return nil
}

// DecodeImage decodes an image after checking its header against the pixel
// budget (maxPixels 0 means DefaultMaxPixels), so a small file that claims
// to be 100k×100k is rejected without allocating anything. An animated WebP
// yields its first frame.
func DecodeImage(r io.ReadSeeker, maxPixels int64) (image.Image, string, error) {
	cfg, format, err := decodeConfig(r)
	if err != nil {
		return nil, "", err
	}
	if err := CheckPixels(int64(cfg.Width), int64(cfg.Height), maxPixels); err != nil {
		return nil, format, err
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, format, reason.Transient(CodeNotReadable, err)
	}
	if format == "webp" {
		if ra, ok := r.(io.ReaderAt); ok {
			if frame, ok := firstWebPFrame(ra); ok {
				img, _, err := image.Decode(frame)
				if err != nil {
					return nil, format, reason.Permanent(CodeDecodeFailed, fmt.Errorf("decode webp frame: %w", err))
				}
				return img, format, nil
			}
		}
	}
	img, _, err := image.Decode(bufio.NewReaderSize(r, 64<<10))
	if err != nil {
		return nil, format, decodeError(err)
	}
	return img, format, nil
}

func decodeError(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return reason.Permanent(CodeTruncatedFile, fmt.Errorf("decode image: %w", err))
	}
	return reason.Permanent(CodeDecodeFailed, fmt.Errorf("decode image: %w", err))
}

// DecodeImageFile is DecodeImage on a path.
func DecodeImageFile(path string, maxPixels int64) (image.Image, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, "", openError(err)
	}
	defer f.Close()
	return DecodeImage(f, maxPixels)
}

// CheckImage is the integrity check for images (spec 6.2, without the GD
// memory blow-up): the file must exist and be non-empty, its header must
// parse, it must fit the pixel budget, it must decode completely, and a
// JPEG must end with an EOI marker (Go's decoder, like ffmpeg, accepts some
// truncated progressive JPEGs). Errors carry missing_file, empty_file,
// invalid_header, unsupported_type, decompression_bomb, decode_failed or
// truncated_file.
func CheckImage(path string, maxPixels int64) error {
	f, err := os.Open(path)
	if err != nil {
		return openError(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return reason.Transient(CodeNotReadable, err)
	}
	if !st.Mode().IsRegular() {
		return reason.New(CodeMissingFile, "not a regular file")
	}
	if st.Size() == 0 {
		return reason.New(CodeEmptyFile, "file is empty")
	}
	if _, ok := streamablePNG(f); ok {
		return checkPNG(f, maxPixels)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return reason.Transient(CodeNotReadable, err)
	}
	_, format, err := DecodeImage(f, maxPixels)
	if err != nil {
		return err
	}
	if format == "jpeg" {
		ok, err := jpegHasEOI(io.NewSectionReader(f, 0, st.Size()))
		if err != nil {
			return reason.Transient(CodeNotReadable, err)
		}
		if !ok {
			return reason.New(CodeTruncatedFile, "jpeg has no end-of-image marker")
		}
	}
	return nil
}

// checkPNG verifies a non-interlaced PNG row by row (pkg/pngstream: the
// same checks as image/png, without the full pixel buffer, so a PNG at the
// pixel budget costs a few rows instead of 400 MB).
func checkPNG(f io.ReadSeeker, maxPixels int64) error {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return reason.Transient(CodeNotReadable, err)
	}
	cfg, _, err := decodeConfig(f)
	if err != nil {
		return err
	}
	if err := CheckPixels(int64(cfg.Width), int64(cfg.Height), maxPixels); err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return reason.Transient(CodeNotReadable, err)
	}
	if err := pngstream.Check(f); err != nil {
		return decodeError(err)
	}
	return nil
}

// jpegHasEOI reports whether an EOI marker properly ends the JPEG in r
// (jpegWalker: data after EOI is ignored, tables right before it are a
// truncation). Only a read error is an error.
func jpegHasEOI(r io.Reader) (bool, error) {
	w := &StructureCheck{jpeg: &jpegWalker{}}
	if _, err := io.Copy(w, r); err != nil {
		return false, err
	}
	return w.jpeg.st == jDone && w.jpeg.ok, nil
}
