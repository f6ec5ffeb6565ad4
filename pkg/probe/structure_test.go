package probe

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path"
	"path/filepath"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/svtest"
)

// streamed runs a StructureCheck over data written in pieces of chunk
// bytes, as the importer's hashing loop hands them over.
func streamed(data []byte, chunk int) error {
	c := NewStructureCheck(data[:min(len(data), StructureHead)])
	if c == nil {
		return nil
	}
	for p := data; len(p) > 0; {
		k := min(chunk, len(p))
		c.Write(p[:k])
		p = p[k:]
	}
	return c.Err()
}

// checkBoth runs the streamed check with several write sizes and
// CheckStructure (box walk by ReadAt for MP4), fails the test when they
// disagree and returns the reason code ("" for none).
func checkBoth(t *testing.T, data []byte) string {
	t.Helper()
	want := CheckStructure(bytes.NewReader(data), int64(len(data)))
	for _, chunk := range []int{1, 3, 7, 4096, len(data) + 1} {
		if got := streamed(data, chunk); reason.Code(got) != reason.Code(want) {
			t.Fatalf("streamed in %d-byte writes: %v; CheckStructure: %v", chunk, got, want)
		}
	}
	return reason.Code(want)
}

// TestStructureRealWorld: the structural check flags the shared corrupt
// fixtures a cut or a bad CRC broke, each with its reason, and no
// healthy fixture.
func TestStructureRealWorld(t *testing.T) {
	root := svtestSharedFixtures(t)
	corrupt := map[string]string{
		"derived_mkvparse_example-cover_half.mkv":    CodeTruncatedFile,
		"derived_mp4ff_bbb_prog_10s_half.mp4":        CodeTruncatedFile,
		"derived_mp4ff_prog_8s_half.mp4":             CodeTruncatedFile,
		"gomp4_sample_qt_moov_only.mp4":              CodeMediaDataMissing,
		"gostd_invalid-crc32.png":                    CodeCRCMismatch,
		"gostd_invalid-noend.png":                    CodeTruncatedFile,
		"gostd_invalid-trunc.png":                    CodeTruncatedFile,
		"gostd_video-001.progressive.truncated.jpeg": CodeTruncatedFile,
		"mp4ff_init_truncated.mp4":                   CodeTruncatedFile,
		"pillow_broken.png":                          CodeTruncatedFile,
		"pillow_broken_data_stream.png":              CodeCRCMismatch,
		"pillow_truncated_end_chunk.png":             CodeTruncatedFile,
		"pillow_truncated_image.png":                 CodeTruncatedFile,
		"pillow_truncated_jpeg.jpg":                  CodeTruncatedFile,
		// Not in the list (""): damage only a decode sees (zlib checksum,
		// scan data, EXIF), or not a media file at all.
	}
	for _, rel := range svtest.SharedFixtureFiles(t) {
		data, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		want := ""
		if dir, name := path.Split(rel); dir == "corrupt/" {
			want = corrupt[name]
		}
		t.Run(rel, func(t *testing.T) {
			if got := checkBoth(t, data); got != want {
				t.Errorf("code %q, want %q", got, want)
			}
		})
	}
}

func pngChunk(typ string, data []byte) []byte {
	out := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	out = append(out, typ...)
	out = append(out, data...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(append([]byte(typ), data...)))
}

func box(typ string, payload int) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(8+payload)), append([]byte(typ), make([]byte, payload)...)...)
}

