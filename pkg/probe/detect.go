// Package probe identifies media files and reads their technical properties:
// the file type from magic bytes (never from the name), image dimensions from
// the header only, video properties through ffprobe, single frames and decode
// checks through ffmpeg.
//
// Every error a caller may show to a user carries a reason code from package
// reason (unsupported_type, invalid_header, decompression_bomb,
// ffprobe_failed, video_decode_error, …) and is classified permanent (the
// file is the problem: retrying cannot help) or transient (timeouts, load).
package probe

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

// Kind is the media kind as stored in media.type.
type Kind string

// Media kinds. GIF is an image unless it is animated, in which case it is a
// video, as in the original (an animated GIF is browsed like a clip).
const (
	KindImage Kind = "image"
	KindVideo Kind = "video"
)

// Reason codes returned by this package.
const (
	CodeUnsupportedType   = "unsupported_type"
	CodeEmptyFile         = "empty_file"
	CodeMissingFile       = "missing_file"
	CodeNotReadable       = "not_readable"
	CodeInvalidHeader     = "invalid_header"
	CodeDecompressionBomb = "decompression_bomb"
	CodeDecodeFailed      = "decode_failed"
	CodeTruncatedFile     = "truncated_file"
	// Structural checks (structure.go): a chunk whose CRC does not match
	// its bytes, a WebP whose RIFF size disagrees with the file, an MP4/MOV
	// without a movie header or without any media data.
	CodeCRCMismatch      = "crc_mismatch"
	CodeRIFFSize         = "riff_size_mismatch"
	CodeMoovMissing      = "moov_missing"
	CodeMediaDataMissing = "media_data_missing"
	CodeFFprobeMissing   = "ffprobe_missing"
	CodeFFprobeFailed    = "ffprobe_failed"
	CodeFFprobeTimeout   = "ffprobe_timeout"
	CodeFFprobeBadOutput = "ffprobe_bad_output"
	CodeFFmpegMissing    = "ffmpeg_missing"
	CodeFFmpegFailed     = "ffmpeg_failed"
	CodeFFmpegTimeout    = "ffmpeg_timeout"
	CodeOutputTooLarge   = "tool_output_too_large"
	CodeNoVideoStream    = "no_video_stream"
	CodeVideoDecodeError = "video_decode_error"
	CodeNoFrame          = "no_frame"
	CodeCancelled        = "cancelled"
)

// HeaderSize is how many leading bytes DetectHeader needs to recognise every
// supported type (the EBML header with its DocType fits well inside it).
const HeaderSize = 512

// DetectType identifies a media file from its content. It returns the kind
// and the canonical lowercase extension (png, jpg, webp, gif, bmp, mp4, m4v,
// mov, mkv, webm, avi). A GIF with more than one frame is KindVideo. Unknown
// content yields a permanent unsupported_type error, an empty file
// empty_file.
func DetectType(r io.ReaderAt) (Kind, string, error) {
	head := make([]byte, HeaderSize)
	n, err := r.ReadAt(head, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return "", "", reason.Permanent(CodeNotReadable, fmt.Errorf("read header: %w", err))
	}
	kind, ext, err := DetectHeader(head[:n])
	if err != nil || ext != "gif" {
		return kind, ext, err
	}
	animated, gerr := IsAnimatedGIF(io.NewSectionReader(r, 0, 1<<62))
	if gerr != nil {
		// A GIF whose block structure is broken is still a GIF; the decoder
		// or the integrity check reports the damage with a better message.
		return KindImage, ext, nil
	}
	if animated {
		return KindVideo, ext, nil
	}
	return KindImage, ext, nil
}

// DetectFile is DetectType on a file path.
func DetectFile(path string) (Kind, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", "", openError(err)
	}
	defer f.Close()
	return DetectType(f)
}

