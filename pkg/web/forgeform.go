package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/localsupervisor/supervisor/pkg/forge"
	"github.com/localsupervisor/supervisor/pkg/forgejob"
	"github.com/localsupervisor/supervisor/pkg/reason"
)

// param reads a form value by its name or the original's _sv_ alias.
func param(r *http.Request, names ...string) (string, bool) {
	for _, n := range names {
		if vs, ok := r.PostForm[n]; ok && len(vs) > 0 {
			return strings.TrimSpace(vs[0]), true
		}
	}
	return "", false
}

func paramStr(r *http.Request, names ...string) string {
	v, _ := param(r, names...)
	return v
}

func paramOn(r *http.Request, names ...string) bool {
	v := strings.ToLower(paramStr(r, names...))
	return v == "1" || v == "true" || v == "on" || v == "yes"
}

// forgeRequest reads the regen form (spec 7.5 names, with the original's
// _sv_ aliases) or the repair dialog (7.6).
func forgeRequest(r *http.Request, repair bool) (forgejob.EnqueueRequest, error) {
	var er forgejob.EnqueueRequest
	ov := forge.Overrides{Mode: paramStr(r, "mode", "_sv_mode"), Model: paramStr(r, "model", "_sv_model"),
		Sampler: paramStr(r, "sampler", "_sv_sampler"), Scheduler: paramStr(r, "scheduler", "_sv_scheduler"),
		Strategy: paramStr(r, "strategy", "_sv_recreate_strategy"), UseHybrid: paramOn(r, "hybrid", "_sv_use_hybrid"),
		AllowEmptyNeg: paramOn(r, "negative_allow_empty", "_sv_negative_allow_empty"),
		ForceTxt2Img:  paramOn(r, "force_txt2img", "_sv_force_txt2img")}
	switch g := paramStr(r, "gen"); g {
	case "", "auto":
	case "txt2img":
		ov.ForceTxt2Img = true
	case "img2img":
		if ov.Strategy == "" {
			ov.Strategy = forge.StrategyImg2Img
		}
	default:
		return er, reason.Newf(forge.CodeOptionInvalid, "gen must be auto, txt2img or img2img, got %q", g)
	}
	if v := paramStr(r, "prompt", "_sv_manual_prompt"); v != "" {
		ov.ManualPrompt = &v
	}
	// A manual negative is "set" when typed, or explicitly empty.
	if v, ok := param(r, "negative", "_sv_manual_negative"); ok && (v != "" || paramOn(r, "negative_empty") || hasKey(r, "_sv_manual_negative")) {
		ov.ManualNegative = &v
	}
	switch sp := paramStr(r, "seed_policy"); sp {
	case "", "keep":
		if v := paramStr(r, "seed", "_sv_seed"); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return er, reason.Newf(forge.CodeOptionInvalid, "seed must be a non-negative integer, got %q", v)
			}
			ov.Seed = &n
		}
	case "new":
		ov.NewSeed = true
	case "fixed":
		n, err := strconv.ParseInt(paramStr(r, "seed", "_sv_seed"), 10, 64)
		if err != nil || n < 0 {
			return er, reason.New(forge.CodeOptionInvalid, "seed policy fixed needs a non-negative seed")
		}
		ov.Seed = &n
	default:
		return er, reason.Newf(forge.CodeOptionInvalid, "seed_policy must be keep, new or fixed, got %q", sp)
	}
	var err error
	if ov.Steps, err = optInt(r, "steps", "_sv_steps"); err != nil {
		return er, err
	}
	if v, err := optInt(r, "variants"); err != nil {
		return er, err
	} else if v != nil {
		ov.Variants = *v
	}
	if ov.CFG, err = optFloat(r, "cfg", "_sv_cfg"); err != nil {
		return er, err
	}
	if ov.Denoise, err = optFloat(r, "denoise", "_sv_denoise"); err != nil {
		return er, err
	}
	er.Overrides = ov
	if repair {
		er.Repair = &forge.RepairOptions{Source: paramStr(r, "source"), Goal: paramStr(r, "goal"), Intensity: paramStr(r, "intensity"),
			TechFix: paramStr(r, "tech_fix"), PromptEdit: paramStr(r, "prompt_edit")}
	} else if rc := paramStr(r, "recipe"); rc != "" {
		er.Recipe = rc
	}
	return er, nil
}

func hasKey(r *http.Request, k string) bool { _, ok := r.PostForm[k]; return ok }

func optInt(r *http.Request, names ...string) (*int, error) {
	v := paramStr(r, names...)
	if v == "" {
		return nil, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return nil, reason.Newf(forge.CodeOptionInvalid, "%s must be an integer, got %q", names[0], v)
	}
	return &n, nil
}

func optFloat(r *http.Request, names ...string) (*float64, error) {
	v := paramStr(r, names...)
	if v == "" {
		return nil, nil
	}
	n, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return nil, reason.Newf(forge.CodeOptionInvalid, "%s must be a number, got %q", names[0], v)
	}
	return &n, nil
}
