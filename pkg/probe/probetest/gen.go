package probetest

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/svtest"
)

// RenderVideo renders the lavfi source graph (e.g.
// "color=c=black:s=64x48:d=4:r=10,geq=lum='T*60':cb=128:cr=128") with
// the given codec arguments into a file named name in a temporary folder
// and returns its path. It skips like svtest.RequireTool without ffmpeg.
func RenderVideo(tb testing.TB, name, lavfi string, codecArgs ...string) string {
	tb.Helper()
	bin := svtest.RequireTool(tb, "ffmpeg")
	out := filepath.Join(tb.TempDir(), name)
	args := append([]string{"-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i", lavfi}, codecArgs...)
	if b, err := exec.Command(bin, append(args, out)...).CombinedOutput(); err != nil {
		tb.Fatalf("ffmpeg: %v: %s", err, b)
	}
	return out
}

// PNGHeaderOnly returns a PNG signature plus a valid IHDR chunk claiming
// w×h 8-bit RGBA pixels, and no image data at all: a decompression bomb
// for pixel-budget tests that costs a few bytes.
func PNGHeaderOnly(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 6 // 8-bit RGBA
	binary.Write(&b, binary.BigEndian, uint32(len(ihdr)))
	crc := crc32.NewIEEE()
	crc.Write([]byte("IHDR"))
	crc.Write(ihdr)
	b.WriteString("IHDR")
	b.Write(ihdr)
	binary.Write(&b, binary.BigEndian, crc.Sum32())
	return b.Bytes()
}
