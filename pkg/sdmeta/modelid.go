package sdmeta

import (
	"strings"
)

// Model identity (issue #19 item 7): which checkpoint made the image, by
// name and by hash. Every front end spells the hash differently; the
// parsers that have a dedicated field set Result.ModelHash themselves and
// finishModelIdentity picks it up from the parameter keys of the rest, so
// Result.ModelHash is the one place to read it.

// settingsHashKeys are the sampler_settings keys that hold the checkpoint
// hash, in order of preference: A1111 and its forks and Spaces ("Model
// hash"), NovelAI, InvokeAI v2 and RuinedFooocus ("model_hash", as this
// package has always filed them), Fooocus ("base_model_hash").
var settingsHashKeys = []string{"Model hash", "model_hash", "base_model_hash"}

// finishModelIdentity fills Result.ModelHash from the parameter keys when
// no parser set it, and gives the main parameter set the hash when it
// names the same model.
func finishModelIdentity(res *Result) {
	if res.ModelHash == "" {
		res.ModelHash = modelHashFromSettings(res.SamplerSettings)
	}
	if res.ModelHash != "" && len(res.ParameterSets) > 0 {
		if ps := &res.ParameterSets[0]; ps.ModelHash == "" && ps.Model == res.Model {
			ps.ModelHash = res.ModelHash
		}
	}
}

// modelHashFromSettings returns the checkpoint hash kept under one of
// settingsHashKeys, or in the "Hashes" JSON object A1111 and
// SaveImageWithMetaData write ({"model": "31e35c80fc", "lora:x": …}).
// Placeholders ("unknown") are no hash.
func modelHashFromSettings(set map[string]any) string {
	for _, k := range settingsHashKeys {
		if h := strings.TrimSpace(toString(set[k])); h != "" && !isPlaceholder(h) {
			return h
		}
	}
	var hashes map[string]any
	switch v := set["Hashes"].(type) {
	case string:
		if d, ok := decodeJSON(v); ok {
			hashes, _ = d.(map[string]any)
		}
	case map[string]any:
		hashes = v
	}
	if h := getStr(hashes, "model"); h != "" && !isPlaceholder(h) {
		return h
	}
	return ""
}

// invokeModelRef reads an InvokeAI model reference: the v4+
// ModelIdentifierField {key, hash, name, base, type} or the v3
// {model_name, base_model, model_type}. The hash keeps its algorithm
// prefix ("blake3:…", "random:…") as written.
func invokeModelRef(v any) (name, hash string) {
	m, _ := v.(map[string]any)
	if m == nil {
		return "", ""
	}
	return getStr(m, "name", "model_name"), getStr(m, "hash")
}

// invokeGraphModelHash finds the checkpoint hash in an invokeai_graph
// (nodes keyed by id, the loader's "model" a ModelIdentifierField), for
// metadata that names the model without its hash. name, when not empty,
// must match the loader's model.
func invokeGraphModelHash(c *collector, name string) string {
	e, ok := c.find("invokeai graph")
	if !ok {
		return ""
	}
	v, _ := decodeJSON(e.value)
	g, _ := v.(map[string]any)
	nodes, _ := g["nodes"].(map[string]any)
	for _, nv := range nodes {
		n, _ := nv.(map[string]any)
		if !strings.HasSuffix(getStr(n, "type"), "model_loader") {
			continue
		}
		if mn, h := invokeModelRef(n["model"]); h != "" && (name == "" || mn == name) {
			return h
		}
	}
	return ""
}

// parseTensorArt reads TensorArt files: a generation_data JSON (prompt,
// negativePrompt, seed, steps, cfgScale, clipSkip, size, baseModel
// {modelFileName, hash}) next to the ComfyUI graph that ran. The graph's
// checkpoint is TensorArt's internal file name ("EMS-123-EMS.safetensors"),
// so the model comes from generation_data; the graph fills the sampler
// settings and any value generation_data leaves out or writes as -1 (a
// random seed).
func parseTensorArt(c *collector, res *Result) (key, raw string, ok bool) {
	e, found := c.find("generation data")
	if !found {
		return "", "", false
	}
	v, _ := decodeJSON(e.value)
	m, _ := v.(map[string]any)
	// TensorArt's own camelCase keys; another tool's "generation data"
	// JSON with a bare "prompt" is left to the generic readers.
	if m == nil || (m["baseModel"] == nil && m["negativePrompt"] == nil && m["cfgScale"] == nil) {
		return "", "", false
	}
	parseComfy(c, res) // the graph, when there is one; its model is replaced below
	if graphModel := res.Model; graphModel != "" {
		if res.SourceMetadata == nil {
			res.SourceMetadata = map[string]any{}
		}
		res.SourceMetadata["graph_model"] = graphModel
	}
	// Prompts as written (settleVerbatim makes the display form).
	if p := getText(m, "prompt"); p != "" {
		res.Prompt, res.PromptRaw = p, ""
	}
	if n := getText(m, "negativePrompt"); n != "" {
		res.NegativePrompt, res.NegativePromptRaw = n, ""
	}
	bm, _ := m["baseModel"].(map[string]any)
	res.Model = getStr(bm, "modelFileName", "modelName")
	res.ModelHash = getStr(bm, "hash")
	if s := getStr(m, "seed"); s != "" && (s != "-1" || res.Seed == "") {
		res.Seed = s
	}
	if n := getInt(m, "steps"); n != nil {
		res.Steps = n
	}
	if f := getNum(m, "cfgScale"); f != nil {
		res.CFGScale = f
	}
	if w, h := getInt(m, "width"), getInt(m, "height"); w != nil && h != nil {
		res.Width, res.Height = w, h
	}
	if res.Sampler == "" {
		res.Sampler = getStr(m, "ksamplerName")
	}
	if res.Scheduler == "" {
		res.Scheduler = getStr(m, "schedule")
	}
	if res.SamplerSettings == nil {
		res.SamplerSettings = map[string]any{}
	}
	for k, x := range settingsExcept(m, "prompt", "negativePrompt", "baseModel", "seed", "steps", "cfgScale", "width", "height") {
		res.SamplerSettings[k] = x
	}
	return e.key, e.value, true
}

// swarmModelHashes reads SwarmUI's "sui_models" list ({name, param,
// hash}): the entry for param "model" is the checkpoint; LoRA entries
// give their hash to the LoRA of the same file name.
func swarmModelHashes(root map[string]any, res *Result) {
	list, _ := root["sui_models"].([]any)
	for _, x := range list {
		m, _ := x.(map[string]any)
		name, hash := getStr(m, "name"), getStr(m, "hash")
		if hash == "" {
			continue
		}
		switch param := strings.ToLower(getStr(m, "param")); {
		case param == "model" && res.ModelHash == "":
			res.ModelHash = hash
		case strings.Contains(param, "lora"):
			for i := range res.Loras {
				if res.Loras[i].Hash == "" && sameModelFile(res.Loras[i].Name, name) {
					res.Loras[i].Hash = hash
				}
			}
		}
	}
}

// sameModelFile compares model names ignoring folder and extension, the
// way SwarmUI lists a LoRA ("styleA") and its file ("Styles/styleA.safetensors").
func sameModelFile(a, b string) bool {
	base := func(s string) string {
		s = s[strings.LastIndexAny(s, `/\`)+1:]
		for _, ext := range []string{".safetensors", ".ckpt", ".pt", ".bin"} {
			s = strings.TrimSuffix(s, ext)
		}
		return strings.ToLower(s)
	}
	return base(a) == base(b)
}
