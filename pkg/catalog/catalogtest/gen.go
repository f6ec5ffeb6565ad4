package catalogtest

import (
	"encoding/json"
	"fmt"
	"strings"
)

// The generation parameters of the generated library, spread like a real
// AI image collection: a few checkpoints and samplers account for most
// images (a power law, not uniform), about 30 % use LoRAs, a fifth are
// img2img or hires passes with a denoising strength, seeds span the whole
// unsigned 64-bit range (ComfyUI) as well as A1111's 32-bit one.
var (
	genModels = []string{"juggernautXL_v9", "ponyDiffusionV6XL", "realvisxlV40", "dreamshaperXL_v21Turbo", "animagineXL31",
		"sd_xl_base_1.0", "illustriousXL_v01", "noobaiXL_v11", "waiNSFWIllustrious_v110", "epicrealism_naturalSin",
		"realisticVision_v60B1", "deliberate_v3", "absolutereality_v181", "revAnimated_v2Rebirth", "counterfeitV30",
		"meinamix_v11", "anythingV5", "majicmixRealistic_v7", "chilloutmix_NiPrunedFp32Fix", "cyberrealistic_v42",
		"protovisionXL_v6", "copaxTimelessxl_v12", "zavychromaxl_v80", "albedobaseXL_v21", "flux1-dev-fp8",
		"flux1-schnell", "sd3.5_large", "sd3_medium", "playground-v2.5", "kohakuXLEpsilon",
		"autismmixSDXL_ponyV1", "hassakuXL_v13", "cyberillustrious_v40", "novaAnimeXL_v70", "leosamsHelloworldXL_v70",
		"nightvisionXL_v0791", "starlightXL_v30", "aamXLAnimeMix_v10", "sdxlUnstableDiffusers_v11", "fenrisxl_v16"}
	genSamplers = []string{"Euler a", "DPM++ 2M", "euler_ancestral", "dpmpp_2m", "Euler", "DPM++ 2M SDE", "dpmpp_2m_sde",
		"k_euler_ancestral", "DPM++ SDE", "UniPC", "euler", "DDIM", "DPM++ 3M SDE", "LMS", "Heun"}
	genSchedulers = []string{"Karras", "normal", "karras", "Automatic", "simple", "exponential", "sgm_uniform", "beta", "Uniform"}
	genSizes      = [][2]int{{832, 1216}, {1024, 1024}, {1216, 832}, {512, 768}, {896, 1152}, {768, 512}, {1152, 896}, {1024, 1536}}
	// genSoftware: format name and its share in percent.
	genSoftware = []struct {
		name  string
		share int
	}{{"a1111", 25}, {"forge", 20}, {"comfyui", 30}, {"novelai", 8}, {"invokeai", 7}, {"fooocus", 5}, {"swarmui", 5}}
)

// genLoraNames are 200 LoRA names: 20 subjects × 10 variants.
func genLoraNames() []string {
	subjects := []string{"add_detail", "film_grain", "more_details", "epiCRealismHelper", "detail_slider", "lcm_lora",
		"pixel_art", "watercolor", "ghibli_style", "cyberpunk_city", "age_slider", "hands_fix", "neon_glow", "oil_painting",
		"anime_lineart", "sketch", "cinematic", "lowkey_light", "vintage_photo", "sdxl_offset"}
	var out []string
	for _, s := range subjects {
		for v := 1; v <= 10; v++ {
			out = append(out, fmt.Sprintf("%s_v%d", s, v))
		}
	}
	return out
}

// rnd is a deterministic pseudo-random integer in [0, 2^31-1) per media id
// and salt: a non-linear mix (squaring modulo the Mersenne prime) so that
// values with different salts are not shifted copies of each other.
// Every product stays below 2^63 for ids below 8·10^9.
func rnd(salt int) string {
	k := 1103515245 + 7919*salt
	x := fmt.Sprintf("((id * %d + %d) %% 2147483647)", k, 12345+salt*1000003)
	return fmt.Sprintf("(((%s * %s) %% 2147483647 * 48271 + %s) %% 2147483647)", x, x, x)
}

// pick is the element of a JSON array chosen by index expression idx.
func pick(list any, idx string) string {
	b, _ := json.Marshal(list)
	return "json_extract('" + strings.ReplaceAll(string(b), "'", "''") + "', '$[' || (" + idx + ") || ']')"
}

// powerIdx maps rnd(salt) onto 0..n-1 with a power-law spread: index 0 is
// the most common, like the top checkpoint of a collection.
func powerIdx(salt, n, power int) string {
	// u in 0..999; u^power scaled onto n.
	u := "(" + rnd(salt) + " % 1000)"
	prod, maxv := u, 1000
	for i := 1; i < power; i++ {
		prod += " * " + u
		maxv *= 1000
	}
	return fmt.Sprintf("(%s / %d)", prod, (maxv+n-1)/n)
}

