package sdmeta

import (
	"context"
	"testing"
)

// TestVerbatimPrompt: every format keeps the prompt and negative prompt
// exactly as written (prompt_raw) beside the trimmed display form (issue
// #19 item 1). The texts carry leading/trailing spaces, inner line breaks
// and \r\n on purpose.
func TestVerbatimPrompt(t *testing.T) {
	const comfyGraph = `{"4":{"class_type":"CheckpointLoaderSimple","inputs":{"ckpt_name":"sdxl.safetensors"}},` +
		`"6":{"class_type":"CLIPTextEncode","inputs":{"text":"a fox \r\n in snow \n","clip":["4",1]}},` +
		`"7":{"class_type":"CLIPTextEncode","inputs":{"text":"blurry  ","clip":["4",1]}},` +
		`"5":{"class_type":"EmptyLatentImage","inputs":{"width":512,"height":512,"batch_size":1}},` +
		`"3":{"class_type":"KSampler","inputs":{"sampler_name":"euler","scheduler":"karras","seed":5,"steps":20,"cfg":7,"denoise":1,"model":["4",0],"positive":["6",0],"negative":["7",0],"latent_image":["5",0]}}}`
	cases := []struct {
		name                  string
		chunks                [][]byte
		format                string
		prompt, promptRaw     string
		negative, negativeRaw string
		model, sampler, sched string
	}{
		{name: "a1111 lf", chunks: [][]byte{tEXt("parameters", "  a cat, \nsecond line  \nNegative prompt:  ugly \nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 1, Size: 64x64")},
			format: FormatA1111, prompt: "a cat, \nsecond line", promptRaw: "  a cat, \nsecond line  ", negative: "ugly", negativeRaw: " ugly ", sampler: "Euler"},
		{name: "a1111 crlf", chunks: [][]byte{tEXt("parameters", "a cat \r\nline2\r\nNegative prompt: bad \r\nSteps: 20, Sampler: Euler, Seed: 1")},
			format: FormatA1111, prompt: "a cat \nline2", promptRaw: "a cat \r\nline2", negative: "bad", negativeRaw: "bad ", sampler: "Euler"},
		{name: "a1111 prompt only", chunks: [][]byte{tEXt("parameters", "just words \n")},
			format: FormatA1111, prompt: "just words", promptRaw: "just words \n"},
		{name: "comfyui graph", chunks: [][]byte{tEXt("prompt", comfyGraph)},
			format: FormatComfyUI, prompt: "a fox \n in snow", promptRaw: "a fox \r\n in snow \n", negative: "blurry", negativeRaw: "blurry  ", model: "sdxl.safetensors", sampler: "euler", sched: "karras"},
		{name: "swarmui", chunks: [][]byte{tEXt("parameters", `{"sui_image_params":{"prompt":"dog  \n","negativeprompt":" cat","model":"flux","seed":3,"steps":20,"cfgscale":3.5,"width":64,"height":64}}`)},
			format: FormatSwarmUI, prompt: "dog", promptRaw: "dog  \n", negative: "cat", negativeRaw: " cat", model: "flux"},
		{name: "invokeai v3", chunks: [][]byte{tEXt("invokeai_metadata", `{"positive_prompt":"castle \n","negative_prompt":"  fog","seed":9,"steps":30,"cfg_scale":7.5,"width":64,"height":64,"scheduler":"euler","model":{"model_name":"juggernautXL","base_model":"sdxl"}}`)},
			format: FormatInvokeAI, prompt: "castle", promptRaw: "castle \n", negative: "fog", negativeRaw: "  fog", sampler: "euler"},
		{name: "stability matrix", chunks: [][]byte{
			tEXt("parameters", "tree\nSteps: 20, Sampler: Euler, Seed: 5"),
			tEXt("parameters-json", `{"PositivePrompt":"tree \r\n","NegativePrompt":"smog ","Width":512,"Height":512,"Seed":5,"Steps":20,"CfgScale":7,"Sampler":"Euler","ModelName":"sdxl.safetensors","ModelHash":"31e35c80fc"}`),
			tEXt("prompt", comfyGraph), tEXt("smproj", `{"Version":3}`)},
			format: FormatStabilityMatrix, prompt: "tree", promptRaw: "tree \r\n", negative: "smog", negativeRaw: "smog ", model: "sdxl.safetensors", sampler: "Euler", sched: "karras"},
		{name: "novelai", chunks: [][]byte{tEXt("Software", "NovelAI"), tEXt("Description", " girl, red hair  "), tEXt("Source", "NovelAI Diffusion V3 7BCCAA2C"),
			tEXt("Comment", `{"prompt":" girl, red hair  ","uc":"lowres \n","steps":28,"scale":5,"seed":1,"sampler":"k_euler","width":64,"height":64}`)},
			format: FormatNovelAI, prompt: "girl, red hair", promptRaw: " girl, red hair  ", negative: "lowres", negativeRaw: "lowres \n", model: "NovelAI Diffusion V3", sampler: "k_euler"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := ExtractBytes(context.Background(), buildPNG(64, 64, c.chunks, 100, nil), "x.png", Options{})
			if err != nil {
				t.Fatal(err)
			}
			check := func(field, got, want string) {
				t.Helper()
				if got != want {
					t.Errorf("%s = %q, want %q", field, got, want)
				}
			}
			check("format", res.Format, c.format)
			check("prompt", res.Prompt, c.prompt)
			check("prompt_raw", res.PromptRaw, c.promptRaw)
			check("negative_prompt", res.NegativePrompt, c.negative)
			check("negative_prompt_raw", res.NegativePromptRaw, c.negativeRaw)
			if c.model != "" {
				check("model", res.Model, c.model)
			}
			if c.sampler != "" {
				check("sampler", res.Sampler, c.sampler)
			}
			if c.sched != "" {
				check("scheduler", res.Scheduler, c.sched)
			}
		})
	}
}
