package sdmeta

// ComfyInput names one input of one node of a ComfyUI API graph.
type ComfyInput struct {
	Node  string `json:"node"`
	Input string `json:"input"`
}

// IsZero reports whether the input is unknown.
func (c ComfyInput) IsZero() bool { return c.Node == "" }

// ComfyTargets says where the main sampler pass of an API graph (the pass
// the importer stores as the media's prompt) keeps the values a
// regeneration may change. A zero ComfyInput means the value is not a
// literal of one input (computed, switched, or absent), so it cannot be
// edited without rewriting the graph.
type ComfyTargets struct {
	// Main is the main pass exactly as the importer reads it.
	Main                                     ParameterSet
	Seed, Steps, CFG, Denoise, Width, Height ComfyInput
	// Positive and Negative are every input holding a text of that side.
	Positive, Negative []ComfyInput
}

// ComfyAPITargets walks an API graph ("prompt" chunk text) with the
// importer's walk and locates the main pass's editable inputs. ok is false
// when the text is not an API graph or has no sampler.
func ComfyAPITargets(apiGraph string) (ComfyTargets, bool) {
	v, ok := decodeJSON(apiGraph)
	if !ok {
		return ComfyTargets{}, false
	}
	g := parseComfyPrompt(v)
	if g == nil {
		return ComfyTargets{}, false
	}
	sets := walkComfy(g)
	if len(sets) == 0 {
		return ComfyTargets{}, false
	}
	t := ComfyTargets{Main: sets[0]}
	id := t.Main.NodeID
	n := g[id]
	g.paramAt(id, &t.Seed, "seed", "noise_seed")
	g.paramAt(id, &t.Steps, "steps")
	g.paramAt(id, &t.CFG, "cfg")
	g.paramAt(id, &t.Denoise, "denoise")
	samplers := map[string]bool{}
	for sid, sn := range g {
		if isSampler(sn) {
			samplers[sid] = true
		}
	}
	if src, ok := link(n.Inputs["latent_image"]); ok {
		g.latentAt(src, samplers, &t.Width, &t.Height)
	}
	var texts []string
	var cns []ControlNet
	if src, ok := g.condInput(id, "positive"); ok {
		g.conditioning(src, "positive", map[string]bool{}, 0, &texts, &cns, &t.Positive)
	}
	if src, ok := g.condInput(id, "negative"); ok {
		g.conditioning(src, "negative", map[string]bool{}, 0, &texts, &cns, &t.Negative)
	}
	return t, true
}

// addLoc records where a non-blank text lives.
func addLoc(locs *[]ComfyInput, text string, at ComfyInput) {
	if locs == nil || at.IsZero() || CleanPrompt(text) == "" {
		return
	}
	for _, l := range *locs {
		if l == at {
			return
		}
	}
	*locs = append(*locs, at)
}
