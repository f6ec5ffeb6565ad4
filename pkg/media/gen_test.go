package media_test

import (
	"context"
	"database/sql"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/sdmeta"
	"github.com/localsupervisor/supervisor/pkg/svtest/pngtest"
)

func f64(v float64) *float64 { return &v }
func i64(v int64) *int64     { return &v }

// extracted is the prompts row the importer stores for a PNG with these
// text chunks (key, value pairs): the extractor's real output, not a
// hand-written row.
func extracted(t *testing.T, kv ...string) media.Prompt {
	t.Helper()
	data := pngtest.PNG(8, 8, 0)
	for i := 0; i+1 < len(kv); i += 2 {
		data = pngtest.WithText(data, kv[i], kv[i+1])
	}
	r, err := sdmeta.ExtractBytes(context.Background(), data, "x.png", sdmeta.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return media.PromptFromResult(r)
}

const (
	genA1111 = "masterpiece, <lora:detail:0.6>, <lora:Detail:0.9>, <lora:film grain:1.1>, a cat\nNegative prompt: blurry\n" +
		"Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 18446744073709551615, Size: 832x1216, " +
		"Model hash: 31e35c80fc, Model: sdxl_base, Denoising strength: 0.4, Lora hashes: \"detail: 1a2b3c\", Version: v1.10.1"
	genComfy = `{"1":{"class_type":"CheckpointLoaderSimple","inputs":{"ckpt_name":"juggernautXL_v9.safetensors"}},` +
		`"2":{"class_type":"LoraLoader","inputs":{"model":["1",0],"clip":["1",1],"lora_name":"add_detail.safetensors","strength_model":0.8,"strength_clip":1}},` +
		`"3":{"class_type":"CLIPTextEncode","inputs":{"text":"a harbour at dawn","clip":["2",1]}},` +
		`"4":{"class_type":"CLIPTextEncode","inputs":{"text":"blurry","clip":["2",1]}},` +
		`"5":{"class_type":"EmptyLatentImage","inputs":{"width":1024,"height":768,"batch_size":1}},` +
		`"6":{"class_type":"KSampler","inputs":{"model":["2",0],"positive":["3",0],"negative":["4",0],"latent_image":["5",0],"seed":9007199254740993,"steps":30,"cfg":4.5,"sampler_name":"dpmpp_2m","scheduler":"karras","denoise":0.55}},` +
		`"7":{"class_type":"VAEDecode","inputs":{"samples":["6",0],"vae":["1",2]}},"8":{"class_type":"SaveImage","inputs":{"images":["7",0],"filename_prefix":"ComfyUI"}}}`
	genNAI = `{"prompt": "1girl, lantern", "steps": 28, "height": 1216, "width": 832, "scale": 5.5, "seed": 3141592653, "noise_schedule": "karras", ` +
		`"sampler": "k_euler_ancestral", "strength": 0.7, "uc": "lowres", "request_type": "Img2ImgRequest"}`
	genInvoke = `{"app_version":"5.6.0","generation_mode":"sdxl_txt2img","positive_prompt":"a lighthouse","negative_prompt":"blurry",` +
		`"width":1024,"height":1024,"seed":3951921344,"cfg_scale":6,"steps":24,"scheduler":"euler_a",` +
		`"model":{"key":"k1","hash":"blake3:3f1c9a0d5e7b2c4a","name":"lighthouseXL_v2","base":"sdxl","type":"main"},` +
		`"loras":[{"model":{"key":"k2","hash":"blake3:0a1b","name":"add-detail-xl","base":"sdxl","type":"lora"},"weight":0.75}]}`
)

func TestGenFromPrompt(t *testing.T) {
	cases := []struct {
		name string
		p    media.Prompt
		want media.Gen
	}{
		{"a1111 model hash, denoise, loras deduped, seed 2^64-1", extracted(t, "parameters", genA1111), media.Gen{
			Software: "a1111", Model: "sdxl_base", ModelHash: "31e35c80fc", Sampler: "DPM++ 2M", Scheduler: "Karras",
			Steps: i64(28), CFG: f64(6.5), Seed: "18446744073709551615", Width: i64(832), Height: i64(1216), Denoise: f64(0.4),
			Loras: []media.GenLora{{Name: "detail", Weight: f64(0.6)}, {Name: "film grain", Weight: f64(1.1)}}}},
		{"a1111 random seed", extracted(t, "parameters", strings.Replace(genA1111, "Seed: 18446744073709551615", "Seed: -1", 1)), media.Gen{
			Software: "a1111", Model: "sdxl_base", ModelHash: "31e35c80fc", Sampler: "DPM++ 2M", Scheduler: "Karras",
			Steps: i64(28), CFG: f64(6.5), Width: i64(832), Height: i64(1216), Denoise: f64(0.4),
			Loras: []media.GenLora{{Name: "detail", Weight: f64(0.6)}, {Name: "film grain", Weight: f64(1.1)}}}},
		{"comfyui denoise, lora, seed past 2^53", extracted(t, "prompt", genComfy), media.Gen{
			Software: "comfyui", Model: "juggernautXL_v9.safetensors", Sampler: "dpmpp_2m", Scheduler: "karras",
			Steps: i64(30), CFG: f64(4.5), Seed: "9007199254740993", Width: i64(1024), Height: i64(768), Denoise: f64(0.55),
			Loras: []media.GenLora{{Name: "add_detail.safetensors", Weight: f64(0.8)}}}},
		{"novelai img2img strength, hash from Source", extracted(t, "Software", "NovelAI", "Source", "NovelAI Diffusion V4.5 4BDE2A90", "Comment", genNAI), media.Gen{
			Software: "novelai", Model: "NovelAI Diffusion V4.5", ModelHash: "4BDE2A90", Sampler: "k_euler_ancestral", Scheduler: "karras",
			Steps: i64(28), CFG: f64(5.5), Seed: "3141592653", Width: i64(832), Height: i64(1216), Denoise: f64(0.7)}},
		{"invokeai blake3 hash", extracted(t, "invokeai_metadata", genInvoke), media.Gen{
			Software: "invokeai", Model: "lighthouseXL_v2", ModelHash: "blake3:3f1c9a0d5e7b2c4a", Sampler: "euler_a",
			Steps: i64(24), CFG: f64(6), Seed: "3951921344", Width: i64(1024), Height: i64(1024),
			Loras: []media.GenLora{{Name: "add-detail-xl", Weight: f64(0.75)}}}},
		// Rows written before Result.ModelHash: the hash only in
		// sampler_settings, the seed with spaces and leading zeros.
		{"older row", media.Prompt{Model: " sdxl ", Seed: " 000042 ", SamplerSettings: `{"Model hash":"abc123","Denoising strength":"0.35"}`,
			SourceMetadata: `{"format":"forge","extractor_version":3}`, Loras: `[{"name":" x ","weight":"0.5"},{"name":""},{"name":"X","weight":1}]`},
			media.Gen{Software: "forge", Model: "sdxl", ModelHash: "abc123", Seed: "42", Denoise: f64(0.35), Loras: []media.GenLora{{Name: "x", Weight: f64(0.5)}}}},
		{"unknown format, fooocus hash key", media.Prompt{Prompt: "a cat", SamplerSettings: `{"base_model_hash":"aeb7e9e689"}`, SourceMetadata: `{"format":"unknown"}`},
			media.Gen{ModelHash: "aeb7e9e689"}},
		{"no metadata", media.Prompt{Prompt: "a cat", SourceMetadata: `{"format":"none"}`, Seed: "abc"}, media.Gen{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := media.GenFromPrompt(c.p); !reflect.DeepEqual(got, c.want) {
				t.Errorf("got  %s\nwant %s\nfrom %+v", genString(got), genString(c.want), c.p)
			}
		})
	}
}

func TestCanonicalSeed(t *testing.T) {
	for in, want := range map[string]string{
		"18446744073709551615": "18446744073709551615", "18446744073709551616": "", "9223372036854775808": "9223372036854775808",
		"0": "0", "007": "7", " 12 ": "12", "-1": "", "-5": "", "+5": "", "1e9": "", "12.0": "", "": "", "abc": "",
	} {
		if got := media.CanonicalSeed(in); got != want {
			t.Errorf("CanonicalSeed(%q) = %q, want %q", in, got, want)
		}
	}
}

func genString(g media.Gen) string {
	p := func(v any) string {
		switch x := v.(type) {
		case *int64:
			if x != nil {
				return fmt.Sprint(*x)
			}
		case *float64:
			if x != nil {
				return fmt.Sprint(*x)
			}
		}
		return "nil"
	}
	s := fmt.Sprintf("{sw=%q model=%q hash=%q sampler=%q sched=%q steps=%s cfg=%s seed=%q %sx%s denoise=%s loras=[",
		g.Software, g.Model, g.ModelHash, g.Sampler, g.Scheduler, p(g.Steps), p(g.CFG), g.Seed, p(g.Width), p(g.Height), p(g.Denoise))
	for _, l := range g.Loras {
		s += fmt.Sprintf("%q:%s ", l.Name, p(l.Weight))
	}
	return s + "]}"
}

// storedGen reads a media's media_gen row and LoRAs back ("" when none).
func storedGen(t *testing.T, d *sql.DB, id int64) string {
	t.Helper()
	var row string
	err := d.QueryRow(`SELECT COALESCE(software, '') || '|' || COALESCE(model, '') || '|' || COALESCE(model_hash, '') || '|' || COALESCE(sampler, '') || '|' || COALESCE(scheduler, '') || '|' || COALESCE(steps, '') || '|' || COALESCE(cfg, '') || '|' || COALESCE(seed, '') || '|' || COALESCE(width, '') || '|' || COALESCE(height, '') || '|' || COALESCE(denoise, '')
		FROM media_gen WHERE media_id=?`, id).Scan(&row)
	if err == sql.ErrNoRows {
		row = ""
	} else if err != nil {
		t.Fatal(err)
	}
	rows, err := d.Query(`SELECT name || ':' || COALESCE(weight, '') FROM media_gen_loras WHERE media_id=? ORDER BY name`, id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var l string
		rows.Scan(&l)
		row += " " + l
	}
	return row
}

func TestSyncGenFollowsPromptWrites(t *testing.T) {
	ctx := context.Background()
	d := openDB(t)
	id := mustMedia(t, d, "/x/a.png", "aa01")
	other := mustMedia(t, d, "/x/b.png", "aa02")
	save := func(p media.Prompt) {
		t.Helper()
		tx, err := d.Begin()
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if _, err := media.SavePrompt(ctx, tx, id, p, media.PromptSourceImport, "", t0); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	save(extracted(t, "parameters", genA1111))
	want := "a1111|sdxl_base|31e35c80fc|DPM++ 2M|Karras|28|6.5|18446744073709551615|832|1216|0.4 detail:0.6 film grain:1.1"
	if got := storedGen(t, d, id); got != want {
		t.Fatalf("after import:\n got %q\nwant %q", got, want)
	}
	// The same extraction again (prompts-rebuild --force) leaves the rows
	// alone: no write, so the text index triggers mark nothing.
	if _, err := d.Exec(`CREATE TABLE gen_writes(n INTEGER);
		CREATE TRIGGER gw_u AFTER UPDATE ON media_gen BEGIN INSERT INTO gen_writes VALUES (1); END;
		CREATE TRIGGER gw_li AFTER INSERT ON media_gen_loras BEGIN INSERT INTO gen_writes VALUES (1); END;
		CREATE TRIGGER gw_ld AFTER DELETE ON media_gen_loras BEGIN INSERT INTO gen_writes VALUES (1); END;`); err != nil {
		t.Fatal(err)
	}
	save(extracted(t, "parameters", genA1111))
	if n := count(t, d, `SELECT COUNT(*) FROM gen_writes`); n != 0 {
		t.Fatalf("an unchanged re-extraction wrote media_gen %d times", n)
	}
	// A new extraction (rescan, rebuild, Forge replace) updates the row
	// and replaces the LoRAs.
	save(extracted(t, "prompt", genComfy))
	want = "comfyui|juggernautXL_v9.safetensors||dpmpp_2m|karras|30|4.5|9007199254740993|1024|768|0.55 add_detail.safetensors:0.8"
	if got := storedGen(t, d, id); got != want {
		t.Fatalf("after re-extraction:\n got %q\nwant %q", got, want)
	}
	// SyncGen agrees with what the write stored, and drops the rows when
	// the prompt is gone.
	if err := media.SyncGen(ctx, d, id); err != nil {
		t.Fatal(err)
	}
	if got := storedGen(t, d, id); got != want {
		t.Fatalf("after SyncGen:\n got %q\nwant %q", got, want)
	}
	if _, err := d.Exec(`DELETE FROM prompts WHERE media_id=?`, id); err != nil {
		t.Fatal(err)
	}
	if err := media.SyncGen(ctx, d, id); err != nil {
		t.Fatal(err)
	}
	if got := storedGen(t, d, id); got != "" {
		t.Fatalf("without a prompt: %q", got)
	}
	// Forgetting a media takes its rows along (foreign keys are on).
	save(extracted(t, "parameters", genA1111))
	if err := media.InsertNewPromptsMany(ctx, d, []media.NewPrompt{{MediaID: other, Prompt: extracted(t, "invokeai_metadata", genInvoke)}}, t0); err != nil {
		t.Fatal(err)
	}
	if got := storedGen(t, d, other); got != "invokeai|lighthouseXL_v2|blake3:3f1c9a0d5e7b2c4a|euler_a||24|6.0|3951921344|1024|1024| add-detail-xl:0.75" {
		t.Fatalf("batch insert: %q", got)
	}
	if _, err := media.Forget(ctx, d, []int64{id, other}); err != nil {
		t.Fatal(err)
	}
	if n := count(t, d, `SELECT (SELECT COUNT(*) FROM media_gen) + (SELECT COUNT(*) FROM media_gen_loras)`); n != 0 {
		t.Fatalf("%d media_gen rows left after the media were forgotten", n)
	}
}

func TestBackfillGen(t *testing.T) {
	ctx := context.Background()
	d := openDB(t)
	var ps []media.NewPrompt
	chunks := [][]string{{"parameters", genA1111}, {"prompt", genComfy}, {"invokeai_metadata", genInvoke}, {"Comment", "not metadata"}}
	for i := range 25 {
		id := mustMedia(t, d, fmt.Sprintf("/x/%d.png", i), fmt.Sprintf("bb%02d", i))
		ps = append(ps, media.NewPrompt{MediaID: id, Prompt: extracted(t, chunks[i%4]...), Raw: "raw"})
	}
	mustMedia(t, d, "/x/none.png", "bbff") // no prompt: no row
	if err := media.InsertNewPromptsMany(ctx, d, ps, t0); err != nil {
		t.Fatal(err)
	}
	snapshot := func() string {
		var s []string
		for _, p := range ps {
			s = append(s, storedGen(t, d, p.MediaID))
		}
		return strings.Join(s, "\n")
	}
	want := snapshot()
	if n := count(t, d, `SELECT COUNT(*) FROM media_gen`); n != 25 {
		t.Fatalf("%d media_gen rows after import, want 25", n)
	}
	// As a database from before schema 0220: prompts, no media_gen.
	if _, err := d.Exec(`DELETE FROM media_gen; DELETE FROM media_gen_loras`); err != nil {
		t.Fatal(err)
	}
	n, err := media.BackfillGen(ctx, d, 7)
	if err != nil || n != 25 {
		t.Fatalf("backfill: %d, %v; want 25", n, err)
	}
	if got := snapshot(); got != want {
		t.Fatalf("backfilled rows differ from the written ones:\n%s\nwant\n%s", got, want)
	}
	if n, err := media.BackfillGen(ctx, d, 7); err != nil || n != 0 {
		t.Fatalf("second backfill: %d, %v; want 0", n, err)
	}
}
