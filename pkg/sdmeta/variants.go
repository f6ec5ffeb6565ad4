package sdmeta

import (
	"regexp"
	"slices"
	"strings"
)

// Parsers for the JSON shapes that share a key with other formats and are
// told apart only by their own key set: RuinedFooocus and Hugging Face
// Spaces write "parameters" like A1111 and Fooocus, Civitai's generator
// writes a ComfyUI graph with its request alongside.

// jsonTextKeys are where a JSON "parameters" document may sit: the PNG
// chunk, the EXIF/COM comment of a JPEG/WebP copy, or the "metadata"
// container tag RuinedFooocus gives its videos.
var jsonTextKeys = []string{"parameters", "usercomment", "comment", "metadata"}

// findJSONObject returns the first of jsonTextKeys holding a JSON object
// for which match is true.
func findJSONObject(c *collector, match func(map[string]any) bool) (entry, map[string]any, bool) {
	for _, name := range jsonTextKeys {
		e, ok := c.find(name)
		if !ok || !looksJSON(e.value) {
			continue
		}
		v, ok := decodeJSON(e.value)
		if !ok {
			continue
		}
		if m, _ := v.(map[string]any); m != nil && match(m) {
			return e, m, true
		}
	}
	return entry{}, nil, false
}

// parseRuinedFooocus reads RuinedFooocus' document: capitalised
// Prompt/Negative, sampler_name, base_model_name and the marker
// "software": "RuinedFooocus" (Fooocus itself uses prompt/negative_prompt).
func parseRuinedFooocus(c *collector, res *Result) (key, raw string, ok bool) {
	e, m, ok := findJSONObject(c, func(m map[string]any) bool {
		return strings.EqualFold(getStr(m, "software"), "RuinedFooocus")
	})
	if !ok {
		return "", "", false
	}
	res.Prompt = getText(m, "Prompt", "prompt")
	res.NegativePrompt = getText(m, "Negative", "negative_prompt")
	res.Steps = getInt(m, "steps")
	res.CFGScale = getNum(m, "cfg")
	res.Width, res.Height = getInt(m, "width"), getInt(m, "height")
	res.Seed = getStr(m, "seed")
	res.Sampler = getStr(m, "sampler_name")
	res.Scheduler = getStr(m, "scheduler")
	res.Model = getStr(m, "base_model_name")
	res.ModelHash = getStr(m, "base_model_hash")
	res.Loras = ruinedFooocusLoras(m["loras"])
	set := settingsExcept(m, "Prompt", "Negative", "steps", "cfg", "width", "height", "seed", "sampler_name", "scheduler", "base_model_name", "base_model_hash", "loras", "software")
	if h := getStr(m, "base_model_hash"); h != "" {
		if set == nil {
			set = map[string]any{}
		}
		set["model_hash"] = h
	}
	res.SamplerSettings = set
	return e.key, e.value, true
}

// reRuinedLoraTag matches one "<name:weight>" of the older
// "Loras:<a:0.5>,<b:1.0>" string.
var reRuinedLoraTag = regexp.MustCompile(`<([^<>]+):([^:<>]+)>`)

// ruinedFooocusLoras reads the three shapes RuinedFooocus has written:
// [[hash, "weight - name"]], [{name, weight}] and "Loras:<name:weight>,…".
func ruinedFooocusLoras(v any) []Lora {
	var out []Lora
	switch x := v.(type) {
	case string:
		for _, m := range reRuinedLoraTag.FindAllStringSubmatch(x, 200) {
			out = append(out, Lora{Name: strings.TrimSpace(m[1]), Weight: parseFloatPtr(m[2]), Source: "metadata"})
		}
	case []any:
		for _, item := range x {
			switch l := item.(type) {
			case []any:
				if len(l) < 2 {
					continue
				}
				lo := Lora{Hash: toString(l[0]), Name: toString(l[1]), Source: "metadata"}
				if w, name, ok := strings.Cut(lo.Name, " - "); ok {
					if wp := parseFloatPtr(w); wp != nil {
						lo.Weight, lo.Name = wp, strings.TrimSpace(name)
					}
				}
				out = append(out, lo)
			case map[string]any:
				out = append(out, Lora{Name: getStr(l, "name"), Weight: getNum(l, "weight"), Hash: getStr(l, "hash"), Source: "metadata"})
			}
		}
	}
	return out
}

// parseHFSpace reads the document Gradio + diffusers Spaces write: diffusers
// argument names (guidance_scale, num_inference_steps), "resolution" as
// "832 x 1216" and A1111's "Model"/"Model hash" keys.
func parseHFSpace(c *collector, res *Result) (key, raw string, ok bool) {
	e, m, ok := findJSONObject(c, func(m map[string]any) bool {
		_, model := m["Model"]
		_, reso := m["resolution"].(string)
		return model && reso
	})
	if !ok {
		return "", "", false
	}
	res.Prompt = getText(m, "prompt")
	res.NegativePrompt = getText(m, "negative_prompt")
	res.Model = getStr(m, "Model")
	res.Sampler = getStr(m, "sampler")
	res.Seed = getStr(m, "seed")
	res.Steps = getInt(m, "num_inference_steps", "steps")
	res.CFGScale = getNum(m, "guidance_scale", "cfg_scale")
	res.Width, res.Height = parseSize(strings.ReplaceAll(getStr(m, "resolution"), " ", ""))
	res.SamplerSettings = settingsExcept(m, "prompt", "negative_prompt", "Model", "sampler", "seed", "num_inference_steps", "steps", "guidance_scale", "cfg_scale", "resolution")
	return e.key, e.value, true
}

