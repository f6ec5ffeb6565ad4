package scan_test

import (
	"cmp"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/localsupervisor/supervisor/pkg/catalog"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/scan"
	"github.com/localsupervisor/supervisor/pkg/svtest/pngtest"
)

// TestImportKeepsPromptAsWritten: an import stores the trimmed prompt for
// display and search and the text as written beside it (prompts and
// prompt_history), the detail read model returns both, and prompts-rebuild
// fills the verbatim columns of rows imported before they existed (#19
// item 1).
func TestImportKeepsPromptAsWritten(t *testing.T) {
	ctx := context.Background()
	d := openDB(t)
	im := newImporter(d, testRoots(t), scan.ModeInPlace)
	dir := t.TempDir()
	graph := `{"4":{"class_type":"CheckpointLoaderSimple","inputs":{"ckpt_name":"m.safetensors"}},` +
		`"6":{"class_type":"CLIPTextEncode","inputs":{"text":"a fox \r\n in snow \n","clip":["4",1]}},` +
		`"7":{"class_type":"CLIPTextEncode","inputs":{"text":"blurry","clip":["4",1]}},` +
		`"3":{"class_type":"KSampler","inputs":{"sampler_name":"euler","scheduler":"karras","seed":5,"steps":20,"cfg":7,"model":["4",0],"positive":["6",0],"negative":["7",0]}}}`
	files := map[string]struct{ key, text, prompt, raw, neg, negRaw string }{
		"comfy.png": {"prompt", graph, "a fox \n in snow", "a fox \r\n in snow \n", "blurry", ""},
		"a1111.png": {"parameters", "  lead and trail  \r\nNegative prompt: bad \r\nSteps: 20, Seed: 1", "lead and trail", "  lead and trail  ", "bad", "bad "},
		"plain.png": {"parameters", "clean\nSteps: 20, Seed: 1", "clean", "", "", ""},
	}
	for name, f := range files {
		os.WriteFile(filepath.Join(dir, name), pngtest.WithText(pngtest.PNG(8, 8, uint8(len(name))), f.key, f.text), 0o644)
	}
	if s, err := im.ScanPath(ctx, dir, scan.RunOptions{}); err != nil || s.Imported != 3 {
		t.Fatalf("%+v %v", s, err)
	}
	check := func(stage string) {
		t.Helper()
		for name, f := range files {
			m, err := media.ActiveAt(ctx, d, filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			var pr, neg, prRaw, negRaw, hRaw string
			d.QueryRow(`SELECT COALESCE(prompt,''), COALESCE(negative_prompt,''), COALESCE(prompt_raw,''), COALESCE(negative_prompt_raw,'') FROM prompts WHERE media_id=?`, m.ID).Scan(&pr, &neg, &prRaw, &negRaw)
			d.QueryRow(`SELECT COALESCE(prompt_raw,'') FROM prompt_history WHERE media_id=? ORDER BY version DESC LIMIT 1`, m.ID).Scan(&hRaw)
			if pr != f.prompt || prRaw != f.raw || neg != f.neg || negRaw != f.negRaw || hRaw != f.raw {
				t.Errorf("%s %s: prompt %q raw %q neg %q negraw %q history raw %q", stage, name, pr, prRaw, neg, negRaw, hRaw)
			}
			det, err := catalog.LoadDetail(ctx, d, m.ID)
			if err != nil || det.Prompt == nil || det.Prompt.Prompt != f.prompt || det.Prompt.PromptRaw != f.raw || det.Prompt.NegativeRaw != f.negRaw {
				t.Errorf("%s %s: detail %+v %v", stage, name, det.Prompt, err)
			}
			_, cur, _ := media.CurrentPrompt(ctx, d, m.ID)
			if p, n := cur.AsWritten(); p != cmp.Or(f.raw, f.prompt) || n != cmp.Or(f.negRaw, f.neg) {
				t.Errorf("%s %s: as written %q / %q", stage, name, p, n)
			}
		}
	}
	check("import")

	// A catalogue from before the verbatim columns: NULL there and an
	// older extractor version; prompts-rebuild re-reads them.
	d.Exec(`UPDATE prompts SET prompt_raw=NULL, negative_prompt_raw=NULL`)
	d.Exec(`UPDATE media_meta SET meta_value='2' WHERE meta_key=?`, media.MetaExtractorVersion)
	if s, err := im.PromptsRebuild(ctx, scan.RebuildOptions{Limit: 10}); err != nil || s.Errors != 0 {
		t.Fatalf("rebuild %+v %v", s, err)
	}
	check("rebuild")
}
