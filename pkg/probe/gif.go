package probe

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

// IsAnimatedGIF reports whether a GIF stream holds more than one image. It
// walks the block structure without decompressing any pixel data and stops
// at the second image descriptor, so it is cheap even for huge animations.
func IsAnimatedGIF(r io.Reader) (bool, error) {
	br := bufio.NewReaderSize(r, 4096)
	var hdr [13]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return false, gifErr("header", err)
	}
	if string(hdr[:3]) != "GIF" {
		return false, reason.New(CodeInvalidHeader, "not a GIF")
	}
	if hdr[10]&0x80 != 0 { // global colour table follows
		if err := discard(br, 3*(1<<(int(hdr[10]&7)+1))); err != nil {
			return false, gifErr("global colour table", err)
		}
	}
	images := 0
	for {
		b, err := br.ReadByte()
		if err != nil {
			return false, gifErr("block", err)
		}
		switch b {
		case 0x21: // extension: label then sub-blocks
			if _, err := br.ReadByte(); err != nil {
				return false, gifErr("extension", err)
			}
			if err := skipSubBlocks(br); err != nil {
				return false, gifErr("extension", err)
			}
		case 0x2C: // image descriptor
			images++
			if images > 1 {
				return true, nil
			}
			var d [9]byte
			if _, err := io.ReadFull(br, d[:]); err != nil {
				return false, gifErr("image descriptor", err)
			}
			if d[8]&0x80 != 0 {
				if err := discard(br, 3*(1<<(int(d[8]&7)+1))); err != nil {
					return false, gifErr("local colour table", err)
				}
			}
			if _, err := br.ReadByte(); err != nil { // LZW minimum code size
				return false, gifErr("image data", err)
			}
			if err := skipSubBlocks(br); err != nil {
				return false, gifErr("image data", err)
			}
		case 0x3B: // trailer
			return false, nil
		default:
			return false, reason.Newf(CodeInvalidHeader, "gif: unknown block 0x%02x", b)
		}
	}
}

func skipSubBlocks(br *bufio.Reader) error {
	for {
		n, err := br.ReadByte()
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if err := discard(br, int(n)); err != nil {
			return err
		}
	}
}

func discard(br *bufio.Reader, n int) error {
	got, err := br.Discard(n)
	if got < n && err == nil {
		err = io.ErrUnexpectedEOF
	}
	return err
}

func gifErr(what string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return reason.Permanent(CodeTruncatedFile, fmt.Errorf("gif %s: %w", what, err))
	}
	return reason.Transient(CodeNotReadable, fmt.Errorf("gif %s: %w", what, err))
}
