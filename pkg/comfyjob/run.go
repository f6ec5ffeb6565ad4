package comfyjob

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"strconv"

	"github.com/localsupervisor/supervisor/pkg/comfy"
	"github.com/localsupervisor/supervisor/pkg/forge"
	"github.com/localsupervisor/supervisor/pkg/forgejob"
	"github.com/localsupervisor/supervisor/pkg/jobs"
	"github.com/localsupervisor/supervisor/pkg/media"
	"github.com/localsupervisor/supervisor/pkg/reason"
	"github.com/localsupervisor/supervisor/pkg/sdmeta"
)

// GenerationMode is the generation_mode of ComfyUI results.
const GenerationMode forge.GenMode = "comfyui"

// Run processes one comfy_regen job: check config, media and preview
// directories, run the graph on ComfyUI (validated against /object_info
// before it is submitted, bounded by comfyui.generation_timeout, taken
// out of ComfyUI's queue when the job is cancelled or times out) and store
// the outputs as previews of the media. A failure is recorded with its
// reason code in the job's forge_response_json; transient ones (ComfyUI
// down, slow, 5xx, prompt lost) are retried by the Runner with backoff.
func (s *Service) Run(ctx context.Context, job *jobs.Job) (any, error) {
	res, err := s.run(ctx, job)
	if err != nil {
		s.Previews.RecordFailure(job, err)
		return nil, err
	}
	return res, nil
}

func (s *Service) run(ctx context.Context, job *jobs.Job) (*forgejob.JobResult, error) {
	if err := s.ConfigError(); err != nil {
		return nil, err // permanent: a retry would meet the same config
	}
	var p Payload
	if err := json.Unmarshal(job.Payload, &p); err != nil || len(p.Graph) == 0 {
		return nil, reason.Permanent(CodeRequestInvalid, fmt.Errorf("comfy job %d has no graph in its payload (%v)", job.ID, err))
	}
	if p.MediaID == 0 && job.MediaID != nil {
		p.MediaID = *job.MediaID
	}
	m, mi, err := forgejob.SourceMedia(ctx, s.DB, p.MediaID)
	if err != nil {
		return nil, err
	}
	if err := s.Previews.CheckDirs(); err != nil {
		return nil, err
	}
	g, err := comfy.ParseGraph(string(p.Graph))
	if err != nil {
		return nil, err
	}
	gctx, cancel := context.WithTimeout(ctx, s.Config.GenerationTimeoutOrDefault())
	defer cancel()
	out, err := s.Client.Run(gctx, g, comfy.RunOptions{ClientID: p.ClientID, PollInterval: s.PollInterval, CallTimeout: s.Config.ShortTimeout(),
		OnStage: func(stage string) {
			_ = job.SetStage(ctx, stage)
			_ = job.Progress(ctx, stageBits[stage], progressTotal)
		}})
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			err = reason.Transient(comfy.CodeTimeout, err)
		}
		return nil, err
	}

	_ = job.SetStage(ctx, "output")
	outputs := make([]forgejob.Output, 0, len(out.Images))
	for _, im := range out.Images {
		cfg, format, err := image.DecodeConfig(bytes.NewReader(im.Data))
		if err != nil {
			return nil, reason.Newf(CodeOutputInvalid, "ComfyUI's output %s is not an image (%v): check the workflow's save node", im.Filename, err)
		}
		// No resize: the size is the one the person chose (or the graph's).
		o, err := forgejob.PrepareOutput(forge.Image{Data: im.Data, Format: format, Width: cfg.Width, Height: cfg.Height}, 0, 0, mi.Ext(), "")
		if err != nil {
			return nil, err
		}
		outputs = append(outputs, o)
	}
	origin := s.origin(ctx, out.Images[0].Data, p, out.PromptID)
	res := &forgejob.JobResult{JobID: job.ID, MediaID: m.ID, Mode: forge.OutputPreview, GenerationMode: GenerationMode,
		Model:       forge.CheckpointResult{Requested: origin.Prompt.Model, Active: origin.Prompt.Model, MatchedBy: "graph"},
		UsedSampler: origin.Prompt.Sampler, UsedScheduler: origin.Prompt.Scheduler, OrigWidth: mi.Width, OrigHeight: mi.Height,
		OrigExt: mi.Ext(), Origin: &origin}
	if seed, err := strconv.ParseInt(p.Seed, 10, 64); err == nil {
		res.Seeds = []int64{seed}
	}
	if err := s.Previews.StorePreviews(ctx, job, res, outputs, AuditPreview, map[string]any{"prompt_id": out.PromptID,
		"model": origin.Prompt.Model, "generation_mode": GenerationMode, "edits": p.Edits}); err != nil {
		return nil, err
	}
	return res, nil
}

// origin describes the outputs: the prompt the importer would read from
// the first output (it carries the submitted graph like ComfyUI's
// SaveImage), else the submitted graph's main pass.
func (s *Service) origin(ctx context.Context, first []byte, p Payload, promptID string) forgejob.Origin {
	o := forgejob.Origin{Generator: forgejob.GeneratorComfyUI, Generation: string(GenerationMode),
		Audit: map[string]any{"comfy_prompt_id": promptID, "main_node": p.MainNode, "edits": p.Edits}}
	if r, err := sdmeta.ExtractBytes(ctx, first, "output.png", sdmeta.Options{}); err == nil && r.Format == sdmeta.FormatComfyUI {
		o.Prompt, o.OriginalPrompt = media.PromptFromResult(r), r.RawBlock
		return o
	}
	if t, ok := sdmeta.ComfyAPITargets(string(p.Graph)); ok {
		mp := t.Main
		o.Prompt = media.PromptFromResult(sdmeta.Result{Format: sdmeta.FormatComfyUI, Prompt: mp.Prompt, NegativePrompt: mp.NegativePrompt,
			PromptRaw: mp.PromptRaw, NegativePromptRaw: mp.NegativePromptRaw, Model: mp.Model, Sampler: mp.Sampler, Scheduler: mp.Scheduler,
			CFGScale: mp.CFGScale, Steps: mp.Steps, Seed: mp.Seed, Width: mp.Width, Height: mp.Height, Loras: mp.Loras})
	}
	return o
}
