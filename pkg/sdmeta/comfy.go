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
// "Any"/preview/show nodes pass their input on under the names at the end.
var valueNames = []string{"value", "seed", "noise_seed", "int", "float", "number", "text", "string", "Text", "STRING", "prompt", "anything", "any", "any_input", "source", "input"}

// scalar resolves an input to a literal, following links into primitive or
// utility nodes. Each node is entered at most once per resolution, so a
// cyclic graph costs O(nodes), not an exponential search.
func (g comfyGraph) scalar(id, name string, _ int) (any, bool) {
	return g.scalarAt(id, name, nil)
}

// scalarAt is scalar that also reports, in loc (may be nil), the node input
// holding the literal, so regeneration edits the value where it lives (a
// primitive node feeding the sampler, not the sampler). loc stays zero when
// the value is not a literal of one input (a switch's picked literal).
func (g comfyGraph) scalarAt(id, name string, loc *ComfyInput) (any, bool) {
	return g.scalarSeen(id, name, map[string]bool{}, loc)
}

func (g comfyGraph) scalarSeen(id, name string, seen map[string]bool, loc *ComfyInput) (any, bool) {
	n := g[id]
	if n == nil || len(seen) > maxComfyDepth {
		return nil, false
	}
	v, ok := n.Inputs[name]
	if !ok {
		return nil, false
	}
	r, ok := g.valueSeen(v, name, seen, loc)
	if _, isLink := link(v); ok && !isLink && loc != nil {
		*loc = ComfyInput{Node: id, Input: name}
	}
	return r, ok
}

