package sdmeta

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Model identity fixtures (#19 item 7), generated into testdata/modelid by
// writeTextFixtures (SDMETA_WRITE_FIXTURES=1 go test -run
// TestModelIdentity ./pkg/sdmeta/); testdata/README.md describes them. The
// key sets follow the public format descriptions (InvokeAI's core_metadata
// node and ModelIdentifierField, enslo/sd-metadata's TensorArt and SwarmUI
// readers, Fooocus' metadata scheme); every value is invented.

const (
	invokeModelHash = "blake3:3f1c9a0d5e7b2c4a6f8e0d1c3b5a79685746352413f2e1d0c9b8a7f6e5d4c3b2"
	invokeLoraHash  = "blake3:0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"
	invokeVAEHash   = "random:9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d"
)

// invokeV5Metadata is invokeai_metadata as InvokeAI 4/5 writes it: model,
// vae and each LoRA's model are ModelIdentifierFields {key, hash, name,
// base, type}.
const invokeV5Metadata = `{"app_version":"5.6.0","generation_mode":"sdxl_txt2img","positive_prompt":"a lighthouse at dusk, oil painting","negative_prompt":"blurry, lowres",` +
	`"width":1024,"height":1024,"seed":3951921344,"rand_device":"cpu","cfg_scale":6,"cfg_rescale_multiplier":0,"steps":24,"scheduler":"euler_a",` +
	`"model":{"key":"5f0b3a1e-8c1d-4e7a-9b2f-3c4d5e6f7a8b","hash":"` + invokeModelHash + `","name":"lighthouseXL_v2","base":"sdxl","type":"main"},` +
	`"vae":{"key":"0c9d8e7f-6a5b-4c3d-2e1f-0a9b8c7d6e5f","hash":"` + invokeVAEHash + `","name":"sdxl-vae-fp16-fix","base":"sdxl","type":"vae"},` +
	`"loras":[{"model":{"key":"1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d","hash":"` + invokeLoraHash + `","name":"add-detail-xl","base":"sdxl","type":"lora"},"weight":0.75}]}`

// invokeV5Graph is the invokeai_graph beside it: nodes keyed by id, the
// loader's model the same identifier.
const invokeV5Graph = `{"id":"sdxl_graph:abc","nodes":{"sdxl_model_loader:1":{"id":"sdxl_model_loader:1","type":"sdxl_model_loader","is_intermediate":true,"use_cache":true,` +
	`"model":{"key":"5f0b3a1e-8c1d-4e7a-9b2f-3c4d5e6f7a8b","hash":"` + invokeModelHash + `","name":"lighthouseXL_v2","base":"sdxl","type":"main"}}},"edges":[]}`

// invokeV3Metadata is the InvokeAI 3 shape: {model_name, base_model,
// model_type} references without hashes, LoRAs under "lora".
const invokeV3Metadata = `{"generation_mode":"sdxl_txt2img","positive_prompt":"a red barn in a field","negative_prompt":"text","width":1024,"height":768,"seed":77,` +
	`"rand_device":"cpu","cfg_scale":7,"steps":30,"scheduler":"dpmpp_2m_k","model":{"model_name":"barnXL","base_model":"sdxl","model_type":"main"},` +
	`"vae":{"model_name":"sdxl-vae","base_model":"sdxl"},"loras":[{"lora":{"model_name":"film_grain","base_model":"sdxl"},"weight":0.4}]}`

// tensorArtData is generation_data (TensorArt appends NULs); the graph
// beside it names TensorArt's internal checkpoint file.
const tensorArtData = `{"prompt":"a koi pond in autumn, watercolor","negativePrompt":"lowres, watermark","width":832,"height":1216,"seed":"-1","steps":25,"cfgScale":7,"clipSkip":2,` +
	`"baseModel":{"modelFileName":"WAI-Nsfw-Illustrious-16","hash":"A5F58EB1C33616C4F06BCA55AF39876A7B817913CD829CAA8ACB111B770C85CC"}}` + "\x00\x00\x00"

const tensorArtGraph = `{"1":{"class_type":"CheckpointLoaderSimple","inputs":{"ckpt_name":"EMS-412345-EMS.safetensors"}},` +
	`"2":{"class_type":"CLIPTextEncode","inputs":{"text":"a koi pond in autumn, watercolor","clip":["1",1]}},` +
	`"3":{"class_type":"CLIPTextEncode","inputs":{"text":"lowres, watermark","clip":["1",1]}},` +
	`"4":{"class_type":"EmptyLatentImage","inputs":{"width":832,"height":1216,"batch_size":1}},` +
	`"5":{"class_type":"KSampler","inputs":{"seed":1234567,"steps":25,"cfg":7,"sampler_name":"euler_ancestral","scheduler":"normal","denoise":1,"model":["1",0],"positive":["2",0],"negative":["3",0],"latent_image":["4",0]}},` +
	`"6":{"class_type":"VAEDecode","inputs":{"samples":["5",0],"vae":["1",2]}},"7":{"class_type":"SaveImage","inputs":{"images":["6",0],"filename_prefix":"ComfyUI"}}}`

// fooocusSchemeJSON is Fooocus' own metadata scheme ("fooocus"), LoRAs as
// [name, weight, hash].
const fooocusSchemeJSON = `{"adm_guidance":"(1.5, 0.8, 0.3)","base_model":"juggernautXL_v8Rundiffusion","base_model_hash":"aeb7e9e689","clip_skip":2,` +
	`"full_negative_prompt":["lowres"],"full_prompt":["a tiny robot"],"guidance_scale":4,"loras":[["sd_xl_offset_example-lora_1.0.safetensors",0.1,"4852686128"]],` +
	`"metadata_scheme":"fooocus","negative_prompt":"lowres","performance":"Speed","prompt":"a tiny robot","refiner_model":"None","refiner_switch":0.5,` +
	`"resolution":"(1152, 896)","sampler":"dpmpp_2m_sde_gpu","scheduler":"karras","seed":"5551212","sharpness":2,"steps":30,"vae":"Default (model)","version":"Fooocus v2.5.5"}`

// swarmSUIModels is SwarmUI's parameters with the "sui_models" list
// ({name, param, hash}) it writes when model hashes are on.
const swarmSUIModels = `{"sui_image_params":{"prompt":"a paper boat on a puddle","negativeprompt":"blurry","model":"sd_xl_base_1.0","seed":42,"steps":20,"cfgscale":6,` +
	`"width":1024,"height":1024,"sampler":"euler","scheduler":"normal","loras":["add-detail-xl"],"loraweights":["0.8"]},` +
	`"sui_models":[{"name":"sd_xl_base_1.0.safetensors","param":"model","hash":"0x31e35c80fc4829d14f90153f4c74cd59c90b779f6afe05a74cd6120b893f7e5b"},` +
	`{"name":"Detail/add-detail-xl.safetensors","param":"loras","hash":"0x0d9bd1b873a7863e128b4672e3e9fb1e4a0e4c7b0b0d1d0e1f2a3b4c5d6e7f80"}]}`

// modelIDFixtures maps fixture file name to its text chunks, in file order.
var modelIDFixtures = map[string][][2]string{
	"invokeai_v5_blake3.png":        {{"invokeai_metadata", invokeV5Metadata}, {"invokeai_graph", invokeV5Graph}},
	"invokeai_v3_names.png":         {{"invokeai_metadata", invokeV3Metadata}},
	"tensorart_generation_data.png": {{"generation_data", tensorArtData}, {"prompt", tensorArtGraph}},
	"fooocus_scheme_hashes.png":     {{"fooocus_scheme", "fooocus"}, {"parameters", fooocusSchemeJSON}},
	"swarmui_sui_models.png":        {{"parameters", swarmSUIModels}},
	"stabilitymatrix_parameters_json.png": {{"parameters", "a paper crane \nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, CFG scale: 6, Seed: 31, Size: 512x768, Model hash: 31e35c80fc, Model: sd_xl_base_1.0"},
		{"parameters-json", `{"PositivePrompt":"a paper crane \n","NegativePrompt":"blurry","Width":512,"Height":768,"Seed":31,"Steps":20,"CfgScale":6,"Sampler":"Euler a","ModelName":"sd_xl_base_1.0","ModelHash":"31e35c80fc"}`},
		{"smproj", `{"Version":3,"ProjectType":"Inference"}`}},
	"a1111_hashes_placeholder.png":   {{"parameters", "a cat\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 9, Size: 512x640, Model hash: unknown, Model: catmix, Hashes: {\"model\": \"9a8b7c6d5e\"}"}},
	"invokeai_graph_hash_only.png":   {{"invokeai_metadata", `{"positive_prompt":"a quiet harbour","negative_prompt":"","width":512,"height":512,"seed":5,"cfg_scale":5,"steps":20,"scheduler":"euler","model":{"key":"k1","name":"harbourMix","base":"sd-1","type":"main"}}`}, {"invokeai_graph", `{"nodes":{"main_model_loader:2":{"type":"main_model_loader","model":{"key":"k1","hash":"blake3:11aa22bb","name":"harbourMix","base":"sd-1","type":"main"}}}}`}},
	"invokeai_graph_other_model.png": {{"invokeai_metadata", `{"positive_prompt":"a quiet harbour","negative_prompt":"","width":512,"height":512,"seed":5,"cfg_scale":5,"steps":20,"scheduler":"euler","model":{"key":"k1","name":"harbourMix","base":"sd-1","type":"main"}}`}, {"invokeai_graph", `{"nodes":{"main_model_loader:2":{"type":"main_model_loader","model":{"key":"k9","hash":"blake3:99ff","name":"otherMix","base":"sd-1","type":"main"}}}}`}},
}

// modelIDCase is one testdata/modelid fixture: the fields every format
// has, the LoRAs as "name|hash|weight|source" and extra settings.
type modelIDCase struct {
	file     string
	want     variantWant
	loras    []string
	settings map[string]string
}

func modelIDCases() []modelIDCase {
	return []modelIDCase{
		{"invokeai_v5_blake3.png", variantWant{FormatInvokeAI, "a lighthouse at dusk, oil painting", "blurry, lowres", "lighthouseXL_v2", invokeModelHash, "3951921344", "euler_a", "", 24, 1024, 1024, 6},
			[]string{"add-detail-xl|" + invokeLoraHash + "|0.75|metadata"}, map[string]string{"vae_name": "sdxl-vae-fp16-fix", "vae_hash": invokeVAEHash}},
		{"invokeai_v3_names.png", variantWant{FormatInvokeAI, "a red barn in a field", "text", "barnXL", "", "77", "dpmpp_2m_k", "", 30, 1024, 768, 7},
			[]string{"film_grain||0.4|metadata"}, map[string]string{"vae_name": "sdxl-vae"}},
		{"invokeai_graph_hash_only.png", variantWant{FormatInvokeAI, "a quiet harbour", "", "harbourMix", "blake3:11aa22bb", "5", "euler", "", 20, 512, 512, 5}, nil, nil},
		// The graph's loader names another model: its hash is not this one's.
		{"invokeai_graph_other_model.png", variantWant{FormatInvokeAI, "a quiet harbour", "", "harbourMix", "", "5", "euler", "", 20, 512, 512, 5}, nil, nil},
		// generation_data's seed is -1 (random): the graph's seed is the one used.
		{"tensorart_generation_data.png", variantWant{FormatTensorArt, "a koi pond in autumn, watercolor", "lowres, watermark", "WAI-Nsfw-Illustrious-16",
			"A5F58EB1C33616C4F06BCA55AF39876A7B817913CD829CAA8ACB111B770C85CC", "1234567", "euler_ancestral", "normal", 25, 832, 1216, 7},
			nil, map[string]string{"clipSkip": "2"}},
		{"fooocus_scheme_hashes.png", variantWant{FormatFooocus, "a tiny robot", "lowres", "juggernautXL_v8Rundiffusion", "aeb7e9e689", "5551212", "dpmpp_2m_sde_gpu", "karras", 30, 1152, 896, 4},
			[]string{"sd_xl_offset_example-lora_1.0.safetensors|4852686128|0.1|metadata"}, map[string]string{"base_model_hash": "aeb7e9e689"}},
		{"swarmui_sui_models.png", variantWant{FormatSwarmUI, "a paper boat on a puddle", "blurry", "sd_xl_base_1.0", "0x31e35c80fc4829d14f90153f4c74cd59c90b779f6afe05a74cd6120b893f7e5b", "42", "euler", "normal", 20, 1024, 1024, 6},
			[]string{"add-detail-xl|0x0d9bd1b873a7863e128b4672e3e9fb1e4a0e4c7b0b0d1d0e1f2a3b4c5d6e7f80|0.8|metadata"}, nil},
		{"stabilitymatrix_parameters_json.png", variantWant{FormatStabilityMatrix, "a paper crane", "blurry", "sd_xl_base_1.0", "31e35c80fc", "31", "Euler a", "", 20, 512, 768, 6}, nil, nil},
		// A placeholder "Model hash" gives way to the Hashes object.
		{"a1111_hashes_placeholder.png", variantWant{FormatA1111, "a cat", "", "catmix", "9a8b7c6d5e", "9", "Euler", "", 20, 512, 640, 7}, nil, map[string]string{"Model hash": "unknown"}},
	}
}

// checkGolden extracts and compares a golden case: the fields, the LoRAs
// as "name|hash|weight|source" and the given sampler settings.
func checkGolden(t *testing.T, extract func() (Result, error), want variantWant, loras []string, settings map[string]string) Result {
	t.Helper()
	res, err := extract()
	if err != nil {
		t.Fatal(err)
	}
	misses, _ := variantFields(res, want)
	for _, m := range misses {
		t.Error(m)
	}
	if fmt.Sprint(loraStrings(res.Loras)) != fmt.Sprint(loras) {
		t.Errorf("loras %v, want %v", loraStrings(res.Loras), loras)
	}
	for k, v := range settings {
		if got := toString(res.SamplerSettings[k]); got != v {
			t.Errorf("sampler_settings[%q] = %q, want %q", k, got, v)
		}
	}
	return res
}

func (c modelIDCase) extract() (Result, error) {
	return Extract(context.Background(), filepath.Join("testdata", "modelid", c.file), Options{})
}

// TestModelIdentity: #19 item 7, model name and hash per format, the hash
// in Result.ModelHash whatever the front end calls it.
func TestModelIdentity(t *testing.T) {
	if os.Getenv("SDMETA_WRITE_FIXTURES") == "1" {
		writeTextFixtures(t, filepath.Join("testdata", "modelid"), modelIDFixtures)
	}
	for _, c := range modelIDCases() {
		t.Run(c.file, func(t *testing.T) {
			res := checkGolden(t, c.extract, c.want, c.loras, c.settings)
			if len(res.ParameterSets) > 0 && res.ParameterSets[0].Model == res.Model && res.ParameterSets[0].ModelHash != res.ModelHash {
				t.Errorf("main parameter set hash %q", res.ParameterSets[0].ModelHash)
			}
		})
	}
}

// TestTensorArtGraphModelKept: the internal checkpoint name of TensorArt's
// graph is kept beside the real one, not lost.
func TestTensorArtGraphModelKept(t *testing.T) {
	res, err := modelIDCase{file: "tensorart_generation_data.png"}.extract()
	if err != nil {
		t.Fatal(err)
	}
	if res.SourceMetadata["graph_model"] != "EMS-412345-EMS.safetensors" || res.SourceMetadata["source_key"] != "generation_data" {
		t.Errorf("source_metadata %v", res.SourceMetadata)
	}
}
