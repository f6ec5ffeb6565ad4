package sdmeta

import (
	"strings"
)

// textKeys are the keys whose value may hold A1111-style parameter text,
// in order of preference.
var textKeys = []string{"parameters", "usercomment", "imagedescription", "xpcomment", "comment", "description", "generation parameters", "generation data", "parameter", "0"}

// rawKeys are keys whose value is generation data even when no parser
// recognises it; such text is kept raw (format "unknown").
var rawKeys = append([]string{"prompt", "workflow", "sd metadata", "invokeai metadata", "dream"}, textKeys...)

// interpret picks the generator, fills the result columns and builds the
// raw chunks and source_metadata.
func interpret(c *collector) {
	res := c.res
	format, key, raw := detect(c)
	format = applyC2PA(c, format)
	res.Format = format
	settleVerbatim(&res.PromptRaw, &res.Prompt)
	settleVerbatim(&res.NegativePromptRaw, &res.NegativePrompt)
	finishModelIdentity(res)
	if format != FormatNone {
		res.RawBlock = truncateRaw(raw)
	}
	if res.HasPrompt() && res.Width == nil && res.Height == nil && res.ImageWidth > 0 && res.ImageHeight > 0 {
		// Most front ends save at generation size; note where it came from.
		w, h := res.ImageWidth, res.ImageHeight
		res.Width, res.Height = &w, &h
		if res.SourceMetadata == nil {
			res.SourceMetadata = map[string]any{}
		}
		res.SourceMetadata["size_source"] = "image_header"
	}
	if format != FormatNone {
		if res.SourceMetadata == nil {
			res.SourceMetadata = map[string]any{}
		}
		res.SourceMetadata["format"] = format
		res.SourceMetadata["raw_parameters"] = truncateRaw(raw)
		res.SourceMetadata["source_key"] = key
		res.SourceMetadata["extractor_version"] = ExtractorVersion
	}
	for k, v := range res.SamplerSettings {
		if !marshalable(v) {
			delete(res.SamplerSettings, k)
		}
	}
	for _, e := range c.entries {
		res.Chunks = append(res.Chunks, Chunk{Source: e.source, Key: e.key, Value: truncateRaw(e.value)})
	}
}

// detect runs the format parsers in order of specificity. It returns the
// format, the key the data came from and the raw text.
func detect(c *collector) (format, key, raw string) {
	res := c.res
	if k, ok := parseSwarmUI(c, res); ok {
		e, _ := c.find(shortKey(k))
		return FormatSwarmUI, k, e.value
	}
	if k, raw, ok := parseStabilityMatrix(c, res); ok {
		return FormatStabilityMatrix, k, raw
	}
	// TensorArt's generation_data names the model its graph hides.
	if k, raw, ok := parseTensorArt(c, res); ok {
		return FormatTensorArt, k, raw
	}
	// A ComfyUI graph beats an A1111-style text a save node wrote beside it.
	if k, raw, ok := parseComfyBesideText(c, res); ok {
		return FormatComfyUI, k, raw
	}
	// A1111-style parameters are the most common and most explicit.
	if e, ok := c.find("parameters"); ok {
		if a, ok := ParseA1111(e.value); ok && !looksJSON(e.value) {
			return applyA1111(res, a), e.key, e.value
		}
	}
	// Draw Things' JSON shares NovelAI's "uc" and "scale" keys.
	if k, raw, ok := parseDrawThings(c, res); ok {
		return FormatDrawThings, k, raw
	}
	if k, raw, ok := parseNovelAI(c, res); ok {
		return FormatNovelAI, k, raw
	}
	if k, ok := parseInvokeAI(c, res); ok {
		e, _ := c.find(shortKey(k))
		return FormatInvokeAI, k, e.value
	}
	if k, ok := parseFooocus(c, res); ok {
		e, _ := c.find(shortKey(k))
		return FormatFooocus, k, e.value
	}
	// RuinedFooocus and Spaces write JSON into "parameters" too; their own
	// key sets tell them apart (a Space's diffusers names would otherwise
	// pass for EasyDiffusion).
	if k, raw, ok := parseRuinedFooocus(c, res); ok {
		return FormatRuinedFooocus, k, raw
	}
	if k, raw, ok := parseHFSpace(c, res); ok {
		return FormatHFSpace, k, raw
	}
	if k, raw, ok := parseComfy(c, res); ok {
		if v, _ := decodeJSON(raw); v != nil {
			if g, _ := v.(map[string]any); g != nil && isCivitaiGraph(c, g) {
				applyCivitaiGraph(c, g, res)
				return FormatCivitai, k, raw
			}
		}
		return FormatComfyUI, k, raw
	}
	if k, raw, ok := parseCivitaiGraph(c, res); ok {
		return FormatCivitai, k, raw
	}
	if k, ok := parseEasyDiffusion(c, res); ok {
		return FormatEasyDiffusion, k, res.Prompt
	}
	for _, name := range textKeys {
		for _, e := range c.entries {
			if shortKey(e.key) != name || strings.TrimSpace(e.value) == "" {
				continue
			}
			if a, ok := ParseA1111(e.value); ok && !looksJSON(e.value) {
				return applyA1111(res, a), e.key, e.value
			}
		}
	}
	for _, name := range textKeys {
		if e, ok := c.find(name); ok && looksJSON(e.value) {
			var tmp Result
			if parseGenericJSON(e.value, &tmp) {
				copyColumns(res, &tmp)
				return FormatUnknown, e.key, e.value
			}
		}
	}
	// A "parameters" chunk without a parameter line is still a prompt
	// (A1111 writes just the prompt when nothing else is known).
	if e, ok := c.find("parameters"); ok && !looksJSON(e.value) {
		a, _ := ParseA1111(e.value)
		return applyA1111(res, a), e.key, e.value
	}
	for _, name := range rawKeys {
		if e, ok := c.find(name); ok {
			return FormatUnknown, e.key, e.value
		}
	}
	return FormatNone, "", ""
}