// promptsSQL inserts one prompts row per media with the columns an
// extraction fills (model, sampler, scheduler, steps, cfg, seed, size,
// sampler_settings, loras, source_metadata with format and model hash),
// shaped as each front end's reader stores them.
func promptsSQL() string {
	var sw strings.Builder
	sw.WriteString("CASE")
	acc := 0
	for _, s := range genSoftware {
		acc += s.share
		fmt.Fprintf(&sw, " WHEN %s %% 100 < %d THEN '%s'", rnd(2), acc, s.name)
	}
	sw.WriteString(" END")
	modelIdx := powerIdx(1, len(genModels), 3)
	loraNames := genLoraNames()
	lora := func(k int) string {
		name := pick(loraNames, powerIdx(20+k, len(loraNames), 2))
		return fmt.Sprintf(`json_object('name', %s || CASE WHEN sw = 'comfyui' THEN '.safetensors' ELSE '' END, 'weight', round(0.2 + (%s %% 27) * 0.05, 2), 'source', 'metadata')`,
			name, rnd(30+k))
	}
	denoise := fmt.Sprintf("round(0.3 + (%s %% 13) * 0.05, 2)", rnd(12))
	// A seed above 2^63 is written as two decimal halves (SQLite integers
	// are signed); a ≤ 1844674406 keeps it below 2^64-1.
	bigSeed := fmt.Sprintf("(1 + %s %% 1844674406) || printf('%%010d', (%s %% 1000000) * 10000 + %s %% 10000)", rnd(6), rnd(7), rnd(8))
	return `INSERT INTO prompts(media_id, prompt, model, sampler, scheduler, steps, cfg_scale, seed, width, height,
		sampler_settings, loras, source_metadata)
	SELECT id, 'masterpiece, ' || ` + word("id") + ` || ' ' || ` + word("id / 20") + ` || ', ' || ` + word("id / 400") +
		` || ' at ' || ` + word("id * 7") + ` || ', highly detailed, 8k',
		CASE WHEN sw = 'novelai' THEN CASE WHEN mi % 2 = 0 THEN 'NovelAI Diffusion V4.5' ELSE 'NovelAI Diffusion Anime V3' END
			ELSE ` + pick(genModels, "mi") + ` END,
		` + pick(genSamplers, powerIdx(3, len(genSamplers), 2)) + `,
		CASE WHEN ` + rnd(4) + ` % 100 < 15 THEN NULL ELSE ` + pick(genSchedulers, rnd(5)+" % "+fmt.Sprint(len(genSchedulers))) + ` END,
		20 + ` + rnd(9) + ` % 31, 3 + (` + rnd(10) + ` % 19) * 0.5,
		CASE WHEN id % 100000 = 7 THEN '18446744073709551615'
			WHEN ` + rnd(11) + ` % 100 < 2 THEN '-1'
			WHEN ` + rnd(11) + ` % 100 < 45 THEN ` + bigSeed + `
			ELSE CAST(` + rnd(13) + ` AS TEXT) END,
		json_extract(sz, '$[0]'), json_extract(sz, '$[1]'),
		CASE WHEN ` + rnd(14) + ` % 100 >= 20 THEN NULL
			WHEN sw IN ('a1111', 'forge') THEN json_object('Denoising strength', printf('%.2f', ` + denoise + `))
			WHEN sw = 'comfyui' THEN json_object('node_id', '3', 'class_type', 'KSampler', 'denoise', ` + denoise + `)
			WHEN sw IN ('novelai', 'invokeai') THEN json_object('strength', ` + denoise + `)
			WHEN sw = 'swarmui' THEN json_object('initimagecreativity', ` + denoise + `)
			ELSE json_object('denoising_strength', ` + denoise + `) END,
		CASE WHEN ` + rnd(15) + ` % 100 >= 30 THEN NULL
			WHEN ` + rnd(16) + ` % 3 = 0 THEN json_array(` + lora(1) + `)
			WHEN ` + rnd(16) + ` % 3 = 1 THEN json_array(` + lora(1) + `, ` + lora(2) + `)
			ELSE json_array(` + lora(1) + `, ` + lora(2) + `, ` + lora(3) + `) END,
		CASE WHEN sw = 'comfyui' THEN json_object('format', sw, 'extractor_version', 1)
			WHEN sw = 'invokeai' THEN json_object('format', sw, 'extractor_version', 1, 'model_hash', printf('blake3:%016x%016x', mi * 2654435761, mi * 40503 + 977))
			ELSE json_object('format', sw, 'extractor_version', 1, 'model_hash', printf('%010x', (mi + 1) * 2654435761 % 1099511627776)) END
	FROM (SELECT id, ` + sw.String() + ` AS sw, ` + modelIdx + ` AS mi, ` + pick(genSizes, rnd(17)+" % "+fmt.Sprint(len(genSizes))) + ` AS sz FROM media)`
}
