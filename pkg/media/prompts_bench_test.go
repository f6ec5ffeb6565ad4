package media_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/sdmeta"
)

// BenchmarkInsertNewPromptsMany is the import's prompt write for a batch
// of 500 new media with A1111 parameters and two LoRAs each (prompts,
// prompt_history and, since #18 item 5, media_gen and media_gen_loras),
// per media.
func BenchmarkInsertNewPromptsMany(b *testing.B) {
	ctx := context.Background()
	d := openDB(b)
	const batch = 500
	n := 0
	for b.Loop() {
		ms := make([]media.NewMedia, batch)
		for i := range ms {
			n++
			ms[i] = media.NewMedia{Path: fmt.Sprintf("/x/%d.png", n), Type: "image", Hash: fmt.Sprintf("%032x", n), Filesize: 3}
		}
		tx, err := d.Begin()
		if err != nil {
			b.Fatal(err)
		}
		ids, err := media.InsertMany(ctx, tx, ms, t0)
		if err != nil {
			b.Fatal(err)
		}
		ps := make([]media.NewPrompt, batch)
		for i, id := range ids {
			seed := fmt.Sprint(1000 + n*batch + i)
			res := sdmeta.Result{Format: "a1111", Prompt: "a castle, <lora:detail:0.6>, <lora:grain:0.4>", NegativePrompt: "blurry",
				Model: "sdxl_base", ModelHash: "31e35c80fc", Sampler: "DPM++ 2M", Scheduler: "Karras", Seed: seed,
				SamplerSettings: map[string]any{"Denoising strength": "0.4"},
				Loras:           []sdmeta.Lora{{Name: "detail", Weight: ptrF(0.6)}, {Name: "grain", Weight: ptrF(0.4)}}}
			ps[i] = media.NewPrompt{MediaID: id, Prompt: media.PromptFromResult(res), Source: media.PromptSourceImport, Raw: res.Prompt}
		}
		if err := media.InsertNewPromptsMany(ctx, tx, ps, t0); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(n), "us/media")
}

func ptrF(v float64) *float64 { return &v }
