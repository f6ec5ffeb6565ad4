package sdmeta

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// C2PA Content Credentials: commercial generators (ChatGPT/OpenAI, Google
// Gemini, Adobe Firefly) sign a C2PA manifest into the file instead of
// writing parameters. It lives in a PNG "caBX" chunk, JPEG APP11 JUMBF
// segments or a WebP "C2PA" chunk. Only detection is done, after the
// approach of enslo/sd-metadata: the manifest's CBOR text strings (vendor
// names, the IPTC DigitalSourceType URI, claim_generator_info's name) are
// stored uncompressed, so a bounded byte scan finds them; no JUMBF/CBOR
// decoding and no signature check.

const (
	// c2paMaxScan bounds the manifest bytes read and scanned per file; real
	// manifests are far smaller (a thumbnail at most) and the markers sit
	// in the claim and assertions.
	c2paMaxScan = 8 << 20
	// c2paNameWindow is how far after "claim_generator_info" its "name"
	// key may be.
	c2paNameWindow = 256
	// c2paMaxGenerator caps the claim generator text.
	c2paMaxGenerator = 1024
	// c2paMaxSourceTypes bounds the DigitalSourceType URIs looked at.
	c2paMaxSourceTypes = 64
)

// Vendors of the C2PA summary.
const (
	C2PAVendorOpenAI  = "openai"
	C2PAVendorGoogle  = "google"
	C2PAVendorAdobe   = "adobe"
	C2PAVendorUnknown = "unknown"
)

// c2paVendorMarkers map stable manifest strings to a vendor; the first
// match wins, so a generator's own string precedes a signer's name an
// editor may share (Adobe signs Photoshop edits of other vendors' images).
var c2paVendorMarkers = []struct{ marker, vendor string }{
	{"OpenAI Media Service API", C2PAVendorOpenAI},
	{"Google C2PA", C2PAVendorGoogle},
	{"Google Media Processing Services", C2PAVendorGoogle},
	{"Google LLC", C2PAVendorGoogle},
	{"Adobe Firefly", C2PAVendorAdobe},
	{"Adobe_Firefly", C2PAVendorAdobe},
	{"Adobe Inc.", C2PAVendorAdobe},
}

// c2paAISourceTypes are the IPTC DigitalSourceType concepts that mean a
// trained or algorithmic model made the content; compared exactly, so
// digitalCapture and the like never count.
var c2paAISourceTypes = map[string]bool{
	"trainedAlgorithmicMedia":              true,
	"compositeWithTrainedAlgorithmicMedia": true,
	"algorithmicMedia":                     true,
	"compositeSynthetic":                   true,
}

const iptcSourceTypePath = "cv.iptc.org/newscodes/digitalsourcetype/"

// c2paInfo is what the scan of one manifest found.
type c2paInfo struct {
	vendor, sourceType, generator string
	aiGenerated                   bool
}

// summary is the source_metadata.c2pa object.
func (i c2paInfo) summary() map[string]any {
	m := map[string]any{"vendor": i.vendor, "ai_generated": i.aiGenerated}
	if i.sourceType != "" {
		m["digital_source_type"] = i.sourceType
	}
	if i.generator != "" {
		m["claim_generator"] = i.generator
	}
	return m
}

// scanC2PA reads the markers from manifest bytes (at most c2paMaxScan are
// looked at).
func scanC2PA(b []byte) c2paInfo {
	if len(b) > c2paMaxScan {
		b = b[:c2paMaxScan]
	}
	info := c2paInfo{vendor: C2PAVendorUnknown}
	for _, v := range c2paVendorMarkers {
		if bytes.Contains(b, []byte(v.marker)) {
			info.vendor = v.vendor
			break
		}
	}
	// A manifest can hold several source types (an ingredient's, an
	// action's); an AI one is preferred, else the first is reported.
	first := ""
	for i, off, n := 0, 0, 0; n < c2paMaxSourceTypes; n++ {
		i = bytes.Index(b[off:], []byte(iptcSourceTypePath))
		if i < 0 {
			break
		}
		start := off + i
		end := start + len(iptcSourceTypePath)
		off = end
		scheme := ""
		switch {
		case start >= 8 && string(b[start-8:start]) == "https://":
			scheme = "https://"
		case start >= 7 && string(b[start-7:start]) == "http://":
			scheme = "http://"
		default:
			continue
		}
		j := end
		for j < len(b) && j-end < 64 && (b[j] >= 'a' && b[j] <= 'z' || b[j] >= 'A' && b[j] <= 'Z') {
			j++
		}
		concept := string(b[end:j])
		if concept == "" {
			continue
		}
		uri := scheme + iptcSourceTypePath + concept
		if first == "" {
			first = uri
		}
		if c2paAISourceTypes[concept] {
			info.sourceType, info.aiGenerated = uri, true
			break
		}
	}
	if info.sourceType == "" {
		info.sourceType = first
	}
	info.generator = c2paClaimGenerator(b)
	return info
}