// civitaiRequest returns Civitai's generation request that its
// orchestration graphs carry: "extraMetadata" (a JSON string, or an
// object) inside the graph, or a separate "extraMetadata" chunk in PNGs.
// graph is the decoded graph text; nil when the file has none.
func civitaiRequest(c *collector, graph map[string]any) map[string]any {
	var v any = graph["extraMetadata"]
	if v == nil {
		if e, ok := c.find("extrametadata"); ok {
			v = e.value
		}
	}
	if s, ok := v.(string); ok {
		v, _ = decodeJSON(s)
	}
	m, _ := v.(map[string]any)
	return m
}

// isCivitaiGraph reports whether a ComfyUI API graph came from Civitai's
// generator: it carries the request ("extraMetadata") or names its
// resources by Civitai AIR ("urn:air:…:civitai:…", listed under "extra").
func isCivitaiGraph(c *collector, graph map[string]any) bool {
	if civitaiRequest(c, graph) != nil {
		return true
	}
	extra, _ := graph["extra"].(map[string]any)
	airs, _ := extra["airs"].([]any)
	for _, a := range airs {
		if strings.Contains(toString(a), ":civitai:") {
			return true
		}
	}
	return false
}

// applyCivitaiGraph completes a result read from a Civitai graph: the graph
// is what ran, so its values stay; the request fills what the graph lacks
// (an upscale-only job has no sampler, so everything), and the AIRs and the
// base model family are kept with the settings.
func applyCivitaiGraph(c *collector, graph map[string]any, res *Result) {
	req := civitaiRequest(c, graph)
	if req != nil {
		if res.Prompt == "" {
			res.Prompt = getText(req, "prompt")
		}
		if res.NegativePrompt == "" {
			res.NegativePrompt = getText(req, "negativePrompt")
		}
		if res.Sampler == "" {
			res.Sampler = getStr(req, "sampler")
		}
		if res.Seed == "" {
			res.Seed = getStr(req, "seed")
		}
		if res.Steps == nil {
			res.Steps = getInt(req, "steps")
		}
		if res.CFGScale == nil {
			res.CFGScale = getNum(req, "cfgScale")
		}
		if res.Width == nil && res.Height == nil {
			res.Width, res.Height = getInt(req, "width"), getInt(req, "height")
		}
	}
	if res.Model == "" {
		// The checkpoint loader Civitai names "resource-stack".
		if n, ok := graph["resource-stack"].(map[string]any); ok {
			if in, ok := n["inputs"].(map[string]any); ok {
				res.Model = getStr(in, "ckpt_name")
			}
		}
	}
	if res.SamplerSettings == nil {
		res.SamplerSettings = map[string]any{}
	}
	if extra, ok := graph["extra"].(map[string]any); ok && extra["airs"] != nil {
		res.SamplerSettings["civitai_airs"] = jsonValue(extra["airs"])
	}
	if req != nil {
		if b := getStr(req, "baseModel"); b != "" {
			res.SamplerSettings["base_model"] = b
		}
		if cs := getInt(req, "clipSkip"); cs != nil && res.SamplerSettings["clip_skip"] == nil {
			res.SamplerSettings["clip_skip"] = *cs
		}
	}
}

// parseCivitaiGraph reads a Civitai graph the ComfyUI walker could not use
// (no sampler: upscale-only jobs) from the request it carries.
func parseCivitaiGraph(c *collector, res *Result) (key, raw string, ok bool) {
	for _, cand := range comfyCandidates(c) {
		if cand.workflow {
			continue
		}
		v, _ := decodeJSON(cand.value)
		g, _ := v.(map[string]any)
		if g == nil || civitaiRequest(c, g) == nil {
			continue
		}
		applyCivitaiGraph(c, g, res)
		// The walker's "no sampler" is expected here: the request holds
		// the generation, so nothing is missing.
		res.Warnings = slices.DeleteFunc(res.Warnings, func(w string) bool {
			return w == "comfy_no_sampler: "+cand.key
		})
		return cand.key, cand.value, true
	}
	return "", "", false
}

// parseStabilityMatrix reads Stability Matrix's Inference output: a
// "parameters-json" chunk with what the user typed (PositivePrompt,
// NegativePrompt, ModelName, ModelHash, …) beside the ComfyUI graph it ran
// and an A1111-style "parameters" copy. The JSON is the user's own text, so
// it wins; the graph fills what the JSON lacks (scheduler, LoRAs, passes).
func parseStabilityMatrix(c *collector, res *Result) (key, raw string, ok bool) {
	e, found := c.find("parameters json")
	if !found || !looksJSON(e.value) {
		return "", "", false
	}
	v, _ := decodeJSON(e.value)
	m, _ := v.(map[string]any)
	if m == nil || (m["PositivePrompt"] == nil && m["ModelName"] == nil) {
		return "", "", false
	}
	parseComfy(c, res) // the graph's columns first; the JSON overrides
	res.Prompt = getText(m, "PositivePrompt")
	res.NegativePrompt = getText(m, "NegativePrompt")
	res.PromptRaw, res.NegativePromptRaw = "", ""
	if s := getStr(m, "ModelName"); s != "" {
		res.Model = s
	}
	if s := getStr(m, "Sampler"); s != "" {
		res.Sampler = s
	}
	if s := getStr(m, "Seed"); s != "" {
		res.Seed = s
	}
	if p := getInt(m, "Steps"); p != nil {
		res.Steps = p
	}
	if p := getNum(m, "CfgScale"); p != nil {
		res.CFGScale = p
	}
	if w, h := getInt(m, "Width"), getInt(m, "Height"); w != nil && h != nil {
		res.Width, res.Height = w, h
	}
	if h := getStr(m, "ModelHash"); h != "" {
		res.ModelHash = h
	}
	return e.key, e.value, true
}
