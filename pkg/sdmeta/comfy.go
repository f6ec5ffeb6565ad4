package sdmeta

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"
)

// ComfyUI stores two graphs: "prompt" (the API graph: node id ->
// {class_type, inputs}, inputs either literals or links [node_id, slot])
// and "workflow" (the editor graph). We walk the API graph from every
// sampler node back through its inputs; the workflow graph is converted to
// the same shape for the common node types when no API graph exists.

// comfyNode is one node of an API graph.
type comfyNode struct {
	Class  string
	Inputs map[string]any
	Mode   int // workflow only: 2 muted, 4 bypassed
}

// comfyGraph is an API graph.
type comfyGraph map[string]*comfyNode

// maxComfyDepth bounds every recursive walk; together with per-walk visited
// sets it makes cyclic or absurdly deep graphs harmless.
const (
	maxComfyDepth = 64
	maxComfyNodes = 20000
)

// decodeJSON decodes with json.Number so seeds above 2^53 stay exact.
func decodeJSON(s string) (any, bool) {
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, false
	}
	return v, true
}

// parseComfyPrompt turns decoded JSON into an API graph, or nil when it is
// not one.
func parseComfyPrompt(v any) comfyGraph {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	// Some writers wrap the graph: {"prompt": {...}}.
	if inner, ok := m["prompt"].(map[string]any); ok && len(m) <= 3 {
		m = inner
	}
	g := comfyGraph{}
	for id, nv := range m {
		n, ok := nv.(map[string]any)
		if !ok {
			continue
		}
		ct, _ := n["class_type"].(string)
		in, _ := n["inputs"].(map[string]any)
		if ct == "" || in == nil {
			continue
		}
		if len(g) >= maxComfyNodes {
			break
		}
		g[id] = &comfyNode{Class: ct, Inputs: in}
	}
	if len(g) == 0 {
		return nil
	}
	return g
}

// link reports whether v is a link [node_id, slot] and returns the node id.
func link(v any) (string, bool) {
	a, ok := v.([]any)
	if !ok || len(a) != 2 {
		return "", false
	}
	if _, ok := a[1].(json.Number); !ok {
		return "", false
	}
	switch id := a[0].(type) {
	case string:
		return id, true
	case json.Number:
		return id.String(), true
	}
	return "", false
}

// valueNames are the input names primitive/utility nodes use for the value
// they pass on (seed nodes, primitive nodes, text boxes).
var valueNames = []string{"value", "seed", "noise_seed", "int", "float", "number", "text", "string", "Text", "STRING", "prompt"}

// scalar resolves an input to a literal, following links into primitive or
// utility nodes. Each node is entered at most once per resolution, so a
// cyclic graph costs O(nodes), not an exponential search.
func (g comfyGraph) scalar(id, name string, _ int) (any, bool) {
	return g.scalarSeen(id, name, map[string]bool{})
}

func (g comfyGraph) scalarSeen(id, name string, seen map[string]bool) (any, bool) {
	n := g[id]
	if n == nil || len(seen) > maxComfyDepth {
		return nil, false
	}
	v, ok := n.Inputs[name]
	if !ok {
		return nil, false
	}
	src, isLink := link(v)
	if !isLink {
		if _, isList := v.([]any); isList {
			return nil, false
		}
		return v, true
	}
	sn := g[src]
	if sn == nil || seen[src] {
		return nil, false
	}
	seen[src] = true
	if _, has := sn.Inputs[name]; has {
		if r, ok := g.scalarSeen(src, name, seen); ok {
			return r, true
		}
	}
	for _, vn := range valueNames {
		if _, has := sn.Inputs[vn]; has {
			if r, ok := g.scalarSeen(src, vn, seen); ok {
				return r, true
			}
		}
	}
	return nil, false
}

// auxInputs are the SamplerCustom(Advanced) side nodes that hold the
// parameters KSampler has inline.
var auxInputs = []string{"noise", "guider", "sampler", "sigmas"}

