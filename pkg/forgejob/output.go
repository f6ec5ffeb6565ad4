package forgejob

import (
	"bytes"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"

	"github.com/nfnt/resize"

	"github.com/localsupervisor/supervisor/pkg/forge"
	"github.com/localsupervisor/supervisor/pkg/library"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

// Output is one generated variant after it was brought back to the
// original's size and format.
type Output struct {
	Data   []byte `json:"-"`
	Ext    string `json:"ext"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	MD5    string `json:"md5"`
	// GenWidth/GenHeight are the size Forge generated at.
	GenWidth  int  `json:"gen_width"`
	GenHeight int  `json:"gen_height"`
	Resized   bool `json:"resized"`
	// FormatPreserved is false when the original's format cannot be written
	// (WebP, GIF, …) and PNG was used instead.
	FormatPreserved bool `json:"format_preserved"`
}

// PrepareOutput resizes im to w×h (when both are known and differ) and
// encodes it in the original's format: JPEG q95 for jpg/jpeg, PNG otherwise.
// PNG outputs keep the generation parameters (A1111 "parameters" tEXt) so a
// later metadata extraction finds them.
func PrepareOutput(im forge.Image, w, h int, origExt, infotext string) (Output, error) {
	origExt = strings.ToLower(strings.TrimPrefix(origExt, "."))
	out := Output{GenWidth: im.Width, GenHeight: im.Height, Width: im.Width, Height: im.Height}
	needResize := w > 0 && h > 0 && (w != im.Width || h != im.Height)
	target := "png"
	if origExt == "jpg" || origExt == "jpeg" {
		target = origExt
	}
	out.FormatPreserved = target == origExt || origExt == ""
	// Untouched PNG from Forge: keep its bytes (and its parameters chunk).
	if !needResize && target == "png" && im.Format == "png" {
		out.Data, out.Ext = im.Data, "png"
		out.MD5 = md5hex(out.Data)
		return out, nil
	}
	img, _, err := image.Decode(bytes.NewReader(im.Data))
	if err != nil {
		return out, reason.Transient(CodeOutputFailed, fmt.Errorf("decode forge output: %w", err))
	}
	if needResize {
		img = resize.Resize(uint(w), uint(h), img, resize.Lanczos3)
		out.Width, out.Height, out.Resized = w, h, true
	}
	var buf bytes.Buffer
	if target == "png" {
		if err := png.Encode(&buf, img); err != nil {
			return out, reason.Permanent(CodeOutputFailed, err)
		}
		out.Data = withPNGText(buf.Bytes(), "parameters", infotext)
	} else {
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}); err != nil {
			return out, reason.Permanent(CodeOutputFailed, err)
		}
		out.Data = buf.Bytes()
	}
	out.Ext = target
	out.MD5 = md5hex(out.Data)
	return out, nil
}

func md5hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

// withPNGText inserts a tEXt chunk right after IHDR (where A1111 writes
// it). Empty text or a malformed PNG returns data unchanged.
func withPNGText(data []byte, key, text string) []byte {
	const sigLen, ihdrLen = 8, 8 + 13 + 4
	if text == "" || len(data) < sigLen+ihdrLen || string(data[12:16]) != "IHDR" {
		return data
	}
	body := append([]byte(key+"\x00"), []byte(latin1(text))...)
	chunk := make([]byte, 0, len(body)+12)
	chunk = binary.BigEndian.AppendUint32(chunk, uint32(len(body)))
	chunk = append(chunk, "tEXt"...)
	chunk = append(chunk, body...)
	chunk = binary.BigEndian.AppendUint32(chunk, crc32.ChecksumIEEE(chunk[4:]))
	at := sigLen + ihdrLen
	out := make([]byte, 0, len(data)+len(chunk))
	out = append(out, data[:at]...)
	out = append(out, chunk...)
	return append(out, data[at:]...)
}

// latin1 keeps tEXt valid: characters outside Latin-1 become '?'.
func latin1(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r > 0xff {
			r = '?'
		}
		b.WriteByte(byte(r))
	}
	return b.String()
}

// writeFileAtomic writes data to path through a temp file in the same
// directory, fsyncs it, reads it back and renames it into place only when
// it holds exactly data, so path holds either the old or the complete,
// verified new content at every instant (a replace in place overwrites
// the original only with proven bytes).
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.svtmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		if ok, err := library.SameContent(tmp, md5hex(data)); err != nil || !ok {
			werr = fmt.Errorf("%s does not read back as written (%v)", tmp, err)
		}
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		_ = os.Remove(tmp)
		return werr
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// fileMD5 hashes a file.
func fileMD5(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return md5hex(b), nil
}

var errNotOutside = errors.New("directory lies inside the media roots")
