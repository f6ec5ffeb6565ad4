package sdmeta

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/svtest/pngtest"
)

// C2PA fixtures (issue #19): JUMBF-shaped manifest stores with CBOR text
// strings where C2PA puts them (ISO 19566-5 boxes; C2PA 2.x
// claim_generator_info {name, version}, 1.x claim_generator; the
// c2pa.actions assertion's digitalSourceType IPTC URI), after the public
// C2PA specification and enslo/sd-metadata's detector (MIT). Not signed,
// not valid manifests: only the markers a byte scan reads. Generated into
// testdata/c2pa from c2paFixtures (SDMETA_WRITE_FIXTURES=1 go test -run
// TestC2PA ./pkg/sdmeta/).

// cborStr is a CBOR text string (major type 3).
func cborStr(s string) []byte {
	n := len(s)
	switch {
	case n < 24:
		return append([]byte{0x60 | byte(n)}, s...)
	case n < 256:
		return append([]byte{0x78, byte(n)}, s...)
	}
	return append([]byte{0x79, byte(n >> 8), byte(n)}, s...)
}

// cborMap is a CBOR map of text keys to encoded values (< 24 pairs).
func cborMap(kv ...any) []byte {
	out := []byte{0xa0 | byte(len(kv)/2)}
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, cborStr(kv[i].(string))...)
		switch v := kv[i+1].(type) {
		case string:
			out = append(out, cborStr(v)...)
		case []byte:
			out = append(out, v...)
		}
	}
	return out
}

// cborArr is a CBOR array of encoded items (< 24).
func cborArr(items ...[]byte) []byte {
	return append([]byte{0x80 | byte(len(items))}, bytes.Join(items, nil)...)
}

// jumbfBox is an ISO BMFF-style box: LBox, TBox, payload.
func jumbfBox(typ string, payload ...[]byte) []byte {
	body := bytes.Join(payload, nil)
	out := binary.BigEndian.AppendUint32(nil, uint32(8+len(body)))
	return append(append(out, typ...), body...)
}

// jumbfSuper is a JUMBF superbox: a description box (type UUID, toggles,
// label) and content boxes.
func jumbfSuper(uuid4, label string, content ...[]byte) []byte {
	jumd := jumbfBox("jumd", []byte(uuid4), []byte("\x00\x11\x00\x10\x80\x00\x00\xaa\x00\x38\x9b\x71\x03"), []byte(label+"\x00"))
	return jumbfBox("jumb", append([][]byte{jumd}, content...)...)
}

// c2paStore is a manifest store with one manifest: a claim and a
// c2pa.actions assertion.
func c2paStore(claim, actions []byte) []byte {
	return jumbfSuper("c2pa", "c2pa",
		jumbfSuper("c2ma", "urn:c2pa:5e1f0a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b",
			jumbfSuper("c2as", "c2pa.assertions",
				jumbfSuper("cbor", "c2pa.actions.v2", jumbfBox("cbor", actions))),
			jumbfSuper("c2cl", "c2pa.claim.v2", jumbfBox("cbor", claim))))
}

const iptcDST = "http://cv.iptc.org/newscodes/digitalsourcetype/"

func c2paActions(sourceType string) []byte {
	return cborMap("actions", cborArr(cborMap("action", "c2pa.created", "digitalSourceType", iptcDST+sourceType)))
}

// The three vendors' shapes: OpenAI's 2.x claim (claim_generator_info a
// map), Google's (an array of maps, signer "Google LLC"), Adobe Firefly's
// 1.x claim_generator string.
var (
	c2paOpenAI = c2paStore(cborMap("instanceID", "xmp:iid:1f2e3d4c", "claim_generator_info", cborMap("name", "OpenAI Media Service API", "version", "1.0")),
		c2paActions("trainedAlgorithmicMedia"))
	c2paGoogle = c2paStore(cborMap("claim_generator_info", cborArr(cborMap("name", "Google C2PA Core Generator Library", "version", "2.0")), "signer", "Google LLC"),
		c2paActions("trainedAlgorithmicMedia"))
	c2paAdobe = c2paStore(cborMap("claim_generator", "Adobe_Firefly/2.1 c2pa-rs/0.32.0", "signature", "self#jumbf=c2pa.signature"),
		c2paActions("compositeWithTrainedAlgorithmicMedia"))
	// A camera-made image (a Photoshop edit signed by Adobe): not AI.
	c2paCamera = c2paStore(cborMap("claim_generator_info", cborMap("name", "Adobe Photoshop", "version", "26.0"), "signer", "Adobe Inc."),
		c2paActions("digitalCapture"))
)

