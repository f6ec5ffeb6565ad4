package sdmeta

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
)

// Param is one "Key: value" pair of an A1111 parameter line, in order.
type Param struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// A1111 is the parsed form of A1111/Forge/SD.Next "parameters" text.
type A1111 struct {
	// Prompt and NegativePrompt are the clean forms (CleanPrompt) of
	// PromptRaw and NegativePromptRaw, the texts as written.
	Prompt            string
	NegativePrompt    string
	PromptRaw         string
	NegativePromptRaw string
	// ParamText is the parameter part (from the "Steps:" line on).
	ParamText string
	Params    []Param
}

// Get returns the value of the first parameter named key
// (case-insensitive).
func (a A1111) Get(key string) (string, bool) {
	for _, p := range a.Params {
		if strings.EqualFold(p.Key, key) {
			return p.Value, true
		}
	}
	return "", false
}

// reParam is A1111's own re_param_code: a key, then a value that is either
// a double-quoted string (may contain commas and escapes) or runs to the
// next comma.
var reParam = regexp.MustCompile(`\s*(\w[\w \-/+.()]*?):\s*("(?:\\.|[^\\"])*"|[^,]*)(?:,|$)`)

// reLoraTag matches <lora:name:weight> / <lyco:name:weight[:…]> in prompts.
var reLoraTag = regexp.MustCompile(`<(?i:lora|lyco|lycoris):([^:<>]+)(?::([^:<>]*))?(?::[^<>]*)?>`)

var reStepsLine = regexp.MustCompile(`^\s*Steps:\s*\d`)

// ParseA1111 parses A1111-style parameters text:
//
//	<prompt, may span lines>
//	Negative prompt: <negative, may span lines>
//	Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512, …
//
// The parameter line is the last line starting with "Steps:"; without one
// the whole text (minus a negative part) is the prompt. ok reports whether
// a parameter line was found.
func ParseA1111(text string) (a A1111, ok bool) {
	// Lines are split on \n only, so a \r\n text keeps its \r in the
	// verbatim prompt; the separator's own \r is dropped by lineBlock.
	lines := strings.Split(text, "\n")
	paramIdx := -1
	for i := len(lines) - 1; i >= 0; i-- {
		if reStepsLine.MatchString(lines[i]) {
			paramIdx = i
			break
		}
	}
	body := lines
	if paramIdx >= 0 {
		body = lines[:paramIdx]
		a.ParamText = CleanPrompt(strings.Join(lines[paramIdx:], "\n"))
		a.Params = parseParamLine(a.ParamText)
		ok = true
	}
	negIdx := -1
	for i, l := range body {
		if len(l) >= 16 && strings.EqualFold(l[:16], "Negative prompt:") {
			negIdx = i
			break
		}
	}
	if negIdx >= 0 {
		a.PromptRaw = lineBlock(body[:negIdx], true)
		// A1111 writes "Negative prompt: " + text: one space is the
		// separator, anything beyond it is the author's.
		neg := append([]string{strings.TrimPrefix(body[negIdx][16:], " ")}, body[negIdx+1:]...)
		a.NegativePromptRaw = lineBlock(neg, paramIdx >= 0)
	} else {
		a.PromptRaw = lineBlock(body, paramIdx >= 0)
	}
	a.Prompt, a.NegativePrompt = CleanPrompt(a.PromptRaw), CleanPrompt(a.NegativePromptRaw)
	return a, ok
}

// lineBlock joins lines back into the text they were; when a separator
// line followed them (sepFollows), the \r of its CRLF is not the text's.
func lineBlock(lines []string, sepFollows bool) string {
	s := strings.Join(lines, "\n")
	if sepFollows {
		s = strings.TrimSuffix(s, "\r")
	}
	return s
}