// param looks a parameter up on the sampler node itself, then one hop into
// its noise/guider/sampler/sigmas nodes.
func (g comfyGraph) param(id string, names ...string) (any, bool) {
	for _, name := range names {
		if v, ok := g.scalar(id, name, 0); ok {
			return v, true
		}
	}
	n := g[id]
	for _, aux := range auxInputs {
		src, ok := link(n.Inputs[aux])
		if !ok {
			continue
		}
		for _, name := range names {
			if v, ok := g.scalar(src, name, 0); ok {
				return v, true
			}
		}
	}
	return nil, false
}

// condInput returns the link the sampler's positive/negative conditioning
// comes from (directly or through a CFGGuider/BasicGuider).
func (g comfyGraph) condInput(id, side string) (string, bool) {
	n := g[id]
	if src, ok := link(n.Inputs[side]); ok {
		return src, true
	}
	if gid, ok := link(n.Inputs["guider"]); ok && g[gid] != nil {
		gn := g[gid]
		if src, ok := link(gn.Inputs[side]); ok {
			return src, true
		}
		if side == "positive" {
			if src, ok := link(gn.Inputs["conditioning"]); ok {
				return src, true
			}
		}
	}
	return "", false
}

var textInputs = []string{"text", "text_g", "text_l", "prompt", "t5xxl", "clip_l", "positive", "negative", "string"}

// conditioning collects prompt texts and ControlNet units upstream of a
// conditioning link.
func (g comfyGraph) conditioning(id, side string, seen map[string]bool, depth int, texts *[]string, cns *[]ControlNet) {
	n := g[id]
	if n == nil || seen[id] || depth > maxComfyDepth || len(seen) > maxComfyNodes {
		return
	}
	seen[id] = true
	lc := strings.ToLower(n.Class)
	if strings.Contains(lc, "controlnet") {
		cn := ControlNet{"class_type": n.Class}
		for _, k := range []string{"strength", "start_percent", "end_percent"} {
			if v, ok := g.scalar(id, k, 0); ok {
				cn[k] = jsonValue(v)
			}
		}
		if src, ok := link(n.Inputs["control_net"]); ok {
			if v, ok := g.scalar(src, "control_net_name", 0); ok {
				cn["model"] = jsonValue(v)
			}
		}
		*cns = append(*cns, cn)
	}
	isEncoder := strings.Contains(lc, "textencode") || strings.Contains(lc, "cliptext") || strings.Contains(lc, "prompt")
	if isEncoder || !strings.Contains(lc, "controlnet") {
		for _, k := range textInputs {
			if (k == "positive" || k == "negative") && k != side {
				continue
			}
			v, has := n.Inputs[k]
			if !has {
				continue
			}
			if s, ok := v.(string); ok {
				appendText(texts, s)
				continue
			}
			if src, ok := link(v); ok && g[src] != nil && !isConditioningNode(g[src]) {
				if r, ok := g.scalar(id, k, 0); ok {
					if s, ok := r.(string); ok {
						appendText(texts, s)
					}
				}
			}
		}
	}
	keys := make([]string, 0, len(n.Inputs))
	for k := range n.Inputs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		lk := strings.ToLower(k)
		if !(strings.Contains(lk, "conditioning") || lk == side) {
			continue
		}
		if src, ok := link(n.Inputs[k]); ok {
			g.conditioning(src, side, seen, depth+1, texts, cns)
		}
	}
}

func isConditioningNode(n *comfyNode) bool {
	lc := strings.ToLower(n.Class)
	return strings.Contains(lc, "conditioning") || strings.Contains(lc, "textencode")
}

func appendText(texts *[]string, s string) {
	s = strings.TrimSpace(s)
	if s == "" {
		return
	}
	for _, t := range *texts {
		if t == s {
			return
		}
	}
	*texts = append(*texts, s)
}