func looksJSON(s string) bool {
	s = strings.TrimSpace(s)
	return strings.HasPrefix(s, "{") || strings.HasPrefix(s, "[")
}

func copyColumns(dst, src *Result) {
	dst.Prompt, dst.NegativePrompt, dst.Model = src.Prompt, src.NegativePrompt, src.Model
	dst.PromptRaw, dst.NegativePromptRaw = src.PromptRaw, src.NegativePromptRaw
	dst.ModelHash = src.ModelHash
	dst.Sampler, dst.Scheduler, dst.Seed = src.Sampler, src.Scheduler, src.Seed
	dst.CFGScale, dst.Steps, dst.Width, dst.Height = src.CFGScale, src.Steps, src.Width, src.Height
	dst.SamplerSettings, dst.Loras, dst.Controlnet = src.SamplerSettings, src.Loras, src.Controlnet
}

// comfySource is one place a ComfyUI graph may hide.
type comfySource struct {
	key, value string
	workflow   bool
}

// comfyCandidates lists graph texts: PNG prompt/workflow chunks, EXIF
// Make/Model "prompt:"/"workflow:" (ComfyUI's WebP/JPEG savers),
// "Workflow:" in ImageDescription, video tags, and a comment JSON
// {prompt, workflow} (VideoHelperSuite).
func comfyCandidates(c *collector) []comfySource {
	var out []comfySource
	add := func(key, v string, wf bool) {
		v = strings.TrimSpace(v)
		if looksJSON(v) {
			out = append(out, comfySource{key, v, wf})
		}
	}
	for _, e := range c.entries {
		sk := shortKey(e.key)
		switch {
		case sk == "prompt":
			add(e.key, e.value, false)
		case sk == "workflow":
			add(e.key, e.value, true)
		case sk == "make" || sk == "model" || sk == "imagedescription" || sk == "usercomment" || sk == "comment" || sk == "description":
			lv := strings.ToLower(e.value)
			switch {
			case strings.HasPrefix(lv, "prompt:"):
				add(e.key, e.value[len("prompt:"):], false)
			case strings.HasPrefix(lv, "workflow:"):
				add(e.key, e.value[len("workflow:"):], true)
			case looksJSON(e.value):
				if v, ok := decodeJSON(e.value); ok {
					if m, ok := v.(map[string]any); ok {
						if p, ok := m["prompt"]; ok {
							out = append(out, comfySource{e.key + "#prompt", jsonText(p), false})
						}
						if w, ok := m["workflow"]; ok {
							out = append(out, comfySource{e.key + "#workflow", jsonText(w), true})
						}
						if _, ok := m["prompt"]; !ok && m["class_type"] == nil {
							// A bare API graph in a comment.
							add(e.key, e.value, false)
						}
					}
				}
			}
		}
	}
	// API graphs first: they are exact; workflows need widget guessing.
	var sorted []comfySource
	for _, s := range out {
		if !s.workflow {
			sorted = append(sorted, s)
		}
	}
	for _, s := range out {
		if s.workflow {
			sorted = append(sorted, s)
		}
	}
	return sorted
}

// jsonText returns a JSON value as text; a string holding JSON (VHS
// double-encodes) is returned as is.
func jsonText(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := jsonMarshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

func parseComfy(c *collector, res *Result) (key, raw string, ok bool) {
	for _, cand := range comfyCandidates(c) {
		v, ok := decodeJSON(cand.value)
		if !ok {
			c.res.warn("comfy_invalid_json", cand.key)
			continue
		}
		var g comfyGraph
		if cand.workflow {
			g = parseComfyWorkflow(v)
		} else {
			g = parseComfyPrompt(v)
		}
		if g == nil {
			continue
		}
		sets := walkComfy(g)
		if len(sets) == 0 {
			c.res.warn("comfy_no_sampler", cand.key)
			continue
		}
		main := sets[0]
		res.Prompt, res.NegativePrompt = main.Prompt, main.NegativePrompt
		res.PromptRaw, res.NegativePromptRaw = main.PromptRaw, main.NegativePromptRaw
		res.Model, res.Sampler, res.Scheduler = main.Model, main.Sampler, main.Scheduler
		res.CFGScale, res.Steps, res.Seed = main.CFGScale, main.Steps, main.Seed
		res.Width, res.Height = main.Width, main.Height
		res.Loras, res.Controlnet = main.Loras, main.Controlnet
		set := map[string]any{"node_id": main.NodeID, "class_type": main.ClassType}
		if main.Denoise != nil {
			set["denoise"] = *main.Denoise
		}
		for k, v := range main.Extra {
			set[k] = v
		}
		res.SamplerSettings = set
		res.ParameterSets = sets
		if !cand.workflow {
			res.ComfyAPIGraph = cand.value
		}
		res.SourceMetadata = map[string]any{
			"parameter_sets": sets,
			"main_node":      main.NodeID,
			"graph":          map[bool]string{true: "workflow", false: "prompt"}[cand.workflow],
		}
		return cand.key, cand.value, true
	}
	return "", "", false
}
