package sdmeta

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
)

// xmpFields are the XMP properties (by local name) that generators use for
// prompts or parameter text, or to name themselves (Draw Things'
// xmp:CreatorTool); each found value becomes an "XMP.<name>" entry.
var xmpFields = map[string]bool{
	"description": true, "UserComment": true, "parameters": true,
	"prompt": true, "Prompt": true, "workflow": true, "CreatorTool": true,
}

// xmpPNGKeyword is the iTXt keyword of an XMP packet in a PNG.
const xmpPNGKeyword = "XML:com.adobe.xmp"

// addXMP stores the raw XMP packet under key and the few properties that
// may hold generation data. The XML decoder works on the bounded in-memory
// packet and is capped in tokens.
func addXMP(c *collector, source, key string, data []byte) {
	c.add(source, key, string(bytes.TrimRight(data, "\x00 \r\n")))
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = false
	var stack []string
	var text strings.Builder
	found := map[string]bool{}
	for i := 0; i < 100000; i++ {
		tok, err := d.Token()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				c.res.warn("xmp_parse_error")
			}
			return
		}
		switch t := tok.(type) {
		case xml.StartElement:
			stack = append(stack, t.Name.Local)
			for _, a := range t.Attr {
				if xmpFields[a.Name.Local] && a.Name.Space != "" && !found[a.Name.Local] && strings.TrimSpace(a.Value) != "" {
					found[a.Name.Local] = true
					c.add(source, "XMP."+a.Name.Local, a.Value)
				}
			}
			text.Reset()
		case xml.CharData:
			if len(stack) > 0 && text.Len() < c.opts.maxText() {
				text.Write(t)
			}
		case xml.EndElement:
			if len(stack) == 0 {
				continue
			}
			stack = stack[:len(stack)-1]
			// Values sit in rdf:li inside rdf:Alt/Seq inside the property,
			// or directly in the property element.
			for j := len(stack); j >= 0 && j >= len(stack)-2; j-- {
				name := t.Name.Local
				if j < len(stack) {
					name = stack[j]
				}
				if xmpFields[name] && !found[name] {
					// Kept as written: a prompt's own spaces and line ends
					// are the author's (settleVerbatim trims for display).
					if v := text.String(); strings.TrimSpace(v) != "" {
						found[name] = true
						c.add(source, "XMP."+name, v)
					}
					break
				}
			}
			text.Reset()
		}
	}
}