// model follows the model link through LoRA loaders and model patches to
// the loader, collecting LoRAs on the way.
func (g comfyGraph) model(id string, seen map[string]bool, depth int) (string, []Lora) {
	n := g[id]
	if n == nil || seen[id] || depth > maxComfyDepth {
		return "", nil
	}
	seen[id] = true
	var loras []Lora
	if name, ok := g.scalar(id, "lora_name", 0); ok {
		l := Lora{Name: strings.TrimSpace(toString(name)), Source: "graph"}
		if v, ok := g.scalar(id, "strength_model", 0); ok {
			l.Weight = numPtr(v)
		} else if v, ok := g.scalar(id, "strength", 0); ok {
			l.Weight = numPtr(v)
		}
		if v, ok := g.scalar(id, "strength_clip", 0); ok {
			l.ClipWeight = numPtr(v)
		}
		loras = append(loras, l)
	}
	for _, k := range []string{"ckpt_name", "unet_name", "model_name", "base_ckpt_name"} {
		if v, ok := g.scalar(id, k, 0); ok {
			if s := toString(v); s != "" {
				return s, loras
			}
		}
	}
	if src, ok := link(n.Inputs["model"]); ok {
		m, more := g.model(src, seen, depth+1)
		return m, append(loras, more...)
	}
	return "", loras
}

// latent follows latent_image back to the node that sets the size, and
// reports whether another sampler lies upstream (a refine/hires pass). The
// latent chain is linear, so this is a loop, not a recursion.
func (g comfyGraph) latent(id string, samplers map[string]bool) (w, h *int, refine bool) {
	seen := map[string]bool{}
	for depth := 0; id != "" && depth < maxComfyDepth*4 && !seen[id]; depth++ {
		seen[id] = true
		n := g[id]
		if n == nil {
			break
		}
		if samplers[id] {
			refine = true
			if w != nil {
				break
			}
		} else if w == nil {
			wv, okw := g.scalar(id, "width", 0)
			hv, okh := g.scalar(id, "height", 0)
			if okw && okh {
				w, h = intPtrOf(wv), intPtrOf(hv)
			}
		}
		next := ""
		for _, k := range []string{"latent_image", "samples", "latent", "pixels", "image"} {
			if src, ok := link(n.Inputs[k]); ok {
				next = src
				break
			}
		}
		id = next
	}
	return w, h, refine
}

// isSampler recognises sampler nodes by name and inputs, so custom
// samplers (Efficiency, Impact, WAS…) are found too.
func isSampler(n *comfyNode) bool {
	if n.Mode == 2 || n.Mode == 4 {
		return false
	}
	if !strings.Contains(strings.ToLower(n.Class), "sampler") {
		return false
	}
	_, p := n.Inputs["positive"]
	_, gd := n.Inputs["guider"]
	return p || gd
}