// jpegAPP11 splits a JUMBF box into APP11 packets of at most size bytes of
// payload each ("JP", instance 1, sequence numbers, the box header
// repeated in every packet).
func jpegAPP11(box []byte, size int) [][]byte {
	var out [][]byte
	hdr, body := box[:8], box[8:]
	for seq := uint32(1); len(body) > 0; seq++ {
		n := min(size, len(body))
		p := append([]byte("JP\x00\x01"), binary.BigEndian.AppendUint32(nil, seq)...)
		p = append(append(p, hdr...), body[:n]...)
		out = append(out, jpegSeg(0xEB, p))
		body = body[n:]
	}
	return out
}

const c2paPNGText = "a cat on a sofa\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 5, Size: 512x512, Model: catmix"

// c2paFixtures builds the testdata/c2pa files by name.
func c2paFixtures() map[string][]byte {
	return map[string][]byte{
		"c2pa_openai.png": buildPNG(64, 64, [][]byte{pngtest.Chunk("caBX", c2paOpenAI)}, 2000, nil),
		// Small packets: the generator name spans two APP11 segments.
		"c2pa_google.jpg": buildJPEG(jpegAPP11(c2paGoogle, 40)...),
		// A Stable Diffusion PNG later signed in an editor: the parameters win.
		"c2pa_a1111_text_wins.png": buildPNG(64, 64, [][]byte{tEXt("parameters", c2paPNGText), pngtest.Chunk("caBX", c2paCamera)}, 2000, nil),
	}
}

// TestC2PA: the manifest summary per vendor and container, FormatC2PA
// only where no parameters exist.
func TestC2PA(t *testing.T) {
	if os.Getenv("SDMETA_WRITE_FIXTURES") == "1" {
		writeFixtureFiles(t, filepath.Join("testdata", "c2pa"), c2paFixtures())
	}
	file := func(name string) func() (Result, error) {
		return func() (Result, error) {
			return Extract(context.Background(), filepath.Join("testdata", "c2pa", name), Options{})
		}
	}
	mem := func(data []byte, name string) func() (Result, error) {
		return func() (Result, error) {
			return ExtractBytes(context.Background(), data, name, Options{StealthAuto: true})
		}
	}
	type want struct {
		format, vendor, sourceType, generator, prompt string
		ai                                            bool
	}
	for _, c := range []struct {
		name    string
		extract func() (Result, error)
		want    want
	}{
		{"c2pa_openai.png", file("c2pa_openai.png"), want{FormatC2PA, C2PAVendorOpenAI, iptcDST + "trainedAlgorithmicMedia", "OpenAI Media Service API", "", true}},
		{"c2pa_google.jpg", file("c2pa_google.jpg"), want{FormatC2PA, C2PAVendorGoogle, iptcDST + "trainedAlgorithmicMedia", "Google C2PA Core Generator Library", "", true}},
		{"c2pa_a1111_text_wins.png", file("c2pa_a1111_text_wins.png"), want{FormatA1111, C2PAVendorAdobe, iptcDST + "digitalCapture", "Adobe Photoshop", "a cat on a sofa", false}},
		{"adobe firefly webp", mem(buildWebP(riffChunk("C2PA", c2paAdobe)), "x.webp"), want{FormatC2PA, C2PAVendorAdobe, iptcDST + "compositeWithTrainedAlgorithmicMedia", "Adobe_Firefly/2.1 c2pa-rs/0.32.0", "", true}},
		{"one-packet jpeg", mem(buildJPEG(jpegAPP11(c2paOpenAI, 60000)...), "x.jpg"), want{FormatC2PA, C2PAVendorOpenAI, iptcDST + "trainedAlgorithmicMedia", "OpenAI Media Service API", "", true}},
		// An unknown signer with an AI source type.
		{"unknown vendor", mem(buildPNG(8, 8, [][]byte{pngtest.Chunk("caBX", c2paStore(cborMap("claim_generator_info", cborMap("name", "Example Gen")), c2paActions("algorithmicMedia")))}, 10, nil), "x.png"),
			want{FormatC2PA, C2PAVendorUnknown, iptcDST + "algorithmicMedia", "Example Gen", "", true}},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := c.extract()
			if err != nil {
				t.Fatal(err)
			}
			got := want{format: res.Format, prompt: res.Prompt}
			sum, _ := res.SourceMetadata["c2pa"].(map[string]any)
			got.vendor, _ = sum["vendor"].(string)
			got.sourceType, _ = sum["digital_source_type"].(string)
			got.generator, _ = sum["claim_generator"].(string)
			got.ai, _ = sum["ai_generated"].(bool)
			if got != c.want {
				t.Errorf("got %+v\nwant %+v", got, c.want)
			}
			if res.SamplerSettings["c2pa_vendor"] != c.want.vendor {
				t.Errorf("sampler_settings %v", res.SamplerSettings)
			}
			if c.want.format == FormatC2PA && res.SourceMetadata["format"] != FormatC2PA {
				t.Errorf("source_metadata %v", res.SourceMetadata)
			}
			checkResult(t, res)
		})
	}
}

