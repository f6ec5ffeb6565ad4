package comfy

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

// Reason codes of graph validation and editing. Each message names the
// nodes, classes or models concerned.
const (
	CodeGraphInvalid     = "comfy_graph_invalid"
	CodeGraphCycle       = "comfy_graph_cycle"
	CodeGraphLinkMissing = "comfy_graph_link_missing"
	CodeNodeUnknown      = "comfy_node_unknown"
	CodeModelMissing     = "comfy_model_missing"
	CodeValueInvalid     = "comfy_value_invalid"
	CodeEditUnsupported  = "comfy_edit_unsupported"
)

// maxGraphNodes bounds a graph we are willing to validate and submit.
const maxGraphNodes = 20000

// Node is one node of an API graph: {"class_type", "inputs", "_meta"}.
// Inputs hold literals (json.Number for numbers, so 64-bit seeds stay
// exact) or links [source_node_id, output_slot].
type Node struct {
	ClassType string          `json:"class_type"`
	Inputs    map[string]any  `json:"inputs"`
	Meta      json.RawMessage `json:"_meta,omitempty"`
}

// Graph is an API graph (what POST /prompt takes as "prompt"), keyed by
// node id.
type Graph map[string]*Node

// ParseGraph reads an API graph as ComfyUI's SaveImage writes it into the
// "prompt" PNG chunk (also accepting the {"prompt": {…}} wrapper some
// writers use, like the importer does).
func ParseGraph(text string) (Graph, error) {
	d := json.NewDecoder(strings.NewReader(text))
	d.UseNumber()
	var raw map[string]json.RawMessage
	if err := d.Decode(&raw); err != nil {
		return nil, reason.Newf(CodeGraphInvalid, "the embedded ComfyUI workflow is not valid JSON (%v)", err)
	}
	if inner, ok := raw["prompt"]; ok && len(raw) <= 3 && len(inner) > 0 && inner[0] == '{' {
		return ParseGraph(string(inner))
	}
	g := Graph{}
	for id, nv := range raw {
		var n Node
		nd := json.NewDecoder(strings.NewReader(string(nv)))
		nd.UseNumber()
		if err := nd.Decode(&n); err != nil || n.ClassType == "" {
			return nil, reason.Newf(CodeGraphInvalid, "node %s of the embedded workflow has no class_type/inputs: it is not a ComfyUI API graph", id)
		}
		if n.Inputs == nil {
			n.Inputs = map[string]any{}
		}
		g[id] = &n
	}
	if len(g) == 0 {
		return nil, reason.New(CodeGraphInvalid, "the embedded ComfyUI workflow has no nodes")
	}
	if len(g) > maxGraphNodes {
		return nil, reason.Newf(CodeGraphInvalid, "the embedded ComfyUI workflow has %d nodes (limit %d)", len(g), maxGraphNodes)
	}
	return g, nil
}

// JSON is the graph as POST /prompt takes it.
func (g Graph) JSON() (json.RawMessage, error) {
	b, err := json.Marshal(g)
	if err != nil {
		return nil, fmt.Errorf("comfy: encode graph: %w", err)
	}
	return b, nil
}

// Clone deep-copies the graph (inputs are copied one level: links are
// replaced, never mutated, by Apply).
func (g Graph) Clone() Graph {
	out := make(Graph, len(g))
	for id, n := range g {
		c := *n
		c.Inputs = make(map[string]any, len(n.Inputs))
		for k, v := range n.Inputs {
			c.Inputs[k] = v
		}
		out[id] = &c
	}
	return out
}

// Link reports whether an input value is a link and returns its source
// node id and output slot.
func Link(v any) (node string, slot int, ok bool) {
	a, isList := v.([]any)
	if !isList || len(a) != 2 {
		return "", 0, false
	}
	n, isNum := a[1].(json.Number)
	if !isNum {
		return "", 0, false
	}
	s, err := strconv.Atoi(n.String())
	if err != nil {
		return "", 0, false
	}
	switch id := a[0].(type) {
	case string:
		return id, s, true
	case json.Number:
		return id.String(), s, true
	}
	return "", 0, false
}

func (g Graph) ids() []string {
	ids := make([]string, 0, len(g))
	for id := range g {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return idLess(ids[i], ids[j]) })
	return ids
}

