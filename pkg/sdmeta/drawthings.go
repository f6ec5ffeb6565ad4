package sdmeta

import "strings"

// parseDrawThings reads Draw Things (iOS/macOS) files. Draw Things writes an
// XMP packet (PNG iTXt "XML:com.adobe.xmp", JPEG APP1 XMP) with
// xmp:CreatorTool "Draw Things", exif:UserComment holding its parameter
// JSON ({c, uc, model, sampler, scale, seed, steps, strength, size "WxH",
// lora, …}) and dc:description an A1111-like text, used when the JSON is
// missing. The key set is the public one enslo/sd-metadata reads.
//
// The JSON has NovelAI's "uc" and "scale", so this runs before the NovelAI
// reader; without CreatorTool the JSON is taken only with Draw Things' own
// "c" prompt key beside "uc" and "size".
func parseDrawThings(c *collector, res *Result) (key, raw string, ok bool) {
	tool, _ := c.find("creatortool")
	isDT := strings.HasPrefix(strings.TrimSpace(tool.value), "Draw Things")
	for _, e := range c.entries {
		if sk := shortKey(e.key); (sk != "usercomment" && sk != "comment") || !looksJSON(e.value) {
			continue
		}
		v, _ := decodeJSON(e.value)
		m, _ := v.(map[string]any)
		if m == nil {
			continue
		}
		_, hasC := m["c"].(string)
		if !hasC || !(isDT || (m["uc"] != nil && m["size"] != nil)) {
			continue
		}
		applyDrawThings(m, res)
		return e.key, e.value, true
	}
	if !isDT {
		return "", "", false
	}
	// No parameter JSON: the description text is the fallback.
	if e, ok := c.find("description"); ok && !looksJSON(e.value) {
		a, _ := ParseA1111(e.value)
		applyA1111(res, a)
		// Draw Things names the CFG scale "Guidance Scale" in this text.
		if res.CFGScale == nil {
			if g := getNum(res.SamplerSettings, "Guidance Scale"); g != nil {
				res.CFGScale = g
				delete(res.SamplerSettings, "Guidance Scale")
			}
		}
		return e.key, e.value, true
	}
	return "", "", false
}

// applyDrawThings fills res from Draw Things' parameter JSON.
func applyDrawThings(m map[string]any, res *Result) {
	res.Prompt = getText(m, "c")
	res.NegativePrompt = getText(m, "uc")
	res.Model = getStr(m, "model")
	res.ModelHash = getStr(m, "model_hash", "modelHash")
	res.Sampler = getStr(m, "sampler")
	res.CFGScale = getNum(m, "scale")
	res.Seed = getStr(m, "seed")
	res.Steps = getInt(m, "steps")
	res.Width, res.Height = parseSize(getStr(m, "size"))
	if res.Width == nil || res.Height == nil {
		res.Width, res.Height = getInt(m, "width"), getInt(m, "height")
	}
	if ls, ok := m["lora"].([]any); ok {
		for _, lv := range ls {
			lm, _ := lv.(map[string]any)
			// Older builds name the file "file", newer ones "model".
			if name := getStr(lm, "file", "model"); name != "" {
				res.Loras = append(res.Loras, Lora{Name: name, Weight: getNum(lm, "weight"), Source: "metadata"})
			}
		}
	}
	set := settingsExcept(m, "c", "uc", "model", "model_hash", "modelHash", "sampler", "scale", "seed", "steps", "size", "strength", "lora")
	if set == nil {
		set = map[string]any{}
	}
	// "strength" is the img2img denoising strength; "denoise" is the name
	// the graph readers use for it.
	if d := getNum(m, "strength"); d != nil {
		set["denoise"] = *d
	}
	if len(set) > 0 {
		res.SamplerSettings = set
	}
}