// parseParamLine splits "K: v, K2: "quoted, value", …" into ordered pairs.
// Unquoted JSON values (Civitai writes `Civitai resources: [{…}, …]`) run to
// their balanced closing bracket instead of the next comma.
func parseParamLine(s string) []Param {
	var out []Param
	for pos := 0; pos < len(s) && len(out) < 2000; {
		m := reParam.FindStringSubmatchIndex(s[pos:])
		if m == nil || m[1] == 0 {
			break
		}
		k := strings.TrimSpace(s[pos+m[2] : pos+m[3]])
		vStart, next := pos+m[4], pos+m[1]
		v := strings.TrimSpace(s[vStart : pos+m[5]])
		if vs := strings.TrimLeft(s[vStart:], " "); len(vs) > 0 && (vs[0] == '[' || vs[0] == '{') {
			off := vStart + len(s[vStart:]) - len(vs)
			if end := balancedEnd(s, off); end > 0 {
				v = s[off:end]
				next = end
				if next < len(s) && s[next] == ',' {
					next++
				}
			}
		}
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			var u string
			if err := json.Unmarshal([]byte(v), &u); err == nil {
				v = u
			} else {
				v = v[1 : len(v)-1]
			}
		}
		out = append(out, Param{Key: k, Value: v})
		pos = next
	}
	return out
}