// c2paClaimGenerator returns claim_generator_info's name (C2PA 2.x) or the
// v1 claim_generator string: the CBOR text string after the key, read
// without a CBOR decoder.
func c2paClaimGenerator(b []byte) string {
	if i := bytes.Index(b, []byte("claim_generator_info")); i >= 0 {
		win := b[i:min(len(b), i+c2paNameWindow)]
		// The CBOR key "name" is 0x64 'n' 'a' 'm' 'e'.
		for off := 0; off < len(win); {
			j := bytes.Index(win[off:], []byte("\x64name"))
			if j < 0 {
				break
			}
			p := i + off + j + 5
			if s, ok := cborText(b, p); ok && s != "" {
				return s
			}
			off += j + 1
		}
	}
	// v1: the key "claim_generator" is a 15-byte text string (0x6f).
	if i := bytes.Index(b, []byte("\x6fclaim_generator")); i >= 0 {
		if s, ok := cborText(b, i+16); ok {
			return s
		}
	}
	return ""
}

// cborText reads one CBOR text string (major type 3, definite length of
// up to two length bytes) at p.
func cborText(b []byte, p int) (string, bool) {
	if p < 0 || p >= len(b) || b[p]>>5 != 3 {
		return "", false
	}
	n, data := int(b[p]&0x1f), p+1
	switch {
	case n < 24:
	case n == 24 && p+1 < len(b):
		n, data = int(b[p+1]), p+2
	case n == 25 && p+2 < len(b):
		n, data = int(b[p+1])<<8|int(b[p+2]), p+3
	default:
		return "", false
	}
	if n > c2paMaxGenerator || data+n > len(b) {
		return "", false
	}
	s := b[data : data+n]
	if !utf8.Valid(s) {
		return "", false
	}
	// Control characters have no place in a product name and would only
	// garble a display.
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, string(s)), true
}

// addC2PA records the first manifest of a file.
func (c *collector) addC2PA(manifest []byte) {
	if c.c2pa != nil {
		return
	}
	info := scanC2PA(manifest)
	c.c2pa = &info
}

// applyC2PA puts the manifest summary into the result: source_metadata
// "c2pa" and sampler_settings "c2pa_vendor". format is the detected one; a
// file with no other generation data becomes FormatC2PA.
func applyC2PA(c *collector, format string) string {
	if c.c2pa == nil {
		return format
	}
	res := c.res
	if format == FormatNone {
		format = FormatC2PA
	}
	if res.SourceMetadata == nil {
		res.SourceMetadata = map[string]any{}
	}
	res.SourceMetadata["c2pa"] = c.c2pa.summary()
	if res.SamplerSettings == nil {
		res.SamplerSettings = map[string]any{}
	}
	res.SamplerSettings["c2pa_vendor"] = c.c2pa.vendor
	return format
}

// jumbfPayload returns the JUMBF box bytes of one JPEG APP11 segment (ISO
// 19566-5: "JP", box instance, packet sequence, then the box header that
// every packet repeats), or nil when the segment is not JUMBF.
func jumbfPayload(seg []byte) []byte {
	if len(seg) < 16 || string(seg[:2]) != "JP" || string(seg[12:16]) != "jumb" {
		return nil
	}
	body := seg[16:]
	// LBox 1 means an 8-byte extended length follows the type.
	if seg[8] == 0 && seg[9] == 0 && seg[10] == 0 && seg[11] == 1 {
		if len(body) < 8 {
			return nil
		}
		body = body[8:]
	}
	return body
}
