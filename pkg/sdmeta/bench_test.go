package sdmeta

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// benchFiles writes a folder of typical AI outputs: 1.5 MB PNGs with A1111
// parameters before IDAT and a ComfyUI prompt after it, and 1.2 MB JPEGs
// with a UTF-16 UserComment.
func benchFiles(b *testing.B) []string {
	dir := b.TempDir()
	var files []string
	comfy := `{"3":{"class_type":"KSampler","inputs":{"seed":1,"steps":20,"cfg":7,"sampler_name":"euler","scheduler":"normal","denoise":1,"model":["4",0],"positive":["6",0],"negative":["7",0],"latent_image":["5",0]}},"4":{"class_type":"CheckpointLoaderSimple","inputs":{"ckpt_name":"m.safetensors"}},"5":{"class_type":"EmptyLatentImage","inputs":{"width":512,"height":512,"batch_size":1}},"6":{"class_type":"CLIPTextEncode","inputs":{"text":"a cat","clip":["4",1]}},"7":{"class_type":"CLIPTextEncode","inputs":{"text":"bad","clip":["4",1]}}}`
	for i := 0; i < 4; i++ {
		p := filepath.Join(dir, "img"+string(rune('a'+i))+".png")
		os.WriteFile(p, buildPNG(1024, 1024, [][]byte{tEXt("parameters", a1111Text)}, 1500<<10, [][]byte{tEXt("prompt", comfy)}), 0o644)
		files = append(files, p)
		uc := append([]byte("UNICODE\x00"), utf16Bytes(a1111Text, binary.BigEndian, false)...)
		j := buildJPEG(jpegSeg(0xE1, append([]byte("Exif\x00\x00"), buildTIFF(binary.BigEndian, nil, []tiffTag{{0x9286, 7, uc}})...)))
		j = append(j[:len(j)-2], append(bytes.Repeat([]byte{0x33}, 1200<<10), 0xFF, 0xD9)...)
		p = filepath.Join(dir, "img"+string(rune('a'+i))+".jpg")
		os.WriteFile(p, j, 0o644)
		files = append(files, p)
	}
	return files
}

func BenchmarkExtract(b *testing.B) {
	files := benchFiles(b)
	ctx := context.Background()
	var read, size int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f := files[i%len(files)]
		r, err := Extract(ctx, f, Options{})
		if err != nil || !r.HasPrompt() {
			b.Fatalf("%s: %v %q", f, err, r.Format)
		}
		read += r.BytesRead
		st, _ := os.Stat(f)
		size += st.Size()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "files/s")
	b.ReportMetric(float64(read)/float64(b.N), "bytesread/file")
	b.ReportMetric(float64(size)/float64(b.N), "filesize/file")
}

// BenchmarkSHA256Same hashes the same files, the cost extraction must beat.
func BenchmarkSHA256Same(b *testing.B) {
	files := benchFiles(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f, err := os.Open(files[i%len(files)])
		if err != nil {
			b.Fatal(err)
		}
		h := sha256.New()
		io.Copy(h, f)
		f.Close()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "files/s")
}

func BenchmarkParseA1111(b *testing.B) {
	for i := 0; i < b.N; i++ {
		ParseA1111(a1111Text)
	}
}
