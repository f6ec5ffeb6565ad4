package sdmeta

import (
	"encoding/binary"
	"testing"
)

func TestTIFFByteOrder(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want binary.ByteOrder
		ok   bool
	}{
		{"intel", "II*\x00\x08\x00\x00\x00", binary.LittleEndian, true},
		{"motorola", "MM\x00*\x00\x00\x00\x08", binary.BigEndian, true},
		{"two bytes are enough", "MM", binary.BigEndian, true},
		{"mixed case", "Mi*\x00", nil, false},
		{"one byte", "I", nil, false},
		{"empty", "", nil, false},
		{"not tiff", "\xff\xd8\xff\xe1", nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := TIFFByteOrder([]byte(tc.in))
			if got != tc.want || ok != tc.ok {
				t.Fatalf("TIFFByteOrder(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}
