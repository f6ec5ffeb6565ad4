package sdmeta

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/svtest"
)

// accuracyFields are the fields the per-format accuracy counts.
var accuracyFields = []string{"prompt", "negative", "model", "model_hash", "sampler", "scheduler", "seed", "steps", "cfg", "width", "height"}

// resultFields renders a Result's accuracy fields as text ("" when absent).
func resultFields(r Result) map[string]string {
	pi := func(p *int) string {
		if p == nil {
			return ""
		}
		return fmt.Sprint(*p)
	}
	cfg := ""
	if r.CFGScale != nil {
		cfg = fmt.Sprint(*r.CFGScale)
	}
	return map[string]string{"prompt": r.Prompt, "negative": r.NegativePrompt, "model": r.Model, "model_hash": r.ModelHash,
		"sampler": r.Sampler, "scheduler": r.Scheduler, "seed": r.Seed, "steps": pi(r.Steps), "cfg": cfg,
		"width": pi(r.Width), "height": pi(r.Height)}
}

// fields of a want: only what the case states (zero means "not checked").
func (w want) fields() map[string]string {
	out := map[string]string{}
	set := func(k, v string) {
		if v != "" {
			out[k] = v
		}
	}
	set("prompt", w.prompt)
	set("negative", w.negative)
	set("model", w.model)
	set("model_hash", w.modelHash)
	set("sampler", w.sampler)
	set("scheduler", w.scheduler)
	set("seed", w.seed)
	if w.steps != 0 {
		out["steps"] = fmt.Sprint(w.steps)
	}
	if w.cfg != 0 {
		out["cfg"] = fmt.Sprint(w.cfg)
	}
	if w.w != 0 {
		out["width"], out["height"] = fmt.Sprint(w.w), fmt.Sprint(w.h)
	}
	return out
}

// fields of a variantWant: every field, an empty one expected empty.
func (w variantWant) fields() map[string]string {
	return map[string]string{"prompt": w.prompt, "negative": w.neg, "model": w.model, "model_hash": w.modelHash,
		"sampler": w.sampler, "scheduler": w.scheduler, "seed": w.seed, "steps": fmt.Sprint(w.steps), "cfg": fmt.Sprint(w.cfg),
		"width": fmt.Sprint(w.w), "height": fmt.Sprint(w.h)}
}

// fields of a comfyWant: every field.
func (w comfyWant) fields() map[string]string {
	return variantWant{FormatComfyUI, w.prompt, w.negative, w.model, w.modelHash, w.seed, w.sampler, w.scheduler, w.steps, w.w, w.h, w.cfg}.fields()
}

// accuracyCase is one golden case from any of the package's tables.
type accuracyCase struct {
	name, format string
	want         map[string]string
	extract      func() (Result, error)
}

// goldenCases gathers the package's golden tables: the shared real-world
// fixtures (when present), NovelAI, front-end variants, ComfyUI, model
// identity and Draw Things fixtures. (C2PA files carry no generation
// fields; TestC2PA checks them.) Cases without fields (errors, no metadata) are left
// out; videos only when ffprobe is installed.
func goldenCases(t *testing.T) []accuracyCase {
	var out []accuracyCase
	if dir := svtest.OptionalSharedFixtures(t); dir != "" {
		ffprobe, _ := exec.LookPath("ffprobe")
		for file, w := range realWorldCases() {
			if w.err != "" || w.format == FormatNone || (w.video && ffprobe == "") || len(w.fields()) == 0 {
				continue
			}
			opts := Options{}
			if w.video {
				opts.VideoTags = testFFprobe(ffprobe)
			}
			path := filepath.Join(dir, file)
			out = append(out, accuracyCase{"realworld/" + file, w.format, w.fields(), func() (Result, error) { return Extract(context.Background(), path, opts) }})
		}
	}
	for _, c := range novelAICases(t) {
		out = append(out, accuracyCase{"novelai/" + c.name, c.want.format, c.want.fields(), c.extract})
	}
	for _, c := range variantCases() {
		out = append(out, accuracyCase{"variants/" + c.name, c.want.format, c.want.fields(), func() (Result, error) {
			return ExtractBytes(context.Background(), c.data, "x."+c.ext, Options{})
		}})
	}
	for name, w := range comfyFixtureWants() {
		path := filepath.Join("testdata", "comfy", name)
		out = append(out, accuracyCase{"comfy/" + name, FormatComfyUI, w.fields(), func() (Result, error) { return Extract(context.Background(), path, Options{}) }})
	}
	for _, c := range modelIDCases() {
		out = append(out, accuracyCase{"modelid/" + c.file, c.want.format, c.want.fields(), c.extract})
	}
	for _, c := range drawThingsCases() {
		out = append(out, accuracyCase{"drawthings/" + c.name, c.want.format, c.want.fields(), c.extract})
	}
	return out
}

// TestFieldAccuracyPerFormat counts, per format, the golden fields the
// extractor gets right (#19 "figures to report") and fails on any miss.
func TestFieldAccuracyPerFormat(t *testing.T) {
	type tally struct{ right, checked, files int }
	per := map[string]*tally{}
	for _, c := range goldenCases(t) {
		res, err := c.extract()
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if res.Format != c.format {
			t.Errorf("%s: format = %q, want %q", c.name, res.Format, c.format)
		}
		got := resultFields(res)
		tl := per[c.format]
		if tl == nil {
			tl = &tally{}
			per[c.format] = tl
		}
		tl.files++
		for _, f := range accuracyFields {
			want, ok := c.want[f]
			if !ok {
				continue
			}
			tl.checked++
			if got[f] == want {
				tl.right++
			} else {
				t.Errorf("%s: %s = %q, want %q", c.name, f, got[f], want)
			}
		}
	}
	formats := make([]string, 0, len(per))
	for f := range per {
		formats = append(formats, f)
	}
	slices.Sort(formats)
	var b strings.Builder
	total := tally{}
	fmt.Fprintf(&b, "%-14s %5s %s\n", "format", "files", "fields_right/fields_checked")
	for _, f := range formats {
		tl := per[f]
		fmt.Fprintf(&b, "%-14s %5d %d/%d\n", f, tl.files, tl.right, tl.checked)
		total.right, total.checked, total.files = total.right+tl.right, total.checked+tl.checked, total.files+tl.files
	}
	fmt.Fprintf(&b, "%-14s %5d %d/%d", "total", total.files, total.right, total.checked)
	t.Logf("per-format field accuracy:\n%s", b.String())
}