// DetectHeader identifies a file from its first bytes (HeaderSize is
// enough). It cannot tell animated from still GIFs and reports every GIF as
// KindImage; use DetectType when the whole file is at hand.
func DetectHeader(head []byte) (Kind, string, error) {
	if len(head) == 0 {
		return "", "", reason.New(CodeEmptyFile, "file is empty")
	}
	switch {
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return KindImage, "png", nil
	case bytes.HasPrefix(head, []byte{0xFF, 0xD8, 0xFF}):
		return KindImage, "jpg", nil
	case bytes.HasPrefix(head, []byte("GIF87a")), bytes.HasPrefix(head, []byte("GIF89a")):
		return KindImage, "gif", nil
	case len(head) >= 12 && string(head[0:4]) == "RIFF" && string(head[8:12]) == "WEBP":
		return KindImage, "webp", nil
	case len(head) >= 12 && string(head[0:4]) == "RIFF" && string(head[8:12]) == "AVI ":
		return KindVideo, "avi", nil
	case bytes.HasPrefix(head, []byte{0x1A, 0x45, 0xDF, 0xA3}):
		return detectEBML(head)
	case isBMP(head):
		return KindImage, "bmp", nil
	}
	if len(head) >= 8 {
		if k, ext, ok := detectISOBMFF(head); ok {
			return k, ext, nil
		}
	}
	return "", "", reason.New(CodeUnsupportedType, "unrecognised file content")
}

// isBMP checks "BM" plus a known DIB header size, because "BM" alone is
// too common a prefix for text files.
func isBMP(h []byte) bool {
	if len(h) < 18 || h[0] != 'B' || h[1] != 'M' {
		return false
	}
	switch binary.LittleEndian.Uint32(h[14:18]) {
	case 12, 40, 52, 56, 64, 108, 124:
		return true
	}
	return false
}

// detectISOBMFF recognises MP4/MOV files by their first box. The major
// brand decides the extension; image brands (HEIF/AVIF) are not supported.
func detectISOBMFF(h []byte) (Kind, string, bool) {
	box := string(h[4:8])
	switch box {
	case "ftyp":
		if len(h) < 12 {
			return "", "", false
		}
	case "moov", "mdat", "wide", "pnot":
		// Old QuickTime files may start without ftyp.
		return KindVideo, "mov", true
	default:
		return "", "", false
	}
	brand := string(h[8:12])
	switch brand {
	case "qt  ":
		return KindVideo, "mov", true
	case "M4V ", "M4VH", "M4VP":
		return KindVideo, "m4v", true
	case "heic", "heix", "hevc", "hevx", "heim", "heis", "mif1", "msf1", "avif", "avis", "M4A ", "M4B ", "M4P ":
		return "", "", false
	}
	return KindVideo, "mp4", true
}

// detectEBML reads the EBML header to find the DocType ("webm" or
// "matroska"). A header without DocType defaults to matroska, the EBML
// specification's default.
func detectEBML(h []byte) (Kind, string, error) {
	p := 4
	size, n := readVint(h[p:], true)
	if n == 0 {
		return KindVideo, "mkv", nil
	}
	p += n
	end := p + int(min(size, uint64(len(h))))
	if end > len(h) {
		end = len(h)
	}
	for p < end {
		id, n := readVint(h[p:], false)
		if n == 0 {
			break
		}
		p += n
		sz, n := readVint(h[p:], true)
		if n == 0 || sz > uint64(len(h)) {
			break
		}
		p += n
		if p+int(sz) > len(h) {
			break
		}
		if id == 0x4282 { // DocType
			doc := string(bytes.TrimRight(h[p:p+int(sz)], "\x00"))
			if doc == "webm" {
				return KindVideo, "webm", nil
			}
			return KindVideo, "mkv", nil
		}
		p += int(sz)
	}
	return KindVideo, "mkv", nil
}

// readVint decodes an EBML variable-length integer. With stripMarker the
// length marker bit is removed (sizes); element IDs keep it.
func readVint(b []byte, stripMarker bool) (uint64, int) {
	if len(b) == 0 || b[0] == 0 {
		return 0, 0
	}
	l := 1
	for mask := byte(0x80); b[0]&mask == 0; mask >>= 1 {
		l++
	}
	if len(b) < l {
		return 0, 0
	}
	v := uint64(b[0])
	if stripMarker {
		v &= uint64(0xFF >> l)
	}
	for i := 1; i < l; i++ {
		v = v<<8 | uint64(b[i])
	}
	return v, l
}

// OpenFile opens path for reading, its failure classified like every
// probe error (missing_file, not_readable).
func OpenFile(path string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, openError(err)
	}
	return f, nil
}

// openError classifies an os.Open failure.
func openError(err error) error {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return reason.Permanent(CodeMissingFile, err)
	case errors.Is(err, os.ErrPermission):
		return reason.Permanent(CodeNotReadable, err)
	default:
		// EIO, EMFILE and friends are usually passing conditions.
		return reason.Transient(CodeNotReadable, err)
	}
}
