package sdmeta

import "strings"

// naiTexts are the texts a NovelAI image carries. In PNGs they are separate
// text chunks (Software, Comment, Description, Source); NovelAI's WebP and
// JPEG exports of curated images put the same keys into one JSON object in
// the EXIF UserComment ("ASCII\0\0\0" prefix), with Comment still holding
// the parameter JSON as a string.
type naiTexts struct {
	software, comment, description, source string
	hasDescription                         bool
	// key and raw are the entry the parameters came from, for
	// source_metadata.source_key and the raw block.
	key, raw string
}

// novelAITexts lists the places NovelAI texts may be, in order: the PNG
// chunks, then every JSON object with a string Comment in an EXIF
// UserComment (WebP/JPEG exports) or a "parameters" value (NovelAI's
// stealth alpha data, which is the same object; readStealth files it
// under "parameters").
func novelAITexts(c *collector) []naiTexts {
	var out []naiTexts
	if com, ok := c.find("comment"); ok {
		sw, _ := c.find("software")
		t := naiTexts{software: sw.value, comment: com.value, key: com.key, raw: com.value}
		if d, ok := c.find("description"); ok {
			t.description, t.hasDescription = d.value, true
		}
		if s, ok := c.find("source"); ok {
			t.source = s.value
		}
		out = append(out, t)
	}
	for _, e := range c.entries {
		if sk := shortKey(e.key); (sk != "usercomment" && sk != "parameters") || !looksJSON(e.value) {
			continue
		}
		v, ok := decodeJSON(e.value)
		if !ok {
			continue
		}
		m, _ := v.(map[string]any)
		com, _ := m["Comment"].(string)
		if com == "" {
			continue
		}
		t := naiTexts{key: e.key, raw: e.value, comment: com}
		t.software, _ = m["Software"].(string)
		t.source, _ = m["Source"].(string)
		t.description, _ = m["Description"].(string)
		t.hasDescription = strings.TrimSpace(t.description) != ""
		out = append(out, t)
	}
	return out
}

// naiV4Caption returns the base caption of a V4 prompt object (v4_prompt,
// v4_negative_prompt), which V4 files carry when the flat field is empty.
func naiV4Caption(cm map[string]any, key string) string {
	v4, _ := cm[key].(map[string]any)
	cap, _ := v4["caption"].(map[string]any)
	return getText(cap, "base_caption")
}

// naiCharacters returns the V4 per-character captions of a prompt object
// as [{prompt, center}], nil when there are none. Multi-character images
// keep only the base prompt in Description and the flat prompt field, so
// without these the characters' text would be lost.
func naiCharacters(cm map[string]any, key string) []map[string]any {
	v4, _ := cm[key].(map[string]any)
	cap, _ := v4["caption"].(map[string]any)
	list, _ := cap["char_captions"].([]any)
	var out []map[string]any
	for _, item := range list {
		cc, _ := item.(map[string]any)
		text := getStr(cc, "char_caption")
		if text == "" {
			continue
		}
		ch := map[string]any{"prompt": text}
		if centers, ok := cc["centers"].([]any); ok && len(centers) > 0 {
			ch["center"] = centers[0]
		}
		out = append(out, ch)
	}
	return out
}