// valueSeen resolves an input value: a literal as is, a link by entering
// the node it comes from (through a switch to the input it selects).
func (g comfyGraph) valueSeen(v any, name string, seen map[string]bool, loc *ComfyInput) (any, bool) {
	src, isLink := link(v)
	if !isLink {
		if _, isList := v.([]any); isList {
			return nil, false
		}
		return v, true
	}
	sn := g[src]
	if sn == nil || seen[src] || len(seen) > maxComfyDepth {
		return nil, false
	}
	seen[src] = true
	if pv, ok := g.switchPick(src); ok {
		return g.valueSeen(pv, name, seen, loc)
	}
	if _, has := sn.Inputs[name]; has {
		if r, ok := g.scalarSeen(src, name, seen, loc); ok {
			return r, true
		}
	}
	for _, vn := range valueNames {
		if _, has := sn.Inputs[vn]; has {
			if r, ok := g.scalarSeen(src, vn, seen, loc); ok {
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
	return g.paramAt(id, nil, names...)
}

// paramAt is param reporting where the literal lives (see scalarAt).
func (g comfyGraph) paramAt(id string, loc *ComfyInput, names ...string) (any, bool) {
	for _, name := range names {
		if v, ok := g.scalarAt(id, name, loc); ok {
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
			if v, ok := g.scalarAt(src, name, loc); ok {
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
//
// locs (may be nil) receives every input holding a non-blank text, repeats
// included, so an edit reaches every encoder of that side.
func (g comfyGraph) conditioning(id, side string, seen map[string]bool, depth int, texts *[]string, cns *[]ControlNet, locs *[]ComfyInput) {
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
				addLoc(locs, s, ComfyInput{Node: id, Input: k})
				continue
			}
			if src, ok := link(v); ok && g[src] != nil && !isConditioningNode(g[src]) {
				var at ComfyInput
				if r, ok := g.scalarAt(id, k, &at); ok {
					if s, ok := r.(string); ok {
						appendText(texts, s)
						addLoc(locs, s, at)
					}
				}
			}
		}
	}
	// A switch passes on only the input it selects; following every
	// conditioning1/conditioning2 would join prompts that never ran.
	if pv, ok := g.switchPick(id); ok {
		if src, ok := link(pv); ok {
			g.conditioning(src, side, seen, depth+1, texts, cns, locs)
		}
		return
	}
	followed := false
	defer func() {
		// Reroute, "any" and preview nodes between sampler and encoder.
		if !followed && !isEncoder {
			if src, ok := g.forward(id); ok {
				g.conditioning(src, side, seen, depth+1, texts, cns, locs)
			}
		}
	}()
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
			followed = true
			g.conditioning(src, side, seen, depth+1, texts, cns, locs)
		}
	}
}

func isConditioningNode(n *comfyNode) bool {
	lc := strings.ToLower(n.Class)
	return strings.Contains(lc, "conditioning") || strings.Contains(lc, "textencode")
}

// appendText keeps an encoder's text as written; blank texts and repeats
// (compared in their clean form) are skipped.
func appendText(texts *[]string, s string) {
	c := CleanPrompt(s)
	if c == "" {
		return
	}
	for _, t := range *texts {
		if CleanPrompt(t) == c {
			return
		}
	}
	*texts = append(*texts, s)
}

// joinTexts returns the verbatim and the clean form of several encoders'
// texts, one per line.
func joinTexts(texts []string) (raw, clean string) {
	cl := make([]string, len(texts))
	for i, t := range texts {
		cl[i] = CleanPrompt(t)
	}
	return strings.Join(texts, "\n"), strings.Join(cl, "\n")
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
	src, ok := link(n.Inputs["model"])
	if !ok {
		// Switches, reroutes and "any" nodes in front of the loader.
		src, ok = g.forward(id)
	}
	if ok {
		m, more := g.model(src, seen, depth+1)
		return m, append(loras, more...)
	}
	return "", loras
}

// latent follows latent_image back to the node that sets the size, and
// reports whether another sampler lies upstream (a refine/hires pass). The
// latent chain is linear, so this is a loop, not a recursion.
func (g comfyGraph) latent(id string, samplers map[string]bool) (w, h *int, refine bool) {
	return g.latentAt(id, samplers, nil, nil)
}

// latentAt is latent reporting where width and height live (see scalarAt).
func (g comfyGraph) latentAt(id string, samplers map[string]bool, wloc, hloc *ComfyInput) (w, h *int, refine bool) {
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
			var wl, hl ComfyInput
			wv, okw := g.scalarAt(id, "width", &wl)
			hv, okh := g.scalarAt(id, "height", &hl)
			if okw && okh {
				w, h = intPtrOf(wv), intPtrOf(hv)
				if wloc != nil {
					*wloc, *hloc = wl, hl
				}
			}
		}
		next := ""
		for _, k := range []string{"latent_image", "samples", "latent", "pixels", "image"} {
			if src, ok := link(n.Inputs[k]); ok {
				next = src
				break
			}
		}
		if next == "" {
			next, _ = g.forward(id)
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
			g.conditioning(src, "positive", map[string]bool{}, 0, &pos, &ps.Controlnet, nil)
		}
		if src, ok := g.condInput(id, "negative"); ok {
			var cnNeg []ControlNet
			g.conditioning(src, "negative", map[string]bool{}, 0, &neg, &cnNeg, nil)
		}
		ps.PromptRaw, ps.Prompt = joinTexts(pos)
		ps.NegativePromptRaw, ps.NegativePrompt = joinTexts(neg)
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
	"ComfySwitchNode":         {"switch"},
	"SetNode":                 {"constant"},
	"GetNode":                 {"constant"},
}

// parseComfyWorkflow converts an editor graph to an API graph: links come
// from the links table, widget values are named by workflowWidgets (or
// taken as-is when a node stores them as an object). Subgraphs (the current
// frontend's workflow.definitions.subgraphs) are flattened the way ComfyUI
// does when it queues a prompt: an instance node whose type is a subgraph
// id is replaced by the definition's nodes, numbered "instance:inner", and
// wires across the boundary are re-pointed at what really feeds them
// (#19 item 6).
func parseComfyWorkflow(v any) comfyGraph {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	nodes, _ := m["nodes"].([]any)
	if len(nodes) == 0 {
		return nil
	}
	f := &wfFlattener{g: comfyGraph{}, defs: map[string]map[string]any{}}
	if defs, ok := m["definitions"].(map[string]any); ok {
		subs, _ := defs["subgraphs"].([]any)
		for _, sv := range subs {
			if sg, ok := sv.(map[string]any); ok {
				if id := toString(sg["id"]); id != "" {
					f.defs[id] = sg
				}
			}
		}
	}
	f.add(newWFScope("", m, nil, nil), 0)
	if len(f.g) == 0 {
		return nil
	}
	linkSetGet(f.g)
	return f.g
}

// linkSetGet wires KJNodes' GetNode to the SetNode of the same name and
// graph level: an editor-only shortcut that the API graph resolves, so a
// workflow-only file must resolve it too.
func linkSetGet(g comfyGraph) {
	scope := func(id string) string { return id[:strings.LastIndexByte(id, ':')+1] }
	sets := map[[2]string]any{}
	for id, n := range g {
		if n.Class != "SetNode" {
			continue
		}
		for k, v := range n.Inputs {
			if _, ok := link(v); ok && k != "constant" {
				sets[[2]string{scope(id), toString(n.Inputs["constant"])}] = v
			}
		}
	}
	for id, n := range g {
		if n.Class == "GetNode" {
			if v, ok := sets[[2]string{scope(id), toString(n.Inputs["constant"])}]; ok {
				n.Inputs["input"] = v
			}
		}
	}
}

// Subgraph boundary pseudo-node ids inside a definition (litegraph's
// SUBGRAPH_INPUT_ID / SUBGRAPH_OUTPUT_ID).
const (
	wfSubgraphInput  = "-10"
	wfSubgraphOutput = "-20"
	maxSubgraphDepth = 8
)

type wfLink struct{ origin, oslot, target, tslot string }

// wfScope is one graph level: the root workflow or one subgraph instance.
type wfScope struct {
	prefix   string // "" at the root, "75:" inside instance 75
	nodes    []any
	byID     map[string]map[string]any
	links    map[string]wfLink
	def      map[string]any // the subgraph definition (nil at the root)
	instance map[string]any // the instance node in parent (nil at the root)
	parent   *wfScope
	promoted map[[2]string]any // see promotedValues
}

func newWFScope(prefix string, graph map[string]any, instance map[string]any, parent *wfScope) *wfScope {
	sc := &wfScope{prefix: prefix, byID: map[string]map[string]any{}, links: map[string]wfLink{}, instance: instance, parent: parent}
	if instance != nil {
		sc.def = graph
		sc.promoted = promotedValues(instance)
	}
	sc.nodes, _ = graph["nodes"].([]any)
	for _, nv := range sc.nodes {
		if n, ok := nv.(map[string]any); ok {
			sc.byID[toString(n["id"])] = n
		}
	}
	ls, _ := graph["links"].([]any)
	for _, lv := range ls {
		if len(sc.links) > maxComfyNodes*4 {
			break
		}
		switch l := lv.(type) {
		case []any:
			if len(l) >= 5 {
				sc.links[toString(l[0])] = wfLink{toString(l[1]), toString(l[2]), toString(l[3]), toString(l[4])}
			} else if len(l) >= 3 {
				sc.links[toString(l[0])] = wfLink{origin: toString(l[1]), oslot: toString(l[2])}
			}
		case map[string]any:
			sc.links[toString(l["id"])] = wfLink{toString(l["origin_id"]), toString(l["origin_slot"]), toString(l["target_id"]), toString(l["target_slot"])}
		}
	}
	return sc
}

type wfFlattener struct {
	g     comfyGraph
	defs  map[string]map[string]any
	steps int // bounds the work a hostile nesting can cause
}

// child opens the scope of a subgraph instance node, or nil.
func (f *wfFlattener) child(sc *wfScope, n map[string]any, depth int) *wfScope {
	ct, _ := n["type"].(string)
	def := f.defs[ct]
	if def == nil || depth >= maxSubgraphDepth {
		return nil
	}
	return newWFScope(sc.prefix+toString(n["id"])+":", def, n, sc)
}

// resolve turns a link id of scope sc into an API-graph input value: a
// link [flattened id, slot], or a literal promoted onto an instance.
func (f *wfFlattener) resolve(sc *wfScope, linkID string, depth int) (any, bool) {
	f.steps++
	l, ok := sc.links[linkID]
	if !ok || f.steps > maxComfyNodes*8 || depth > maxComfyDepth {
		return nil, false
	}
	if l.origin == wfSubgraphInput && sc.instance != nil {
		return f.boundaryIn(sc, l.oslot, depth+1)
	}
	on := sc.byID[l.origin]
	if on == nil {
		return nil, false
	}
	if cs := f.child(sc, on, depth); cs != nil {
		// Output slot j of an instance is whatever feeds the definition's
		// output node at slot j.
		for id, il := range cs.links {
			if il.target == wfSubgraphOutput && il.tslot == l.oslot {
				return f.resolve(cs, id, depth+1)
			}
		}
		return nil, false
	}
	slot, _ := strconv.Atoi(l.oslot)
	return []any{sc.prefix + l.origin, json.Number(strconv.Itoa(slot))}, true
}

// boundaryIn resolves the subgraph input at slot: the instance's input of
// the same name (or position) in the parent scope, either wired or a
// widget value promoted onto the instance.
func (f *wfFlattener) boundaryIn(sc *wfScope, slot string, depth int) (any, bool) {
	i, err := strconv.Atoi(slot)
	if err != nil {
		return nil, false
	}
	name := ""
	if defIns, _ := sc.def["inputs"].([]any); i >= 0 && i < len(defIns) {
		if d, ok := defIns[i].(map[string]any); ok {
			name, _ = d["name"].(string)
		}
	}
	ins, _ := sc.instance["inputs"].([]any)
	at := -1
	for k, iv := range ins {
		if in, ok := iv.(map[string]any); ok && name != "" && in["name"] == name {
			at = k
			break
		}
	}
	if at < 0 {
		at = i
	}
	if at < 0 || at >= len(ins) {
		return nil, false
	}
	in, _ := ins[at].(map[string]any)
	if in == nil {
		return nil, false
	}
	if in["link"] != nil {
		return f.resolve(sc.parent, toString(in["link"]), depth+1)
	}
	// An unwired promoted widget: the value typed on the instance.
	inName, _ := in["name"].(string)
	v, ok := sc.promoted[[2]string{wfSubgraphInputProxy, inName}]
	return v, ok
}

// wfSubgraphInputProxy is the inner node id a proxyWidgets entry uses for a
// widget reached through a subgraph input.
const wfSubgraphInputProxy = "-1"

// promotedValues maps [inner node id, widget name] to the value typed into
// an instance's promoted widget. Newer frontends list the promoted widgets
// in properties.proxyWidgets ([inner id, name], "-1" for a subgraph input)
// beside widgets_values; older ones keep one widgets_values entry per
// widget input, in input order. When the counts disagree the values are
// not guessed at: the definition's defaults stand.
func promotedValues(inst map[string]any) map[[2]string]any {
	wv, _ := inst["widgets_values"].([]any)
	if len(wv) == 0 {
		return nil
	}
	out := map[[2]string]any{}
	props, _ := inst["properties"].(map[string]any)
	if proxy, ok := props["proxyWidgets"].([]any); ok {
		if len(proxy) != len(wv) {
			return nil
		}
		for i, pv := range proxy {
			if p, ok := pv.([]any); ok && len(p) >= 2 {
				out[[2]string{toString(p[0]), toString(p[1])}] = wv[i]
			}
		}
		return out
	}
	ins, _ := inst["inputs"].([]any)
	var names []string
	for _, iv := range ins {
		if in, ok := iv.(map[string]any); ok && in["widget"] != nil {
			name, _ := in["name"].(string)
			names = append(names, name)
		}
	}
	if len(names) != len(wv) {
		return nil
	}
	for i, name := range names {
		out[[2]string{wfSubgraphInputProxy, name}] = wv[i]
	}
	return out
}

// add converts the nodes of one scope, descending into subgraph instances.
func (f *wfFlattener) add(sc *wfScope, depth int) {
	for _, nv := range sc.nodes {
		n, ok := nv.(map[string]any)
		if !ok || len(f.g) >= maxComfyNodes || f.steps > maxComfyNodes*8 {
			continue
		}
		if cs := f.child(sc, n, depth); cs != nil {
			f.add(cs, depth+1)
			continue
		}
		id := toString(n["id"])
		ct, _ := n["type"].(string)
		if id == "" || ct == "" {
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
			if !ok || in["link"] == nil {
				continue
			}
			name, _ := in["name"].(string)
			if name == "" {
				// A Reroute's single input has no name.
				name = "input"
			}
			v, ok := f.resolve(sc, toString(in["link"]), depth)
			if !ok {
				continue
			}
			_, isLink := link(v)
			// A widget converted to an input keeps its saved value in
			// widgets_values; prefer a link only when that is missing. A
			// literal from a subgraph instance is the value that ran (the
			// inner widget holds the definition's default), so it wins.
			if widgetSet[name] && isLink {
				continue
			}
			cn.Inputs[name] = v
		}
		// Values promoted onto the instance replace the definition's
		// defaults, unless the input is wired.
		for k, v := range sc.promoted {
			if _, wired := link(cn.Inputs[k[1]]); k[0] == id && !wired {
				cn.Inputs[k[1]] = v
			}
		}
		f.g[sc.prefix+id] = cn
	}
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

// parseComfyBesideText handles save nodes (comfy-image-saver,
// SaveImageWithMetaData) that write an A1111-style "parameters" text next
// to the ComfyUI graph. That text is rendered from whatever the save node's
// own widgets held, so it often carries placeholders ("unknown", seed 0,
// 512x512) or A1111 spellings ("euler_ancestral_karras"); the graph is what
// actually ran. So when a graph with a sampler exists it wins and the format
// is comfyui; the text only fills fields the graph left empty, and never
// with a placeholder (#19 item 5).
func parseComfyBesideText(c *collector, res *Result) (key, raw string, ok bool) {
	e, found := c.find("parameters")
	if !found || looksJSON(e.value) {
		return "", "", false
	}
	a, isA1111 := ParseA1111(e.value)
	if !isA1111 {
		return "", "", false
	}
	var graphRes Result
	key, raw, ok = parseComfy(c, &graphRes)
	if !ok {
		return "", "", false
	}
	var text Result
	applyA1111(&text, a)
	filled, differs := mergeTextIntoGraph(&graphRes, &text)
	copyColumns(res, &graphRes)
	res.ParameterSets = graphRes.ParameterSets
	res.SourceMetadata = graphRes.SourceMetadata
	res.SourceMetadata["parameters_text"] = e.key
	if len(filled) > 0 {
		res.SourceMetadata["filled_from_parameters_text"] = filled
	}
	if len(differs) > 0 {
		res.SourceMetadata["parameters_text_differs"] = differs
	}
	return key, raw, true
}

// isPlaceholder reports a value a save node writes when its widget was not
// wired to the graph.
func isPlaceholder(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "unknown", "none", "null", "undefined", "n/a", "0", "-1":
		return true
	}
	return false
}

// mergeTextIntoGraph fills the graph's empty fields from the parameters
// text (skipping placeholders) and lists the fields where both have a value
// and they differ. Sampler and scheduler are filled only together with
// each other's absence: the text's "euler_ancestral_karras" must not
// replace ComfyUI's separate "euler_ancestral" + "karras".
func mergeTextIntoGraph(g, t *Result) (filled, differs []string) {
	str := func(name string, gv *string, tv string) {
		switch {
		case *gv == "" && !isPlaceholder(tv):
			*gv = tv
			filled = append(filled, name)
		case *gv != "" && !isPlaceholder(tv) && !strings.EqualFold(strings.TrimSpace(*gv), strings.TrimSpace(tv)):
			differs = append(differs, name)
		}
	}
	str("prompt", &g.Prompt, t.Prompt)
	str("negative_prompt", &g.NegativePrompt, t.NegativePrompt)
	str("model", &g.Model, t.Model)
	str("seed", &g.Seed, t.Seed)
	if g.Sampler == "" && !isPlaceholder(t.Sampler) {
		g.Sampler, filled = t.Sampler, append(filled, "sampler")
		if g.Scheduler == "" && !isPlaceholder(t.Scheduler) {
			g.Scheduler, filled = t.Scheduler, append(filled, "scheduler")
		}
	} else if g.Sampler != "" && !isPlaceholder(t.Sampler) && !samplerAgrees(g.Sampler, g.Scheduler, t.Sampler) {
		differs = append(differs, "sampler")
	}
	if g.Steps == nil && t.Steps != nil && *t.Steps > 0 {
		g.Steps, filled = t.Steps, append(filled, "steps")
	} else if g.Steps != nil && t.Steps != nil && *t.Steps > 0 && *g.Steps != *t.Steps {
		differs = append(differs, "steps")
	}
	if g.CFGScale == nil && t.CFGScale != nil && *t.CFGScale > 0 {
		g.CFGScale, filled = t.CFGScale, append(filled, "cfg_scale")
	} else if g.CFGScale != nil && t.CFGScale != nil && *t.CFGScale > 0 && *g.CFGScale != *t.CFGScale {
		differs = append(differs, "cfg_scale")
	}
	// 512x512 is the save nodes' default size: a placeholder when the graph
	// does not say otherwise, so it never fills a gap.
	tSize := t.Width != nil && t.Height != nil && *t.Width > 0 && *t.Height > 0 && !(*t.Width == 512 && *t.Height == 512)
	switch {
	case g.Width == nil && g.Height == nil && tSize:
		g.Width, g.Height, filled = t.Width, t.Height, append(filled, "size")
	case g.Width != nil && g.Height != nil && t.Width != nil && t.Height != nil && (*g.Width != *t.Width || *g.Height != *t.Height):
		differs = append(differs, "size")
	}
	if len(g.Loras) == 0 && len(t.Loras) > 0 {
		g.Loras, filled = t.Loras, append(filled, "loras")
	}
	// The text's other keys (Hashes, Model hash, Civitai resources…) carry
	// what the graph lacks; placeholders among them are dropped.
	for k, v := range t.SamplerSettings {
		if _, has := g.SamplerSettings[k]; has || isPlaceholder(toString(v)) {
			continue
		}
		if g.SamplerSettings == nil {
			g.SamplerSettings = map[string]any{}
		}
		g.SamplerSettings[k] = v
	}
	return filled, differs
}

// samplerAgrees tells whether an A1111-style sampler text names the graph's
// sampler (+ scheduler), as the save nodes spell it ("euler_ancestral_karras").
func samplerAgrees(sampler, scheduler, text string) bool {
	s, sch, t := strings.ToLower(sampler), strings.ToLower(scheduler), strings.ToLower(strings.TrimSpace(text))
	return t == s || (sch != "" && (t == s+"_"+sch || t == s+" "+sch))
}

// passNames are the inputs through which Reroute, "any"/preview and
// show-text nodes hand their input on unchanged; a walk that meets such a
// node between the sampler and the encoder or loader follows them (#19
// item 6).
var passNames = []string{"input", "any", "anything", "any_input", "source", "in", "value", "text", "string", "conditioning", "model"}

// switchPick returns the input a switch node passes on: ComfyUI's core
// ComfySwitchNode (switch, on_true/on_false), boolean text switches
// (boolean, text_a/text_b), numbered switches selected by an index
// (ImpactSwitch select+input1…, CR … Input Switch Input+text1…,
// easy-use index+value0…), and first-connected switches (Any Switch
// (rgthree) any_01…, whose unconnected inputs the API graph drops).
func (g comfyGraph) switchPick(id string) (any, bool) {
	n := g[id]
	if n == nil || !strings.Contains(strings.ToLower(n.Class), "switch") {
		return nil, false
	}
	truthy := func(name string) (bool, bool) {
		v, ok := g.scalar(id, name, 0)
		if !ok {
			return false, false
		}
		switch s := strings.ToLower(toString(v)); s {
		case "true", "1":
			return true, true
		case "false", "0":
			return false, true
		}
		return false, false
	}
	for _, pair := range [][3]string{{"switch", "on_true", "on_false"}, {"boolean", "text_a", "text_b"}, {"boolean", "on_true", "on_false"}} {
		if b, ok := truthy(pair[0]); ok {
			pick := pair[2]
			if b {
				pick = pair[1]
			}
			if v, has := n.Inputs[pick]; has {
				return v, true
			}
		}
	}
	// Numbered candidates: name = prefix + digits (input1, text2, any_01, value0).
	type numbered struct {
		name string
		num  int
	}
	var cands []numbered
	for k := range n.Inputs {
		i := len(k)
		for i > 0 && k[i-1] >= '0' && k[i-1] <= '9' {
			i--
		}
		if i == len(k) || i == 0 {
			continue
		}
		num, err := strconv.Atoi(k[i:])
		if err != nil {
			continue
		}
		cands = append(cands, numbered{k, num})
	}
	if len(cands) == 0 {
		return nil, false
	}
	sort.Slice(cands, func(i, j int) bool {
		if cands[i].num != cands[j].num {
			return cands[i].num < cands[j].num
		}
		return cands[i].name < cands[j].name
	})
	for _, sel := range []string{"select", "Input", "input", "index", "select_index", "selected"} {
		v, ok := g.scalar(id, sel, 0)
		if !ok {
			continue
		}
		want, err := strconv.Atoi(toString(v))
		if err != nil {
			continue
		}
		for _, c := range cands {
			if c.num == want {
				return n.Inputs[c.name], true
			}
		}
	}
	for _, c := range cands {
		if _, isLink := link(n.Inputs[c.name]); isLink {
			return n.Inputs[c.name], true
		}
	}
	return nil, false
}

// forward returns the node a switch or pass-through node takes its value
// from, or false when id is neither.
func (g comfyGraph) forward(id string) (string, bool) {
	if v, ok := g.switchPick(id); ok {
		src, isLink := link(v)
		return src, isLink
	}
	n := g[id]
	if n == nil {
		return "", false
	}
	for _, k := range passNames {
		if src, ok := link(n.Inputs[k]); ok {
			return src, true
		}
	}
	return "", false
}