// TestC2PAFixturesCurrent: the committed fixtures are the generator's.
func TestC2PAFixturesCurrent(t *testing.T) {
	checkFixturesCurrent(t, filepath.Join("testdata", "c2pa"), c2paFixtures())
}

// TestC2PAHostile: damaged manifests give a partial summary, never a
// panic or a read past the data.
func TestC2PAHostile(t *testing.T) {
	for _, c := range []struct {
		name      string
		data      []byte
		generator string
	}{
		{"empty", nil, ""},
		{"marker at the end", []byte("claim_generator_info\x64name"), ""},
		{"length past the end", []byte("claim_generator_info\x64name\x79\xff\xffabc"), ""},
		{"8-byte length", []byte("claim_generator_info\x64name\x7b\x00\x00\x00\x00\x00\x00\x00\x03abc"), ""},
		{"invalid utf-8", []byte("claim_generator_info\x64name\x62\xff\xfe"), ""},
		{"control characters dropped", []byte("claim_generator_info\x64name\x63a\x00b"), "ab"},
		{"name outside the window", append(append([]byte("claim_generator_info"), bytes.Repeat([]byte{0}, 300)...), "\x64name\x61x"...), ""},
		{"uri without scheme", []byte("cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			info := scanC2PA(c.data)
			if info.generator != c.generator || info.aiGenerated || info.vendor != C2PAVendorUnknown {
				t.Errorf("%+v", info)
			}
		})
	}
	// A caBX chunk whose length runs past the file, and one far above
	// the scan cap: a warning, no panic.
	long := pngtest.Chunk("caBX", c2paOpenAI)
	binary.BigEndian.PutUint32(long, 0x7000_0000)
	for _, data := range [][]byte{
		buildPNG(8, 8, [][]byte{long}, 10, nil),
		buildJPEG(jpegSeg(0xEB, []byte("JP\x00\x01\x00\x00\x00\x01\x00\x00\x00\x01jumb"))),
		buildWebP(riffChunk("C2PA", []byte("jumb"))),
	} {
		res, err := ExtractBytes(context.Background(), data, "x", Options{MaxTextBytes: 1 << 10})
		if err != nil {
			t.Fatal(err)
		}
		checkResult(t, res)
	}
}

// TestC2PASkipsStealthAuto: a signed RGBA PNG without text is not decoded
// for stealth info under auto.
func TestC2PASkipsStealthAuto(t *testing.T) {
	data := buildPNG(8, 8, [][]byte{pngtest.Chunk("caBX", c2paOpenAI)}, 10, nil)
	col := &collector{res: &Result{}, pngAlpha: true}
	if err := readPNG(context.Background(), bytes.NewReader(data), col); err != nil {
		t.Fatal(err)
	}
	if (Options{StealthAuto: true}).wantStealth(contPNG, col) {
		t.Error("stealth decode wanted for a C2PA-signed PNG")
	}
}