func idLess(a, b string) bool {
	ai, ea := strconv.Atoi(a)
	bi, eb := strconv.Atoi(b)
	if ea == nil && eb == nil {
		return ai < bi
	}
	return a < b
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// CheckStructure finds what makes a graph unrunnable on any server: links
// to nodes that do not exist (comfy_graph_link_missing) and cycles
// (comfy_graph_cycle). It needs no server.
func (g Graph) CheckStructure() error {
	var missing []string
	for _, id := range g.ids() {
		n := g[id]
		for _, in := range sortedKeys(n.Inputs) {
			if src, _, ok := Link(n.Inputs[in]); ok && g[src] == nil {
				missing = append(missing, fmt.Sprintf("node %s (%s) input %s → node %s", id, n.ClassType, in, src))
			}
		}
	}
	if len(missing) > 0 {
		return reason.Newf(CodeGraphLinkMissing, "the workflow links to nodes it does not contain: %s", strings.Join(missing, "; ")).With("links", missing)
	}
	if cyc := g.cycle(); cyc != nil {
		return reason.Newf(CodeGraphCycle, "the workflow is circular (nodes %s feed each other), ComfyUI cannot run it", strings.Join(cyc, " → ")).With("nodes", cyc)
	}
	return nil
}

// cycle returns the node ids of one cycle (first node repeated at the
// end), or nil. Iterative three-colour DFS in node id order, so the answer
// is deterministic and deep graphs cannot overflow the stack.
func (g Graph) cycle() []string {
	const (
		white = iota
		grey
		black
	)
	colour := make(map[string]int, len(g))
	parent := map[string]string{}
	type frame struct {
		id   string
		deps []string
		next int
	}
	deps := func(id string) []string {
		var out []string
		n := g[id]
		for _, in := range sortedKeys(n.Inputs) {
			if src, _, ok := Link(n.Inputs[in]); ok && g[src] != nil {
				out = append(out, src)
			}
		}
		return out
	}
	for _, root := range g.ids() {
		if colour[root] != white {
			continue
		}
		stack := []*frame{{id: root, deps: deps(root)}}
		colour[root] = grey
		for len(stack) > 0 {
			f := stack[len(stack)-1]
			if f.next == len(f.deps) {
				colour[f.id] = black
				stack = stack[:len(stack)-1]
				continue
			}
			d := f.deps[f.next]
			f.next++
			switch colour[d] {
			case grey:
				cyc := []string{d}
				for at := f.id; at != d; at = parent[at] {
					cyc = append(cyc, at)
				}
				cyc = append(cyc, d)
				// Reverse into data-flow order (source first).
				for i, j := 0, len(cyc)-1; i < j; i, j = i+1, j-1 {
					cyc[i], cyc[j] = cyc[j], cyc[i]
				}
				return cyc
			case white:
				parent[d] = f.id
				colour[d] = grey
				stack = append(stack, &frame{id: d, deps: deps(d)})
			}
		}
	}
	return nil
}

// modelInputs are the loader inputs whose combo lists are model files; a
// value missing from them is comfy_model_missing rather than a bad value.
var modelInputs = map[string]bool{
	"ckpt_name": true, "lora_name": true, "vae_name": true, "unet_name": true, "clip_name": true,
	"clip_name1": true, "clip_name2": true, "clip_name3": true, "control_net_name": true,
	"model_name": true, "upscale_model": true, "style_model_name": true, "gligen_name": true,
	"hypernetwork_name": true, "clip_vision": true, "config_name": false,
}

var modelExts = []string{".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf", ".sft", ".onnx"}

func isModelInput(input, value string) bool {
	if v, ok := modelInputs[input]; ok {
		return v
	}
	lv := strings.ToLower(value)
	for _, e := range modelExts {
		if strings.HasSuffix(lv, e) {
			return true
		}
	}
	return false
}

// CheckServer validates a structurally sound graph against the server's
// /object_info: node classes it does not know (comfy_node_unknown, naming
// the classes), links to output slots a class does not have
// (comfy_graph_link_missing), models not in the loaders' lists
// (comfy_model_missing, naming the files) and other values not among a
// combo's choices (comfy_value_invalid). Every problem of the first kind
// found is listed, so a person sees all missing models at once.
func (g Graph) CheckServer(oi ObjectInfo) error {
	var unknown []string
	seen := map[string]bool{}
	for _, id := range g.ids() {
		c := g[id].ClassType
		if _, ok := oi[c]; !ok && !seen[c] {
			seen[c] = true
			unknown = append(unknown, c)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return reason.Newf(CodeNodeUnknown, "ComfyUI does not know the node types %s: install the custom nodes that provide them (ComfyUI Manager can find them), restart ComfyUI, then try again",
			strings.Join(unknown, ", ")).With("classes", unknown)
	}
	var badLinks, models, values []string
	modelSeen := map[string]bool{}
	for _, id := range g.ids() {
		n := g[id]
		for _, in := range sortedKeys(n.Inputs) {
			v := n.Inputs[in]
			if src, slot, ok := Link(v); ok {
				if outs := oi[g[src].ClassType].Output; slot < 0 || slot >= len(outs) {
					badLinks = append(badLinks, fmt.Sprintf("node %s (%s) input %s → output %d of node %s (%s has %d outputs)",
						id, n.ClassType, in, slot, src, g[src].ClassType, len(outs)))
				}
				continue
			}
			s, isStr := v.(string)
			if !isStr {
				continue
			}
			opts, combo := oi.Options(n.ClassType, in)
			// ComfyUI compares exactly, so the check does too.
			if !combo || slices.Contains(opts, s) {
				continue
			}
			if isModelInput(in, s) {
				if !modelSeen[s] {
					modelSeen[s] = true
					models = append(models, s)
				}
				continue
			}
			values = append(values, fmt.Sprintf("node %s (%s) %s=%q", id, n.ClassType, in, s))
		}
	}
	switch {
	case len(badLinks) > 0:
		return reason.Newf(CodeGraphLinkMissing, "the workflow uses outputs its nodes do not have on this ComfyUI: %s", strings.Join(badLinks, "; ")).With("links", badLinks)
	case len(models) > 0:
		return reason.Newf(CodeModelMissing, "ComfyUI does not have the models %s: put them into ComfyUI's models folders (or install them with vidax), then try again",
			strings.Join(models, ", ")).With("models", models)
	case len(values) > 0:
		return reason.Newf(CodeValueInvalid, "ComfyUI does not offer these settings: %s", strings.Join(values, "; ")).With("values", values)
	}
	return nil
}
