package sdmeta

import (
	"encoding/json"
	"regexp"
	"strings"
)

// Parsers for the JSON- and key-based formats. Each returns true when it
// recognised its format and filled res.

// getStr returns the first non-empty string/number under one of keys.
func getStr(m map[string]any, keys ...string) string {
	for _, k := range keys {
		if s := strings.TrimSpace(toString(m[k])); s != "" {
			return s
		}
	}
	return ""
}

// getText is getStr for prompt text: the first non-blank value, as
// written (CleanPrompt makes the display form).
func getText(m map[string]any, keys ...string) string {
	for _, k := range keys {
		if s := toString(m[k]); strings.TrimSpace(s) != "" {
			return s
		}
	}
	return ""
}

func getNum(m map[string]any, keys ...string) *float64 {
	for _, k := range keys {
		if p := numPtr(m[k]); p != nil {
			return p
		}
	}
	return nil
}

func getInt(m map[string]any, keys ...string) *int {
	for _, k := range keys {
		if p := intPtrOf(m[k]); p != nil {
			return p
		}
	}
	return nil
}

// settingsExcept copies every key of m not listed in skip.
func settingsExcept(m map[string]any, skip ...string) map[string]any {
	out := map[string]any{}
	sk := map[string]bool{}
	for _, s := range skip {
		sk[s] = true
	}
	for k, v := range m {
		if !sk[k] {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// parseNovelAI reads NovelAI files: Description holds the prompt, Comment a
// JSON object with uc (negative), scale, steps, sampler, noise_schedule,
// seed. PNGs keep these in text chunks, WebP/JPEG exports in one EXIF
// UserComment JSON (novelAITexts). It returns the entry the parameters came
// from and its raw text.
func parseNovelAI(c *collector, res *Result) (key, raw string, ok bool) {
	var nt naiTexts
	var cm map[string]any
	for _, cand := range novelAITexts(c) {
		v, _ := decodeJSON(cand.comment)
		m, _ := v.(map[string]any)
		isNAI := strings.Contains(strings.ToLower(cand.software), "novelai") ||
			(m != nil && m["uc"] != nil && (m["scale"] != nil || m["sampler"] != nil))
		if isNAI && m != nil {
			nt, cm = cand, m
			break
		}
	}
	if cm == nil {
		return "", "", false
	}
	if nt.hasDescription {
		res.Prompt = nt.description
	} else {
		res.Prompt = getText(cm, "prompt")
		if res.Prompt == "" {
			res.Prompt = naiV4Caption(cm, "v4_prompt")
		}
	}
	res.NegativePrompt = getText(cm, "uc")
	if res.NegativePrompt == "" {
		res.NegativePrompt = naiV4Caption(cm, "v4_negative_prompt")
	}
	res.Sampler = getStr(cm, "sampler")
	// NovelAI's noise schedule (native, karras, exponential, polyexponential)
	// is what the other front ends call the scheduler. It also stays in
	// sampler_settings, where earlier extractions put it.
	res.Scheduler = getStr(cm, "noise_schedule")
	res.Seed = getStr(cm, "seed")
	res.Steps = getInt(cm, "steps")
	res.CFGScale = getNum(cm, "scale")
	res.Width, res.Height = getInt(cm, "width"), getInt(cm, "height")
	if src := strings.TrimSpace(nt.source); src != "" {
		// "Stable Diffusion 1D44365E": model name then hash.
		res.Model = src
		if i := strings.LastIndexByte(src, ' '); i > 0 {
			res.Model = src[:i]
			res.SamplerSettings = map[string]any{"model_hash": src[i+1:]}
		}
	}
	set := settingsExcept(cm, "prompt", "uc", "sampler", "seed", "steps", "scale", "width", "height", "v4_prompt", "v4_negative_prompt")
	for key, name := range map[string]string{"v4_prompt": "character_prompts", "v4_negative_prompt": "character_negative_prompts"} {
		if chars := naiCharacters(cm, key); chars != nil {
			if set == nil {
				set = map[string]any{}
			}
			set[name] = chars
		}
	}
	if set != nil {
		if res.SamplerSettings == nil {
			res.SamplerSettings = map[string]any{}
		}
		for k, v := range set {
			res.SamplerSettings[k] = v
		}
	}
	return nt.key, nt.raw, true
}

// parseInvokeAI handles invokeai_metadata (v3+), sd-metadata (v2) and the
// legacy Dream command line, in that order of preference.
func parseInvokeAI(c *collector, res *Result) (string, bool) {
	if e, ok := c.find("invokeai metadata"); ok {
		if v, ok := decodeJSON(e.value); ok {
			if m, ok := v.(map[string]any); ok {
				res.Prompt = getText(m, "positive_prompt")
				res.NegativePrompt = getText(m, "negative_prompt")
				res.Width, res.Height = getInt(m, "width"), getInt(m, "height")
				res.Seed = getStr(m, "seed")
				res.CFGScale = getNum(m, "cfg_scale")
				res.Steps = getInt(m, "steps")
				res.Sampler = getStr(m, "scheduler")
				res.Model, res.ModelHash = invokeModelRef(m["model"])
				if res.ModelHash == "" {
					res.ModelHash = invokeGraphModelHash(c, res.Model)
				}
				if ls, ok := m["loras"].([]any); ok {
					for _, lv := range ls {
						lm, _ := lv.(map[string]any)
						if lm == nil {
							continue
						}
						l := Lora{Source: "metadata", Weight: getNum(lm, "weight")}
						// v3 writes the reference under "lora", v4+ under "model".
						for _, k := range []string{"lora", "model"} {
							if name, hash := invokeModelRef(lm[k]); name != "" {
								l.Name, l.Hash = name, hash
							}
						}
						if l.Name != "" {
							res.Loras = append(res.Loras, l)
						}
					}
				}
				for _, k := range []string{"controlnets", "controlLayers"} {
					if cl, ok := m[k].([]any); ok {
						for _, x := range cl {
							if xm, ok := x.(map[string]any); ok {
								res.Controlnet = append(res.Controlnet, ControlNet(xm))
							}
						}
					}
				}
				res.SamplerSettings = settingsExcept(m, "positive_prompt", "negative_prompt", "width", "height", "seed", "cfg_scale", "steps", "scheduler", "model", "loras", "controlnets", "controlLayers")
				// The VAE object stays as written; its name and hash are
				// also kept flat so they read like the model's.
				if name, hash := invokeModelRef(m["vae"]); name != "" {
					if res.SamplerSettings == nil {
						res.SamplerSettings = map[string]any{}
					}
					res.SamplerSettings["vae_name"] = name
					if hash != "" {
						res.SamplerSettings["vae_hash"] = hash
					}
				}
				return e.key, true
			}
		}
	}
	if e, ok := c.find("sd metadata"); ok {
		if v, ok := decodeJSON(e.value); ok {
			if m, ok := v.(map[string]any); ok {
				img, _ := m["image"].(map[string]any)
				if img == nil {
					img = m
				}
				var raw string
				switch p := img["prompt"].(type) {
				case string:
					raw = p
				case []any:
					var parts []string
					for _, x := range p {
						if xm, ok := x.(map[string]any); ok {
							parts = append(parts, getStr(xm, "prompt"))
						}
					}
					raw = strings.Join(parts, " ")
				}
				res.Prompt, res.NegativePrompt = splitInvokePrompt(raw)
				res.Model = getStr(m, "model_weights", "model")
				res.Steps = getInt(img, "steps")
				res.CFGScale = getNum(img, "cfg_scale")
				res.Seed = getStr(img, "seed")
				res.Sampler = getStr(img, "sampler")
				res.Width, res.Height = getInt(img, "width"), getInt(img, "height")
				set := settingsExcept(img, "prompt", "steps", "cfg_scale", "seed", "sampler", "width", "height")
				if set == nil {
					set = map[string]any{}
				}
				if h := getStr(m, "model_hash"); h != "" {
					set["model_hash"] = h
				}
				for _, k := range []string{"app_id", "app_version"} {
					if s := getStr(m, k); s != "" {
						set[k] = s
					}
				}
				res.SamplerSettings = set
				return e.key, true
			}
		}
	}
	if e, ok := c.find("dream"); ok {
		if parseDream(e.value, res) {
			return e.key, true
		}
	}
	return "", false
}

var reInvokeNeg = regexp.MustCompile(`\[([^\[\]]*)\]`)

// splitInvokePrompt separates InvokeAI's "positive [negative]" syntax.
func splitInvokePrompt(s string) (pos, neg string) {
	var negs []string
	for _, m := range reInvokeNeg.FindAllStringSubmatch(s, 100) {
		if t := strings.TrimSpace(m[1]); t != "" {
			negs = append(negs, t)
		}
	}
	// The positive part stays as written (minus the [negative] groups);
	// settleVerbatim makes its display form.
	pos = reInvokeNeg.ReplaceAllString(s, "")
	return pos, strings.Join(negs, ", ")
}

// parseDream reads `"prompt [neg]" -s 50 -S 123 -W 512 -H 768 -C 7.5 -A k_lms`.
func parseDream(s string, res *Result) bool {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, `"`) {
		return false
	}
	end := strings.LastIndex(s, `"`)
	if end <= 0 {
		return false
	}
	res.Prompt, res.NegativePrompt = splitInvokePrompt(s[1:end])
	fields := strings.Fields(s[end+1:])
	set := map[string]any{}
	for i := 0; i < len(fields); i++ {
		f := fields[i]
		if !strings.HasPrefix(f, "-") || i+1 >= len(fields) {
			continue
		}
		v := fields[i+1]
		switch f {
		case "-s", "--steps":
			res.Steps = parseIntPtr(v)
		case "-S", "--seed":
			res.Seed = v
		case "-W", "--width":
			res.Width = parseIntPtr(v)
		case "-H", "--height":
			res.Height = parseIntPtr(v)
		case "-C", "--cfg_scale":
			res.CFGScale = parseFloatPtr(v)
		case "-A", "--sampler":
			res.Sampler = v
		case "-m", "--model":
			res.Model = v
		default:
			set[strings.TrimLeft(f, "-")] = v
		}
		i++
	}
	if len(set) > 0 {
		res.SamplerSettings = set
	}
	return true
}

// parseFooocus reads Fooocus' JSON metadata scheme.
func parseFooocus(c *collector, res *Result) (string, bool) {
	e, ok := c.find("parameters")
	if !ok {
		return "", false
	}
	v, ok := decodeJSON(e.value)
	if !ok {
		return "", false
	}
	m, _ := v.(map[string]any)
	_, scheme := c.find("fooocus scheme")
	if m == nil || !(scheme || getStr(m, "metadata_scheme") == "fooocus" || strings.Contains(getStr(m, "version"), "Fooocus") || (m["full_prompt"] != nil && m["base_model"] != nil)) {
		return "", false
	}
	res.Prompt = getText(m, "prompt")
	res.NegativePrompt = getText(m, "negative_prompt")
	res.Model = getStr(m, "base_model")
	res.ModelHash = getStr(m, "base_model_hash")
	res.Sampler = getStr(m, "sampler")
	res.Scheduler = getStr(m, "scheduler")
	res.Seed = getStr(m, "seed")
	res.Steps = getInt(m, "steps")
	res.CFGScale = getNum(m, "guidance_scale", "cfg_scale")
	if r := getStr(m, "resolution"); r != "" {
		r = strings.Trim(r, "()[] ")
		if a, b, ok := strings.Cut(r, ","); ok {
			res.Width, res.Height = parseIntPtr(a), parseIntPtr(b)
		}
	}
	if ls, ok := m["loras"].([]any); ok {
		for _, lv := range ls {
			switch l := lv.(type) {
			case []any:
				if len(l) >= 1 {
					lo := Lora{Name: toString(l[0]), Source: "metadata"}
					if len(l) >= 2 {
						lo.Weight = numPtr(l[1])
					}
					if len(l) >= 3 {
						lo.Hash = toString(l[2])
					}
					res.Loras = append(res.Loras, lo)
				}
			case map[string]any:
				res.Loras = append(res.Loras, Lora{Name: getStr(l, "name", "model"), Weight: getNum(l, "weight"), Hash: getStr(l, "hash"), Source: "metadata"})
			}
		}
	}
	res.SamplerSettings = settingsExcept(m, "prompt", "negative_prompt", "full_prompt", "full_negative_prompt", "base_model", "sampler", "scheduler", "seed", "steps", "guidance_scale", "resolution", "loras")
	return e.key, true
}

// parseSwarmUI reads SwarmUI's {"sui_image_params": {...}} block.
func parseSwarmUI(c *collector, res *Result) (string, bool) {
	for _, name := range []string{"parameters", "usercomment", "comment", "description"} {
		e, ok := c.find(name)
		if !ok || !strings.Contains(e.value, "sui_image_params") {
			continue
		}
		v, ok := decodeJSON(e.value)
		if !ok {
			continue
		}
		root, _ := v.(map[string]any)
		m, _ := root["sui_image_params"].(map[string]any)
		if m == nil {
			continue
		}
		res.Prompt = getText(m, "prompt")
		res.NegativePrompt = getText(m, "negativeprompt", "negative_prompt")
		res.Model = getStr(m, "model")
		res.Seed = getStr(m, "seed")
		res.Steps = getInt(m, "steps")
		res.CFGScale = getNum(m, "cfgscale", "cfg_scale")
		res.Width, res.Height = getInt(m, "width"), getInt(m, "height")
		res.Sampler = getStr(m, "sampler")
		res.Scheduler = getStr(m, "scheduler")
		names, _ := m["loras"].([]any)
		weights, _ := m["loraweights"].([]any)
		for i, n := range names {
			l := Lora{Name: toString(n), Source: "metadata"}
			if i < len(weights) {
				l.Weight = numPtr(weights[i])
			}
			res.Loras = append(res.Loras, l)
		}
		swarmModelHashes(root, res)
		set := settingsExcept(m, "prompt", "negativeprompt", "negative_prompt", "model", "seed", "steps", "cfgscale", "cfg_scale", "width", "height", "sampler", "scheduler", "loras", "loraweights")
		if extra, ok := root["sui_extra_data"]; ok {
			if set == nil {
				set = map[string]any{}
			}
			set["sui_extra_data"] = extra
		}
		res.SamplerSettings = set
		return e.key, true
	}
	return "", false
}

// parseEasyDiffusion reads EasyDiffusion's one-text-chunk-per-field PNGs
// (snake_case keys in newer versions, "Title Case" in older ones) or the
// same object as JSON.
func parseEasyDiffusion(c *collector, res *Result) (string, bool) {
	m := map[string]any{}
	for _, e := range c.entries {
		if e.source == SourcePNGText || e.source == SourceEXIF {
			m[shortKey(e.key)] = e.value
		}
	}
	if _, ok := m["use stable diffusion model"]; !ok {
		if _, ok := m["stable diffusion model"]; !ok {
			// JSON variant in a single chunk.
			if e, ok := c.find("parameters", "usercomment", "comment"); ok {
				if v, ok := decodeJSON(e.value); ok {
					if jm, ok := v.(map[string]any); ok && (jm["use_stable_diffusion_model"] != nil || jm["num_inference_steps"] != nil) {
						m = map[string]any{}
						for k, x := range jm {
							m[shortKey(k)] = x
						}
					}
				}
			}
			if m["use stable diffusion model"] == nil && m["num inference steps"] == nil {
				return "", false
			}
		}
	}
	res.Prompt = getText(m, "prompt")
	res.NegativePrompt = getText(m, "negative prompt")
	res.Model = getStr(m, "use stable diffusion model", "stable diffusion model")
	res.Sampler = getStr(m, "sampler name", "sampler")
	res.Seed = getStr(m, "seed")
	res.Steps = getInt(m, "num inference steps", "steps")
	res.CFGScale = getNum(m, "guidance scale")
	res.Width, res.Height = getInt(m, "width"), getInt(m, "height")
	if l := getStr(m, "use lora model", "lora model"); l != "" && l != "None" {
		for i, name := range strings.Split(l, ",") {
			lo := Lora{Name: strings.TrimSpace(name), Source: "metadata"}
			if ws := strings.Split(getStr(m, "lora alpha"), ","); i < len(ws) {
				lo.Weight = parseFloatPtr(ws[i])
			}
			res.Loras = append(res.Loras, lo)
		}
	}
	set := map[string]any{}
	for _, k := range []string{"clip skip", "use vae model", "use hypernetwork model", "hypernetwork strength", "use face correction", "use upscale", "prompt strength", "tiling", "version"} {
		if v := getStr(m, k); v != "" {
			set[k] = v
		}
	}
	if len(set) > 0 {
		res.SamplerSettings = set
	}
	return "use_stable_diffusion_model", true
}

// parseGenericJSON maps the usual field names of unnamed JSON metadata.
func parseGenericJSON(s string, res *Result) bool {
	v, ok := decodeJSON(s)
	if !ok {
		return false
	}
	m, _ := v.(map[string]any)
	if m == nil {
		return false
	}
	for _, k := range []string{"sd-metadata", "metadata"} {
		if inner, ok := m[k].(map[string]any); ok {
			m = inner
			break
		}
	}
	res.Prompt = getText(m, "prompt", "positive_prompt", "positive")
	if res.Prompt == "" {
		return false
	}
	res.NegativePrompt = getText(m, "negative_prompt", "negative", "Negative prompt", "negativePrompt")
	res.Model = getStr(m, "model", "model_name", "modelName", "model_hash")
	res.Sampler = getStr(m, "sampler", "sampler_name")
	res.Scheduler = getStr(m, "scheduler", "schedule")
	res.Steps = getInt(m, "steps")
	res.CFGScale = getNum(m, "cfg_scale", "cfgScale", "cfg", "scale")
	res.Seed = getStr(m, "seed")
	res.Width, res.Height = getInt(m, "width"), getInt(m, "height")
	res.SamplerSettings = settingsExcept(m, "prompt", "positive_prompt", "positive", "negative_prompt", "negative", "Negative prompt", "negativePrompt", "model", "sampler", "sampler_name", "scheduler", "steps", "cfg_scale", "seed", "width", "height")
	return true
}

// marshalable reports whether v survives json.Marshal (defensive: maps
// decoded from JSON always do).
func marshalable(v any) bool {
	_, err := json.Marshal(v)
	return err == nil
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
