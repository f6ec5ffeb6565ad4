package comfy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/localsupervisor/supervisor/pkg/reason"
)

// PollIntervalDefault is the longest pause between two /history polls for
// a submitted prompt; polling starts at pollFirst and doubles up to it, so
// a fast generation is seen quickly and a long one costs few requests.
// Progress comes from polling, not the /ws socket: a regeneration needs
// "queued / running / done", not per-step previews, and polling survives
// proxies and reconnects without extra state.
const PollIntervalDefault = 500 * time.Millisecond

const pollFirst = 20 * time.Millisecond

// lostAfterPolls is how many empty /history answers pass before Run checks
// /queue for the prompt (a restarted ComfyUI forgets both).
const lostAfterPolls = 4

// Stages reported by RunOptions.OnStage.
const (
	StageValidate = "validate"
	StageQueued   = "queued"
	StageRunning  = "running"
	StageFetch    = "fetch"
)

// RunOptions tune Run.
type RunOptions struct {
	// ClientID is sent with the prompt (ComfyUI tags its events with it).
	ClientID string
	// PollInterval between /history polls (default PollIntervalDefault).
	PollInterval time.Duration
	// OnStage is told each stage as it starts (may be nil).
	OnStage func(stage string)
	// Info is the server's /object_info when the caller already has it.
	Info ObjectInfo
	// CallTimeout bounds each request (comfyui.timeout; 0: only ctx), so
	// one hanging request does not use up the whole generation time.
	CallTimeout time.Duration
}

// call derives the context of one request.
func (o RunOptions) call(ctx context.Context) (context.Context, context.CancelFunc) {
	if o.CallTimeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, o.CallTimeout)
}

// Image is one output file fetched from /view.
type Image struct {
	FileRef
	Data []byte
}

// RunResult is a finished prompt.
type RunResult struct {
	PromptID string
	Images   []Image
}

// Run validates g against the server (/object_info: unknown node classes,
// missing models — before anything is queued), submits it, waits for its
// history entry and fetches its output images. When ctx ends first the
// prompt is taken out of ComfyUI again (queue delete / interrupt) and the
// error is comfy_timeout (deadline, transient) or the context's error
// (cancel).
func (c *Client) Run(ctx context.Context, g Graph, o RunOptions) (RunResult, error) {
	if o.PollInterval <= 0 {
		o.PollInterval = PollIntervalDefault
	}
	stage := func(s string) {
		if o.OnStage != nil {
			o.OnStage(s)
		}
	}
	stage(StageValidate)
	err := g.CheckStructure()
	if err != nil {
		return RunResult{}, err
	}
	info := o.Info
	if info == nil {
		cctx, cancel := o.call(ctx)
		info, err = c.ObjectInfo(cctx)
		cancel()
		if err != nil {
			return RunResult{}, err
		}
	}
	if err := g.CheckServer(info); err != nil {
		return RunResult{}, err
	}
	body, err := g.JSON()
	if err != nil {
		return RunResult{}, err
	}
	stage(StageQueued)
	cctx, cancel := o.call(ctx)
	sub, err := c.Submit(cctx, body, o.ClientID)
	cancel()
	if err != nil {
		return RunResult{}, err
	}
	item, err := c.wait(ctx, sub.PromptID, o, stage)
	if err != nil {
		// The caller gave up, or the job fails or is retried (which
		// submits anew): ComfyUI must not keep working for nobody. Best
		// effort: a ComfyUI that is down has nothing to cancel.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_ = c.Cancel(cctx, sub.PromptID)
		cancel()
		if ctx.Err() != nil {
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return RunResult{}, reason.Transient(CodeTimeout, fmt.Errorf("ComfyUI did not finish prompt %s in time (comfyui.generation_timeout): %w", sub.PromptID, ctx.Err()))
			}
			return RunResult{}, ctx.Err()
		}
		return RunResult{}, err
	}
	if err := item.Failure(); err != nil {
		return RunResult{}, err
	}
	refs := item.Images()
	if len(refs) == 0 {
		return RunResult{}, reason.Newf(CodeNoOutput, "ComfyUI finished prompt %s without an image: the workflow needs a SaveImage (or PreviewImage) node", sub.PromptID)
	}
	stage(StageFetch)
	res := RunResult{PromptID: sub.PromptID}
	for _, f := range refs {
		// Output files may be large: bounded by ctx, not CallTimeout.
		data, err := c.View(ctx, f)
		if err != nil {
			return RunResult{}, err
		}
		res.Images = append(res.Images, Image{FileRef: f, Data: data})
	}
	return res, nil
}

// wait polls /history until the prompt has an entry. A prompt that is
// neither in the history nor in the queue for several polls was lost
// (ComfyUI restarted): comfy_prompt_lost, transient.
func (c *Client) wait(ctx context.Context, promptID string, o RunOptions, stage func(string)) (HistoryItem, error) {
	every := o.PollInterval
	pause := min(pollFirst, every)
	t := time.NewTimer(pause)
	defer t.Stop()
	empty, running := 0, false
	for {
		cctx, cancel := o.call(ctx)
		item, found, err := c.History(cctx, promptID)
		cancel()
		if err != nil {
			return HistoryItem{}, err
		}
		if found && (item.Status.Completed || item.Status.StatusStr != "" || len(item.Outputs) > 0) {
			return item, nil
		}
		empty++
		if empty%lostAfterPolls == 0 || !running {
			cctx, cancel := o.call(ctx)
			q, err := c.Queue(cctx)
			cancel()
			if err != nil {
				return HistoryItem{}, err
			}
			switch {
			case len(q.Running) > 0 && q.Running[0] == promptID:
				if !running {
					running = true
					stage(StageRunning)
				}
			case !q.Has(promptID) && empty >= lostAfterPolls:
				// One more history look: it may have finished between the two calls.
				if item, found, err := c.History(ctx, promptID); err == nil && found {
					return item, nil
				}
				e := reason.Newf(CodePromptLost, "ComfyUI no longer knows prompt %s (restarted or queue cleared): it will be submitted again", promptID).With("prompt_id", promptID)
				e.Kind = reason.KindTransient
				return HistoryItem{}, e
			}
		}
		select {
		case <-ctx.Done():
			return HistoryItem{}, ctx.Err()
		case <-t.C:
		}
		pause = min(2*pause, every)
		t.Reset(pause)
	}
}