// walkComfy returns one ParameterSet per sampler, main first.
func walkComfy(g comfyGraph) []ParameterSet {
	samplers := map[string]bool{}
	var ids []string
	for id, n := range g {
		if isSampler(n) {
			samplers[id] = true
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return idLess(ids[i], ids[j]) })
	type cand struct {
		ps     ParameterSet
		refine bool
	}
	var cands []cand
	for _, id := range ids {
		n := g[id]
		ps := ParameterSet{NodeID: id, ClassType: n.Class}
		var pos, neg []string
		if src, ok := g.condInput(id, "positive"); ok {
			g.conditioning(src, "positive", map[string]bool{}, 0, &pos, &ps.Controlnet)
		}
		if src, ok := g.condInput(id, "negative"); ok {
			var cnNeg []ControlNet
			g.conditioning(src, "negative", map[string]bool{}, 0, &neg, &cnNeg)
		}
		ps.Prompt = strings.Join(pos, "\n")
		ps.NegativePrompt = strings.Join(neg, "\n")
		if v, ok := g.param(id, "seed", "noise_seed"); ok {
			ps.Seed = toString(v)
		}
		if v, ok := g.param(id, "steps"); ok {
			ps.Steps = intPtrOf(v)
		}
		if v, ok := g.param(id, "cfg"); ok {
			ps.CFGScale = numPtr(v)
		}
		if v, ok := g.param(id, "sampler_name"); ok {
			ps.Sampler = toString(v)
		}
		if v, ok := g.param(id, "scheduler"); ok {
			ps.Scheduler = toString(v)
		}
		if v, ok := g.param(id, "denoise"); ok {
			ps.Denoise = numPtr(v)
		}
		modelSrc, ok := link(n.Inputs["model"])
		if !ok {
			if gid, gok := link(n.Inputs["guider"]); gok && g[gid] != nil {
				modelSrc, ok = link(g[gid].Inputs["model"])
			}
		}
		if ok {
			ps.Model, ps.Loras = g.model(modelSrc, map[string]bool{}, 0)
		}
		var refine bool
		if src, ok := link(n.Inputs["latent_image"]); ok {
			ps.Width, ps.Height, refine = g.latent(src, samplers)
		}
		extra := map[string]any{}
		for _, k := range []string{"add_noise", "start_at_step", "end_at_step", "return_with_leftover_noise"} {
			if v, ok := g.scalar(id, k, 0); ok {
				extra[k] = jsonValue(v)
			}
		}
		if len(extra) > 0 {
			ps.Extra = extra
		}
		cands = append(cands, cand{ps, refine})
	}
	// Main pass: the first (by node id) base pass with a prompt; then any
	// base pass; then anything. Deterministic whatever the map order.
	best := -1
	for pass := 0; pass < 3 && best < 0; pass++ {
		for i, c := range cands {
			if (pass == 0 && !c.refine && c.ps.Prompt != "") || (pass == 1 && !c.refine) || pass == 2 {
				best = i
				break
			}
		}
	}
	out := make([]ParameterSet, 0, len(cands))
	if best >= 0 {
		out = append(out, cands[best].ps)
	}
	for i, c := range cands {
		if i != best {
			out = append(out, c.ps)
		}
	}
	return out
}

// idLess orders node ids numerically when both are numbers ("3" < "24").
func idLess(a, b string) bool {
	ai, ea := strconv.ParseFloat(a, 64)
	bi, eb := strconv.ParseFloat(b, 64)
	if ea == nil && eb == nil && ai != bi {
		return ai < bi
	}
	if (ea == nil) != (eb == nil) {
		return ea == nil
	}
	return a < b
}

// workflowWidgets names the widgets_values of common editor nodes in
// order ("" marks the control_after_generate slot that follows seeds).
var workflowWidgets = map[string][]string{
	"KSampler":                {"seed", "", "steps", "cfg", "sampler_name", "scheduler", "denoise"},
	"KSamplerAdvanced":        {"add_noise", "noise_seed", "", "steps", "cfg", "sampler_name", "scheduler", "start_at_step", "end_at_step", "return_with_leftover_noise"},
	"SamplerCustom":           {"add_noise", "noise_seed", "", "cfg"},
	"CLIPTextEncode":          {"text"},
	"CLIPTextEncodeSDXL":      {"width", "height", "crop_w", "crop_h", "target_width", "target_height", "text_g", "text_l"},
	"CheckpointLoaderSimple":  {"ckpt_name"},
	"CheckpointLoader":        {"config_name", "ckpt_name"},
	"UNETLoader":              {"unet_name", "weight_dtype"},
	"LoraLoader":              {"lora_name", "strength_model", "strength_clip"},
	"LoraLoaderModelOnly":     {"lora_name", "strength_model"},
	"EmptyLatentImage":        {"width", "height", "batch_size"},
	"EmptySD3LatentImage":     {"width", "height", "batch_size"},
	"LatentUpscale":           {"upscale_method", "width", "height", "crop"},
	"KSamplerSelect":          {"sampler_name"},
	"BasicScheduler":          {"scheduler", "steps", "denoise"},
	"RandomNoise":             {"noise_seed", ""},
	"CFGGuider":               {"cfg"},
	"ControlNetLoader":        {"control_net_name"},
	"ControlNetApply":         {"strength"},
	"ControlNetApplyAdvanced": {"strength", "start_percent", "end_percent"},
	"PrimitiveNode":           {"value", ""},
}