// balancedEnd returns the index after the bracket matching s[start], or -1.
func balancedEnd(s string, start int) int {
	depth, inStr, esc := 0, false, false
	for i := start; i < len(s); i++ {
		c := s[i]
		switch {
		case esc:
			esc = false
		case inStr && c == '\\':
			esc = true
		case c == '"':
			inStr = !inStr
		case inStr:
		case c == '[' || c == '{':
			depth++
		case c == ']' || c == '}':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return -1
}

// applyA1111 copies parsed parameters into the result columns and returns
// the detected format.
func applyA1111(res *Result, a A1111) string {
	res.Prompt, res.PromptRaw = a.Prompt, a.PromptRaw
	res.NegativePrompt, res.NegativePromptRaw = a.NegativePrompt, a.NegativePromptRaw
	settings := map[string]any{}
	var loras []Lora
	var cns []ControlNet
	format := FormatA1111
	for _, p := range a.Params {
		k := strings.ToLower(p.Key)
		switch {
		case k == "steps":
			res.Steps = parseIntPtr(p.Value)
		case k == "sampler":
			res.Sampler = p.Value
		case k == "schedule type" || k == "scheduler":
			res.Scheduler = p.Value
		case k == "cfg scale":
			res.CFGScale = parseFloatPtr(p.Value)
		case k == "seed":
			res.Seed = strings.TrimSpace(p.Value)
		case k == "size":
			res.Width, res.Height = parseSize(p.Value)
		case k == "model":
			res.Model = p.Value
		case k == "lora hashes":
			for _, h := range parseParamLine(p.Value) {
				loras = mergeLora(loras, Lora{Name: h.Key, Hash: h.Value, Source: "lora_hashes"})
			}
			settings[p.Key] = p.Value
		case k == "controlnet" || strings.HasPrefix(k, "controlnet "):
			cn := ControlNet{"unit": p.Key}
			for _, kv := range parseParamLine(p.Value) {
				cn[kv.Key] = kv.Value
			}
			cns = append(cns, cn)
		case k == "civitai resources":
			format = FormatCivitai
			loras = append(loras, civitaiLoras(p.Value, res)...)
			settings[p.Key] = p.Value
		case k == "civitai metadata":
			format = FormatCivitai
			settings[p.Key] = p.Value
		default:
			settings[p.Key] = p.Value
		}
	}
	for _, m := range reLoraTag.FindAllStringSubmatch(a.Prompt, 200) {
		l := Lora{Name: strings.TrimSpace(m[1]), Source: "prompt_tag"}
		l.Weight = parseFloatPtr(m[2])
		if m[2] == "" {
			one := 1.0
			l.Weight = &one
		}
		loras = mergeLora(loras, l)
	}
	if format != FormatCivitai {
		format = a1111Flavour(a)
	}
	if len(settings) > 0 {
		res.SamplerSettings = settings
	}
	res.Loras = loras
	res.Controlnet = cns
	return format
}

// Forge-family Version strings. Forge's main line writes
// "f2.0.1v1.10.1-previous-…", reForge "f1.0.0v2-v1.10.1RC-…" (its own
// version, then "-v" and the A1111 base) and EasyReforge "f1.7.0-v1.10.1RC-…"
// (no version of its own); the classic and neo builds write a bare word.
var (
	reReForgeVersion     = regexp.MustCompile(`^f\d+\.\d+(?:\.\d+)?v\d+-v`)
	reEasyReForgeVersion = regexp.MustCompile(`^f\d+\.\d+(?:\.\d+)?-v`)
)

// a1111Flavour tells A1111 from its forks by the App / Version keys, the
// only place these front ends name themselves.
func a1111Flavour(a A1111) string {
	// SD.Next's Version is a git hash, which may look like a Forge one.
	if app, ok := a.Get("App"); ok && strings.Contains(strings.ToLower(app), "sd.next") {
		return FormatSDNext
	}
	v, _ := a.Get("Version")
	lv := strings.ToLower(strings.TrimSpace(v))
	switch {
	case strings.Contains(lv, "fooocus"):
		return FormatFooocus
	case lv == "comfyui" || strings.HasPrefix(lv, "comfyui "):
		// Save nodes that write only an A1111-style text (no graph beside
		// it) name ComfyUI as its version.
		return FormatComfyUI
	case lv == "classic" || strings.HasPrefix(lv, "classic-"):
		return FormatForgeClassic
	case lv == "neo" || strings.HasPrefix(lv, "neo-") || strings.HasPrefix(lv, "neo."):
		return FormatForgeNeo
	case strings.Contains(lv, "reforge") || reReForgeVersion.MatchString(lv):
		return FormatReForge
	case reEasyReForgeVersion.MatchString(lv):
		return FormatEasyReForge
	case len(lv) > 1 && lv[0] == 'f' && lv[1] >= '0' && lv[1] <= '9', strings.Contains(lv, "forge"):
		return FormatForge
	}
	return FormatA1111
}

// mergeLora adds l, or completes an existing entry with the same name
// (a <lora:…> tag and its "Lora hashes" entry describe one LoRA).
func mergeLora(ls []Lora, l Lora) []Lora {
	for i := range ls {
		if strings.EqualFold(ls[i].Name, l.Name) {
			if ls[i].Hash == "" {
				ls[i].Hash = l.Hash
			}
			if ls[i].Weight == nil {
				ls[i].Weight = l.Weight
			}
			if l.Source == "prompt_tag" {
				ls[i].Source = l.Source
			}
			return ls
		}
	}
	return append(ls, l)
}

// civitaiLoras reads the "Civitai resources" JSON list; the checkpoint
// entry also fills Model when the text has none.
func civitaiLoras(v string, res *Result) []Lora {
	var list []map[string]any
	d := json.NewDecoder(strings.NewReader(v))
	d.UseNumber()
	if d.Decode(&list) != nil {
		return nil
	}
	var out []Lora
	for _, r := range list {
		typ, _ := r["type"].(string)
		name, _ := r["modelName"].(string)
		if vn, _ := r["modelVersionName"].(string); vn != "" && name != "" {
			name += " (" + vn + ")"
		}
		switch strings.ToLower(typ) {
		case "lora", "lycoris", "locon":
			l := Lora{Name: name, Source: "metadata"}
			l.Weight = numPtr(r["weight"])
			out = append(out, l)
		case "checkpoint":
			if res.Model == "" {
				res.Model = name
			}
		}
	}
	return out
}

func parseIntPtr(s string) *int {
	s = strings.TrimSpace(s)
	if n, err := strconv.Atoi(s); err == nil {
		return &n
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f == float64(int(f)) && f >= -1e9 && f <= 1e9 {
		n := int(f)
		return &n
	}
	return nil
}

func parseFloatPtr(s string) *float64 {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || f != f { // reject NaN: not JSON-encodable
		return nil
	}
	if f > 1e300 || f < -1e300 {
		return nil
	}
	return &f
}

// parseSize reads "512x768".
func parseSize(s string) (w, h *int) {
	a, b, ok := strings.Cut(strings.ToLower(strings.TrimSpace(s)), "x")
	if !ok {
		return nil, nil
	}
	return parseIntPtr(a), parseIntPtr(b)
}