// TestStructureCases covers what the fixtures do not: data after the end
// marker (motion photos, trailers), 64-bit and to-the-end MP4 boxes,
// fragmented MP4, Matroska of unknown size.
func TestStructureCases(t *testing.T) {
	png := append(append(append([]byte(nil), pngSig...), pngChunk("IHDR", make([]byte, 13))...), pngChunk("IEND", nil)...)
	jpeg := []byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 1, 2, 0xFF, 0xDA, 0, 2, 5, 0xFF, 0, 6, 0xFF, 0xD9}
	big := binary.BigEndian.AppendUint32(nil, 1)
	big = binary.BigEndian.AppendUint64(append(big, "mdat"...), 16+5)
	big = append(big, 1, 2, 3, 4, 5)
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	mkv := func(size byte) []byte {
		return []byte{0x1A, 0x45, 0xDF, 0xA3, 0x80, 0x18, 0x53, 0x80, 0x67, size, 1, 2, 3, 4, 5, 6}
	}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"png", png, ""},
		{"png trailer after IEND", cat(png, []byte("trailing")), ""},
		{"png cut in IEND crc", png[:len(png)-2], CodeTruncatedFile},
		{"png without IEND", png[:len(png)-12], CodeTruncatedFile},
		{"png bad crc", cat(png[:len(png)-13], []byte{0}, png[len(png)-12:]), CodeCRCMismatch},
		{"jpeg", jpeg, ""},
		{"jpeg motion photo trailer", cat(jpeg, box("ftyp", 8)), ""},
		{"jpeg cut", jpeg[:len(jpeg)-2], CodeTruncatedFile},
		{"jpeg tables then EOI", []byte{0xFF, 0xD8, 0xFF, 0xC4, 0, 2, 0xFF, 0xD9}, CodeTruncatedFile},
		{"mp4", cat(box("ftyp", 8), box("moov", 20), box("mdat", 30)), ""},
		{"mp4 64-bit mdat", cat(box("ftyp", 8), box("moov", 20), big), ""},
		{"mp4 fragmented", cat(box("ftyp", 8), box("moov", 20), box("moof", 4), box("mdat", 3)), ""},
		{"mp4 mdat to the end", cat(box("ftyp", 8), box("moov", 2), []byte{0, 0, 0, 0, 'm', 'd', 'a', 't', 9}), ""},
		{"mp4 cut in mdat", cat(box("ftyp", 8), box("moov", 20), box("mdat", 30))[:50], CodeTruncatedFile},
		{"mp4 cut in a header", cat(box("ftyp", 8), box("moov", 20), box("mdat", 30))[:48], CodeTruncatedFile},
		{"mp4 moov missing", cat(box("ftyp", 8), box("mdat", 30)), CodeMoovMissing},
		{"mp4 media data missing", cat(box("ftyp", 8), box("moov", 30)), CodeMediaDataMissing},
		{"mkv", mkv(0x86), ""},
		{"mkv cut", mkv(0x87), CodeTruncatedFile},
		{"mkv unknown size", mkv(0xFF), ""},
		{"webp riff short", cat([]byte("RIFF\x10\x00\x00\x00WEBP"), make([]byte, 4)), CodeRIFFSize},
		{"webp riff padded", cat([]byte("RIFF\x07\x00\x00\x00WEBP"), make([]byte, 4)), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := checkBoth(t, tc.data); got != tc.want {
				t.Errorf("code %q, want %q", got, tc.want)
			}
		})
	}
}

// BenchmarkStructureCheck: the check's cost per file beside the hashing it
// rides on (a small PNG as the import benchmark uses, and 4 MiB of PNG
// chunk data / JPEG scan data for throughput).
func BenchmarkStructureCheck(b *testing.B) {
	bigPNG := append(append(append([]byte(nil), pngSig...), pngChunk("IDAT", bytes.Repeat([]byte{7}, 4<<20))...), pngChunk("IEND", nil)...)
	// Scan data as an encoder writes it: every 0xFF stuffed with 0x00.
	bigJPEG := []byte{0xFF, 0xD8, 0xFF, 0xDA, 0, 2}
	for x := uint32(1); len(bigJPEG) < 4<<20; x = x*1664525 + 1013904223 {
		bigJPEG = append(bigJPEG, byte(x>>24))
		if byte(x>>24) == 0xFF {
			bigJPEG = append(bigJPEG, 0)
		}
	}
	bigJPEG = append(bigJPEG, 0xFF, 0xD9)
	small := append(append(append([]byte(nil), pngSig...), pngChunk("IHDR", make([]byte, 13))...), pngChunk("IEND", nil)...)
	for _, c := range []struct {
		name string
		data []byte
	}{{"png_small", small}, {"png_4MiB", bigPNG}, {"jpeg_4MiB", bigJPEG}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.data)))
			for i := 0; i < b.N; i++ {
				if err := streamed(c.data, 128<<10); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