// parseComfyWorkflow converts an editor graph to an API graph: links come
// from the links table, widget values are named by workflowWidgets (or
// taken as-is when a node stores them as an object).
func parseComfyWorkflow(v any) comfyGraph {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	nodes, _ := m["nodes"].([]any)
	links, _ := m["links"].([]any)
	if len(nodes) == 0 {
		return nil
	}
	// link id -> [origin node id, origin slot]
	linkSrc := map[string][2]string{}
	for _, lv := range links {
		switch l := lv.(type) {
		case []any:
			if len(l) >= 3 {
				linkSrc[toString(l[0])] = [2]string{toString(l[1]), toString(l[2])}
			}
		case map[string]any:
			linkSrc[toString(l["id"])] = [2]string{toString(l["origin_id"]), toString(l["origin_slot"])}
		}
		if len(linkSrc) > maxComfyNodes*4 {
			break
		}
	}
	g := comfyGraph{}
	for _, nv := range nodes {
		n, ok := nv.(map[string]any)
		if !ok {
			continue
		}
		id := toString(n["id"])
		ct, _ := n["type"].(string)
		if id == "" || ct == "" || len(g) >= maxComfyNodes {
			continue
		}
		cn := &comfyNode{Class: ct, Inputs: map[string]any{}}
		if mode, ok := n["mode"].(json.Number); ok {
			if i, err := mode.Int64(); err == nil {
				cn.Mode = int(i)
			}
		}
		widgetSet := map[string]bool{}
		switch wv := n["widgets_values"].(type) {
		case []any:
			names := workflowWidgets[ct]
			if names == nil && strings.Contains(strings.ToLower(ct), "primitive") {
				names = []string{"value", ""}
			}
			for i, name := range names {
				if name != "" && i < len(wv) {
					cn.Inputs[name] = wv[i]
					widgetSet[name] = true
				}
			}
			if names == nil && len(wv) > 0 {
				// Unknown node: text boxes and the like keep their first
				// string widget as "text" so prompts are not lost.
				if s, ok := wv[0].(string); ok {
					cn.Inputs["text"] = s
				}
			}
		case map[string]any:
			for k, x := range wv {
				cn.Inputs[k] = x
				widgetSet[k] = true
			}
		}
		ins, _ := n["inputs"].([]any)
		for _, iv := range ins {
			in, ok := iv.(map[string]any)
			if !ok {
				continue
			}
			name, _ := in["name"].(string)
			if name == "" || in["link"] == nil {
				continue
			}
			// A widget converted to an input keeps its saved value in
			// widgets_values; prefer a link only when that is missing.
			if widgetSet[name] {
				continue
			}
			if src, ok := linkSrc[toString(in["link"])]; ok {
				slot, _ := strconv.Atoi(src[1])
				cn.Inputs[name] = []any{src[0], json.Number(strconv.Itoa(slot))}
			}
		}
		g[id] = cn
	}
	if len(g) == 0 {
		return nil
	}
	return g
}

// toString renders a JSON scalar as text (json.Number keeps its digits).
func toString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	case nil:
		return ""
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return ""
}

func numPtr(v any) *float64 {
	switch x := v.(type) {
	case json.Number:
		return parseFloatPtr(x.String())
	case string:
		return parseFloatPtr(x)
	case float64:
		return &x
	}
	return nil
}

func intPtrOf(v any) *int {
	switch x := v.(type) {
	case json.Number:
		return parseIntPtr(x.String())
	case string:
		return parseIntPtr(x)
	}
	return nil
}

// jsonValue turns a json.Number into int64/float64 so maps marshal as plain
// numbers; other values pass through.
func jsonValue(v any) any {
	if n, ok := v.(json.Number); ok {
		if i, err := n.Int64(); err == nil {
			return i
		}
		if f, err := n.Float64(); err == nil {
			return f
		}
		return n.String()
	}
	return v
}
